"""collect_env reports -> captures (spec §1: ``--from`` reads the text printed by
``python -m torch.utils.collect_env``, any version from 2019 on).

The capture reproduces what collect_env itself ran, as far as it printed it: python.json
from its torch lines, ``nvidia-smi -L`` from the GPU list, a ``nvidia-smi`` line with the
driver version, ``nvcc --version`` from the CUDA runtime line, os-release from the OS line.
"""

from __future__ import annotations

import re
from typing import Any

from dlkit.host.base import CommandResult
from dlkit.host.capture import FORMAT, VERSION, Capture

COLLECT_ENV_IMPORTER = "dlkit-import-collect_env"


_CE_KEYS = (
    "PyTorch version", "Is debug build", "CUDA used to build PyTorch", "ROCM used to build PyTorch",
    "OS", "GCC version", "Clang version", "CMake version", "Libc version",
    "Python version", "Python platform", "Is CUDA available", "CUDA runtime version",
    "CUDA_MODULE_LOADING set to", "GPU models and configuration", "Nvidia driver version",
    "cuDNN version", "Is XPU available", "XPU used to build PyTorch", "Intel GPU driver version",
    "Intel GPU models onboard", "Intel GPU models detected", "HIP runtime version",
    "MIOpen runtime version", "Is XNNPACK available", "Caching allocator config", "CPU",
    "Versions of relevant libraries",
)
# What collect_env prints in place of a value it did not get: "Could not collect" when its
# command failed (None), "No CUDA" when torch has no CUDA, "N/A" when torch is missing or
# the field does not apply.
_NO_VALUE = {"", "could not collect", "no cuda", "n/a", "none", "not available"}

_VERSION = re.compile(r"\d+(?:\.\d+)+")
_GPU_LINE = re.compile(r"^GPU (\d+): (.+?)\s*$")
_MIG_LINE = re.compile(r"^\s+MIG \S+\s+Device\s+\d+:")
_PIP_LINE = re.compile(r"^\[pip\d?\]\s+([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*(\S+)\s*$")
_CONDA_LINE = re.compile(r"^\[conda\]\s+([A-Za-z0-9][A-Za-z0-9._-]*)\s+(\d\S*)(?:\s|$)")
_LSCPU_LINE = re.compile(r"^\s*(Architecture|Model name|CPU\(s\)|Vendor ID):\s", re.M)
_MACHINES = ("x86_64", "amd64", "aarch64", "arm64", "ppc64le", "ppc64", "s390x", "armv7l", "armv8l",
             "i686", "i386", "riscv64")
# "OS:" names as lsb_release / os-release PRETTY_NAME print them -> os-release ID. Order
# matters: derivatives before the distribution they name.
_DISTROS = (
    ("linux mint", "linuxmint"), ("pop!_os", "pop"), ("elementary os", "elementary"),
    ("zorin os", "zorin"), ("kali", "kali"), ("ubuntu", "ubuntu"), ("raspbian", "raspbian"),
    ("debian", "debian"), ("centos", "centos"), ("red hat enterprise linux", "rhel"),
    ("rocky linux", "rocky"), ("almalinux", "almalinux"), ("amazon linux", "amzn"),
    ("oracle linux", "ol"), ("fedora", "fedora"), ("opensuse leap", "opensuse-leap"),
    ("opensuse tumbleweed", "opensuse-tumbleweed"), ("suse linux enterprise server", "sles"),
    ("manjaro", "manjaro"), ("endeavouros", "endeavouros"), ("cachyos", "cachyos"),
    ("arch linux", "arch"), ("gentoo", "gentoo"), ("nixos", "nixos"), ("alpine", "alpine"),
    ("void", "void"),
)
# os-release VERSION_ID as these distributions write it, from their PRETTY_NAME.
_VERSION_ID = {
    "ubuntu": r"\b(\d+\.\d+)", "debian": r"\b(\d+)\b", "centos": r"\b(\d+)\b", "fedora": r"\b(\d+)\b",
    "rhel": r"\b(\d+\.\d+)", "rocky": r"\b(\d+\.\d+)", "almalinux": r"\b(\d+\.\d+)",
}
# "UserWarning: CUDA initialization: The NVIDIA driver on your system is too old ..." and
# "... with CUDA capability sm_86 is not compatible with the current PyTorch installation"
# are the warnings torch raises at CUDA init; people paste them along with the report.
_CUDA_INIT_WARNING = re.compile(
    r"UserWarning:\s*(CUDA initialization:.*|.*NVIDIA driver on your system.*"
    r"|.*CUDA capability sm_\d+ is not compatible.*)")


def _lines_with_keys(text: str) -> tuple[list[str], dict[str, int]]:
    """The report's lines and, for each known key, the index of its first line."""
    lines = text.splitlines()
    where: dict[str, int] = {}
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        for key in _CE_KEYS:
            if key not in where and stripped.startswith(key + ":"):
                where[key] = i
                break
    return lines, where


def _is_key_line(line: str) -> bool:
    stripped = line.lstrip()
    return any(stripped.startswith(key + ":") for key in _CE_KEYS)


def _value(lines: list[str], where: dict[str, int], key: str) -> str | None:
    """The one-line value of ``key``; None when absent or a "Could not collect" stand-in."""
    if key not in where:
        return None
    line = lines[where[key]].lstrip()
    value = line[len(key) + 1:].strip()
    return None if value.lower() in _NO_VALUE else value


def _block(lines: list[str], where: dict[str, int], key: str, stop_at_blank: bool = True) -> list[str]:
    """A multi-line value: its own line's text (if any) and the lines after it."""
    if key not in where:
        return []
    i = where[key]
    first = lines[i].lstrip()[len(key) + 1:].strip()
    if first:
        return [first]
    out = []
    for line in lines[i + 1:]:
        if (stop_at_blank and not line.strip()) or _is_key_line(line):
            break
        out.append(line.rstrip())
    while out and not out[-1].strip():
        out.pop()
    while out and not out[0].strip():
        out.pop(0)
    return out


def _plain_version(value: str | None) -> str | None:
    return value if value and _VERSION.fullmatch(value) else None


def torch_cudnn_int(version: str) -> int | None:
    """A cuDNN version in the integer form ``torch.backends.cudnn.version()`` returns.

    It is cuDNN's own CUDNN_VERSION macro (cudnn_version.h): MAJOR*1000 + MINOR*100 + PATCH
    up to cuDNN 8, MAJOR*10000 + MINOR*100 + PATCH from cuDNN 9 on (9 widened the minor).

    >>> torch_cudnn_int("7.6.5"), torch_cudnn_int("8.9.2"), torch_cudnn_int("9.1.0"), torch_cudnn_int("9.10.2")
    (7605, 8902, 90100, 91002)
    >>> torch_cudnn_int("/usr/lib/x86_64-linux-gnu/libcudnn.so.7.6.2") is None
    True
    """
    m = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?", version.strip())
    if not m:
        return None
    major, minor, patch = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if major >= 9:
        return major * 10000 + minor * 100 + patch
    if minor > 9 or patch > 99:
        return None  # not expressible in the pre-9 form
    return major * 1000 + minor * 100 + patch


def _yes_no(value: str | None) -> bool | None:
    if value is None:
        return None
    v = value.strip().lower()
    if v in ("yes", "true"):
        return True
    if v in ("no", "false"):
        return False
    return None


def _python_version(value: str | None) -> str | None:
    """ "3.8.11 (default, Aug  3 2021, 15:09:35)  [GCC 7.5.0] (64-bit runtime)" -> "3.8.11";
    "3.6 (64-bit runtime)" -> "3.6"; "3.12.2 | packaged by Anaconda, Inc. | ..." -> "3.12.2"."""
    if not value:
        return None
    m = re.match(r"(\d+\.\d+(?:\.\d+)?(?:(?:a|b|rc)\d+)?)", value)
    return m.group(1) if m else None


def _packages(lines: list[str]) -> dict[str, str]:
    """``[pip] name==ver`` and ``[conda] name ver build channel`` lines. pip's answer wins
    (it is what ``import`` finds); conda's "pytorch" is pip's "torch"."""
    pip: dict[str, str] = {}
    conda: dict[str, str] = {}
    for line in lines:
        s = line.strip()
        m = _PIP_LINE.match(s)
        if m:
            pip.setdefault(m.group(1), m.group(2))
            continue
        m = _CONDA_LINE.match(s)
        if m:
            name = "torch" if m.group(1).lower() == "pytorch" else m.group(1)
            conda.setdefault(name, m.group(2))

    def norm(name: str) -> str:  # PEP 503
        return re.sub(r"[-_.]+", "-", name).lower()

    out = dict(pip)
    have = {norm(n) for n in pip}
    for name, version in conda.items():
        if norm(name) not in have:
            out[name] = version
            have.add(norm(name))
    return out


def _platform(lines: list[str], where: dict[str, int], text: str) -> tuple[str, str]:
    """linux | windows | darwin, and what said so.

    platform.platform() ("Python platform:", 2021 on) is plain ASCII and says it outright.
    The "OS:" line can be mojibake on a non-English Windows (wmic's output decoded with the
    wrong code page: pytorch issue 28360 prints "Њ ©Єа®б®дв Windows 10 Pro"), so look for
    the words, not for the whole string.
    """
    pp = _value(lines, where, "Python platform")
    if pp:
        low = pp.lower()
        if low.startswith(("windows", "cygwin", "msys")):
            return "windows", f'"Python platform: {pp}"'
        if low.startswith(("macos", "darwin")):
            return "darwin", f'"Python platform: {pp}"'
        if low.startswith("linux"):
            return "linux", f'"Python platform: {pp}"'
    os_line = _value(lines, where, "OS") or ""
    low = os_line.lower()
    if "windows" in low or "microsoft" in low:
        return "windows", '"OS:" names Windows'
    if "mac os" in low or "macos" in low or "os x" in low or "darwin" in low:
        return "darwin", '"OS:" names macOS'
    if re.search(r"(^|\s)[A-Za-z]:\\", text):
        return "windows", "the report shows Windows paths (C:\\...)"
    return "linux", '"OS:" names no other system' if os_line else "no OS line; assumed"


def _os_release(os_line: str) -> tuple[str, dict[str, str]] | None:
    """/etc/os-release for the "OS:" line ("Ubuntu 18.04.3 LTS", "CentOS Linux 7 (Core)
    (x86_64)"); collect_env 1.8+ appends the machine in parentheses, which is not part
    of the distribution's name."""
    pretty = os_line.strip()
    m = re.fullmatch(r"(.*?)\s*\((%s)\)" % "|".join(_MACHINES), pretty)
    if m:
        pretty = m.group(1)
    if not pretty or pretty.lower() in ("linux", "could not collect"):
        return None  # collect_env's "linux (x86_64)" fallback names no distribution
    fields = {"PRETTY_NAME": pretty}
    low = pretty.lower()
    for marker, ident in _DISTROS:
        if marker in low:
            fields["ID"] = ident
            if ident in _VERSION_ID:
                vm = re.search(_VERSION_ID[ident], pretty)
                if vm:
                    fields["VERSION_ID"] = vm.group(1)
            break
    # Quoted as os-release(5) files quote them: names and versions, not the bare ID.
    text = "".join(f'{k}={v}\n' if k == "ID" else f'{k}="{v}"\n' for k, v in fields.items())
    return text, fields


def _kernel_release(python_platform: str) -> str | None:
    """platform.platform() "Linux-4.4.0-210-generic-x86_64-with-glibc2.17" -> "4.4.0-210-generic"."""
    if not python_platform.startswith("Linux-"):
        return None
    rest = python_platform[len("Linux-"):]
    rest = rest.split("-with-", 1)[0]
    for machine in _MACHINES:
        if rest.endswith("-" + machine):
            rest = rest[: -len(machine) - 1]
            break
    else:
        return None
    return rest if re.match(r"\d+\.\d+", rest) else None


def _ok(argv: tuple[str, ...], stdout: str) -> CommandResult:
    return CommandResult(argv, 0, stdout, "", "ok")


def import_collect_env(text: str) -> Capture:
    """An in-memory capture holding what a collect_env report shows.

    Sample (pytorch issue 37668, abridged)::

        PyTorch version: 1.5.0
        CUDA used to build PyTorch: 10.2
        OS: Ubuntu 18.04.3 LTS
        Python version: 3.7
        Is CUDA available: Yes
        CUDA runtime version: Could not collect
        GPU models and configuration: GPU 0: GeForce GTX 1080
        Nvidia driver version: 430.26
        [pip] torch==1.5.0

    gives python.json ``torch = {"version": "1.5.0", "cuda": "10.2", "cuda_available": true,
    "device_count": 1, ...}``, the commands ``nvidia-smi -L`` ("GPU 0: GeForce GTX 1080")
    and ``nvidia-smi`` ("Driver Version: 430.26"), no ``nvcc --version`` (collect_env could
    not run it), and /etc/os-release.
    """
    lines, where = _lines_with_keys(text)
    made: list[str] = []
    platform, platform_why = _platform(lines, where, text)

    # ---- python.json (spec §3)
    torch_version = _value(lines, where, "PyTorch version")
    torch_keys = ("PyTorch version", "CUDA used to build PyTorch", "Is CUDA available")
    torch: dict[str, Any] | None
    gpu_block = _block(lines, where, "GPU models and configuration")
    gpu_lines = [ln for ln in gpu_block if _GPU_LINE.match(ln.strip())]
    if torch_version is None and ("PyTorch version" in where or not any(k in where for k in torch_keys)):
        torch = None  # "PyTorch version: N/A": torch did not import
    else:
        cuda_available = _yes_no(_value(lines, where, "Is CUDA available"))
        cudnn = _value(lines, where, "cuDNN version")
        # the sm_XY warning starts with a newline ("UserWarning: \nNVIDIA GeForce ..."): search the text
        m = _CUDA_INIT_WARNING.search(text)
        warning = m.group(1).split("(Triggered internally")[0].strip() if m else None
        torch = {
            "version": torch_version,
            "cuda": _value(lines, where, "CUDA used to build PyTorch"),
            "hip": _value(lines, where, "ROCM used to build PyTorch"),
            "cuda_available": cuda_available,
            # torch.cuda.device_count() is what collect_env's nvidia-smi -L listed only when
            # CUDA works; a ROCm or macOS report names its device differently: unknown.
            "device_count": len(gpu_lines) if cuda_available and gpu_lines else None,
            "arch_list": None,  # collect_env does not print torch.cuda.get_arch_list()
            # collect_env's "cuDNN version" lists the libcudnn files ldconfig finds, not the
            # one torch loads; only a bare version can be taken for torch's.
            "cudnn_version": torch_cudnn_int(cudnn) if cudnn else None,
            "error": warning,
        }
    libs_at = where.get("Versions of relevant libraries")
    packages = _packages(lines[libs_at + 1:] if libs_at is not None else lines)
    python = {
        "executable": None,
        "python_version": _python_version(_value(lines, where, "Python version")),
        "packages": packages,
        "torch": torch,
    }
    made.append(f"python.json (torch {'not installed' if torch is None else torch['version']}"
                f", {len(packages)} packages from the [pip]/[conda] lines; executable and arch_list unknown)")

    # ---- the commands collect_env ran, for the values it printed
    commands: dict[tuple[str, ...], CommandResult] = {}
    if platform != "darwin":  # on macOS collect_env asks torch and kextstat, not nvidia-smi
        if gpu_lines:
            listing = [ln.strip() for ln in gpu_block if _GPU_LINE.match(ln.strip()) or _MIG_LINE.match(ln)]
            argv = ("nvidia-smi", "-L")
            commands[argv] = _ok(argv, "\n".join(listing) + "\n")
            made.append(f'command "nvidia-smi -L" ({len(gpu_lines)} GPU(s), from "GPU models and configuration")')
        driver = _plain_version(_value(lines, where, "Nvidia driver version"))
        if driver:
            argv = ("nvidia-smi",)
            commands[argv] = _ok(argv, f"Driver Version: {driver}\n")
            made.append(f'command "nvidia-smi" (only the line "Driver Version: {driver}", '
                        'from "Nvidia driver version")')
    runtime = _plain_version(_value(lines, where, "CUDA runtime version"))
    if runtime:
        argv = ("nvcc", "--version")
        major_minor = ".".join(runtime.split(".")[:2])
        commands[argv] = _ok(argv, f"Cuda compilation tools, release {major_minor}, V{runtime}\n")
        made.append(f'command "nvcc --version" (release {major_minor}, V{runtime}, from "CUDA runtime version")')
    cpu = _block(lines, where, "CPU", stop_at_blank=False)
    if platform == "linux" and cpu and _LSCPU_LINE.search("\n".join(cpu)):
        argv = ("lscpu",)
        commands[argv] = _ok(argv, "\n".join(cpu) + "\n")
        made.append('command "lscpu" (the "CPU:" block)')

    # ---- files
    files: dict[str, bytes] = {}
    os_line = _value(lines, where, "OS")
    if platform == "linux" and os_line:
        release = _os_release(os_line)
        if release:
            files["/etc/os-release"] = release[0].encode("utf-8")
            made.append(f"/etc/os-release ({', '.join(release[1])}, from \"OS:\")")
    pp = _value(lines, where, "Python platform")
    kernel = _kernel_release(pp) if platform == "linux" and pp else None
    if kernel:
        # Only the release: osinfo reads "Linux version (\S+)", and a WSL kernel's release
        # ("5.15.90.1-microsoft-standard-WSL2") carries the WSL marker.
        files["/proc/version"] = f"Linux version {kernel}\n".encode("utf-8")
        made.append(f'/proc/version (kernel release {kernel} only, from "Python platform")')

    notes = ("Imported from a collect_env report (the text of `python -m torch.utils.collect_env`), "
             f"not captured by dlkit. Platform {platform}: {platform_why}. Synthesized: "
             + "; ".join(made) + ". Everything else is absent; a value collect_env could not collect "
             "(\"Could not collect\", \"No CUDA\") has no entry and replays as not found.")
    manifest = {
        "format": FORMAT, "version": VERSION, "created": None, "dlkit_version": COLLECT_ENV_IMPORTER,
        "platform": platform, "redacted": False, "notes": notes, "imported_from": "collect_env",
    }
    return Capture(manifest=manifest, files=files, commands=commands, python=python)


# ---------------------------------------------------------------- nvidia-smi
