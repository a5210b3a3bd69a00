"""PCI bus ids in one form: the kernel's sysfs name ("0000:0a:00.0"), so that GPUs from
sysfs, NVML, nvidia-smi and NVRM log lines can be matched."""

from __future__ import annotations

import re
from typing import Any

_BUS_ID = re.compile(r"(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})(?:\.([0-7]))?")


def normalize_bus_id(text: Any) -> str | None:
    """NVML/nvidia-smi "00000000:0A:00.0", NVRM "0000:01:00" or "02:00" -> sysfs form.

    The domain is written as sysfs writes it (``%04x``): a Hyper-V or VMD domain above
    0xffff keeps all its digits; a missing function is 0.

    >>> normalize_bus_id("00000000:0A:00.0"), normalize_bus_id("0000:01:00"), normalize_bus_id("02:00")
    ('0000:0a:00.0', '0000:01:00.0', '0000:02:00.0')
    >>> normalize_bus_id("10000:01:00.1"), normalize_bus_id("garbage"), normalize_bus_id(None)
    ('10000:01:00.1', None, None)
    """
    m = _BUS_ID.fullmatch(text.strip()) if isinstance(text, str) else None
    if not m:
        return None
    domain = int(m.group(1) or "0", 16)
    return f"{domain:04x}:{int(m.group(2), 16):02x}:{int(m.group(3), 16):02x}.{m.group(4) or '0'}"
