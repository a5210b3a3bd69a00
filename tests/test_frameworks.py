"""Framework probe of the target interpreter (probes/frameworks.py, dlkit/host/pyprobe.py).

Scenarios: the real child on this venv's python (CPU torch), broken interpreters made as
shell scripts (segfault, hang, garbage, not executable, missing), fake torch packages on
PYTHONPATH that reproduce the exact texts of failure-modes.md F04/F06 and a torch that
segfaults or hangs at import (pytorch/pytorch#15346: the diagnosis must survive a broken
torch), replay of the spec §3 example, and a record -> capture -> replay round trip.
"""

from __future__ import annotations

import ast
import doctest
import importlib.metadata
import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import fake_host

from dlkit.facts import PythonFacts
from dlkit.host import LiveHost, RecordingHost, ReplayHost, load_capture, write_capture
from dlkit.host import pyprobe
from dlkit.host.pyprobe import CHILD_SCRIPT, describe_exit, parse_output, probe_python, run_probe
from dlkit.probes import frameworks
from dlkit.probes.frameworks import choose_interpreter, collect, facts_from_python_json, validate_python

PY = sys.executable
posix_only = pytest.mark.skipif(os.name != "posix", reason="shell-script interpreters and signals are POSIX")


def _torch_version() -> str | None:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


needs_torch = pytest.mark.skipif(_torch_version() is None, reason="torch is not installed in the test venv")


def script(tmp_path: Path, name: str, body: str, mode: int = 0o755) -> str:
    p = tmp_path / name
    p.write_text("#!/bin/sh\n" + body + "\n")
    p.chmod(mode)
    return str(p)


def fake_package(root: Path, files: dict[str, str], dist: tuple[str, str] | None = None) -> Path:
    """A package tree under root (put root on PYTHONPATH); dist adds a .dist-info for pip."""
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    if dist:
        name, version = dist
        info = root / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return root


VERSION_PY_CU124 = """\
    from typing import Optional
    __all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip']
    __version__ = '2.5.1+cu124'
    debug = False
    cuda: Optional[str] = '12.4'
    git_version = 'a8d6afb511a69687bbb2b7e88a3cf67917e1697e'
    hip: Optional[str] = None
"""

# A torch stand-in: `torch.version`, `torch.cuda`, `torch._C`, `torch.backends.cudnn` as
# the probe calls them. BEHAVIOUR is spliced in per scenario.
FAKE_TORCH_INIT = """\
    import sys, types, warnings
    from . import version
    __version__ = version.__version__
    _C = types.SimpleNamespace(_cuda_getArchFlags=lambda: "sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90")
    cuda = types.ModuleType("torch.cuda")
    backends = types.SimpleNamespace(cudnn=types.SimpleNamespace(version=lambda: 90100))
    def ones(*a, **k):
        return types.SimpleNamespace(__add__=None)
    {behaviour}
"""

F04_WARNING = ("CUDA initialization: The NVIDIA driver on your system is too old (found version 11040). "
               "Please update your GPU driver by downloading and installing a new version from the URL: "
               "http://www.nvidia.com/Download/index.aspx Alternatively, go to: https://pytorch.org to install "
               "a PyTorch version that has been compiled with your version of the CUDA driver.")
F04_BEHAVIOUR = f"""
    def is_available():
        warnings.warn({F04_WARNING!r})
        return False
    cuda.is_available = is_available
    cuda.device_count = lambda: 0
    def init():
        raise RuntimeError({F04_WARNING.split(': ', 1)[1]!r})
    cuda.init = init
"""
F06_WARNING = ("NVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not compatible with the current PyTorch "
               "installation.\nThe current PyTorch install supports CUDA capabilities sm_50 sm_60 sm_70 sm_75 "
               "sm_80 sm_86 sm_90.")
F06_BEHAVIOUR = f"""
    cuda.is_available = lambda: True
    cuda.device_count = lambda: 1
    def init():
        warnings.warn({F06_WARNING!r})
    cuda.init = init
    cuda.get_device_capability = lambda i: (12, 0)
    cuda.get_device_name = lambda i: "NVIDIA GeForce RTX 5090"
    def ones(*a, **k):
        raise RuntimeError("CUDA error: no kernel image is available for execution on the device")
"""
CPU_BEHAVIOUR = """
    cuda.is_available = lambda: False
    cuda.device_count = lambda: 0
    cuda.init = lambda: None
"""


def fake_torch(root: Path, behaviour: str, version_py: str = VERSION_PY_CU124) -> Path:
    init = FAKE_TORCH_INIT.replace("{behaviour}", textwrap.indent(textwrap.dedent(behaviour), "    ").strip())
    return fake_package(root, {"torch/__init__.py": init, "torch/version.py": version_py},
                        dist=("torch", "2.5.1+cu124"))


# ----------------------------------------------------------------------------- the child


def test_child_script_is_python36_syntax():
    ast.parse(CHILD_SCRIPT, feature_version=(3, 6))
    assert len(CHILD_SCRIPT) < 30000  # Windows command-line limit is 32,767 characters


@pytest.mark.parametrize("version", ["3.6.15", "3.7.16", "3.8.18"])
def test_child_runs_on_old_pythons(version):
    exe = Path.home() / ".pyenv" / "versions" / version / "bin" / "python"
    if not exe.exists():
        pytest.skip(f"no Python {version} here")
    a = run_probe(str(exe), True, 20)
    assert a.get("error") is None, a
    assert a["python_version"] == version
    assert a["errors"] == {}  # packages found (pkg_resources on 3.6/3.7)


def test_doctests():
    for module in (pyprobe, frameworks):
        assert doctest.testmod(module).failed == 0


@needs_torch
def test_fast_path_reads_torch_without_importing_it():
    t0 = time.monotonic()
    a = run_probe(PY, False, 30)
    elapsed = time.monotonic() - t0
    assert a.get("error") is None, a
    assert a["mode"] == "fast"
    assert a["executable"] and a["python_version"] == "%d.%d.%d" % sys.version_info[:3]
    assert a["packages"]["torch"] == _torch_version()
    assert a["torch"]["version"] == _torch_version()
    assert a["torch"]["version_source"] == "torch/version.py"
    assert a["torch"]["imported"] is False and a["torch"]["cuda_available"] is None
    assert "torch" not in a["imported"]  # the child's own sys.modules
    assert elapsed < 5.0  # ~50 ms here; importing torch costs over a second
    if _torch_version().endswith("+cpu"):
        assert a["torch"]["cuda"] is None


@needs_torch
def test_import_path_reports_cuda_for_this_venv():
    a = run_probe(PY, True, 60)
    assert a.get("error") is None, a
    t = a["torch"]
    assert t["imported"] is True and "torch" in a["imported"]
    assert t["version"] == _torch_version() == a["packages"]["torch"]
    if _torch_version() == "2.13.0+cpu":  # the CPU build the test venv pins
        assert t["cuda"] is None and t["cuda_available"] is False
        assert t["device_count"] == 0 and t["error"] is None and t["cudnn_version"] is None
    assert a["tensorflow"] is None and a["jax"] is None


@needs_torch
def test_collect_with_explicit_python():
    f = collect(LiveHost(), PY, import_frameworks=False, timeout_s=30)
    assert isinstance(f, PythonFacts)
    assert f.chosen_by == "--python" and f.torch is not None
    assert f.torch.version == _torch_version() and f.packages["torch"] == _torch_version()
    assert "not checked" in f.unknown["torch.cuda_available"]


# ----------------------------------------------------------------------------- broken interpreters


@posix_only
def test_segfaulting_interpreter_is_data(tmp_path):
    exe = script(tmp_path, "python", "kill -SEGV $$")
    a = run_probe(exe, False, 10)
    assert a["error"] == "crashed: signal 11 (SIGSEGV)"
    assert a["torch"] is None and a["requested"] == exe
    f = collect(LiveHost(), exe, timeout_s=10)
    assert f.torch is None
    assert f.unknown["torch"] == "the child interpreter crashed: signal 11 (SIGSEGV)"


@posix_only
def test_hanging_interpreter_times_out(tmp_path):
    exe = script(tmp_path, "python", "sleep 60")
    t0 = time.monotonic()
    a = run_probe(exe, True, 1.0)
    assert time.monotonic() - t0 < 3.0
    assert a["error"] == "timeout" and a["timeout_s"] == 1.0
    f = facts_from_python_json(a, "--python")
    assert f.unknown["torch"] == "the child interpreter did not answer within 1 s (hung?)"


@posix_only
def test_garbage_printing_interpreter_gives_no_answer(tmp_path):
    exe = script(tmp_path, "python", 'echo "Python 4 lol"; echo \'{"torch": "9"}\'; echo "DLKIT-PYPROBE:{broken"')
    a = run_probe(exe, False, 10)
    assert a["error"].startswith("no answer: exit code 0")
    assert a["packages"] is None and a["torch"] is None


@posix_only
def test_not_executable_and_missing(tmp_path):
    exe = script(tmp_path, "python", "exit 0", mode=0o644)
    assert run_probe(exe, False, 5)["error"] == f"cannot run {exe}: not executable (permission denied)"
    missing = str(tmp_path / "nope" / "python")
    assert run_probe(missing, False, 5)["error"] == f"cannot run {missing}: no such file"
    assert run_probe(str(tmp_path), False, 5)["error"] == f"cannot run {tmp_path}: is a directory"
    assert run_probe("dlkit-no-such-python-anywhere", False, 5)["error"].endswith("not found on PATH")


@posix_only
def test_validate_python_messages(tmp_path):
    host = LiveHost()
    assert validate_python(host, PY) is None
    assert validate_python(host, str(tmp_path / "nope")) == f"--python {tmp_path / 'nope'}: no such file"
    exe = script(tmp_path, "notpython", "echo usage: notpython; exit 2")
    msg = validate_python(host, exe)
    assert msg.startswith(f"--python {exe}: not a working Python interpreter (no answer: exit code 2")
    assert "\n" not in msg
    segv = script(tmp_path, "segv", "kill -SEGV $$")
    assert validate_python(host, segv) == f"--python {segv}: not a working Python interpreter (crashed: signal 11 (SIGSEGV))"


def test_describe_exit():
    assert describe_exit(-11, windows=False) == "crashed: signal 11 (SIGSEGV)"
    assert describe_exit(-4, windows=False) == "crashed: signal 4 (SIGILL)"
    assert describe_exit(1, windows=False) is None
    assert describe_exit(0xC0000409, windows=True) == "crashed: stack buffer overrun (fail-fast) (0xC0000409)"


def test_parse_output_takes_the_last_complete_answer():
    out = ("sitecustomize says hi\n" + pyprobe.MARKER + '{"n": 1}\n' + "noise without newline" + pyprobe.MARKER
           + '{"n": 2}\n' + pyprobe.STAGE_MARKER + " import torch\n" + pyprobe.MARKER + '{"n": 3, "cut')
    assert parse_output(out) == ({"n": 2}, "import torch")


# ----------------------------------------------------------------------------- fake torch scenarios


@posix_only
def test_torch_segfault_at_import_keeps_versions(tmp_path, monkeypatch):
    # pytorch/pytorch#15346: a torch that kills its interpreter must not take doctor down
    fake_torch(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    fast = run_probe(PY, False, 20)
    assert fast.get("error") is None
    assert fast["torch"]["version"] == "2.5.1+cu124" and fast["torch"]["cuda"] == "12.4"
    assert fast["packages"]["torch"] == "2.5.1+cu124"  # PYTHONPATH shadows site-packages
    if _torch_version():
        assert fast["duplicates"]["torch"] == ["2.5.1+cu124", _torch_version()]
    a = run_probe(PY, True, 20)
    assert a["error"] == "crashed: signal 11 (SIGSEGV)" and a["stage"] == "import torch"
    assert "Fatal Python error" in a["stderr_tail"]  # faulthandler's traceback
    f = facts_from_python_json(a, "--python")
    assert f.torch.version == "2.5.1+cu124" and f.torch.cuda == "12.4"
    assert f.torch.error == "the child interpreter crashed: signal 11 (SIGSEGV) during `import torch`"
    assert f.unknown["torch.cuda_available"] == f.torch.error


def test_f04_driver_too_old_text_is_captured(tmp_path, monkeypatch):
    fake_torch(tmp_path, F04_BEHAVIOUR)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    a = run_probe(PY, True, 20)
    assert a.get("error") is None, a
    t = a["torch"]
    assert t["cuda_available"] is False and t["device_count"] == 0
    assert t["arch_list"] == ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]
    assert t["warnings"] == ["UserWarning: " + F04_WARNING]
    assert t["error"] == "RuntimeError: " + F04_WARNING.split(": ", 1)[1]
    f = facts_from_python_json(a, "--python")
    assert "The NVIDIA driver on your system is too old (found version 11040)" in f.torch.error
    assert f.torch.cudnn_version == 90100


def test_f06_gpu_too_new_for_build(tmp_path, monkeypatch):
    fake_torch(tmp_path, F06_BEHAVIOUR)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    a = run_probe(PY, True, 20)
    t = a["torch"]
    assert t["cuda_available"] is True and t["device_count"] == 1
    assert t["devices"] == [{"name": "NVIDIA GeForce RTX 5090", "capability": "12.0"}]
    assert t["error"] == "RuntimeError: CUDA error: no kernel image is available for execution on the device"
    assert t["warnings"] == ["UserWarning: " + F06_WARNING]


def test_stray_prints_do_not_break_the_answer(tmp_path, monkeypatch):
    fake_torch(tmp_path, textwrap.dedent(CPU_BEHAVIOUR) + "\nprint('DLKIT garbage {')\nimport os\nos.write(1, b'no newline')\n")
    fake_package(tmp_path, {"sitecustomize.py": "print('hello from sitecustomize', end='')\n"})
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    a = run_probe(PY, True, 20)
    assert a.get("error") is None, a
    assert a["torch"]["imported"] is True and a["torch"]["cuda_available"] is False


def test_hang_in_cuda_init_keeps_the_snapshot(tmp_path, monkeypatch):
    fake_torch(tmp_path, "import time\ndef is_available():\n    time.sleep(60)\ncuda.is_available = is_available\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    t0 = time.monotonic()
    a = run_probe(PY, True, 2.0)
    assert time.monotonic() - t0 < 6.0
    assert a["error"] == "timeout" and a["stage"] == "torch.cuda.is_available()"
    assert a["torch"]["version"] == "2.5.1+cu124"
    f = facts_from_python_json(a, "PATH")
    assert f.torch.error is None  # a hang is unknown, not a verdict
    assert f.unknown["torch.cuda_available"] == (
        "the child interpreter did not answer within 2 s during `torch.cuda.is_available()` (hung?)")


def test_tensorflow_and_jax_in_their_own_children(tmp_path, monkeypatch):
    fake_torch(tmp_path, CPU_BEHAVIOUR)
    fake_package(tmp_path, {
        "tensorflow/__init__.py": """\
            import types
            __version__ = "2.16.1"
            sysconfig = types.SimpleNamespace(get_build_info=lambda: {"cuda_version": "12.3", "cudnn_version": "8",
                                                                      "is_cuda_build": True, "is_rocm_build": False})
            config = types.SimpleNamespace(list_physical_devices=lambda kind: [])
            import logging
            logging.getLogger("tensorflow").warning("Cannot dlopen some GPU libraries.")
        """,
        # a jaxlib built with AVX on a CPU without it dies of SIGILL at import
        "jax/__init__.py": "import os, signal\nos.kill(os.getpid(), signal.SIGILL)\n",
    }, dist=("tensorflow", "2.16.1"))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    a = run_probe(PY, True, 20)
    assert a.get("error") is None, a
    assert a["torch"]["imported"] is True
    tf = a["tensorflow"]
    assert tf["version"] == "2.16.1" and tf["cuda"] == "12.3" and tf["gpus"] == []
    assert tf["is_cuda_build"] is True and "WARNING: Cannot dlopen some GPU libraries." in tf["warnings"]
    assert a["jax"]["error"] == "crashed: signal 4 (SIGILL)" and a["jax"]["stage"] == "import jax"
    f = facts_from_python_json(a, "PATH")
    assert f.tensorflow["cuda"] == "12.3" and f.jax["error"].startswith("crashed")


def test_torch_folder_without_init_is_not_imported(tmp_path, monkeypatch):
    (tmp_path / "torch").mkdir()
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    a = run_probe(PY, True, 20)
    if _torch_version() is None:
        assert "without __init__.py" in a["torch"]["error"]
    else:
        # a namespace folder earlier on sys.path does not hide a regular package later on
        assert a["torch"]["version"] == _torch_version()


# ----------------------------------------------------------------------------- cache


def test_cache_hits_and_invalidates(tmp_path, monkeypatch):
    pkgs = tmp_path / "pkgs"
    fake_torch(pkgs, CPU_BEHAVIOUR)
    monkeypatch.setenv("PYTHONPATH", str(pkgs))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = probe_python(PY, True, 20, use_cache=True, driver_version="550.54.14")
    assert "cached" not in first and first["torch"]["imported"] is True
    assert (tmp_path / "cache" / "dlkit" / "pyprobe.json").is_file()
    second = probe_python(PY, True, 20, use_cache=True, driver_version="550.54.14")
    assert second["cached"] is True and second["torch"] == first["torch"]
    # another driver, or no cache asked: a fresh child
    assert "cached" not in probe_python(PY, True, 20, use_cache=True, driver_version="560.35.03")
    assert "cached" not in probe_python(PY, True, 20, use_cache=False, driver_version="550.54.14")
    # torch reinstalled (version.py rewritten): the stamp no longer matches
    vp = pkgs / "torch" / "version.py"
    os.utime(vp, (time.time() + 10, time.time() + 10))
    assert "cached" not in probe_python(PY, True, 20, use_cache=True, driver_version="550.54.14")


def test_failures_are_not_cached(tmp_path, monkeypatch):
    fake_torch(tmp_path / "pkgs", "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "pkgs"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    probe_python(PY, True, 20, use_cache=True, driver_version="550")
    assert not (tmp_path / "cache" / "dlkit" / "pyprobe.json").exists()


def test_fast_path_is_never_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    probe_python(PY, False, 20, use_cache=True, driver_version="550")
    assert not (tmp_path / "cache").exists()


# ----------------------------------------------------------------------------- choosing the interpreter


def _host(environ=None, which=None, platform="linux", python=None):
    return fake_host(environ=environ or {}, live={"which": which or {}}, platform=platform, python=python)


def test_virtual_env_wins_over_conda_and_path():
    host = _host({"VIRTUAL_ENV": "/home/a/venv", "CONDA_PREFIX": "/opt/conda"},
                 {"/home/a/venv/bin/python": "/home/a/venv/bin/python", "/opt/conda/bin/python": "/opt/conda/bin/python",
                  "python3": "/usr/bin/python3"})
    assert choose_interpreter(host, own_dirs=()) == frameworks.Interpreter("/home/a/venv/bin/python", "VIRTUAL_ENV")


def test_stale_virtual_env_falls_through_to_conda():
    host = _host({"VIRTUAL_ENV": "/gone", "CONDA_PREFIX": "/opt/conda"}, {"/opt/conda/bin/python": "/opt/conda/bin/python"})
    assert choose_interpreter(host, own_dirs=()).chosen_by == "CONDA_PREFIX"


def test_windows_paths():
    host = _host({"VIRTUAL_ENV": "C:\\Users\\a\\venv"}, {"C:\\Users\\a\\venv\\Scripts\\python.exe": "C:\\Users\\a\\venv\\Scripts\\python.exe"},
                 platform="windows")
    assert choose_interpreter(host, own_dirs=()).executable == "C:\\Users\\a\\venv\\Scripts\\python.exe"
    conda = _host({"CONDA_PREFIX": "C:\\miniconda3\\envs\\dl"}, {"C:\\miniconda3\\envs\\dl\\python.exe": "C:\\miniconda3\\envs\\dl\\python.exe"},
                  platform="windows")
    assert choose_interpreter(conda, own_dirs=()).chosen_by == "CONDA_PREFIX"


def test_path_skips_dlkits_own_pipx_interpreter():
    own = "/home/a/.local/share/pipx/venvs/dlkit/bin"
    host = _host({"PATH": f"{own}:/usr/local/bin:/usr/bin"},
                 {"python3": f"{own}/python3", "/usr/local/bin/python3": None, "/usr/bin/python3": "/usr/bin/python3"})
    assert choose_interpreter(host, own_dirs=(own,)) == frameworks.Interpreter("/usr/bin/python3", "PATH")
    # not isolated: the first python3 is the answer
    assert choose_interpreter(host, own_dirs=()).executable == f"{own}/python3"


def test_no_interpreter_is_unknown_with_reason():
    host = _host()
    choice = choose_interpreter(host, own_dirs=())
    assert choice.executable is None and "pass --python PATH" in choice.why_none
    f = collect(host)
    assert f.torch is None and f.executable is None and "no Python interpreter to ask" in f.unknown["executable"]


def test_python_by_name_resolves_through_which():
    host = _host(which={"python3.12": "/usr/bin/python3.12"})
    assert choose_interpreter(host, "python3.12") == frameworks.Interpreter("/usr/bin/python3.12", "--python")


# ----------------------------------------------------------------------------- replay


SPEC_EXAMPLE = {  # spec §3, with its placeholders filled
    "executable": "/path/to/python", "python_version": "3.11.7",
    "packages": {"torch": "2.5.1+cu124", "nvidia-cudnn-cu12": "9.1.0.70"},
    "torch": {"version": "2.5.1+cu124", "cuda": "12.4", "cuda_available": True, "device_count": 0,
              "arch_list": ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"],
              "cudnn_version": 90100, "error": None},
}


def test_facts_from_spec_example():
    f = facts_from_python_json(SPEC_EXAMPLE, "import")
    assert f.executable == "/path/to/python" and f.python_version == "3.11.7" and f.chosen_by == "import"
    assert f.packages == {"torch": "2.5.1+cu124", "nvidia-cudnn-cu12": "9.1.0.70"}
    t = f.torch
    assert (t.version, t.cuda, t.hip, t.cuda_available, t.device_count, t.cudnn_version, t.error) == (
        "2.5.1+cu124", "12.4", None, True, 0, 90100, None)
    assert t.arch_list[-1] == "sm_90" and t.libraries == ()
    assert f.unknown == {}


def test_collect_env_import_without_executable_or_torch():
    f = facts_from_python_json({"executable": None, "python_version": "3.8.10", "packages": {}, "torch": None}, "import")
    assert f.torch is None and "torch" not in f.unknown  # not installed, not unknown
    assert f.unknown["executable"] == "the report does not name the interpreter"
    f2 = facts_from_python_json({"executable": None, "python_version": None, "packages": {"torch": "1.7.1"},
                                 "torch": {"version": "1.7.1", "cuda": "11.0", "cuda_available": None, "device_count": None,
                                           "arch_list": None, "cudnn_version": None, "error": None}})
    assert f2.torch.arch_list is None and f2.torch.cuda == "11.0"


def test_garbage_python_json_is_absence():
    assert facts_from_python_json(["not", "a", "dict"]).unknown["python"] == "python.json is not a JSON object"  # type: ignore[arg-type]
    f = facts_from_python_json({"packages": "x", "torch": {"version": 3, "arch_list": "sm_80", "cudnn_version": True}})
    assert f.packages == {} and f.torch.version is None and f.torch.arch_list is None and f.torch.cudnn_version is None


def test_replay_host_answers_python_json_whatever_was_asked():
    host = fake_host(python=SPEC_EXAMPLE)
    assert host.python_probe(None, True, 1.0) == SPEC_EXAMPLE
    host.python_probe(None, True, 1.0)["torch"]["version"] = "changed"  # a copy each time
    assert host.capture.python["torch"]["version"] == "2.5.1+cu124"
    f = collect(host, import_frameworks=True)
    assert f.chosen_by == "import" and f.torch.cuda == "12.4"
    assert fake_host().python_probe("/usr/bin/python3", False, 1.0) is None


@posix_only
@needs_torch
def test_record_write_load_replay_round_trip(tmp_path, monkeypatch):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    # a wrapper, not a symlink: a symlinked python resolves to its base install, not this venv
    script(venv / "bin", "python", f'exec "{PY}" "$@"')
    monkeypatch.setenv("VIRTUAL_ENV", str(venv))
    rec = RecordingHost(LiveHost())
    live = collect(rec, None, import_frameworks=True, timeout_s=60)
    assert live.chosen_by == "VIRTUAL_ENV" and live.torch.cuda_available is not None
    assert live.torch.version == _torch_version() and live.unknown == {}
    write_capture(rec.to_capture(None), str(tmp_path / "cap"))
    assert json.loads((tmp_path / "cap" / "python.json").read_text())["torch"]["version"] == _torch_version()
    assert str(venv / "bin" / "python") in json.loads((tmp_path / "cap" / "live.json").read_text())["which"]
    monkeypatch.delenv("VIRTUAL_ENV")
    replay = ReplayHost(load_capture(str(tmp_path / "cap")))
    assert collect(replay, None, import_frameworks=True) == live
    # the same through a .tar.gz
    write_capture(rec.to_capture(None), str(tmp_path / "cap.tar.gz"))
    assert collect(ReplayHost(load_capture(str(tmp_path / "cap.tar.gz")))) == live


@needs_torch
def test_capture_made_with_dash_dash_python_replays_as_such(tmp_path):
    rec = RecordingHost(LiveHost())
    live = collect(rec, PY, timeout_s=30)
    assert live.chosen_by == "--python"
    cap = tmp_path / "cap"
    write_capture(rec.to_capture(None), str(cap))
    assert collect(ReplayHost(load_capture(str(cap)))) == live


def test_recording_host_records_which_answers_including_misses():
    rec = RecordingHost(LiveHost())
    rec.which("dlkit-no-such-command")
    rec.which("sh")
    which = rec.to_capture(None).live["which"]
    assert which["dlkit-no-such-command"] is None and which["sh"]
    replay = ReplayHost(rec.to_capture(None))
    assert replay.which("sh") == which["sh"] and replay.which("dlkit-no-such-command") is None


def test_collect_env_report_replays_through_collect(corpus_file):
    # pytorch/pytorch#33473: "+cpu" torch on Windows, read from the collect_env text users paste
    from dlkit.host.importers import import_collect_env

    text = corpus_file("pytorch-issue-33473-cpu-only-torch-windows", "collect_env.txt")
    f = collect(ReplayHost(import_collect_env(text)), import_frameworks=True)
    assert f.chosen_by == "import" and f.executable is None
    assert f.torch.version == "1.4.0+cpu" and f.torch.cuda is None and f.torch.cuda_available is False
    assert f.unknown["executable"] == "the report does not name the interpreter"


def test_a_hand_edited_pyprobe_cache_is_a_miss_not_a_crash(tmp_path, monkeypatch):
    import json
    from dlkit.host import pyprobe
    path = tmp_path / "cache.json"
    monkeypatch.setattr(pyprobe, "cache_path", lambda: str(path))
    path.write_text(json.dumps({"entries": {"k": {"saved": "x", "answer": {}}, "j": {"saved": None, "answer": {"stamps": {"a\u0000b": 1}}},
                                            "i": "not a dict"}}), encoding="utf-8")
    assert pyprobe.cache_get("k") is None and pyprobe.cache_get("j") is None and pyprobe.cache_get("i") is None
    path.write_text(json.dumps({"entries": {"j": {"saved": 9e18, "answer": {"stamps": {"a\u0000b": 1}}}}}), encoding="utf-8")
    assert pyprobe.cache_get("j") is None
