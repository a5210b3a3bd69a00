"""The program dlkit runs inside the target interpreter (``python -c CHILD_SCRIPT``).

It prints its answers as ``DLKIT-PYPROBE:{json}`` lines on a private copy of stdout;
dlkit/host/pyprobe.py runs it, parses it and turns failures into data.
"""

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
