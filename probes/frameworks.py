"""Deep-learning frameworks of the user's Python: torch (and TensorFlow, JAX) versions,
CUDA build, CUDA availability, arch list, cuDNN, and the exact text at CUDA init.

dlkit may run under pipx while the user's torch lives in another interpreter, so the
facts come from that **target interpreter**, asked in a child process through
``Host.python_probe`` (dlkit/host/pyprobe.py): a torch that segfaults, hangs or prints
garbage on import becomes an "unknown, because ..." here, never a dead doctor
(pytorch/pytorch#15346: collect_env itself died with a broken torch).

Which interpreter (``choose_interpreter``), first match wins:

1. ``--python PATH`` (``chosen_by="--python"``);
2. ``$VIRTUAL_ENV/bin/python`` (Windows ``Scripts\\python.exe``): an activated venv;
3. ``$CONDA_PREFIX/bin/python`` (Windows ``python.exe``): an activated conda env;
4. the first ``python3`` (Windows ``python``) on PATH, skipping dlkit's own interpreter
   when dlkit runs in an isolated venv (pipx): that one never holds the user's torch.

Check by hand::

    python -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())"
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import sys
from dataclasses import dataclass
from typing import Any

from dlkit.facts import PythonFacts, TorchFacts
from dlkit.host import Host

# Importing torch costs ~1.3 s and CUDA init on a multi-GPU node several more; a child
# still silent after this long is hung (a GPU fallen off the bus hangs cuInit).
DEFAULT_TIMEOUT_S = 10.0
VALIDATE_TIMEOUT_S = 15.0  # a cold start on a network file system can take seconds


@dataclass(frozen=True)
class Interpreter:
    executable: str | None
    chosen_by: str | None  # "--python" | "VIRTUAL_ENV" | "CONDA_PREFIX" | "PATH" | None
    why_none: str | None = None  # when executable is None: what was tried


def own_interpreter_dirs() -> tuple[str, ...]:
    """Directories holding dlkit's own interpreter when dlkit runs in an isolated venv
    (pipx, ``uv tool``): a ``python3`` found there is not the user's. Empty otherwise.

    This reads dlkit's own process (``sys``), not the machine.
    """
    if sys.prefix == getattr(sys, "base_prefix", sys.prefix):
        return ()
    dirs = {os.path.dirname(sys.executable or ""), os.path.join(sys.prefix, "bin"), os.path.join(sys.prefix, "Scripts")}
    return tuple(sorted(d for d in dirs if d))


def _is_path(name: str) -> bool:
    return "/" in name or "\\" in name


def choose_interpreter(host: Host, python: str | None = None, own_dirs: tuple[str, ...] | None = None) -> Interpreter:
    """The target interpreter and the rule that chose it (see the module docstring)."""
    if python:
        if not _is_path(python):  # "--python python3.12": as the shell would find it
            python = host.which(python) or python
        return Interpreter(python, "--python")
    windows = host.platform == "windows"
    path = ntpath if windows else posixpath
    tried = []
    for var, rel in (("VIRTUAL_ENV", ("Scripts", "python.exe") if windows else ("bin", "python")),
                     ("CONDA_PREFIX", ("python.exe",) if windows else ("bin", "python"))):
        prefix = host.env(var)
        if not prefix:
            continue
        candidate = path.join(prefix, *rel)
        found = host.which(candidate)
        if found:
            return Interpreter(found, var)
        tried.append(f"${var} is set but {candidate} is not an executable file")
    own = own_interpreter_dirs() if own_dirs is None else own_dirs
    own_norm = {path.normcase(path.normpath(d)) for d in own}

    def is_own(p: str) -> bool:
        return path.normcase(path.normpath(path.dirname(p))) in own_norm

    names = ("python", "python3") if windows else ("python3", "python")
    for name in names:
        first = host.which(name)
        if first is None:
            continue
        if not is_own(first):
            return Interpreter(first, "PATH")
        # dlkit's own venv is on PATH: look further along PATH for the user's python
        sep = ";" if windows else ":"
        for d in (host.env("PATH") or "").split(sep):
            if not d or path.normcase(path.normpath(d)) in own_norm:
                continue
            found = host.which(path.join(d, name + (".exe" if windows else "")))
            if found and not is_own(found):
                return Interpreter(found, "PATH")
        tried.append(f"the only {name} on PATH is dlkit's own ({first})")
    if not tried:
        tried.append("no " + " or ".join(names) + " on PATH, and neither VIRTUAL_ENV nor CONDA_PREFIX is set")
    return Interpreter(None, None, "no Python interpreter to ask: " + "; ".join(tried) + " (pass --python PATH)")


def validate_python(host: Host, path: str, timeout_s: float = VALIDATE_TIMEOUT_S) -> str | None:
    """``None`` when ``path`` is a Python dlkit can ask, else the one-line message for the
    CLI (which then exits 2). Runs the fast child once (~50 ms): the only sure test that
    something is a Python."""
    choice = choose_interpreter(host, path)
    answer = host.python_probe(choice.executable, False, timeout_s)
    if answer is None:
        return f"--python {path}: cannot run it"
    error = answer.get("error")
    if error:
        prefix = f"cannot run {choice.executable}: "
        if str(error).startswith(prefix):  # "no such file", "not executable (permission denied)"
            return f"--python {path}: {_one_line(str(error)[len(prefix):])}"
        return f"--python {path}: not a working Python interpreter ({_one_line(error)})"
    return None


def _one_line(text: Any, limit: int = 300) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _failure(d: dict[str, Any]) -> str | None:
    """The probe's failure as an "unknown, because ..." phrase, or None."""
    error = d.get("error")
    if not error:
        return None
    error = str(error)
    stage = d.get("stage")
    during = f" during `{stage}`" if stage else ""
    if error == "timeout":
        limit = d.get("timeout_s")
        within = f" within {limit:g} s" if isinstance(limit, (int, float)) else ""
        return f"the child interpreter did not answer{within}{during} (hung?)"
    if error.startswith("crashed"):
        return f"the child interpreter {error}{during}"
    return _one_line(error)


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _bool(v: Any) -> bool | None:
    return v if isinstance(v, bool) else None


def _torch_facts(t: dict[str, Any], failure: str | None, top: dict[str, Any], unknown: dict[str, str]) -> TorchFacts:
    arch = t.get("arch_list")
    libs = t.get("libraries")
    error = _str(t.get("error"))
    imported = t.get("imported") is True
    crashed = str(top.get("error") or "").startswith("crashed")
    if error is None and crashed and top.get("mode") == "import":
        # the crash is the answer torch gave at import / CUDA init (F01-F07 never get further)
        error = failure
    cuda_available = _bool(t.get("cuda_available"))
    if cuda_available is None:
        if failure:
            unknown["torch.cuda_available"] = failure
        elif not imported and t.get("error"):
            unknown["torch.cuda_available"] = _one_line(t["error"])
        elif not imported:
            unknown["torch.cuda_available"] = "not checked: torch was not imported (its version was read from torch/version.py)"
    if imported and t.get("cudnn_error"):
        unknown["torch.cudnn_version"] = _one_line(t["cudnn_error"])
    return TorchFacts(
        version=_str(t.get("version")),
        cuda=_str(t.get("cuda")),
        hip=_str(t.get("hip")),
        cuda_available=cuda_available,
        device_count=_int(t.get("device_count")),
        arch_list=tuple(str(a) for a in arch) if isinstance(arch, list) else None,
        cudnn_version=_int(t.get("cudnn_version")),
        error=error,
        libraries=tuple(str(p) for p in libs) if isinstance(libs, list) else (),
    )


def facts_from_python_json(d: dict[str, Any], chosen_by: str | None = None) -> PythonFacts:
    """PythonFacts from a python.json (spec §3): a live child's answer, a capture's file, or
    an importer's (collect_env text gives ``executable: null``). Pure.

    >>> f = facts_from_python_json({"executable": None, "python_version": "3.11.7",
    ...     "packages": {"torch": "2.5.1+cu124"}, "torch": {"version": "2.5.1+cu124", "cuda": "12.4",
    ...     "cuda_available": True, "device_count": 1, "arch_list": ["sm_90"], "cudnn_version": 90100,
    ...     "error": None}}, "import")
    >>> f.torch.cuda, f.torch.arch_list, f.unknown["executable"]
    ('12.4', ('sm_90',), 'the report does not name the interpreter')
    """
    if not isinstance(d, dict):
        return PythonFacts(chosen_by=chosen_by, unknown={"python": "python.json is not a JSON object"})
    failure = _failure(d)
    unknown: dict[str, str] = {}
    executable = _str(d.get("executable"))
    if executable is None:
        unknown["executable"] = failure or "the report does not name the interpreter"
    python_version = _str(d.get("python_version"))
    if python_version is None:
        unknown["python_version"] = failure or "not reported"
    raw_packages = d.get("packages")
    packages = {str(k): str(v) for k, v in raw_packages.items() if isinstance(v, str)} if isinstance(raw_packages, dict) else {}
    if not isinstance(raw_packages, dict):
        unknown["packages"] = failure or "not reported"
    elif isinstance(d.get("errors"), dict) and d["errors"].get("packages"):
        unknown["packages"] = _one_line(d["errors"]["packages"])
    t = d.get("torch")
    torch = None
    if isinstance(t, dict):
        torch = _torch_facts(t, failure, d, unknown)
    elif failure:
        unknown["torch"] = failure  # None here is "unknown", not "not installed"
    elif t is not None:
        unknown["torch"] = f"python.json: 'torch' is {type(t).__name__}, not an object"
    tf = d.get("tensorflow")
    jax = d.get("jax")
    return PythonFacts(
        executable=executable,
        chosen_by=chosen_by,
        python_version=python_version,
        packages=packages,
        torch=torch,
        tensorflow=dict(tf) if isinstance(tf, dict) else None,
        jax=dict(jax) if isinstance(jax, dict) else None,
        unknown=unknown,
    )


def collect(host: Host, python: str | None = None, import_frameworks: bool = False,
            timeout_s: float = DEFAULT_TIMEOUT_S, *, use_cache: bool = False,
            driver_version: str | None = None) -> PythonFacts:
    """Framework facts of the target interpreter.

    ``import_frameworks``: import torch/TF/JAX and initialise CUDA (1-5 s); the engine asks
    for it only when an NVIDIA GPU or driver is present. ``use_cache`` and
    ``driver_version`` (part of the cache key) reuse an earlier import answer; pass
    ``use_cache=False`` for ``--no-cache``.
    """
    choice = choose_interpreter(host, python)
    answer = host.python_probe(choice.executable, import_frameworks, timeout_s,
                               use_cache=use_cache, driver_version=driver_version)
    if answer is None:
        why = choice.why_none or f"{choice.executable}: no answer"
        return PythonFacts(executable=choice.executable, chosen_by=choice.chosen_by,
                           unknown={"executable": why} if choice.executable is None else {"python": why})
    requested = answer.get("requested")
    if isinstance(requested, str):
        # Live, requested is what we chose. On replay the rule is re-run over the captured
        # environment and PATH answers; a mismatch means the capture was made with --python.
        chosen_by = choice.chosen_by if requested == choice.executable else "--python"
    else:
        chosen_by = "import"  # python.json made from a report (collect_env), not by a child
    return facts_from_python_json(answer, chosen_by)
