"""What every nvidia-smi parser shares: its failure messages, "N/A" and units, bus ids.

nvidia-smi prints the same value four ways (``-q -x``, ``-q``, the table, ``-L``) and
answers every NVML failure with one line of text instead of its normal output. Those
lines are what users search for, so they are classified here once, with the exact line
kept (failure-modes.md F02, F03, F17, F24; compatibility.md §8).
"""

from __future__ import annotations

import re

from dlkit.probes.busid import normalize_bus_id

# (lower-case needle, failure kind), most specific first: "Unable to determine the device
# handle for GPU ...: Insufficient Permissions" is a permission problem, not a lost GPU,
# and "Failed to initialize NVML: Driver/library version mismatch" must not fall through
# to the generic NVML line at the end. Texts: nvidia-smi's own messages as users paste
# them, and raw2capture's NVSMI_FAILURES (the return codes nvidia-smi(1) documents).
FAILURES: tuple[tuple[str, str], ...] = (
    ("insufficient permissions", "insufficient-permissions"),
    ("driver/library version mismatch", "library-mismatch"),
    ("couldn't communicate with the nvidia driver", "driver-not-loaded"),  # rc 9
    ("failed to initialize nvml: driver not loaded", "driver-not-loaded"),
    ("couldn't find libnvidia-ml.so", "library-not-found"),  # rc 12
    ("couldn't find nvml.dll", "library-not-found"),  # the same message on Windows
    ("nvml library not found", "library-not-found"),
    ("nvml shared library not found", "library-not-found"),
    ("libnvidia-ml.so.1: cannot open shared object file", "library-not-found"),
    ("no devices were found", "no-devices"),  # rc 6
    ("gpu is lost", "gpu-lost"),  # NVML_ERROR_GPU_IS_LOST, rc 15
    ("unable to determine the device handle for gpu", "gpu-lost"),  # Xid 79 sample: "...: Unknown Error"
    # In a container after `systemctl daemon-reload` (F24) and for NVML errors without a
    # kind of their own: nvidia-smi answered, but not with GPUs.
    ("failed to initialize nvml", "unknown-error"),
)

# Values nvidia-smi prints where it has none. "Requested functionality has been
# deprecated" replaced N/A for several fields in the 590 drivers.
_NOT_A_VALUE = {
    "", "n/a", "[n/a]", "not supported", "[not supported]", "unknown error", "[unknown error]",
    "err!", "[err!]", "insufficient permissions", "[insufficient permissions]", "gpu is lost",
    "[gpu is lost]", "requested functionality has been deprecated", "unknown", "not available",
}

BUS_ID_RE = re.compile(r"([0-9A-Fa-f]{4,8}):([0-9A-Fa-f]{2}):([0-9A-Fa-f]{2})\.([0-7])")


def classify_failure(text: str | None) -> tuple[str, str] | None:
    """The kind of a known nvidia-smi failure message and the exact line that says it.

    >>> classify_failure("Failed to initialize NVML: Driver/library version mismatch\\n")
    ('library-mismatch', 'Failed to initialize NVML: Driver/library version mismatch')
    >>> classify_failure("Unable to determine the device handle for GPU0000:0F:00.0: Unknown Error")[0]
    'gpu-lost'
    >>> classify_failure("GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-1b2c...)") is None
    True
    """
    for line in (text or "").splitlines():
        low = line.lower()
        for needle, kind in FAILURES:
            if needle in low:
                return kind, line.strip()
    return None


def find_bus_id(text: str | None) -> str | None:
    """The first nvidia-smi bus id in a text ("GPU 00000000:0A:00.0"), in sysfs form.

    >>> find_bus_id("GPU 00000000:0A:00.0"), find_bus_id("N/A")
    ('0000:0a:00.0', None)
    """
    m = BUS_ID_RE.search(text or "")
    return normalize_bus_id(m.group(0)) if m else None


def clean(value: str | None) -> str | None:
    """A printed value, or None where nvidia-smi printed a placeholder for "none".

    >>> clean("  WDDM "), clean("N/A"), clean("[Not Supported]")
    ('WDDM', None, None)
    """
    if value is None:
        return None
    value = value.strip()
    return None if value.lower() in _NOT_A_VALUE else value


def number(value: str | None) -> float | None:
    """The number in "39.50 W", "24564 MiB", "45 C", "0 %"; None for anything else.

    >>> number("39.50 W"), number("24564 MiB"), number("-7 C"), number("N/A"), number("1,2 W")
    (39.5, 24564.0, -7.0, None, None)
    """
    m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*[A-Za-z%]*\s*", value or "")
    return float(m.group(1)) if m else None


def integer(value: str | None) -> int | None:
    """An integer count, size or link width ("16x"; "x8" as lspci writes it).

    >>> integer("8192 MiB"), integer("16x"), integer("x8"), integer("N/A"), integer("2.5")
    (8192, 16, 8, None, None)
    """
    m = re.fullmatch(r"\s*x?(-?\d+)\s*(?:x|[A-Za-z%]+)?\s*", value or "")
    return int(m.group(1)) if m else None


def flag(value: str | None) -> bool | None:
    """Enabled/Disabled, Yes/No, Active/Not Active, On/Off -> bool; N/A -> None.

    >>> flag("Enabled"), flag("Not Active"), flag("Yes"), flag("N/A")
    (True, False, True, None)
    """
    v = (value or "").strip().lower()
    if v in ("enabled", "yes", "active", "on", "true"):
        return True
    if v in ("disabled", "no", "not active", "off", "false"):
        return False
    return None


def version(value: str | None) -> str | None:
    """The dotted version a header field starts with ("N/A" and "ERR!" -> None).

    Driver 610 appends a notice to the deprecated fields; WSL can print "ERR!" (F25).

    >>> version("610.62 [Deprecated; will be removed in CUDA 14.0. Use KMD Version instead]")
    '610.62'
    >>> version("N/A"), version("ERR!"), version(" 12.4 ")
    (None, None, '12.4')
    """
    m = re.match(r"\s*(\d+(?:\.\d+)+|\d+)\b", value or "")
    return m.group(1) if m else None


def snake(label: str) -> str:
    """A label in the XML tags' style.

    >>> snake("HW Power Brake Slowdown")
    'hw_power_brake_slowdown'
    """
    return re.sub(r"[^a-z0-9]+", "_", label.strip().lower()).strip("_")


def sum_counts(values: list[int | None]) -> int | None:
    """Total of the counts that were reported; None when none was (not zero: unknown)."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def any_flag(values: list[bool | None]) -> bool | None:
    """True if any reported flag is set, False if all reported ones are clear, else None."""
    known = [v for v in values if v is not None]
    return any(known) if known else None


def compute_capability(value: str | None) -> str | None:
    """ "8.6" as nvidia-smi prints it, or None.

    >>> compute_capability("8.6"), compute_capability("N/A")
    ('8.6', None)
    """
    m = re.fullmatch(r"\s*(\d+\.\d+)\s*", value or "")
    return m.group(1) if m else None


def pci_ids(value: str | None) -> tuple[str | None, str | None]:
    """(vendor id, device id) from nvidia-smi's combined "Device Id" (device first, vendor last).

    >>> pci_ids("0x268410DE"), pci_ids("N/A"), pci_ids(None)
    (('0x10de', '0x2684'), (None, None), (None, None))
    """
    m = re.fullmatch(r"\s*0x([0-9a-fA-F]{4})([0-9a-fA-F]{4})\s*", value or "")
    return (f"0x{m.group(2).lower()}", f"0x{m.group(1).lower()}") if m else (None, None)
