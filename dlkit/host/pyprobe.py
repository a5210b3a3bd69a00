"""The target-interpreter probe: what the user's Python reports about its frameworks.

dlkit may run under pipx in its own venv while the user's torch lives in another
interpreter, and a broken torch segfaults, hangs or prints garbage on import. So the
framework facts come from a **child process** of the target interpreter
(``[python, "-c", CHILD_SCRIPT, mode, deadline]``), never from dlkit's own process
(pytorch/pytorch#15346, #47397: collect_env itself must survive a broken torch;
peers-doctor.md §2).

The child
  * runs on Python 3.6+ (no walrus, no ``f"{x=}"``, no ``match``);
  * moves fd 1 onto fd 2 first, so whatever sitecustomize, torch or a C library prints
    lands on stderr, and writes its answers on a private copy of stdout as lines
    ``DLKIT-PYPROBE: {json}``; the parent takes the last complete one, so a stray print
    without a newline cannot break parsing;
  * writes ``DLKIT-PYPROBE-STAGE: <step>`` before each risky step and a snapshot answer
    after the cheap part, so a crash or hang inside ``import torch`` still leaves the
    package versions and torch/version.py behind, and says where it died;
  * ends with ``os._exit(0)``: CUDA/TF teardown at interpreter exit cannot crash it
    after it answered; ``signal.alarm`` kills it should dlkit itself die first.

Modes: ``fast`` reads versions only (importlib.metadata and torch/version.py as a file:
no framework is imported, about 50 ms); ``torch``, ``tensorflow`` and ``jax`` import that
one framework and initialise CUDA. With ``import_frameworks`` the three run in parallel
children: the wall time is the slowest import, not the sum, and a TensorFlow that dies
of SIGILL on a CPU without AVX does not take the torch answer with it.

The answer (``python.json`` of the capture, spec §3, extended only by adding keys)::

    {"probe": 1, "mode": "fast" | "import",
     "executable": sys.executable, "requested": the path dlkit ran,
     "python_version": "3.11.7", "implementation": "cpython", "platform": "linux",
     "machine": "x86_64", "prefix": ..., "base_prefix": ..., "in_venv": bool, "conda": bool,
     "packages": {"torch": "2.5.1+cu124", "nvidia-cudnn-cu12": "9.1.0.70", ...},
     "duplicates": {"torch": ["2.5.1", "2.1.0"]},     # same name installed twice on sys.path
     "imported": ["torch", ...],                       # frameworks in the child's sys.modules
     "torch": null | {"version", "cuda", "hip", "location", "version_source",
                      "imported": bool, "cuda_available", "device_count", "arch_list",
                      "cudnn_version", "cudnn_error", "error", "warnings",
                      "import_warnings", "libraries", "devices": [{"name", "capability"}],
                      "import_s"},
     "tensorflow": null | {"version", "location", "imported", "cuda", "cudnn",
                           "is_cuda_build", "is_rocm_build", "gpus", "error", "warnings"},
     "jax": null | {"version", "jaxlib", "location", "imported", "backend", "devices",
                    "error", "warnings"},
     "stamps": {path: mtime},                          # what the cache checks
     "elapsed_s": 0.05, "wall_s": 0.07,                # inside the child; as dlkit waited
     "errors": {section: text}                         # a part of the probe that failed
    }

When a child fails the answer says so as data, never as an exception: ``error`` is
``"timeout"``, ``"crashed: signal 11 (SIGSEGV)"``, ``"no answer: ..."`` or
``"cannot run ..."``, with ``stage`` (the step it was in), ``stderr_tail`` and whatever it
had answered before (keys it never read are ``null``). A TensorFlow/JAX child's failure
goes into its own section (``tensorflow.error``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import signal
import tempfile
import threading
import time
from typing import Any

from dlkit.host.base import decode
from dlkit.host.safefile import FileRefused, loads_json, read_json
from dlkit.host.proc import Exiting, run_bounded
from dlkit.host.pyprobe_child import CHILD_SCRIPT

MARKER = "DLKIT-PYPROBE:"
STAGE_MARKER = "DLKIT-PYPROBE-STAGE:"
PROBE_VERSION = 1
STDERR_TAIL_CHARS = 4000
MAX_OUTPUT_BYTES = 4 * 1024 * 1024
FRAMEWORK_MODES = ("torch", "tensorflow", "jax")


# ----------------------------------------------------------------------------- parent

def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except (ValueError, AttributeError):
        return f"signal {num}"


def describe_exit(returncode: int, windows: bool = os.name == "nt") -> str | None:
    """``"crashed: signal 11 (SIGSEGV)"`` for a child killed by a signal (or a Windows
    NTSTATUS crash code); ``None`` for an ordinary exit code.

    >>> describe_exit(-11, windows=False)
    'crashed: signal 11 (SIGSEGV)'
    >>> describe_exit(3221225477, windows=True)
    'crashed: access violation (0xC0000005)'
    """
    if returncode < 0 and not windows:
        return f"crashed: signal {-returncode} ({_signal_name(-returncode)})"
    if windows:
        code = returncode & 0xFFFFFFFF
        if code >= 0xC0000000:
            known = {0xC0000005: "access violation", 0xC000001D: "illegal instruction",
                     0xC0000409: "stack buffer overrun (fail-fast)", 0xC0000135: "a DLL was not found"}
            return f"crashed: {known.get(code, 'exception')} (0x{code:08X})"
    return None


def parse_output(stdout: str) -> tuple[dict[str, Any] | None, str | None]:
    """The last complete answer and the last stage the child announced.

    A stray print that ends without a newline before the marker is tolerated: the marker is
    searched anywhere on the line.

    >>> parse_output('garbage\\nnoise' + MARKER + '{"a": 1}\\n' + STAGE_MARKER + ' import torch\\n')
    ({'a': 1}, 'import torch')
    """
    answer, stage = None, None
    for line in stdout.splitlines():
        i = line.find(MARKER)
        if i >= 0:
            try:
                value = loads_json(line[i + len(MARKER):], "the interpreter's answer")
            except FileRefused:
                continue  # cut off mid-line by a kill, or not an answer at all (too deep, NaN)
            if isinstance(value, dict):
                answer = value
            continue
        j = line.find(STAGE_MARKER)
        if j >= 0:
            stage = line[j + len(STAGE_MARKER):].strip() or None
    return answer, stage


def _tail(text: str, n: int = STDERR_TAIL_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= n else "…" + text[-n:]


def _cannot_run(executable: str) -> str | None:
    """Why ``executable`` cannot be started, decided before trying (clearer than errno)."""
    if os.sep in executable or (os.altsep and os.altsep in executable):
        if not os.path.exists(executable):
            return f"cannot run {executable}: no such file"
        if os.path.isdir(executable):
            return f"cannot run {executable}: is a directory"
        if os.name == "posix" and not os.access(executable, os.X_OK):
            return f"cannot run {executable}: not executable (permission denied)"
    return None


def _child_env() -> dict[str, str]:
    env = dict(os.environ)  # the user's environment is what their torch sees
    # A library that prints non-ASCII under LC_ALL=C on Python 3.6 would otherwise die
    # of UnicodeEncodeError and take the probe with it.
    env.setdefault("PYTHONIOENCODING", "utf-8:backslashreplace")
    return env


class _Child:
    """One child interpreter, run on its own thread so that the parallel children run at
    once. ``run_bounded`` gives it its own session, reads its pipes while it runs, keeps
    what it wrote before a kill and kills whatever it spawned (dlkit/host/proc.py)."""

    def __init__(self, executable: str, mode: str, timeout_s: float) -> None:
        self.executable, self.mode, self.timeout_s = executable, mode, timeout_s
        self.stdout = self.stderr = ""
        self.returncode: int | None = None
        self.timed_out = self.truncated = False
        self.start_error: str | None = None
        self.elapsed_s = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"pyprobe-{mode}")
        self._thread.start()

    def _run(self) -> None:
        argv = [self.executable, "-c", CHILD_SCRIPT, self.mode, f"{self.timeout_s:g}"]
        done = run_bounded(argv, self.timeout_s, max_bytes=MAX_OUTPUT_BYTES, env=_child_env())
        exc = done.start_error
        if isinstance(exc, Exiting):
            self.start_error = str(exc)
        elif isinstance(exc, FileNotFoundError):
            has_dir = os.sep in self.executable or bool(os.altsep and os.altsep in self.executable)
            where = "no such file" if has_dir else "not found on PATH"
            self.start_error = f"cannot run {self.executable}: {where}"
        elif exc is not None:
            self.start_error = f"cannot run {self.executable}: {exc.strerror or exc}"
        self.timed_out, self.truncated, self.returncode = done.timed_out, done.truncated, done.returncode
        self.stdout = decode(done.stdout)[0]
        self.stderr = decode(done.stderr)[0]
        self.elapsed_s = done.elapsed_s

    def join(self, deadline: float) -> None:
        self._thread.join(max(0.0, deadline - time.monotonic()))

    def result(self) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """(the last answer or None, failure fields: error/stage/stderr_tail; empty when fine)."""
        if self.start_error:
            return None, {"error": self.start_error}
        if self._thread.is_alive():  # cannot happen: run_bounded has its own timeout
            return None, {"error": "timeout", "timeout_s": self.timeout_s}
        answer, stage = parse_output(self.stdout)
        fail: dict[str, Any] = {}
        finished = stage == "done"
        if self.timed_out:
            fail = {"error": "timeout", "timeout_s": self.timeout_s}
        elif self.truncated and not finished:
            fail = {"error": f"stopped: it printed more than {4 * MAX_OUTPUT_BYTES // (1024 * 1024)} MiB"}
        elif self.returncode is not None and describe_exit(self.returncode):
            fail = {"error": describe_exit(self.returncode)}
        elif answer is None or not finished:
            last = (self.stderr.strip().splitlines() or self.stdout.strip().splitlines() or [""])[-1]
            what = f"exit code {self.returncode}" + (f": {last[:300]}" if last else "")
            if answer is None:
                fail = {"error": f"no answer: {what} (is {self.executable} a Python 3.6+ interpreter?)"}
            else:
                fail = {"error": f"no answer: the child stopped early ({what})"}
        if fail:
            if stage and stage != "done":
                fail["stage"] = stage
            if self.stderr.strip():
                fail["stderr_tail"] = _tail(self.stderr)
        return answer, fail


EMPTY_KEYS = ("executable", "python_version", "packages", "torch", "tensorflow", "jax")


def run_probe(executable: str, import_frameworks: bool, timeout_s: float) -> dict[str, Any]:
    """Run the child(ren) of ``executable``; the merged answer, failures included as data."""
    why = _cannot_run(executable)
    if why:
        return {**dict.fromkeys(EMPTY_KEYS), "requested": executable, "error": why}
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    modes = FRAMEWORK_MODES if import_frameworks else ("fast",)
    children = {m: _Child(executable, m, timeout_s) for m in modes}
    for child in children.values():
        child.join(deadline + 3.0)
    main_mode = modes[0]
    answer, fail = children[main_mode].result()
    if answer is None:
        # the torch child died before its first snapshot; a sibling may still know the rest
        for m in modes[1:]:
            other, other_fail = children[m].result()
            if other is not None:
                answer = {**other, "torch": None}
                break
    out: dict[str, Any] = dict.fromkeys(EMPTY_KEYS)
    out.update(answer or {})
    out["requested"] = executable
    out.update(fail)
    if fail and answer is None:
        out["torch"] = None  # unknown, not "not installed": the error says why
    for m in modes[1:]:
        sub, sub_fail = children[m].result()
        section = (sub or {}).get(m) if sub is not None else None
        if section is None:
            section = copy.deepcopy((answer or {}).get(m))
        if section is not None and sub_fail:
            section.update(sub_fail)
        out[m] = section
    out["wall_s"] = round(time.monotonic() - t0, 3)
    return out


# ----------------------------------------------------------------------------- cache
# Importing torch and initialising CUDA costs 1-5 s; the answer only changes when the
# interpreter, an installed package, a mapped CUDA library, the driver or the
# environment that steers them changes. The key holds what we know before running
# anything; the entry holds the mtimes the child reported (every sys.path directory,
# torch/version.py, each library it mapped) and is valid while they all still match.
CACHE_ENV_KEYS = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES",
                  "LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE",
                  "CUDA_HOME", "CUDA_PATH", "JAX_PLATFORMS", "TF_CPP_MIN_LOG_LEVEL")
CACHE_MAX_AGE_S = 7 * 24 * 3600
CACHE_MAX_ENTRIES = 16
MAX_CACHE_BYTES = 16 * 1024 * 1024  # 16 answers of tens of KB; more is not our cache


def cache_path() -> str:
    """``$XDG_CACHE_HOME/dlkit/pyprobe.json`` (``~/.cache/dlkit``; ``%LOCALAPPDATA%\\dlkit`` on Windows)."""
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        base = os.path.join(os.environ["LOCALAPPDATA"], "dlkit", "cache")
    else:
        base = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dlkit")
    return os.path.join(base, "pyprobe.json")


def cache_key(executable: str, import_frameworks: bool, driver_version: str | None) -> str | None:
    try:
        real = os.path.realpath(executable)
        st = os.stat(real)
    except OSError:
        return None
    env = {k: os.environ.get(k) for k in CACHE_ENV_KEYS}
    if os.name == "nt":
        env["PATH"] = os.environ.get("PATH")  # Windows finds CUDA DLLs on PATH
    raw = json.dumps([PROBE_VERSION, CHILD_SCRIPT, real, st.st_mtime, st.st_size, bool(import_frameworks),
                      driver_version, env], sort_keys=True)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _load_cache() -> dict[str, Any]:
    try:
        data = read_json(cache_path(), MAX_CACHE_BYTES, "framework cache")
        return data if isinstance(data, dict) and isinstance(data.get("entries"), dict) else {"entries": {}}
    except FileRefused:  # missing, unreadable, or hand-edited into garbage: a miss
        return {"entries": {}}


def _stamps_match(stamps: Any) -> bool:
    if not isinstance(stamps, dict):
        return False
    for path, mtime in stamps.items():
        try:
            if os.stat(path).st_mtime != mtime:
                return False
        except (OSError, ValueError, TypeError):  # a hand-edited cache: a bad path is a miss
            return False
    return True


def cache_get(key: str) -> dict[str, Any] | None:
    entry = _load_cache()["entries"].get(key)
    if not isinstance(entry, dict) or not isinstance(entry.get("answer"), dict):
        return None
    saved = entry.get("saved")
    if not isinstance(saved, (int, float)) or time.time() - saved > CACHE_MAX_AGE_S:
        return None
    if not _stamps_match(entry["answer"].get("stamps")):
        return None
    return entry["answer"]


def cacheable(answer: dict[str, Any]) -> bool:
    """Only clean answers: a failure may be transient (GPU busy, a hang) and must be retried."""
    if answer.get("error"):
        return False
    for name in FRAMEWORK_MODES:
        section = answer.get(name)
        if isinstance(section, dict) and section.get("error"):
            return False
    return True


def cache_put(key: str, answer: dict[str, Any]) -> None:
    path = cache_path()
    data = _load_cache()
    entries = data["entries"]
    entries[key] = {"saved": time.time(), "answer": answer}
    if len(entries) > CACHE_MAX_ENTRIES:
        def saved(k: str) -> float:
            v = entries[k].get("saved") if isinstance(entries[k], dict) else None
            return float(v) if isinstance(v, (int, float)) else 0.0

        for old in sorted(entries, key=saved)[: len(entries) - CACHE_MAX_ENTRIES]:
            del entries[old]
    tmp = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".pyprobe-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)  # atomic: two dlkit runs never see half a file
        tmp = None
    except OSError:
        pass  # a read-only or full home is no reason to fail a diagnosis
    finally:
        if tmp is not None:  # a failed write (ENOSPC, EROFS, EIO) leaves no staged file behind
            try:
                os.unlink(tmp)
            except OSError:
                pass


def probe_python(executable: str, import_frameworks: bool, timeout_s: float,
                 use_cache: bool = False, driver_version: str | None = None) -> dict[str, Any]:
    """The answer of ``executable`` (see the module docstring), from the cache when allowed.

    Only import answers are cached: the fast path costs less than checking a cache would save.
    """
    key = cache_key(executable, import_frameworks, driver_version) if use_cache and import_frameworks else None
    if key is not None:
        hit = cache_get(key)
        if hit is not None:
            return {**hit, "requested": executable, "cached": True}
    answer = run_probe(executable, import_frameworks, timeout_s)
    if key is not None and cacheable(answer):
        cache_put(key, answer)
    return answer
