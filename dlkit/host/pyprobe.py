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
import subprocess
import tempfile
import threading
import time
from typing import Any

from dlkit.host.base import decode

MARKER = "DLKIT-PYPROBE:"
STAGE_MARKER = "DLKIT-PYPROBE-STAGE:"
PROBE_VERSION = 1
STDERR_TAIL_CHARS = 4000
MAX_OUTPUT_BYTES = 4 * 1024 * 1024
FRAMEWORK_MODES = ("torch", "tensorflow", "jax")

# ----------------------------------------------------------------------------- child
# Python 3.6+: keep it so (tests parse it with feature_version=(3, 6)). Kept under
# 32 KB: Windows limits a command line to 32,767 characters.
CHILD_SCRIPT = r'''
import os, sys, time, json, warnings
T0 = time.time()
OUT = None
MARK = "DLKIT-PYPROBE:"
STAGE = "DLKIT-PYPROBE-STAGE:"

def _setup():
    global OUT
    try:
        sys.stdout.flush()
    except Exception:
        pass
    try:
        # the answer channel is a private copy of fd 1; fd 1 itself now goes to stderr,
        # so prints from torch, sitecustomize or C libraries cannot mix into it.
        OUT = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)
    except Exception:
        OUT = sys.stdout
    try:
        import faulthandler
        faulthandler.enable()  # a segfault leaves a Python traceback in stderr
    except Exception:
        pass
    # "-c" puts the current directory first on sys.path: a ./torch folder (a PyTorch
    # source checkout) would shadow the installed torch.
    while sys.path and sys.path[0] in ("", "."):
        del sys.path[0]

def emit(answer):
    try:
        OUT.write("\n" + MARK + json.dumps(answer, sort_keys=True, default=str) + "\n")
        OUT.flush()
    except Exception:
        pass

def stage(name):
    for f in (OUT, sys.stderr):
        try:
            f.write("\n" + STAGE + " " + name + "\n")
            f.flush()
        except Exception:
            pass

def exc_text(e):
    text = str(e).strip()
    name = type(e).__name__
    return name + ": " + text if text else name

def warn_text(w):
    return w.category.__name__ + ": " + str(w.message).strip()

def norm(name):
    out = []
    for ch in name.lower():
        out.append("-" if ch in "_." else ch)
    s = "".join(out)
    while "--" in s:
        s = s.replace("--", "-")
    return s

EXACT = ("numpy", "keras", "tf-keras", "xformers", "flash-attn", "pynvml", "mxnet")
PREFIXES = ("torch", "tensorflow", "tf-nightly", "jax", "nvidia-", "triton", "pytorch-triton",
            "cupy", "tensorrt", "onnxruntime", "paddlepaddle")

def wanted(name):
    return name in EXACT or name.startswith(PREFIXES)

def stem_name(fname):
    # "nvidia_cudnn_cu12-9.1.0.70.dist-info" -> "nvidia-cudnn-cu12"
    for ext in (".dist-info", ".egg-info"):
        if fname.endswith(ext):
            fname = fname[:-len(ext)]
    return norm(fname.split("-")[0])

def packages():
    found, dups, where, errs = {}, {}, {}, []
    dists = None
    try:
        try:
            import importlib.metadata as md
        except ImportError:
            import importlib_metadata as md
        dists = []
        for d in md.distributions():
            p = getattr(d, "_path", None)
            if p is not None and not wanted(stem_name(str(getattr(p, "name", "")))):
                continue  # skip reading METADATA of the hundreds of other packages
            try:
                dists.append((d.metadata["Name"], d.version, str(p)))
            except Exception:
                pass
    except Exception as e:
        errs.append("importlib.metadata: " + exc_text(e))
        dists = None
    if dists is None:
        try:
            import pkg_resources  # Python < 3.8 without the importlib_metadata backport
            dists = [(d.project_name, d.version, d.location) for d in pkg_resources.working_set]
            errs = []
        except Exception as e:
            errs.append("pkg_resources: " + exc_text(e))
            dists = []
    for name, version, loc in dists:
        if not name:
            continue
        n = norm(name)
        if not wanted(n):
            continue
        if n in found:
            if where.get(n) != loc:
                dups.setdefault(n, [found[n]]).append(version)
            continue
        found[n] = version
        where[n] = loc
    return found, dups, errs

def find(name):
    try:
        import importlib.util
        return importlib.util.find_spec(name)
    except Exception:
        return None

def pkg_dir(spec):
    if spec is None:
        return None
    locs = list(getattr(spec, "submodule_search_locations", None) or [])
    if spec.origin and spec.origin not in ("namespace", "built-in", "frozen"):
        return os.path.dirname(spec.origin)
    return locs[0] if locs else None

def read_version_py(path):
    # torch/version.py, read as a file: "__version__ = '2.5.1+cu124'", "cuda: Optional[str] = '12.4'"
    import ast
    with open(path) as fh:
        tree = ast.parse(fh.read())
    out = {}
    for node in tree.body:
        target, value = None, None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif type(node).__name__ == "AnnAssign":
            target, value = node.target, node.value
        if value is None or not isinstance(target, ast.Name):
            continue
        try:
            out[target.id] = ast.literal_eval(value)
        except Exception:
            pass
    return out

def mtime(path, stamps):
    try:
        stamps[path] = os.stat(path).st_mtime
    except OSError:
        pass

def torch_fast(pk, stamps, errors):
    spec = find("torch")
    if spec is None:
        if "torch" in pk:
            return dict(version=pk["torch"], cuda=None, hip=None, location=None, version_source="metadata",
                        imported=False, error="pip lists torch " + pk["torch"] + " but no importable torch package was found")
        return None
    d = dict(version=pk.get("torch"), cuda=None, hip=None, location=pkg_dir(spec), version_source="metadata",
             imported=False, cuda_available=None, device_count=None, arch_list=None, cudnn_version=None,
             cudnn_error=None, error=None, warnings=[], libraries=None)
    if not spec.origin or spec.origin == "namespace":
        d["error"] = "torch is a directory without __init__.py (left over from an uninstall?)"
        return d
    vp = os.path.join(d["location"], "version.py")
    mtime(vp, stamps)
    try:
        v = read_version_py(vp)
        if v.get("__version__"):
            d["version"] = v.get("__version__")
            d["version_source"] = "torch/version.py"
        d["cuda"] = v.get("cuda")
        d["hip"] = v.get("hip")
    except Exception as e:
        errors["torch/version.py"] = exc_text(e)
    return d

def other_fast(name, pkgname, pk):
    spec = find(name)
    if spec is None:
        return None
    version = pk.get(pkgname)
    if version is None:
        for k in sorted(pk):
            if k.startswith(pkgname + "-") and not k.startswith("tensorflow-io") and not k.startswith("tensorflow-estimator"):
                version = pk[k]
                break
    return dict(version=version, location=pkg_dir(spec), imported=False, error=None)

def maps_libraries():
    keep = ("libcudnn", "libcudart", "libcuda.so", "libcublas", "libnccl", "libnvrtc", "libamdhip64", "libMIOpen")
    try:
        with open("/proc/self/maps") as fh:
            lines = fh.read().splitlines()
    except Exception:
        return None
    out = []
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) < 6:
            continue
        path = parts[5].strip()
        base = os.path.basename(path)
        if base.startswith(keep) and path not in out:
            out.append(path)
    return out

def probe_torch(d):
    t = time.time()
    stage("import torch")
    with warnings.catch_warnings(record=True) as wl:
        warnings.simplefilter("always")
        try:
            import torch
        except BaseException as e:
            d["imported"] = False
            d["error"] = "import torch failed: " + exc_text(e)
            d["import_warnings"] = [warn_text(w) for w in wl]
            return
    d["import_warnings"] = [warn_text(w) for w in wl]
    d["imported"] = True
    d["import_s"] = round(time.time() - t, 3)
    d["version"] = str(getattr(torch, "__version__", d.get("version")))
    ver = getattr(torch, "version", None)
    d["cuda"] = getattr(ver, "cuda", None)
    d["hip"] = getattr(ver, "hip", None)
    exc, cw = [], []
    with warnings.catch_warnings(record=True) as wl:
        warnings.simplefilter("always")
        stage("torch.cuda.is_available()")
        try:
            d["cuda_available"] = bool(torch.cuda.is_available())
        except BaseException as e:
            exc.append(exc_text(e))
        try:
            d["device_count"] = int(torch.cuda.device_count())
        except BaseException as e:
            exc.append(exc_text(e))
        try:
            flags = getattr(torch._C, "_cuda_getArchFlags", None)
            # get_arch_list() is [] when no GPU is usable; the build's list is what we want
            d["arch_list"] = flags().split() if flags is not None and flags() else list(torch.cuda.get_arch_list())
        except BaseException as e:
            d["arch_list"] = None
        if d["cuda"] or d["hip"]:
            stage("torch.cuda.init()")
            try:
                torch.cuda.init()
            except BaseException as e:
                exc.append(exc_text(e))
            if d.get("cuda_available"):
                stage("tiny kernel on cuda:0")
                try:
                    x = torch.ones(1, device="cuda")
                    float((x + 1).sum().item())
                except BaseException as e:
                    exc.append(exc_text(e))
                devs = []
                for i in range(d.get("device_count") or 0):
                    try:
                        cap = torch.cuda.get_device_capability(i)
                        devs.append(dict(name=torch.cuda.get_device_name(i), capability="%d.%d" % tuple(cap)))
                    except BaseException as e:
                        devs.append(dict(name=None, capability=None, error=exc_text(e)))
                d["devices"] = devs
        stage("torch.backends.cudnn.version()")
        try:
            d["cudnn_version"] = torch.backends.cudnn.version()
        except BaseException as e:
            d["cudnn_error"] = exc_text(e)
        cw = [warn_text(w) for w in wl]
    d["warnings"] = cw
    d["error"] = (exc or ([d["cudnn_error"]] if d.get("cudnn_error") else []) or cw or [None])[0]
    d["libraries"] = maps_libraries()

class _LogGrab(object):
    def __init__(self):
        import logging
        self.records = []
        grab = self
        class H(logging.Handler):
            def emit(self, record):
                try:
                    grab.records.append(record.levelname + ": " + record.getMessage())
                except Exception:
                    pass
        self.handler = H(logging.WARNING)
        self.root = logging.getLogger()
    def __enter__(self):
        self.root.addHandler(self.handler)
        return self
    def __exit__(self, *a):
        self.root.removeHandler(self.handler)

def probe_tensorflow(d):
    stage("import tensorflow")
    with warnings.catch_warnings(record=True) as wl, _LogGrab() as lg:
        warnings.simplefilter("always")
        try:
            import tensorflow as tf
            d["imported"] = True
            d["version"] = str(getattr(tf, "__version__", d.get("version")))
            stage("tf.sysconfig.get_build_info()")
            try:
                bi = dict(tf.sysconfig.get_build_info())
                d["cuda"] = bi.get("cuda_version")
                d["cudnn"] = bi.get("cudnn_version")
                d["is_cuda_build"] = bi.get("is_cuda_build")
                d["is_rocm_build"] = bi.get("is_rocm_build")
            except BaseException as e:
                d["build_info_error"] = exc_text(e)
            stage("tf.config.list_physical_devices('GPU')")
            cfg = tf.config
            lister = getattr(cfg, "list_physical_devices", None) or cfg.experimental.list_physical_devices
            d["gpus"] = [str(getattr(g, "name", g)) for g in lister("GPU")]
        except BaseException as e:
            d["error"] = exc_text(e)
        d["warnings"] = [warn_text(w) for w in wl] + lg.records

def probe_jax(d):
    # JAX takes 75 % of GPU memory at backend init unless told not to.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    stage("import jax")
    with warnings.catch_warnings(record=True) as wl, _LogGrab() as lg:
        warnings.simplefilter("always")
        try:
            import jax
            d["imported"] = True
            d["version"] = str(getattr(jax, "__version__", d.get("version")))
            try:
                import jaxlib
                d["jaxlib"] = str(getattr(jaxlib, "__version__", None) or jaxlib.version.__version__)
            except BaseException:
                d["jaxlib"] = None
            stage("jax.devices()")
            devs = jax.devices()
            d["devices"] = [dict(platform=str(x.platform), kind=str(getattr(x, "device_kind", "")), id=int(x.id)) for x in devs]
            d["backend"] = str(jax.default_backend())
        except BaseException as e:
            d["error"] = exc_text(e)
        d["warnings"] = [warn_text(w) for w in wl] + lg.records

def main():
    _setup()
    mode = sys.argv[1] if len(sys.argv) > 1 else "fast"
    try:
        deadline = float(sys.argv[2])
    except Exception:
        deadline = 30.0
    try:
        import signal
        if hasattr(signal, "alarm"):
            signal.alarm(int(deadline) + 5)  # backstop should dlkit die before killing us
    except Exception:
        pass
    errors, stamps = {}, {}
    stage("packages")
    pk, dups, errs = packages()
    if errs:
        errors["packages"] = "; ".join(errs)
    import platform
    for p in sys.path:
        if p and os.path.isdir(p):
            mtime(p, stamps)
    answer = dict(
        probe=1, mode="import" if mode != "fast" else "fast",
        executable=sys.executable or None,
        python_version="%d.%d.%d" % tuple(sys.version_info[:3]),
        implementation=getattr(getattr(sys, "implementation", None), "name", None),
        platform=sys.platform, machine=platform.machine() or None,
        prefix=sys.prefix, base_prefix=getattr(sys, "base_prefix", sys.prefix),
        conda=os.path.isdir(os.path.join(sys.prefix, "conda-meta")),
        packages=pk, duplicates=dups, stamps=stamps, errors=errors)
    answer["in_venv"] = answer["prefix"] != answer["base_prefix"]
    answer["torch"] = torch_fast(pk, stamps, errors)
    answer["tensorflow"] = other_fast("tensorflow", "tensorflow", pk)
    answer["jax"] = other_fast("jax", "jax", pk)
    answer["imported"] = [m for m in ("torch", "tensorflow", "jax") if m in sys.modules]
    answer["elapsed_s"] = round(time.time() - T0, 3)
    emit(answer)  # a snapshot: survives a crash in what follows
    section = {"torch": probe_torch, "tensorflow": probe_tensorflow, "jax": probe_jax}.get(mode)
    if section is not None and answer.get(mode) is not None:
        d = answer[mode]
        if not d.get("error"):  # e.g. a torch folder without __init__.py: nothing to import
            try:
                section(d)
            except BaseException as e:
                errors[mode] = exc_text(e)
        if mode == "torch" and d.get("libraries"):
            for lib in d["libraries"]:
                mtime(lib, stamps)
        answer["imported"] = [m for m in ("torch", "tensorflow", "jax") if m in sys.modules]
        answer["elapsed_s"] = round(time.time() - T0, 3)
        emit(answer)
    stage("done")
    try:
        sys.stderr.flush()
    except Exception:
        pass
    os._exit(0)  # no atexit, no CUDA teardown: nothing can crash after the answer

if __name__ == "__main__":
    main()
'''


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
                value = json.loads(line[i + len(MARKER):])
            except ValueError:
                continue  # cut off mid-line by a kill
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
    """One child interpreter, waited for on its own thread (parallel children must not
    stall on a full pipe while we wait for another)."""

    def __init__(self, executable: str, mode: str, timeout_s: float) -> None:
        self.executable, self.mode, self.timeout_s = executable, mode, timeout_s
        self.stdout = self.stderr = ""
        self.returncode: int | None = None
        self.timed_out = False
        self.start_error: str | None = None
        self.elapsed_s = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"pyprobe-{mode}")
        self._thread.start()

    def _run(self) -> None:
        t0 = time.monotonic()
        argv = [self.executable, "-c", CHILD_SCRIPT, self.mode, f"{self.timeout_s:g}"]
        try:
            kwargs: dict[str, Any] = {}
            if os.name == "posix":
                kwargs["start_new_session"] = True  # so a hung child and its children die together
            else:
                kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=_child_env(), **kwargs)
        except FileNotFoundError:
            has_dir = os.sep in self.executable or bool(os.altsep and os.altsep in self.executable)
            where = "no such file" if has_dir else "not found on PATH"
            self.start_error = f"cannot run {self.executable}: {where}"
            return
        except OSError as exc:
            self.start_error = f"cannot run {self.executable}: {exc.strerror or exc}"
            return
        try:
            out, err = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            self.timed_out = True
            kill_group(proc)
            try:
                out, err = proc.communicate(timeout=2.0)  # what it wrote before is kept
            except (subprocess.TimeoutExpired, OSError, ValueError):
                out, err = b"", b""
        self.returncode = proc.returncode
        self.stdout = decode(out[-MAX_OUTPUT_BYTES:])[0]
        self.stderr = decode(err[-MAX_OUTPUT_BYTES:])[0]
        self.elapsed_s = time.monotonic() - t0

    def join(self, deadline: float) -> None:
        self._thread.join(max(0.0, deadline - time.monotonic()))

    def result(self) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """(the last answer or None, failure fields: error/stage/stderr_tail; empty when fine)."""
        if self.start_error:
            return None, {"error": self.start_error}
        if self._thread.is_alive():  # cannot happen: communicate has its own timeout
            return None, {"error": "timeout", "timeout_s": self.timeout_s}
        answer, stage = parse_output(self.stdout)
        fail: dict[str, Any] = {}
        finished = stage == "done"
        if self.timed_out:
            fail = {"error": "timeout", "timeout_s": self.timeout_s}
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


def kill_group(proc: subprocess.Popen) -> None:
    """Kill a child started with start_new_session and everything it started."""
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except OSError:
        pass


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
        with open(cache_path(), encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) and isinstance(data.get("entries"), dict) else {"entries": {}}
    except (OSError, ValueError):
        return {"entries": {}}


def _stamps_match(stamps: Any) -> bool:
    if not isinstance(stamps, dict):
        return False
    for path, mtime in stamps.items():
        try:
            if os.stat(path).st_mtime != mtime:
                return False
        except OSError:
            return False
    return True


def cache_get(key: str) -> dict[str, Any] | None:
    entry = _load_cache()["entries"].get(key)
    if not isinstance(entry, dict) or not isinstance(entry.get("answer"), dict):
        return None
    if time.time() - float(entry.get("saved", 0)) > CACHE_MAX_AGE_S:
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
        for old in sorted(entries, key=lambda k: float(entries[k].get("saved", 0)))[: len(entries) - CACHE_MAX_ENTRIES]:
            del entries[old]
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".pyprobe-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)  # atomic: two dlkit runs never see half a file
    except OSError:
        pass  # a read-only home is no reason to fail a diagnosis


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
