"""The framework against the hardware and the CUDA stack: CPU-only wheels, missing
kernels for the GPU's architecture, nvcc vs framework CUDA, cuDNN at run time
(failure-modes.md F01, F06, F07; compatibility.md §5-§6)."""

from __future__ import annotations

from dlkit.catalog import compat, gpu_identity, gpu_support
from dlkit.checks.buildmath import gpu_label
from dlkit.checks.driver import wheel_tag_for
from dlkit.checks.registry import check, ok, skipped
from dlkit.facts import Facts, GpuFacts
from dlkit.report import Finding, Severity


def gpu_cc(g: GpuFacts) -> tuple[str | None, str]:
    """The GPU's compute capability and where it came from; a reported value that is not a
    version ("N/A") counts as unreported, so every caller can compare it with vtuple."""
    if g.compute_capability and compat.vtuple(g.compute_capability):
        return g.compute_capability, g.source or "driver"
    found = gpu_identity.identify(g.name, g.pci_vendor_id, g.pci_device_id, g.pci_name, g.memory_total_mib)
    how = "by name (catalog)" if found.basis == "name" else f"by {found.basis} (catalog)"
    return found.cc, how


def _no_torch(facts: Facts) -> str:
    """Why there is no torch to judge: unknown (and why), or not installed."""
    py = facts.python
    if "torch" in py.unknown:
        return py.unknown["torch"]
    why = py.unknown.get("python") or py.unknown.get("executable")
    if py.python_version is None and why:  # no interpreter answered at all: the reason is on the interpreter
        return why
    return "torch is not installed in the probed Python"


def _interp(facts: Facts) -> str:
    py = facts.python
    return f"{py.executable or 'the probed Python'} (chosen by {py.chosen_by or '?'})"


@check("torch.cpu-only", "the installed torch has no CUDA (or ROCm) build")
def cpu_only(facts: Facts) -> Finding:
    code = "torch.cpu-only"
    t = facts.python.torch
    if t is None:
        return skipped(code, _no_torch(facts))
    if t.cuda or t.hip:
        return ok(code, f"torch {t.version} is a {'CUDA ' + t.cuda if t.cuda else 'ROCm ' + str(t.hip)} build")
    evidence = (f"torch {t.version}: torch.version.cuda is None", f"interpreter: {_interp(facts)}")
    fix = ("pip uninstall -y torch && pip install torch --index-url https://download.pytorch.org/whl/"
           + (wheel_tag_for(facts.nvidia_driver.cuda_version) or "cu126")
           + "\npython -c 'import torch; print(torch.cuda.is_available())'")
    if facts.gpus or facts.nvidia_driver.version:
        return Finding(code, Severity.ERROR, f"torch {t.version} is a CPU-only build on a machine with an NVIDIA GPU",
                       "This torch cannot use the GPU: torch.cuda.is_available() is False and .cuda() raises "
                       "\"Torch not compiled with CUDA enabled\". pip's default index on Windows, '+cpu' wheels and "
                       "requirements files that pin plain torch all install such builds.", fix, evidence)
    return Finding(code, Severity.INFO, f"torch {t.version} is a CPU-only build",
                   "No NVIDIA GPU is visible here, so a CPU build is what this machine can use; on a GPU machine "
                   "install a CUDA build.", fix, evidence)


@check("torch.arch-unsupported", "a GPU's compute capability has no kernels in the torch build")
def arch_unsupported(facts: Facts) -> Finding:
    code = "torch.arch-unsupported"
    t = facts.python.torch
    if t is None or not t.cuda:
        return skipped(code, "no CUDA build of torch")
    arch = t.arch_list or compat.arch_list_for_torch(t.version or "", t.cuda)
    if not arch:
        return skipped(code, f"the architectures torch {t.version} was built for are unknown")
    source = "torch.cuda.get_arch_list()" if t.arch_list else "the wheel's published arch list (catalog)"
    bad, good, unknown = [], [], []
    for g in facts.gpus:
        cc, how = gpu_cc(g)
        verdict = compat.arch_supported(cc, arch) if cc else None
        line = f"{gpu_label(g)}: compute capability {cc or '?'} ({how})"
        (bad if verdict is False else good if verdict else unknown).append(line)
    evidence = tuple(bad + good + [f"torch {t.version} kernels: {' '.join(arch)} ({source})"])
    if bad:
        return Finding(code, Severity.ERROR, "torch has no kernels for this GPU's architecture",
                       "PyTorch prints \"... with CUDA capability sm_XY is not compatible with the current PyTorch "
                       "installation\" and then fails with \"no kernel image is available for execution on the "
                       "device\". A newer GPU needs a wheel built with a newer CUDA (sm_120 needs cu128+); an old "
                       "one needs an older wheel (cu126 is the last with Maxwell/Pascal/Volta).",
                       "# pick the wheel for your GPU and driver, e.g.\n"
                       "pip install --force-reinstall torch --index-url https://download.pytorch.org/whl/"
                       + (wheel_tag_for(facts.nvidia_driver.cuda_version) or "cu128"), evidence)
    if not good:
        return skipped(code, "no GPU with a known compute capability")
    return ok(code, "torch has kernels for every GPU", evidence=evidence)


def _old_gpu_fix(ccs: list[str]) -> str:
    lines = []
    for cc in dict.fromkeys(ccs):
        wheel = gpu_support.wheel_for_cc(cc)
        branch = gpu_support.driver_branch(cc)
        if branch and branch["status"] == "legacy":
            lines.append(f"# compute capability {cc} ({branch['arch']}): driver from the {branch['branch']} legacy branch")
        if wheel:
            lines.append(f"# the last PyTorch with kernels for compute capability {cc}: torch "
                         f"{wheel.torch_to or wheel.torch_from} ({wheel.tag})\n{wheel.install()}")
    return "\n".join(lines + ["# or use a newer GPU / a cloud instance"])


@check("gpu.arch-unsupported", "a GPU is older than current CUDA and PyTorch wheels support")
def gpu_too_old(facts: Facts) -> Finding:
    code = "gpu.arch-unsupported"
    floor = compat.oldest_cc_in_current_wheels()
    known = [(g, gpu_cc(g)[0]) for g in facts.gpus]
    known = [(g, cc) for g, cc in known if cc]
    if not known:
        return skipped(code, "no GPU with a known compute capability")
    old = [(g, cc) for g, cc in known if compat.vtuple(cc) < compat.vtuple(floor)]
    if old:
        return Finding(code, Severity.WARNING, "GPU too old for current CUDA and PyTorch",
                       f"Current PyTorch wheels and CUDA 12/13 build for compute capability {floor} and newer. "
                       "This GPU can only run old framework releases (for Kepler: CUDA 11.x-era wheels).",
                       _old_gpu_fix([cc for _, cc in old]),
                       tuple(f"{gpu_label(g)}: compute capability {cc}" for g, cc in old))
    return ok(code, f"every GPU is compute capability {floor} or newer")


@check("gpu.none-visible", "a CUDA build of a framework is installed but no NVIDIA GPU is visible")
def none_visible(facts: Facts) -> Finding:
    code = "gpu.none-visible"
    t = facts.python.torch
    if t is None:
        return skipped(code, _no_torch(facts))
    if not t.cuda:
        return skipped(code, "no CUDA build of torch installed")
    if facts.gpus or facts.nvidia_driver.version:
        return ok(code, "an NVIDIA GPU or driver is visible")
    return Finding(code, Severity.WARNING, f"torch {t.version} (CUDA {t.cuda}) is installed but no NVIDIA GPU is visible",
                   "No NVIDIA driver or GPU could be found, so torch runs on the CPU. In a container, the GPU "
                   "must be passed in (docker run --gpus all); on a cloud VM, pick a GPU instance type.",
                   "nvidia-smi            # does the driver see a GPU?\nlspci | grep -i nvidia\n"
                   "# containers: docker run --gpus all ... (needs nvidia-container-toolkit)",
                   (f"torch {t.version}, torch.version.cuda = {t.cuda}", "no NVIDIA GPU on the PCI bus or from the driver"))


@check("cuda.toolkit-mismatch", "nvcc's CUDA major differs from the framework's")
def toolkit_mismatch(facts: Facts) -> Finding:
    code = "cuda.toolkit-mismatch"
    t = facts.python.torch
    nvcc = next((tk for tk in facts.cuda.toolkits if tk.on_path), None)
    if nvcc is None or not nvcc.version:
        return skipped(code, "no nvcc on PATH")
    if t is None or not t.cuda:
        return skipped(code, "no CUDA build of torch to compare with")
    have, want = compat.vtuple(nvcc.version), compat.vtuple(t.cuda)
    if have is None or want is None:
        return skipped(code, f"unknown, because a CUDA version does not parse (nvcc {nvcc.version!r}, torch {t.cuda!r})")
    if have[:1] != want[:1]:
        return Finding(code, Severity.WARNING, f"nvcc is CUDA {nvcc.version} but torch is built with CUDA {t.cuda}",
                       "Building CUDA extensions (pip install of packages with CUDA code, torch.utils.cpp_extension) "
                       "fails when the toolkit's major version differs from torch's: \"The detected CUDA version "
                       "mismatches the version that was used to compile PyTorch\".",
                       f"# install the CUDA {want[0]}.x toolkit and point CUDA_HOME at it, e.g.\n"
                       f"export CUDA_HOME=/usr/local/cuda-{t.cuda}\nexport PATH=$CUDA_HOME/bin:$PATH",
                       (f"nvcc: CUDA {nvcc.full_version or nvcc.version} ({nvcc.source})", f"torch {t.version}: CUDA {t.cuda}"))
    return ok(code, f"nvcc (CUDA {nvcc.version}) and torch (CUDA {t.cuda}) share a major version")


@check("cudnn.version-mismatch", "the cuDNN loaded at run time is incompatible with the framework's")
def cudnn_mismatch(facts: Facts) -> Finding:
    code = "cudnn.version-mismatch"
    t = facts.python.torch
    if t is None or not t.cuda:
        return skipped(code, "no CUDA build of torch")
    text = t.error or ""
    if "cuDNN version incompatibility" in text or "cudnn" in text.lower() and "incompatib" in text.lower():
        return Finding(code, Severity.ERROR, "torch loads an incompatible cuDNN",
                       "torch was compiled against one cuDNN but found another at run time, usually an older "
                       "libcudnn earlier on LD_LIBRARY_PATH than the nvidia-cudnn wheel torch ships with.",
                       "python -c 'import torch; print(torch.backends.cudnn.version())'\n"
                       "# remove stray cuDNN directories from LD_LIBRARY_PATH, then reinstall: pip install --force-reinstall torch",
                       (text.strip().splitlines()[0],) + tuple(t.libraries))
    # the cuDNN wheel of torch's own CUDA major (TensorFlow may bring another one)
    major = compat.vtuple(t.cuda)
    wheel = facts.python.packages.get(f"nvidia-cudnn-cu{major[0]}") if major else None
    if wheel and t.cudnn_version:
        runtime = f"{t.cudnn_version // 10000}.{t.cudnn_version // 100 % 100}" if t.cudnn_version >= 10000 else \
            f"{t.cudnn_version // 1000}.{t.cudnn_version // 100 % 10}"
        if compat.cudnn_compatible(runtime, wheel) is False:
            return Finding(code, Severity.ERROR, f"torch runs cuDNN {runtime}, not the {wheel} it ships with",
                           "The cuDNN torch loaded is not the one its nvidia-cudnn wheel provides; another copy "
                           "on the library path won.",
                           "echo $LD_LIBRARY_PATH   # remove cuDNN directories from it\npip install --force-reinstall torch",
                           (f"torch.backends.cudnn.version() = {t.cudnn_version}", f"nvidia-cudnn wheel {wheel}") + tuple(t.libraries))
    if t.cudnn_version is None:
        return skipped(code, "the cuDNN torch loads is unknown (torch was not imported)")
    return ok(code, "torch loads a compatible cuDNN", evidence=[f"torch.backends.cudnn.version() = {t.cudnn_version}"])
