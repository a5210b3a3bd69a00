"""``dlkit cloud-cost refresh`` against a local HTTP server, and the offline read of its cache.

The server (127.0.0.1, an ephemeral port, one thread per request) plays every way a download
goes wrong: a 404, a body shorter than its Content-Length, a CSV cut inside a row, a file with
other columns, a server that never answers, one that stalls mid-body (Ctrl-C), one that offers
100 MiB. Each must end as one line on stderr, leave no temporary file, and keep the previous
good copy; a good file must land with its manifest entry and be what ``dlkit cloud-cost``
reads next, offline, naming its URL and fetch date. Nothing here touches the real home or
the network beyond loopback (DLKIT_CACHE_DIR and HOME point into tmp_path).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dlkit.catalog import refresh as sky_refresh
from dlkit.host import sky_cache
from dlkit.cli import app

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "skypilot_refresh"
GOOD_AWS = (FIXTURES / "aws_vms.csv").read_bytes()
GOOD_GCP = (FIXTURES / "gcp_vms.csv").read_bytes()
NEWER_AWS = (FIXTURES / "aws_vms_newer.csv").read_bytes()
SHORT_BY = 100

# path -> body served with an honest Content-Length; other behaviours are in the handler.
FILES = {
    "/good/aws/vms.csv": GOOD_AWS,
    "/good/gcp/vms.csv": GOOD_GCP,
    "/newer/aws/vms.csv": NEWER_AWS,
    "/partial/aws/vms.csv": GOOD_AWS,  # /partial/gcp/vms.csv: 404
    "/cutrow/aws/vms.csv": (FIXTURES / "aws_cut_row.csv").read_bytes(),
    "/columns/aws/vms.csv": (FIXTURES / "aws_renamed_columns.csv").read_bytes(),
}


class _Handler(BaseHTTPRequestHandler):
    release: threading.Event  # set at teardown: a hung handler ends at once

    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass

    def _head(self, length: int | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path
        if path in FILES:
            self._head(len(FILES[path]))
            self.wfile.write(FILES[path])
        elif path == "/short/aws/vms.csv":  # announces more than it sends, then closes
            self._head(len(GOOD_AWS) + SHORT_BY)
            self.wfile.write(GOOD_AWS)
        elif path == "/hang/aws/vms.csv":  # accepts, then says nothing past --timeout
            self.release.wait(5)
        elif path == "/stall/aws/vms.csv":  # half a body, then silence (for Ctrl-C)
            self._head(len(GOOD_AWS))
            self.wfile.write(GOOD_AWS[: len(GOOD_AWS) // 2])
            self.wfile.flush()
            self.release.wait(20)
        elif path == "/huge/aws/vms.csv":
            self._head(100 * 2**20)
        elif path == "/nolength/aws/vms.csv":  # no Content-Length: the cap is enforced while reading
            self._head(None)
            self.wfile.write(GOOD_AWS * 5)
        else:
            self.send_error(404, "Not Found")


@pytest.fixture
def server():
    """The base URL of a local catalog server; shut down (hung handlers released) at teardown."""
    release = threading.Event()
    handler = type("Handler", (_Handler,), {"release": release})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """DLKIT_CACHE_DIR in tmp_path, and a home without ~/.sky: the real cache is never touched."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    root = tmp_path / "cache"
    monkeypatch.setenv(sky_cache.CACHE_ENV, str(root))
    return root


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def refresh(base: str, *args: str):
    return invoke("cloud-cost", "refresh", "--url", base, *args)


def manifest(cache: Path) -> dict:
    return json.loads((cache / "skypilot" / "manifest.json").read_text())


def leftovers(cache: Path) -> list[str]:
    return sky_cache.temp_files(str(cache))


def one_line(result) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def compare_json(*args: str, today: str | None = None) -> dict:
    extra = ["--today", today] if today else []
    result = invoke("cloud-cost", "--gpu", "A100", "--count", "8", "--json", *extra, *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# --------------------------------------------------------------------------- a good refresh


def test_good_refresh_writes_files_and_manifest(server, cache):
    result = refresh(f"{server}/good", "--clouds", "aws,gcp", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    doc = json.loads(result.stdout)
    assert doc["schema"] == "dlkit.cloud-cost/1" and doc["kind"] == "refresh"
    assert (doc["refreshed"], doc["failed"], doc["exit_code"]) == (2, 0, 0)
    assert doc["cache_dir"] == str(cache / "skypilot")
    assert [(c["cloud"], c["status"], c["rows"], c["error"]) for c in doc["clouds"]] == \
        [("aws", "refreshed", 3, None), ("gcp", "refreshed", 2, None)]
    assert (cache / "skypilot" / "aws" / "vms.csv").read_bytes() == GOOD_AWS
    assert (cache / "skypilot" / "gcp" / "vms.csv").read_bytes() == GOOD_GCP
    files = manifest(cache)["files"]
    aws = files["aws"]
    assert aws["url"] == f"{server}/good/aws/vms.csv" and aws["file"] == "aws/vms.csv"
    assert (aws["size_bytes"], aws["sha256"], aws["rows"]) == (len(GOOD_AWS), hashlib.sha256(GOOD_AWS).hexdigest(), 3)
    assert aws["fetched_at"] == doc["clouds"][0]["fetched_at"] and aws["fetched_at"].endswith("Z")
    assert files["gcp"]["sha256"] == hashlib.sha256(GOOD_GCP).hexdigest()
    assert leftovers(cache) == []


def test_console_summary(server, cache):
    result = refresh(f"{server}/good", "--clouds", "aws")
    assert result.exit_code == 0, result.stderr
    assert "aws" in result.stdout and "refreshed" in result.stdout
    assert hashlib.sha256(GOOD_AWS).hexdigest()[:12] in result.stdout
    assert f"1 of 1 refreshed into {cache / 'skypilot'}" in result.stdout


def test_offline_compare_reads_the_cache_and_names_it(server, cache, monkeypatch):
    assert refresh(f"{server}/good", "--clouds", "aws,gcp").exit_code == 0
    fetched = manifest(cache)["files"]["aws"]["fetched_at"][:10]
    url = f"{server}/good/aws/vms.csv"

    def no_network(*a, **k):
        raise AssertionError("cloud-cost went to the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    doc = compare_json(today=fetched)
    p4d = [r for r in doc["rows"] if r["instance"] == "p4d.24xlarge"]
    # the cached rows replace the shipped one (21.957642 in us-east-1); zones collapse to the lowest spot
    assert [(r["region"], r["price_usd_per_h"], r["spot_usd_per_h"], r["as_of"]) for r in p4d] == \
        [("us-east-1", 19.2345, 2.9002, fetched), ("eu-west-1", 20.1111, 4.0003, fetched)]
    assert {r["source"] for r in p4d} == {f"SkyPilot catalog {url}, fetched {fetched}"}
    read = doc["catalog"]["files_read"]
    assert read[0] == f"SkyPilot catalog fetched {fetched} from {url} ({cache / 'skypilot' / 'aws' / 'vms.csv'}, 3 rows)"
    assert read[1].startswith(f"SkyPilot catalog fetched {fetched} from {server}/good/gcp/vms.csv (")
    assert doc["catalog"]["as_of_newest"] == fetched and doc["catalog"]["age_days"] == 0
    one = invoke("cloud-cost", "--gpu", "A100", "--count", "1", "--json", "--today", fetched)
    gcp = next(r for r in json.loads(one.stdout)["rows"] if r["instance"] == "a2-highgpu-1g")
    assert (gcp["price_usd_per_h"], gcp["as_of"]) == (3.67339, fetched)  # host + GPU rows joined
    # the console says the same
    text = invoke("cloud-cost", "--gpu", "A100", "--count", "8", "--today", fetched)
    assert text.exit_code == 0, text.stderr
    assert f"read: SkyPilot catalog fetched {fetched} from {url}" in text.stdout
    # --no-skypilot: the shipped catalog only
    shipped = compare_json("--no-skypilot", today=fetched)
    assert [r["price_usd_per_h"] for r in shipped["rows"] if r["instance"] == "p4d.24xlarge"] == [21.957642]
    assert shipped["catalog"]["files_read"] == []


def test_user_catalog_wins_over_the_cache(server, cache, tmp_path):
    assert refresh(f"{server}/good", "--clouds", "aws").exit_code == 0
    mine = tmp_path / "mine.csv"
    mine.write_text("provider,instance,region,gpu,gpu_count,price_usd_per_h,as_of\n"
                    "AWS,p4d.24xlarge,us-east-1,A100,8,15.0,2026-11-20\n")
    doc = compare_json("--catalog", str(mine), today="2026-11-23")
    rows = [(r["region"], r["price_usd_per_h"]) for r in doc["rows"] if r["instance"] == "p4d.24xlarge"]
    assert sorted(rows) == [("eu-west-1", 20.1111), ("us-east-1", 15.0)]


def test_a_newer_file_replaces_the_old_one(server, cache):
    assert refresh(f"{server}/good", "--clouds", "aws").exit_code == 0
    result = refresh(f"{server}/newer", "--clouds", "aws")
    assert result.exit_code == 0, result.stderr
    assert (cache / "skypilot" / "aws" / "vms.csv").read_bytes() == NEWER_AWS
    entry = manifest(cache)["files"]["aws"]
    assert (entry["url"], entry["sha256"]) == (f"{server}/newer/aws/vms.csv", hashlib.sha256(NEWER_AWS).hexdigest())


# --------------------------------------------------------------------------- failures


BAD = {
    "missing": "HTTP 404 Not Found",
    "short": f"cut short: got {len(GOOD_AWS)} of {len(GOOD_AWS) + SHORT_BY} bytes (Content-Length)",
    "cutrow": "aws/vms.csv line 4: expected 11 fields as in the header, found 6",
    "columns": "aws/vms.csv line 1: missing column(s) instancetype, acceleratorname, acceleratorcount, price, region "
               "(a SkyPilot vms.csv)",
    "hang": "no answer for 1 s (--timeout 1)",
    "huge": "the server offers 100 MiB; dlkit downloads at most 64 MiB",
}


@pytest.mark.parametrize("route", sorted(BAD))
def test_failure_with_nothing_cached(server, cache, route):
    url = f"{server}/{route}/aws/vms.csv"
    result = refresh(f"{server}/{route}", "--clouds", "aws", "--timeout", "1")
    assert result.exit_code == 2
    assert one_line(result) == f"dlkit: error: refresh aws from {url} failed: {BAD[route]}; nothing is cached for aws"
    assert not (cache / "skypilot" / "aws" / "vms.csv").exists()
    assert not (cache / "skypilot" / "manifest.json").exists()
    assert leftovers(cache) == []


@pytest.mark.parametrize("route", ["missing", "short", "cutrow", "columns", "hang"])
def test_failure_keeps_the_previous_copy(server, cache, route):
    assert refresh(f"{server}/good", "--clouds", "aws").exit_code == 0
    before = manifest(cache)
    fetched = before["files"]["aws"]["fetched_at"][:10]
    result = refresh(f"{server}/{route}", "--clouds", "aws", "--timeout", "1", "--json")
    assert result.exit_code == 2
    assert one_line(result) == (f"dlkit: error: refresh aws from {server}/{route}/aws/vms.csv failed: {BAD[route]}; "
                                f"kept the copy fetched {fetched}")
    doc = json.loads(result.stdout)
    (aws,) = doc["clouds"]
    assert (aws["status"], aws["error"], aws["kept"]["sha256"]) == ("failed", BAD[route], before["files"]["aws"]["sha256"])
    assert (cache / "skypilot" / "aws" / "vms.csv").read_bytes() == GOOD_AWS
    assert manifest(cache) == before
    assert leftovers(cache) == []
    assert [r["price_usd_per_h"] for r in compare_json()["rows"] if r["instance"] == "p4d.24xlarge"][0] == 19.2345


def test_partial_failure_exits_1_and_keeps_what_worked(server, cache):
    result = refresh(f"{server}/partial", "--clouds", "aws,gcp", "--json")
    assert result.exit_code == 1
    assert one_line(result) == (f"dlkit: error: refresh gcp from {server}/partial/gcp/vms.csv failed: HTTP 404 Not Found; "
                                f"nothing is cached for gcp")
    doc = json.loads(result.stdout)
    assert (doc["refreshed"], doc["failed"], doc["exit_code"]) == (1, 1, 1)
    assert sorted(manifest(cache)["files"]) == ["aws"]
    assert (cache / "skypilot" / "aws" / "vms.csv").read_bytes() == GOOD_AWS


def test_size_cap_holds_without_content_length(server, cache):
    res = sky_refresh.refresh(["aws"], base_url=f"{server}/nolength", timeout_s=2, root=str(cache), max_bytes=2000)
    (o,) = res.outcomes
    assert not o.ok and o.error == "larger than 2.0 KiB, the most dlkit downloads"
    assert res.exit_code == 2 and leftovers(cache) == []


def test_nothing_listening(cache):
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = refresh(f"http://127.0.0.1:{port}", "--clouds", "lambda", "--timeout", "1")
    assert result.exit_code == 2
    assert one_line(result) == (f"dlkit: error: refresh lambda from http://127.0.0.1:{port}/lambda/vms.csv failed: "
                                f"cannot connect: Connection refused; nothing is cached for lambda")


def test_ctrl_c_leaves_no_temporary_file(server, cache):
    assert refresh(f"{server}/good", "--clouds", "aws").exit_code == 0
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen([sys.executable, "-m", "dlkit", "cloud-cost", "refresh", "--url", f"{server}/stall",
                             "--clouds", "aws", "--timeout", "20"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not leftovers(cache) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert leftovers(cache), "the download never started"
        time.sleep(0.1)  # inside the read of the stalled body
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert leftovers(cache) == []
    assert (cache / "skypilot" / "aws" / "vms.csv").read_bytes() == GOOD_AWS


# --------------------------------------------------------------------------- the cache read back


def test_a_changed_cached_file_is_named_not_read(server, cache):
    assert refresh(f"{server}/good", "--clouds", "aws").exit_code == 0
    cached = cache / "skypilot" / "aws" / "vms.csv"
    cached.write_bytes(NEWER_AWS)  # same size, other bytes
    doc = compare_json()
    assert [r["price_usd_per_h"] for r in doc["rows"] if r["instance"] == "p4d.24xlarge"] == [21.957642]
    fetched = manifest(cache)["files"]["aws"]["fetched_at"][:10]
    assert doc["catalog"]["files_read"] == [
        f"skipped cached catalog {cached} is not the file fetched {fetched} (size or sha256 differ from manifest.json); "
        f"run dlkit cloud-cost refresh"]


def test_a_broken_manifest_is_ignored_and_said(cache):
    sky = cache / "skypilot"
    (sky / "aws").mkdir(parents=True)
    (sky / "aws" / "vms.csv").write_bytes(GOOD_AWS)
    (sky / "manifest.json").write_text("{not json")
    doc = compare_json()
    assert [r["price_usd_per_h"] for r in doc["rows"] if r["instance"] == "p4d.24xlarge"] == [21.957642]
    assert doc["catalog"]["files_read"] == [
        f"ignored cache manifest {sky / 'manifest.json'} is not JSON: Expecting property name enclosed in double quotes "
        f"at line 1; run dlkit cloud-cost refresh"]


def test_manifest_paths_are_never_followed(server, cache, tmp_path):
    """The manifest names a cloud; the file is always <cloud>/vms.csv, whatever "file" says."""
    assert refresh(f"{server}/good", "--clouds", "aws").exit_code == 0
    doc = manifest(cache)
    doc["files"]["aws"]["file"] = "../../etc/passwd"
    doc["files"]["../x"] = doc["files"]["aws"]
    (cache / "skypilot" / "manifest.json").write_text(json.dumps(doc))
    entries, problem = sky_cache.read_manifest(str(cache / "skypilot"))
    assert problem is None and sorted(entries) == ["aws"]


# --------------------------------------------------------------------------- usage


@pytest.mark.parametrize("args, message", [
    (["--clouds", "aws,nope"], "dlkit: error: --clouds: unknown cloud 'nope' (SkyPilot names: aws, azure, gcp, lambda, "
                               "runpod, vast, …)"),
    (["--clouds", "aws,,gcp"], "dlkit: error: --clouds 'aws,,gcp': give names separated by commas, e.g. aws,gcp"),
    (["--url", "ftp://example.com/x"], "dlkit: error: --url 'ftp://example.com/x' is not an http:// or https:// "
                                       "address (files are read from BASE/<cloud>/vms.csv)"),
    (["--timeout", "0"], "dlkit: error: --timeout must be more than 0 and at most 600 seconds, got 0"),
    (["--timeout", "nan"], "dlkit: error: --timeout must be more than 0 and at most 600 seconds, got nan"),
])
def test_bad_usage_is_one_line(cache, args, message):
    result = invoke("cloud-cost", "refresh", *args)
    assert result.exit_code == 2
    assert one_line(result) == message
    assert not (cache / "skypilot").exists()
