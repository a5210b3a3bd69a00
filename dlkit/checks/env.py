"""The environment the framework sees: CUDA_VISIBLE_DEVICES, WSL quirks, and the three
"CUDA versions" side by side (failure-modes.md F28: the "CUDA Version" confusion)."""

from __future__ import annotations

from dlkit.checks.registry import check, ok, skipped
from dlkit.facts import Facts
from dlkit.report import Finding, Severity

HIDE_ALL = {"", "-1", "none", "nodevfiles", "void"}


@check("env.cuda-visible-devices", "CUDA_VISIBLE_DEVICES hides every GPU or names GPUs that do not exist")
def cuda_visible_devices(facts: Facts) -> Finding:
    code = "env.cuda-visible-devices"
    value = facts.env.cuda_visible_devices
    if value is None:
        return skipped(code, "CUDA_VISIBLE_DEVICES is not set")
    entries = [e.strip() for e in value.split(",")]
    problem = None
    if value.strip().lower() in HIDE_ALL:
        problem = "it hides every GPU"
    elif facts.gpus:
        count = len(facts.gpus)
        uuids = {g.uuid.lower() for g in facts.gpus if g.uuid}
        missing = []
        for e in entries:
            if e.isdigit():
                if int(e) >= count:
                    missing.append(e)
            elif e.lower().startswith(("gpu-", "mig-")):
                if uuids and not any(u.startswith(e.lower()) for u in uuids) and e.lower().startswith("gpu-"):
                    missing.append(e)
            else:
                missing.append(e)
        # CUDA stops at the first invalid entry: everything after it is hidden too.
        if missing:
            problem = f"it names GPUs that do not exist ({', '.join(missing)}; this machine has {count})"
    if problem:
        return Finding(code, Severity.ERROR, f"CUDA_VISIBLE_DEVICES={value!r}: {problem}",
                       "CUDA enumerates only the devices this variable lists, stopping at the first one that does "
                       "not exist; frameworks then report no GPU (\"CUDA driver initialization failed\" / "
                       "device_count() == 0).",
                       "unset CUDA_VISIBLE_DEVICES        # or list valid indices: export CUDA_VISIBLE_DEVICES=0\n"
                       "nvidia-smi -L                      # the indices and UUIDs that exist",
                       (f"CUDA_VISIBLE_DEVICES={value}", f"GPUs found: {len(facts.gpus)}"))
    if not facts.gpus:
        return skipped(code, f"CUDA_VISIBLE_DEVICES={value}, but which GPUs exist is unknown")
    return ok(code, f"CUDA_VISIBLE_DEVICES={value} names existing GPUs")


@check("driver.wsl-linux-driver", "a Linux NVIDIA driver is installed inside WSL")
def wsl_linux_driver(facts: Facts) -> Finding:
    code = "driver.wsl-linux-driver"
    if not facts.os.wsl:
        return skipped(code, "not WSL")
    k, d = facts.kernel, facts.nvidia_driver
    if k.is_loaded("nvidia") or d.module_version:
        return Finding(code, Severity.WARNING, "a Linux NVIDIA kernel driver is present inside WSL",
                       "Under WSL2 the GPU is driven by the Windows driver through /usr/lib/wsl/lib; a Linux driver "
                       "installed inside WSL overrides libcuda/libnvidia-ml and breaks CUDA.",
                       "sudo apt purge 'nvidia-driver-*' 'libnvidia-*'   # keep only the CUDA toolkit (cuda-toolkit-XX-Y)\n"
                       "wsl --shutdown     # from Windows, then reopen", (f"nvidia module version {d.module_version or 'loaded'}",))
    return ok(code, "WSL uses the Windows driver")


@check("cuda.versions", "the three CUDA versions side by side")
def cuda_versions(facts: Facts) -> Finding:
    code = "cuda.versions"
    driver = facts.nvidia_driver.cuda_version
    nvcc = next((t for t in facts.cuda.toolkits if t.on_path), None) or (facts.cuda.toolkits[0] if facts.cuda.toolkits else None)
    torch = facts.python.torch
    fw = torch.cuda if torch else None
    if not any((driver, nvcc, fw)):
        return skipped(code, "no CUDA version known")
    lines = (f"driver supports up to CUDA {driver or '?'}   (nvidia-smi 'CUDA Version': the newest runtime this driver can run)",
             f"toolkit (nvcc) CUDA {nvcc.version if nvcc else '-'}   (compiles CUDA extensions; not needed to run torch)",
             f"torch built with CUDA {fw or '-'}   (torch.version.cuda: the runtime that actually runs; must be <= the driver's)")
    return Finding(code, Severity.INFO, "CUDA versions: driver {} / toolkit {} / torch {}".format(
        driver or "?", nvcc.version if nvcc else "-", fw or "-"),
        "Three different things are called the CUDA version; only the torch one must fit under the driver's.",
        "", lines)
