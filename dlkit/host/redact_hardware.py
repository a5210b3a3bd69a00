"""What the redactor learns from the machine (its host and user names) and how it rewrites
hardware addresses (MAC, InfiniBand) into placeholders of the same shape (RFC 7042's
documentation range 00:00:5e:00:53:xx). Split from :mod:`dlkit.host.redact` by domain."""

from __future__ import annotations

import os
import re
import socket
from typing import Any, Callable

from dlkit.host.redact_rules import DOC_MAC, HOSTNAME_FILES, hosts_aliases

# Redactor._placeholder: (kind, original, make(n)) -> the consistent placeholder for original
Placeholder = Callable[[str, str, Callable[[int], str]], str]


def host_names(source: Any) -> list[str]:
    """``socket.gethostname()`` and the host's /etc/hostname, /proc/sys/kernel/hostname and the
    /etc/hosts aliases of those names, read through ``source`` (a Host), never the network."""
    names: list[str] = []
    try:
        names.append(socket.gethostname())
    except OSError:
        pass
    for path in HOSTNAME_FILES:
        text = source.read_text(path).text
        if text:
            names += text.split()[:1]
    hosts = source.read_text("/etc/hosts").text
    if hosts and names:
        names += hosts_aliases(hosts, names)
    return names


def login_users() -> list[str]:
    """This process's user from the password database (none on Windows)."""
    try:
        import pwd

        return [pwd.getpwuid(os.getuid()).pw_name]
    except (ImportError, KeyError, OSError, AttributeError):
        return []


def hex_run(m: re.Match, placeholder: Placeholder) -> str:
    """A colon or dash run of hex octets: a MAC (6), an InfiniBand address (20), or a name's tail left alone."""
    token = m.group(0)
    sep = ":" if ":" in token else "-"
    groups = token.split(sep)
    head = ""
    # the tail of a name ("ib0:80:00:...", "eth0:00:1a:..."), or BOOTIF's hardware type 01
    if len(groups[0]) == 1 or (m.start() > 0 and m.string[m.start() - 1].isalnum()) \
            or (len(groups) == 7 and groups[0] == "01"):
        head, groups = groups[0] + sep, groups[1:]
    if len(groups) < 6:
        return token
    return head + mac_groups(groups, sep, placeholder)


def dotted_mac(m: re.Match, placeholder: Placeholder) -> str:
    token = m.group(0)
    sep = "." if "." in token else ":"
    return mac_groups(token.split(sep), sep, placeholder)


def mac_groups(groups: list[str], sep: str, placeholder: Placeholder) -> str:
    """A hardware address given as its groups, replaced by a placeholder of the same shape."""
    token = sep.join(groups)
    digits = "".join(groups).lower()
    if digits.strip("0") == "":
        return token
    if len(digits) == 40:  # InfiniBand: QPN and flags (4 octets), GID prefix (8), port GUID (8)
        if digits[24:].startswith(DOC_MAC):
            return token
        ph = placeholder("mac", digits, lambda n: DOC_MAC + f"{n % 65536:06x}")
        new = digits[:8] + "fe80000000000000" + ph
    else:
        if digits.startswith(DOC_MAC):
            return token
        width = len(digits) - len(DOC_MAC)
        new = placeholder("mac", digits, lambda n: DOC_MAC + f"{n % 16 ** width:0{width}x}")
    # the placeholder in the notation of the original
    digit = iter(new)
    return "".join(next(digit) if c in "0123456789abcdefABCDEF" else c for c in token)


def guid_hex(m: re.Match, placeholder: Placeholder) -> str:
    """An InfiniBand port GUID written as 0x hex (ibstat)."""
    digits = m.group(2)[2:].lower()
    if digits.startswith(DOC_MAC) or digits.strip("0") == "":
        return m.group(0)
    return m.group(1) + "0x" + placeholder("mac", digits, lambda n: DOC_MAC + f"{n % 65536:06x}")
