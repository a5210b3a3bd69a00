"""``dlkit`` on the command line: through typer's CliRunner (in process) and through a
real ``python -m dlkit`` subprocess, as users and CI pipelines run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dlkit import __version__
from dlkit.checks import REGISTRY
from dlkit.cli import app
from dlkit.host import load_capture, write_capture
from test_golden import DEV, GPU1, MODULES, part1_capture, part1_machine

REPO = Path(__file__).resolve().parents[1]
EXIT = {"ok": 0, "warning": 1, "error": 2}


def machine(kind: str) -> dict:
    """The fake desktop as it is ("error"), with nouveau gone ("warning": one GPU still at x8), or fixed ("ok")."""
    files, links = part1_machine()
    if kind in ("warning", "ok"):
        files["/proc/modules"] = "".join(line + "\n" for line in MODULES.splitlines() if not line.startswith("nouveau "))
        files["/etc/modprobe.d/blacklist-nouveau.conf"] = "blacklist nouveau\noptions nouveau modeset=0\n"
    if kind == "ok":
        files[f"{DEV}/{GPU1}/current_link_width"] = "16\n"
    return {"files": files, "links": links}


@pytest.fixture(scope="module")
def captures(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("cli-captures")
    out = {}
    for kind in ("ok", "warning", "error"):
        out[kind] = str(root / kind)
        write_capture(part1_capture(**machine(kind)), out[kind])
    out["tar"] = str(root / "error.tar.gz")
    write_capture(part1_capture(), out["tar"])
    return out


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def sub(*args: str, cwd=None, timeout=30) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run([sys.executable, "-m", "dlkit", *args], capture_output=True, text=True, cwd=cwd or REPO,
                          env=env, timeout=timeout)


def assert_usage_error(stdout: str, stderr: str, code: int, contains: str) -> None:
    assert code == 2
    assert stdout == ""
    assert stderr.endswith("\n") and stderr.count("\n") == 1, repr(stderr)
    assert stderr.startswith("dlkit: error: ")
    assert contains in stderr
    assert "Traceback" not in stderr


# ------------------------------------------------------------------ CliRunner


def test_version():
    result = invoke("--version")
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"dlkit {__version__}\n", "")


def test_no_arguments_prints_help():
    result = invoke()
    assert result.exit_code == 0
    assert "doctor" in result.stdout and result.stderr == ""


@pytest.mark.parametrize("kind", ["ok", "warning", "error"])
def test_json_is_one_document_and_the_exit_code_follows_the_status(captures, kind):
    result = invoke("doctor", "--from", captures[kind], "--json")
    assert result.stderr == ""
    doc = json.loads(result.stdout)  # exactly one document: json.loads rejects anything after it
    assert doc["schema"] == "dlkit.doctor/1"
    assert doc["status"] == kind
    assert result.exit_code == EXIT[kind]
    assert set(doc) == {"schema", "status", "facts", "findings", "redactions"}
    assert doc["redactions"] == {"applied": True, "kinds": {"uuid": 1}}  # root=UUID=… on /proc/cmdline
    assert doc["facts"]["run"]["created"] == "2026-01-01T00:00:00Z"
    assert [g["pci_bus_id"] for g in doc["facts"]["gpus"]] == ["0000:01:00.0", "0000:02:00.0"]


def test_json_from_an_archive(captures):
    result = invoke("doctor", "--from", captures["tar"], "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout) == json.loads(invoke("doctor", "--from", captures["error"], "--json").stdout)


def test_markdown(captures):
    result = invoke("doctor", "--from", captures["warning"], "--markdown")
    assert result.exit_code == 1 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "## dlkit doctor: warning"
    assert lines[2] == f"dlkit {__version__}, replayed from {captures['warning']}, 2026-01-01T00:00:00Z"
    assert "#### warning: PCIe link narrower than the GPU supports (0000:02:00.0) (`pcie.link-degraded`)" in lines
    assert "| `nouveau.loaded` | ok | nouveau is not loaded |" in lines
    assert "| `nouveau.not-blacklisted` | ok | nouveau is blacklisted |" in lines


def test_console(captures):
    result = invoke("doctor", "--from", captures["error"])
    assert result.exit_code == 2 and result.stderr == ""
    out = result.stdout
    assert f"dlkit doctor  replayed from {captures['error']}" in out
    assert "nouveau is loaded  nouveau.loaded" in out
    assert "PCIe link narrower than the GPU supports (0000:02:00.0)  pcie.link-degraded" in out
    assert "sudo update-initramfs -u" in out  # the fix for an error is shown
    # ok: driver.not-loaded, driver.too-old-for-cuda, build.cooling, and gpu.arch-unsupported from the
    # PCI id alone (10de:2684 is an RTX 4090, CC 8.9); the other part-2 checks skip for want of data
    assert "status: error  1 error, 2 warning, 1 info, 4 ok, 25 skipped (29 more with -v)" in out
    verbose = invoke("doctor", "--from", captures["error"], "-v").stdout
    assert "not checked  pcie.lanes-oversubscribed" in verbose
    assert "(2 more with -v)" not in verbose


def test_list_checks():
    result = invoke("doctor", "--list-checks")
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.splitlines() == [f"{c:28} {REGISTRY[c].description}" for c in sorted(REGISTRY)]
    assert "pcie.link-degraded           a GPU's PCIe link runs narrower (or, at idle, slower) than it can" in result.stdout


def test_only_an_area(captures):
    result = invoke("doctor", "--from", captures["error"], "--json", "--only", "pcie")
    doc = json.loads(result.stdout)
    assert [f["code"] for f in doc["findings"]] == ["pcie.link-degraded", "pcie.lanes-oversubscribed"]
    assert (doc["status"], result.exit_code) == ("warning", 1)


def test_skip_a_check(captures):
    result = invoke("doctor", "--from", captures["error"], "--json", "--skip", "nouveau.loaded")
    doc = json.loads(result.stdout)
    codes = [f["code"] for f in doc["findings"]]
    assert "nouveau.loaded" not in codes and "nouveau.not-blacklisted" in codes
    assert (doc["status"], result.exit_code) == ("warning", 1)


@pytest.mark.parametrize("args,contains", [
    (["--only", "nope"], "unknown check 'nope'; see dlkit doctor --list-checks"),
    (["--only", "pcie.link"], "did you mean pcie.link-degraded?"),
    (["--skip", "nouveau.lodaed"], "did you mean nouveau.loaded?"),
])
def test_unknown_check_names(captures, args, contains):
    result = invoke("doctor", "--from", captures["error"], "--json", *args)
    assert_usage_error(result.stdout, result.stderr, result.exit_code, contains)


def _bad_inputs(tmp: Path, captures) -> dict[str, tuple[list[str], str]]:
    """name -> (arguments, text the one-line message must contain)."""
    good = Path(captures["tar"]).read_bytes()
    (tmp / "half.tar.gz").write_bytes(good[: len(good) // 2])
    (tmp / "random.bin").write_bytes(bytes((i * 97 + 13) % 256 for i in range(4096)))
    (tmp / "not-a-capture").mkdir(exist_ok=True)
    (tmp / "not-a-capture" / "notes.txt").write_text("hello")
    (tmp / "report.json").write_text(json.dumps({"schema": "dlkit.doctor/1", "status": "ok"}))
    (tmp / "existing.tar.gz").write_text("precious")
    return {
        "missing path": (["--from", str(tmp / "nope")], "no such file or directory"),
        "truncated archive": (["--from", str(tmp / "half.tar.gz")], "corrupt or truncated archive"),
        "random bytes": (["--from", str(tmp / "random.bin")], "not a dlkit capture"),
        "directory, not a capture": (["--from", str(tmp / "not-a-capture")], "not a dlkit capture (no manifest.json)"),
        "JSON, not a capture": (["--from", str(tmp / "report.json")], "not a dlkit capture"),
        "unknown option": (["--frobnicate"], "No such option: --frobnicate"),
        "--json --markdown": (["--from", captures["error"], "--json", "--markdown"], "--json and --markdown cannot be combined"),
        "--capture onto a file": (["--capture", str(tmp / "existing.tar.gz")], "already exists; pass --force to replace it"),
        "--capture and --from": (["--capture", str(tmp / "new.tar.gz"), "--from", captures["error"]],
                                 "--capture and --from cannot be combined"),
        "--capture into no directory": (["--capture", str(tmp / "no" / "x.tar.gz")], "does not exist"),
        "--timeout 0": (["--timeout", "0"], "--timeout"),
    }


BAD = ["missing path", "truncated archive", "random bytes", "directory, not a capture", "JSON, not a capture",
       "unknown option", "--json --markdown", "--capture onto a file", "--capture and --from",
       "--capture into no directory", "--timeout 0"]


@pytest.mark.parametrize("name", BAD)
def test_bad_input_in_process(tmp_path, captures, name):
    args, contains = _bad_inputs(tmp_path, captures)[name]
    result = invoke("doctor", *args)
    assert_usage_error(result.stdout, result.stderr, result.exit_code, contains)
    assert (tmp_path / "existing.tar.gz").read_text() == "precious"
    assert not (tmp_path / "new.tar.gz").exists()


@pytest.mark.parametrize("name", BAD)
def test_bad_input_in_a_subprocess(tmp_path, captures, name):
    args, contains = _bad_inputs(tmp_path, captures)[name]
    proc = sub("doctor", *args, cwd=tmp_path)
    assert_usage_error(proc.stdout, proc.stderr, proc.returncode, contains)
    assert (tmp_path / "existing.tar.gz").read_text() == "precious"
    assert not (tmp_path / "new.tar.gz").exists()


# ------------------------------------------------------------------ subprocess


def test_subprocess_version():
    proc = sub("--version")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"dlkit {__version__}\n", "")


@pytest.mark.parametrize("kind", ["ok", "warning", "error"])
def test_subprocess_json_exit_codes(captures, kind):
    proc = sub("doctor", "--from", captures[kind], "--json")
    assert proc.stderr == ""
    doc = json.loads(proc.stdout)
    assert (doc["schema"], doc["status"], proc.returncode) == ("dlkit.doctor/1", kind, EXIT[kind])


def test_subprocess_markdown_and_list_checks(captures):
    md = sub("doctor", "--from", captures["error"], "--markdown")
    assert md.returncode == 2 and md.stdout.startswith("## dlkit doctor: error\n") and md.stderr == ""
    checks = sub("doctor", "--list-checks")
    assert checks.returncode == 0
    assert checks.stdout.splitlines() == [f"{c:28} {REGISTRY[c].description}" for c in sorted(REGISTRY)]


def test_subprocess_only_unknown_check(captures):
    proc = sub("doctor", "--from", captures["error"], "--only", "nope")
    assert_usage_error(proc.stdout, proc.stderr, proc.returncode, "see dlkit doctor --list-checks")


def test_capture_this_machine_then_replay_it(tmp_path):
    """dlkit doctor --capture x.tar.gz on this machine, then --from x.tar.gz --json: the same diagnosis."""
    live = sub("doctor", "--capture", "x.tar.gz", "--json", "--timeout", "5", cwd=tmp_path)
    assert live.returncode in (0, 1, 2), live.stderr
    assert live.stderr == "capture written to x.tar.gz (redacted; see manifest.json)\n"
    cap = load_capture(str(tmp_path / "x.tar.gz"))
    assert cap.manifest["redacted"] is True and isinstance(cap.manifest["redactions"], dict)
    replay = sub("doctor", "--from", "x.tar.gz", "--json", "--timeout", "5", cwd=tmp_path)
    assert replay.stderr == ""
    live_doc, replay_doc = json.loads(live.stdout), json.loads(replay.stdout)
    assert replay.returncode == live.returncode == EXIT[live_doc["status"]]
    assert [(f["code"], f["severity"]) for f in replay_doc["findings"]] == \
        [(f["code"], f["severity"]) for f in live_doc["findings"]]
    assert replay_doc["facts"]["run"] == live_doc["facts"]["run"]
    # --force replaces it; without --force it is refused (tested above)
    again = sub("doctor", "--capture", "x.tar.gz", "--force", "--no-redact", "--json", "--timeout", "5", cwd=tmp_path)
    assert again.stderr == "capture written to x.tar.gz\n"
    assert load_capture(str(tmp_path / "x.tar.gz")).manifest["redacted"] is False
    assert sorted(os.listdir(tmp_path)) == ["x.tar.gz"]


def test_capture_in_process_to_a_directory(tmp_path):
    result = invoke("doctor", "--capture", str(tmp_path / "cap"), "--no-redact", "--json", "--timeout", "5")
    assert result.exit_code in (0, 1, 2)
    assert result.stderr == f"capture written to {tmp_path / 'cap'}\n"
    doc = json.loads(result.stdout)
    replay = invoke("doctor", "--from", str(tmp_path / "cap"), "--json", "--no-redact")
    assert json.loads(replay.stdout) == doc
