"""Hostile input, as an unlucky or malicious user gives it (issue 11): every file option and
every capture member given a FIFO, a device, an oversized or endless file, 10,000-deep JSON,
NUL bytes, a directory or a symlink out of the capture; empty and degenerate option values
for every option of every command; standard output closed, full or a broken pipe.

Each case runs dlkit in process (typer's CliRunner, with a watchdog) or, where the process
itself matters (streams, signals, memory), as ``python -m dlkit`` in a child, and asserts:
the exit code, at most 3 lines on stderr, no traceback, a time bound, a memory bound (the
child's own peak RSS), and nothing left behind in the folder. The defences are general (one reader,
one stream guard, one blank-option rule), so the cases are generated from the CLI's own
option list where they can be.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import socket
import stat
import subprocess
import sys
import tarfile
import threading
import time
import typing
import zlib
from pathlib import Path

import pytest
import typer.main

from dlkit.cli import app
from dlkit.host import write_capture
from dlkit.host import capture
from dlkit.host.capture import MAX_MEMBERS
from test_golden import part1_capture

REPO = Path(__file__).resolve().parents[1]
TIME_BOUND_S = 15.0  # generous for a loaded 2-core CI machine; a hang is 30 s and more
RSS_BOUND_MIB = 400  # dlkit without torch is about 70 MiB; reading /dev/zero reached 2.9 GB


class Ran:
    def __init__(self, code: int, stdout: str, stderr: str, seconds: float, maxrss_mib: float):
        self.code, self.stdout, self.stderr, self.seconds, self.maxrss_mib = code, stdout, stderr, seconds, maxrss_mib

    def assert_refused(self, contains: str = "") -> None:
        """A usage error: exit 2, one short line on stderr, no traceback, fast, small."""
        assert self.code == 2, (self.code, self.stderr)
        self.assert_clean()
        assert self.stdout == ""
        assert self.stderr.startswith("dlkit: error: "), self.stderr
        assert contains in self.stderr, self.stderr

    def assert_clean(self) -> None:
        assert "Traceback" not in self.stderr and "Exception ignored" not in self.stderr, self.stderr
        assert len(self.stderr.splitlines()) <= 3, self.stderr
        assert self.seconds < TIME_BOUND_S, self.seconds
        assert self.maxrss_mib < RSS_BOUND_MIB, self.maxrss_mib


# The child's own peak RSS: /proc/self/status VmHWM of its own address space. (wait4's
# ru_maxrss would not do: Linux carries the forking parent's high-water mark across exec,
# and pytest's process has grown to hundreds of MB by the time these tests run.)
PEAK_PREFIX = ("import atexit, os, sys\n"
               "def _peak():\n"
               "    with open('/proc/self/status') as f, open(os.environ['DLKIT_TEST_PEAK'], 'w') as out:\n"
               "        out.write(next(l for l in f if l.startswith('VmHWM')).split()[1])\n"
               "atexit.register(_peak)\n")
RUN_DLKIT = "import runpy; sys.argv = ['dlkit', *sys.argv[1:]]; runpy.run_module('dlkit', run_name='__main__')"


def dlkit(*args: str, cwd: Path | None = None, env: dict | None = None, stdout=None, timeout: float = 60,
          code: str = RUN_DLKIT) -> Ran:
    """Run ``python -m dlkit ARGS`` (or ``python -c CODE ARGS``) with its peak RSS measured."""
    peak_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"dlkit-peak-{os.getpid()}-{threading.get_ident()}"
    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    base.update(env or {})
    base["DLKIT_TEST_PEAK"] = str(peak_file)
    out_path = (cwd or REPO) / ".stdout" if stdout is None else None
    out = open(out_path, "wb") if out_path else stdout  # noqa: SIM115
    err_r, err_w = os.pipe()
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", PEAK_PREFIX + code, *args], cwd=cwd or REPO, env=base,
                            stdin=subprocess.DEVNULL, stdout=out, stderr=err_w)
    os.close(err_w)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(err_r, 65536), b"")), daemon=True)
    reader.start()
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    try:
        _, status = os.waitpid(proc.pid, 0)
    finally:
        killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - t0
    reader.join(5)
    os.close(err_r)
    text = ""
    if out_path:
        out.close()
        text = out_path.read_text(errors="replace")
        out_path.unlink()
    peak_kib = int(peak_file.read_text()) if peak_file.exists() else 0
    peak_file.unlink(missing_ok=True)
    return Ran(proc.returncode, text, b"".join(chunks).decode("utf-8", "replace"), seconds, peak_kib / 1024)


def cli(*args: str, timeout: float = TIME_BOUND_S) -> Ran:
    """``dlkit ARGS`` in this process (typer's CliRunner): the same readers and checks as the
    child, about 50 times faster. A watchdog turns a hang into a failure, not a stuck CI."""
    from typer.testing import CliRunner
    box: list = []
    t0 = time.monotonic()
    worker = threading.Thread(target=lambda: box.append(CliRunner().invoke(app, list(args))), daemon=True)
    worker.start()
    worker.join(timeout)
    assert box, f"dlkit {' '.join(args)} still running after {timeout} s"
    result = box[0]
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr, time.monotonic() - t0, 0.0)


# ------------------------------------------------------------------ hostile files

def make_hostile(kind: str, where: Path) -> Path:
    """A file (or not-a-file) of the given kind at ``where``."""
    if kind == "fifo":
        os.mkfifo(where)
    elif kind == "device":
        where.symlink_to("/dev/zero")  # a user file option follows links: this is /dev/zero
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(where))
        s.close()
    elif kind == "directory":
        where.mkdir()
    elif kind == "oversized":
        with open(where, "wb") as fh:  # sparse: costs no disk
            fh.truncate(300 * 2**20)
    elif kind == "deep-json":
        where.write_text("[" * 100_000 + "]" * 100_000)
    elif kind == "nul":
        where.write_bytes(b"provider,instance\x00,gpu\n" + b'{"schema": "dlkit.bench/1"\x00}')
    elif kind == "not-utf8":
        where.write_bytes(b"\xff\xfe\xfa" * 100)
    else:
        raise ValueError(kind)
    return where


FILE_KINDS = ["fifo", "device", "socket", "directory", "oversized", "deep-json", "nul", "not-utf8"]
BREAKEVEN = ["cloud-cost", "breakeven", "--vs-price", "1", "--electricity", "0", "--utilization", "1"]
# Every option that reads a file the user names (dlkit's CLI has no other).
FILE_OPTIONS = {
    "doctor --from": (["doctor", "--from"], []),
    "plan-build --from": (["plan-build", "--from"], []),
    "bench --compare": (["bench", "--compare"], ["--device", "cpu"]),
    "cloud-cost --catalog": (["cloud-cost", "--catalog"], ["--no-skypilot"]),
    "cloud-cost --bench": (["cloud-cost", "--bench"], ["--no-skypilot", "--gpu", "A100"]),
    "breakeven --plan-build": (BREAKEVEN + ["--plan-build"], ["--no-skypilot"]),
    "breakeven --catalog": (BREAKEVEN[:2] + ["--vs", "p3.2xlarge", "--build-price", "9", "--build-watts", "0",
                                             "--electricity", "0", "--utilization", "1", "--catalog"], ["--no-skypilot"]),
}


@pytest.mark.parametrize("kind", ["device", "oversized", "fifo"])
def test_hostile_files_cost_no_memory_or_time_in_a_real_child(tmp_path, kind):
    """The same refusals through ``python -m dlkit`` with its own peak RSS measured:
    /dev/zero used to be read to 2.9 GB, a FIFO used to hang."""
    target = make_hostile(kind, tmp_path / "input")
    for head, tail in (FILE_OPTIONS["doctor --from"], FILE_OPTIONS["cloud-cost --catalog"]):
        ran = dlkit(*head, str(target), *tail, cwd=tmp_path)
        ran.assert_refused()
        assert ran.maxrss_mib > 10  # the peak was measured (a Python with dlkit imported)


@pytest.mark.parametrize("kind", FILE_KINDS)
@pytest.mark.parametrize("option", sorted(FILE_OPTIONS))
def test_every_file_option_refuses_hostile_files(tmp_path, option, kind):
    head, tail = FILE_OPTIONS[option]
    if kind == "directory" and option in ("cloud-cost --catalog", "breakeven --catalog", "doctor --from",
                                          "plan-build --from"):
        pytest.skip("a folder is a valid value here (a SkyPilot catalog, a capture): tested below")
    target = make_hostile(kind, tmp_path / "input")
    before = sorted(os.listdir(tmp_path))
    cli(*head, str(target), *tail).assert_refused()
    assert sorted(os.listdir(tmp_path)) == before  # nothing written, nothing left behind


@pytest.mark.parametrize("option", ["cloud-cost --catalog", "doctor --from", "plan-build --from"])
def test_an_empty_folder_is_refused_where_a_folder_is_valid(tmp_path, option):
    head, tail = FILE_OPTIONS[option]
    (tmp_path / "empty").mkdir()
    cli(*head, str(tmp_path / "empty"), *tail).assert_refused()


def test_an_empty_skypilot_folder_is_refused(tmp_path):
    (tmp_path / "sky").mkdir()
    dlkit("cloud-cost", "--skypilot", str(tmp_path / "sky"), cwd=tmp_path).assert_refused("holds no SkyPilot vms.csv")


@pytest.mark.parametrize("doc,contains", [
    ({"schema": "dlkit.bench/1", "results": [{"kernel": 1}]}, "results[0] has no kernel"),
    ({"schema": "dlkit.bench/1", "results": "all of them"}, "has no results list"),
    ({"schema": "dlkit.bench/1", "results": [{"kernel": "matmul", "device": "cpu", "samples": ["1"]}]}, "samples"),
    ([1, 2, 3], "is not a dlkit bench result"),
])
def test_a_compare_file_with_wrong_types_is_refused_before_any_benchmark(tmp_path, doc, contains):
    (tmp_path / "old.json").write_text(json.dumps(doc))
    cli("bench", "--device", "cpu", "--compare", str(tmp_path / "old.json")).assert_refused(contains)


def test_nan_in_a_json_input_is_refused(tmp_path):
    (tmp_path / "plan.json").write_text('{"schema": "dlkit.plan-build/1", "total_price_usd": NaN}')
    dlkit(*BREAKEVEN, "--plan-build", str(tmp_path / "plan.json"), cwd=tmp_path).assert_refused("not a JSON number")


# ------------------------------------------------------------------ hostile captures

JSON_MEMBERS = ["manifest.json", "commands.json", "python.json", "environ.json", "live.json", "nvml.json"]


@pytest.fixture()
def capture_dir(tmp_path) -> Path:
    root = tmp_path / "cap"
    write_capture(part1_capture(), str(root))
    for name in JSON_MEMBERS[2:]:  # every optional member present, so each can be broken
        if not (root / name).exists():
            (root / name).write_text("{}\n")
    return root


def _replace(path: Path, kind: str) -> None:
    if path.is_dir() and not path.is_symlink():
        raise AssertionError(path)
    if path.exists() or path.is_symlink():
        path.unlink()
    if kind == "device":
        if os.geteuid() != 0:
            pytest.skip("a real device node needs root (mknod)")
        os.mknod(path, stat.S_IFCHR | 0o644, os.makedev(1, 5))  # /dev/zero's numbers
    elif kind == "symlink-out":
        path.symlink_to("/etc/passwd")
    else:
        make_hostile(kind, path)


MEMBER_KINDS = ["fifo", "device", "socket", "oversized", "deep-json", "nul", "symlink-out"]


@pytest.mark.parametrize("kind", MEMBER_KINDS)
@pytest.mark.parametrize("member", JSON_MEMBERS + ["files/proc/cpuinfo", "files/proc/meminfo"])
def test_every_capture_member_refuses_hostile_content(capture_dir, member, kind):
    if kind == "symlink-out" and member.startswith("files/"):
        pytest.skip("a link inside files/ is stored as a link and resolved inside the capture (test_host)")
    if kind in ("deep-json", "nul") and member.startswith("files/"):
        pytest.skip("files/ members are system files: any bytes are data (replayed as undecodable)")
    _replace(capture_dir / member, kind)
    cli("doctor", "--from", str(capture_dir), "--json").assert_refused()


def test_top_level_symlinks_never_lead_out_of_a_capture(capture_dir, tmp_path):
    import shutil
    shutil.rmtree(capture_dir / "files")
    (capture_dir / "files").symlink_to("/etc")
    ran = dlkit("doctor", "--from", str(capture_dir), "--json", cwd=tmp_path)
    ran.assert_refused("files is a symbolic link")


# The member cap, lowered so that the test builds hundreds of members, not 20,000.
SMALL_CAP = 300


def test_the_member_cap_fits_a_real_server():
    assert MAX_MEMBERS >= 10_000  # 300 PCI functions x ~10 sysfs members, plus the rest


def test_too_many_members_in_a_capture_directory(capture_dir, monkeypatch):
    monkeypatch.setattr(capture, "MAX_MEMBERS", SMALL_CAP)
    many = capture_dir / "files" / "many"
    many.mkdir()
    for i in range(SMALL_CAP):
        (many / str(i)).touch()
    cli("doctor", "--from", str(capture_dir)).assert_refused(f"more than {SMALL_CAP} members")


def _archive(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


MANIFEST = json.dumps({"format": "dlkit-capture", "version": 1}).encode()


def test_a_huge_member_is_refused_from_its_header_before_any_decompression(tmp_path):
    """A 2 GiB live.json header in a small archive: refused at the header (it used to take
    25 s and 4 GB). The archive holds only the header, so reading on would fail anyway."""
    info = tarfile.TarInfo("live.json")
    info.size = 2 * 2**30
    manifest, data = _file("manifest.json", MANIFEST)
    body = manifest.tobuf() + data + b"\0" * (-len(data) % 512) + info.tobuf() + b"\0" * 4096
    (tmp_path / "bomb.tar.gz").write_bytes(gzip.compress(body))
    ran = dlkit("doctor", "--from", str(tmp_path / "bomb.tar.gz"), cwd=tmp_path)
    ran.assert_refused("member live.json is 2 GiB; a capture member may be at most 64 MiB")
    assert ran.seconds < 5


def test_a_decompression_bomb_is_refused_at_the_unpacked_cap(tmp_path, monkeypatch):
    """Zeros packed a thousandfold: refused once the unpacked bytes pass the capture cap
    (lowered here to 8 MiB, so the test packs 12 MiB rather than 300), with memory bounded by
    one decompression step; every member stays under the member cap."""
    monkeypatch.setattr(capture, "MAX_CAPTURE_BYTES", 8 * 2**20)
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    manifest, data = _file("manifest.json", MANIFEST)
    with open(tmp_path / "bomb.tar.gz", "wb") as fh:
        fh.write(z.compress(manifest.tobuf() + data + bytes(-len(data) % 512)))
        for i in range(3):
            info = tarfile.TarInfo(f"files/zeros{i}")
            info.size = 4 * 2**20
            fh.write(z.compress(info.tobuf()) + z.compress(bytes(info.size)))
        fh.write(z.compress(bytes(1024)) + z.flush())
    assert (tmp_path / "bomb.tar.gz").stat().st_size < 100_000
    cli("doctor", "--from", str(tmp_path / "bomb.tar.gz")).assert_refused("unpacks to more than 8 MiB")


def test_a_cut_off_archive_is_called_truncated_wherever_it_is_cut(tmp_path):
    write_capture(part1_capture(), str(tmp_path / "good.tar.gz"))
    data = (tmp_path / "good.tar.gz").read_bytes()
    for cut in range(100, len(data), max(1, len(data) // 40)):
        (tmp_path / "cut.tar.gz").write_bytes(data[:cut])
        cli("doctor", "--from", str(tmp_path / "cut.tar.gz")).assert_refused("corrupt or truncated archive")


def test_an_archive_of_many_members_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(capture, "MAX_MEMBERS", SMALL_CAP)
    members = [_file("manifest.json", MANIFEST)] + [_file(f"files/x/{i}", b"") for i in range(SMALL_CAP)]
    (tmp_path / "many.tar.gz").write_bytes(_archive(members))
    cli("doctor", "--from", str(tmp_path / "many.tar.gz")).assert_refused(f"more than {SMALL_CAP} members")


@pytest.mark.parametrize("member", JSON_MEMBERS)
def test_deep_json_in_an_archive_member_is_refused(tmp_path, member):
    deep = b"[" * 50_000 + b"]" * 50_000
    members = [_file("manifest.json", MANIFEST if member != "manifest.json" else deep)]
    if member != "manifest.json":
        members.append(_file(member, deep))
    (tmp_path / "deep.tar.gz").write_bytes(_archive(members))
    cli("doctor", "--from", str(tmp_path / "deep.tar.gz")).assert_refused("nests more than 64 levels")


@pytest.mark.parametrize("kind", ["fifo", "device", "hard link"])
def test_special_members_in_an_archive_are_refused(tmp_path, kind):
    info = tarfile.TarInfo("files/proc/cpuinfo")
    info.type = {"fifo": tarfile.FIFOTYPE, "device": tarfile.CHRTYPE, "hard link": tarfile.LNKTYPE}[kind]
    info.linkname = "manifest.json" if kind == "hard link" else ""
    (tmp_path / "odd.tar.gz").write_bytes(_archive([_file("manifest.json", MANIFEST), (info, b"")]))
    cli("doctor", "--from", str(tmp_path / "odd.tar.gz")).assert_refused("FIFO" if kind == "fifo" else kind)


def test_a_huge_gpu_name_in_a_pasted_report_is_matched_in_bounded_time(tmp_path):
    xml = ("<?xml version=\"1.0\" ?>\n<nvidia_smi_log><driver_version>550.54.14</driver_version>"
           "<cuda_version>12.4</cuda_version><attached_gpus>1</attached_gpus><gpu id=\"00000000:01:00.0\">"
           f"<product_name>NVIDIA {'GeForce RTX 4090 ' * 850_000}</product_name>"
           "<fb_memory_usage><total>24564 MiB</total></fb_memory_usage></gpu></nvidia_smi_log>\n")
    assert len(xml) > 14_000_000
    (tmp_path / "gpu.xml").write_text(xml)
    ran = dlkit("doctor", "--from", str(tmp_path / "gpu.xml"), "--json", cwd=tmp_path)
    assert ran.code in (0, 1, 2)
    ran.assert_clean()
    assert json.loads(ran.stdout)["schema"] == "dlkit.doctor/1"


# ------------------------------------------------------------------ degenerate options

def _string_options() -> list[tuple[str, ...]]:
    """(command path..., --option) for every option of every command that takes a string."""
    out = []
    root = typer.main.get_command(app)

    def walk(cmd, path):
        for p in cmd.params:
            ann = p.type_descriptor.annotation
            if p.param_type_name == "option" and not p.is_flag and (ann is str or str in typing.get_args(ann)):
                out.append((*path, p.opts[0]))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, (*path, name))
    walk(root, ())
    return sorted(out)


STRING_OPTIONS = _string_options()


def test_the_option_list_is_the_cli_s_own():
    assert ("doctor", "--python") in STRING_OPTIONS and ("cloud-cost", "breakeven", "--currency") in STRING_OPTIONS
    assert len(STRING_OPTIONS) >= 25


@pytest.mark.parametrize("where", STRING_OPTIONS, ids=" ".join)
@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_value_is_a_usage_error_for_every_option(where, value):
    ran = cli(*where, value)
    ran.assert_refused("an empty value is not allowed")
    assert len(ran.stderr.splitlines()) == 1


@pytest.mark.parametrize("args,contains", [
    (["bench", "--dtype", ",,,"], "names no dtype"),
    (["bench", "--dtype", " , "], "names no dtype"),
    (["doctor", "--python", ""], "--python"),
    (["cloud-cost", "--gpu", "A100", "--hours", "1e308", "--no-skypilot"], "at most 876,600"),
    (["doctor", "--timeout", "nan"], "--timeout"),
    (["cloud-cost", "breakeven", "--build-price", "1e308", "--fx", "1e-308", "--currency", "EUR", "--vs-price", "1",
      "--electricity", "0", "--utilization", "1", "--build-watts", "0"], "not a finite number"),
    (["cloud-cost", "breakeven", "--build-price", "1e300", "--vs-price", "1e-300", "--electricity", "1e300",
      "--utilization", "1", "--build-watts", "1e300"], "not a finite number"),
])
def test_degenerate_values_are_usage_errors(args, contains):
    cli(*args).assert_refused(contains)


# ------------------------------------------------------------------ output streams

# bench measures for minutes; its output path is exercised with a canned measurement.
FAKE_BENCH = ("import sys; import dlkit.benchmarks.report as R; "
              "R.bench = lambda opts, tick: R.BenchResult(opts, {'cpu': {'model': 'Fake CPU'}}, "
              "[{'kernel': 'matmul', 'device': 'cpu', 'dtype': 'float32', 'shape': [64, 64, 64], 'median_s': 1e-3, "
              "'iqr_s': 1e-5, 'n': 20, 'tflops': 0.5}]); "
              "from dlkit.cli import main; sys.argv = ['dlkit', *sys.argv[1:]]; main()")


@pytest.fixture(scope="module")
def replay(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("replay") / "cap"
    write_capture(part1_capture(), str(path))
    return str(path)


def every_command(replay: str) -> dict[str, tuple[list[str], int]]:
    """One run of every command and renderer, with its exit code when stdout is fine."""
    return {
        "doctor": (["doctor", "--from", replay], 2),  # the fake desktop has nouveau loaded
        "doctor --json": (["doctor", "--from", replay, "--json"], 2),
        "doctor --markdown": (["doctor", "--from", replay, "--markdown"], 2),
        "bench": (["bench", "--device", "cpu"], 0),
        "bench --json": (["bench", "--device", "cpu", "--json"], 0),
        "plan-build": (["plan-build", "--gpu", "3090", "--gpus", "2", "--psu", "1000"], 2),  # 1000 W is too small
        "cloud-cost": (["cloud-cost", "--gpu", "A100", "--no-skypilot", "--json"], 0),
        "breakeven": (BREAKEVEN + ["--build-price", "2200", "--build-watts", "450", "--currency", "EUR", "--fx", "0.92"], 0),
    }


# One run per way of writing stdout: rich consoles (doctor, plan-build, breakeven), sys.stdout.write
# (doctor --json, cloud-cost --json) and click's echo (bench --json). "doctor --markdown" and the
# bench console table write the same ways; test_an_ascii_locale covers them all.
COMMANDS = ["doctor", "doctor --json", "bench --json", "plan-build", "cloud-cost", "breakeven"]
ALL_COMMANDS = COMMANDS + ["doctor --markdown", "bench"]


def stream_run(replay: str, name: str, stdout=None, env=None, shell_suffix: str = "") -> Ran:
    argv, _ = every_command(replay)[name]
    if name.startswith("bench"):
        return dlkit_code(FAKE_BENCH, argv, stdout=stdout, env=env)
    return dlkit(*argv, stdout=stdout, env=env)


def dlkit_code(code: str, argv: list[str], stdout=None, env=None) -> Ran:
    """Like :func:`dlkit`, for ``python -c CODE ARGV`` (a patched entry point)."""
    return dlkit(*argv, stdout=stdout, env=env, code=code)


@pytest.mark.parametrize("name", ALL_COMMANDS)
def test_the_exit_codes_the_stream_tests_expect(replay, name):
    argv, code = every_command(replay)[name]
    if not name.startswith("bench"):
        assert cli(*argv).code == code


@pytest.mark.parametrize("name", COMMANDS)
def test_a_broken_pipe_ends_quietly_with_the_command_s_own_exit_code(replay, name):
    r, w = os.pipe()
    os.close(r)  # the reader left before the first byte
    ran = stream_run(replay, name, stdout=w)
    os.close(w)
    assert ran.code == every_command(replay)[name][1]
    assert ran.stderr == ""
    ran.assert_clean()


@pytest.mark.parametrize("name", COMMANDS)
def test_a_closed_stdout_keeps_the_exit_code(replay, name, tmp_path):
    argv, code = every_command(replay)[name]
    head = f"-c \"{FAKE_BENCH}\"" if name.startswith("bench") else "-m dlkit"
    words = " ".join(f"'{a}'" for a in argv)
    # subprocess cannot close fd 1 in the child by itself: a shell does it (`>&-`)
    proc = subprocess.run(["sh", "-c", f"exec '{sys.executable}' {head} {words} >&-"], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == code, proc.stderr
    assert proc.stderr == ""
    assert os.listdir(tmp_path) == []  # no open() took fd 1 and wrote the report into a file


@pytest.mark.parametrize("name", COMMANDS)
def test_a_full_disk_is_one_line_and_exit_2(replay, name):
    with open("/dev/full", "wb") as full:
        ran = stream_run(replay, name, stdout=full)
    assert ran.code == 2
    assert ran.stderr.strip().splitlines()[-1] == "dlkit: error: could not write the output: No space left on device"
    ran.assert_clean()


def test_doctor_into_head_keeps_the_report_s_exit_code(replay):
    proc = subprocess.run(["bash", "-c", f"set -o pipefail; '{sys.executable}' -m dlkit doctor --from '{replay}' | head -1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2  # the report's verdict, not the pipe's
    assert proc.stderr == ""
    assert proc.stdout.startswith("dlkit doctor")


@pytest.mark.parametrize("name", ALL_COMMANDS)
def test_an_ascii_locale_never_crashes(replay, name):
    ran = stream_run(replay, name, env={"LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": "ascii"})
    assert ran.code == every_command(replay)[name][1]
    ran.assert_clean()
    ran.stdout.encode("ascii")  # what could not be encoded was replaced
    assert ran.stdout.strip()


def test_a_plot_that_cannot_be_written_is_an_error_and_leaves_nothing(tmp_path):
    (tmp_path / "plot.png").mkdir()
    dlkit(*BREAKEVEN, "--build-price", "9", "--build-watts", "0", "--plot", str(tmp_path / "plot.png"),
          cwd=tmp_path).assert_refused("is a directory")
    dlkit(*BREAKEVEN, "--build-price", "9", "--build-watts", "0", "--plot", "/dev/full.png",
          cwd=tmp_path).assert_refused("kernel file system")
    assert not os.path.exists("/dev/full.png")
    dlkit(*BREAKEVEN, "--build-price", "9", "--build-watts", "0", "--plot", "/dev/full", "--force",
          cwd=tmp_path).assert_refused()


# ------------------------------------------------------------------ signals

SLOW_SECOND_CASE = ("import sys, time; import dlkit.benchmarks.suite as S; calls = []\n"
                    "def measure(torch, case, *a):\n"
                    "    calls.append(case)\n"
                    "    if len(calls) > 1:\n"
                    "        sys.stderr.write('MEASURED-ONE\\n'); sys.stderr.flush(); time.sleep(60)\n"
                    "    return {'kernel': case.kernel, 'device': case.device, 'dtype': case.dtype, 'median_s': 1e-3}\n"
                    "S.measure = measure\n"
                    "from dlkit.cli import main; sys.argv = ['dlkit', *sys.argv[1:]]; main()")


@pytest.mark.parametrize("signum,code", [(2, 130), (15, 143)])
def test_a_signal_during_bench_keeps_what_was_measured(signum, code):
    """SIGTERM (a Slurm time limit, `timeout`) keeps the partial results as Ctrl-C does."""
    proc = subprocess.Popen([sys.executable, "-c", SLOW_SECOND_CASE, "bench", "--device", "cpu", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        line = proc.stderr.readline()  # blocks until the second case started (torch imported)
        assert line == "MEASURED-ONE\n", line
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    doc = json.loads(out)
    assert doc["interrupted"] is True and len(doc["results"]) == 1
    assert any(n.startswith("interrupted (Ctrl-C or SIGTERM) during") for n in doc["notes"])
