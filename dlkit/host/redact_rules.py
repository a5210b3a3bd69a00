"""The rules of redaction (dlkit/host/redact.py applies them): what a host name, a user
name, a hardware address, a secret or a device list looks like, which names are generic
and must never be replaced, and :func:`sub`, a regex substitution that scans a long text
only around the markers its pattern needs."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from typing import Any, Callable

SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|AUTH|COOKIE|PRIVATE|(?:^|_)PASS(?:_|$)",
                         re.I)
# Hardware addresses: a run of hex pairs joined by ":" or "-" (colon: `ip link`, 6 octets
# for Ethernet, 8 for an EUI-64 GUID, 20 for the InfiniBand address with its QPN, GID
# prefix and port GUID; dash: Windows `getmac`, PXE's BOOTIF=01-<mac>), Cisco's dotted
# form, and the GUID as sysfs writes it (/sys/class/infiniband/*/node_guid). A run's first
# group may be one hex digit: the tail of an interface name ("ifname=eth0:00:1a:...").
HEX_RUNS = [re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{1,2}(?:SEP[0-9A-Fa-f]{2}){5,}(?![0-9A-Fa-f]|SEP[0-9A-Fa-f])"
                       .replace("SEP", sep)) for sep in (":", "-")]
MAC_DOTTED = [
    re.compile(r"(?<![0-9A-Fa-f.:])(?:[0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4}(?![0-9A-Fa-f.:])"),
    re.compile(r"(?<![0-9A-Fa-f.:])(?:[0-9A-Fa-f]{4}:){3}[0-9A-Fa-f]{4}(?![0-9A-Fa-f.:])"),
]
GUID_HEX = re.compile(r"(?i)(\bGUID\s*[:=]?\s*)(0x[0-9a-f]{16})\b")
DOC_MAC = "00005e0053"  # RFC 7042 documentation range: what placeholders are made of
UUID = re.compile(r"\b(GPU-|MIG-)?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\b")
# A dotted quad that is not part of a longer dotted number or a version string:
# cuDNN "9.1.0.70" or TensorRT "10.0.1.6" must survive, "inet 10.0.0.5" must not.
IPV4 = re.compile(r"(?<![\w.+-])(\d{1,3}(?:\.\d{1,3}){3})(?![\w.+-])")
# What precedes a dotted quad on its line when it is a version: a pip specifier
# ("nvidia-cudnn-cu12==9.1.0.70") or a word naming a versioned thing ("cuDNN 9.1.0.70",
# '"nvidia-cudnn-cu12": "9.1.0.70"', "TensorRT version: 10.0.1.6"). A lone "=" is not
# enough: "ip=10.0.0.5" and "nfsroot=10.0.0.5:/srv" on /proc/cmdline are addresses.
VERSION_CONTEXT = re.compile(
    r"(?:==|~=|>=|<=|!=)$"
    r"|(?i:version|cudnn|tensorrt|nvinfer|nccl|cublas|cufft|curand|cusolver|cusparse|nvjitlink|nvrtc|nvtx|cuda|driver|bios|firmware)"
    r"[\w.+-]*[\"']?\s*[:=]?\s*[\"']?$")
IPV6_CANDIDATE = re.compile(r"(?<![\w:.])[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*(?![\w:])")
# Home folders of any user (also inside JSON text, where a backslash is doubled).
HOME = re.compile(r"(/home/|/Users/|[A-Za-z]:(?:\\\\|\\)Users(?:\\\\|\\)|/var/home/)([^/\\\s\"':]+)")
TILDE_USER = re.compile(r"(?<![\w~])~([A-Za-z_][A-Za-z0-9._-]*)(?=[/\\\s\"':]|$)")
SERIAL_TEXT = re.compile(r"(Serial Number\s*:\s*)(\S+)", re.I)
SERIAL_XML = re.compile(r"(<serial>)([^<]+)(</serial>)")
# scheme://userinfo@host: the userinfo never crosses a quote, a backslash (JSON text),
# a slash (the path) or white space; greedy, so "user:p@ss@host" loses all of "user:p@ss".
URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,31}://)([^\s/\"'\\<>`@]+(?:@[^\s/\"'\\<>`@]+)*)@")
# NAME=value where NAME looks secret: "--api-key=...", "HF_TOKEN=..." on a command line or in a file.
SECRET_ASSIGNMENT = re.compile(r"(?<![\w-])((?:--?)?[A-Za-z_][A-Za-z0-9_-]*)(=)(\"?)([^\s\"'\\<>&;,]+)")
AUTH_HEADER = re.compile(r"\b([Bb]earer|BEARER)(\s+)([A-Za-z0-9._~+/=-]{8,})")
# Token formats that are secret whatever surrounds them (GitHub, Hugging Face, AWS key
# ids, OpenAI/Anthropic-style keys, Slack, JSON Web Tokens).
TOKEN_SHAPES = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|hf_[A-Za-z0-9]{20,}|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|sk-[A-Za-z0-9_-]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+)")
TOKEN_MARKERS = ("gh", "github_pat_", "hf_", "AKIA", "ASIA", "sk-", "xox", "eyJ")
# Well-known, public GUIDs that name things rather than machines: the EFI global
# variable GUID is part of the SecureBoot variable's path and must stay as it is.
PUBLIC_GUIDS = {"8be4df61-93ca-11d2-aa0d-00e098032b8c"}
# A learned name followed by a domain is that host's FQDN, learned or not ("node17" in
# /etc/hostname, "node17.cluster.example.org" in a log): two labels or more, or one of the
# usual private suffixes, so that a file name such as "node17.log" keeps its extension.
DOMAIN_TAIL = (r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+\.[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]"
               r"|\.(?:local|lan|internal|localdomain|home|corp|intranet)")
# Default hostnames of distribution and cloud images are not identifying, and replacing
# them everywhere would rewrite the facts ("ID=ubuntu" in /etc/os-release, "nvidia" in
# /proc/modules, "DGX" in a product name).
GENERIC_HOSTNAMES = {
    "localhost", "localhost.localdomain", "localhost4", "localhost6", "localhost6.localdomain6", "ip6-localhost",
    "ip6-loopback", "localdomain", "local", "(none)", "none", "unknown", "null", "default",
    "ubuntu", "debian", "fedora", "centos", "rhel", "redhat", "rocky", "almalinux", "arch", "archlinux", "archiso",
    "manjaro", "opensuse", "suse", "sles", "kali", "mint", "gentoo", "alpine", "nixos", "amzn", "amazon", "oracle",
    "raspberrypi", "raspberry", "pop-os", "linux", "windows", "wsl", "darwin", "macos", "android",
    "nvidia", "cuda", "gpu", "cpu", "intel", "amd", "nouveau", "tesla", "geforce", "quadro", "titan", "rtx", "gtx",
    "dgx", "hgx", "jetson", "tegra", "orin", "xavier", "nano", "docker", "container", "podman", "kubernetes",
    "host", "hostname", "server", "node", "master", "worker", "compute", "login", "head", "desktop", "workstation",
    "laptop", "computer", "machine", "box", "instance", "virtual", "test", "build", "runner", "github", "gitlab",
    "jenkins", "codespaces", "colab", "kaggle", "jupyter", "sagemaker", "lambda", "kernel", "system",
}
# A machine named after a GPU or CPU model ("a100", "rtx4090") would rewrite that model's name.
MODEL_LIKE = re.compile(r"(?i)(?:rtx|gtx|tesla|quadro|titan)?[a-z]?\d{2,5}[a-z]{0,2}")
# Names that are system path components or generic accounts, never replaced as a user
# name (a user called "dev" must not turn /dev/nvidia0 into /user-1/nvidia0).
NOT_A_USER = {
    "root", "user", "users", "runner", "ubuntu", "shared", "linuxbrew", "admin", "administrator", "nobody", "daemon",
    "guest", "public", "default", "jovyan", "ec2-user", "cloud-user", "opc", "vagrant", "centos", "debian", "fedora",
    "pi", "nvidia", "cuda", "docker", "gpu", "cpu", "test", "tests", "build", "builder", "ci", "home", "local", "dev",
    "proc", "sys", "etc", "usr", "lib", "lib32", "lib64", "libx32", "bin", "sbin", "opt", "var", "tmp", "run", "boot",
    "mnt", "media", "srv", "snap", "share", "include", "src", "data", "scratch", "work", "apps", "nfs", "efi", "driver",
    "drivers", "devices", "device", "class", "bus", "module", "modules", "log", "cache", "conda", "venv", "env",
    "python", "python3", "pip", "site-packages", "firmware", "kernel", "system", "host", "none", "null", "unknown",
}
PLACEHOLDER = re.compile(r"(?:host|user)-\d+|REDACTED(?:-SERIAL-\d+)?")
DEVICE_LIST_NAME = re.compile(r"_DEVICES$|_DEVICE_ORDINALS?$", re.I)
DEVICE_ID = re.compile(r"(?i)\s*(?:-?\d+|(?:GPU|MIG|MIG-GPU)-[0-9a-f-]+(?:/\d+)*|all|none|void|nodevfiles|)\s*")
PATH_NAME = re.compile(r"PATH$|_HOME$|_ROOT$|_DIRS?$|_PREFIX$|^HOME$|^VIRTUAL_ENV$|^TMPDIR$|^PWD$|^OLDPWD$", re.I)
POSIX_PATH_ELEMENT = re.compile(r"|[/~].*|\.{1,2}(?:/.*)?|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?(?:/.*)?", re.S)
WINDOWS_PATH_ELEMENT = re.compile(r"|[A-Za-z]:[\\/].*|\\\\.*|%[^%]+%.*|\.{1,2}(?:[\\/].*)?", re.S)
# Files a capture keeps so that it can be redacted when replayed (RecordingHost records them).
HOSTNAME_FILES = ("/etc/hostname", "/proc/sys/kernel/hostname")
IDENTITY_ENV = ("USER", "LOGNAME", "SUDO_USER", "USERNAME", "HOME", "USERPROFILE", "HOSTNAME", "COMPUTERNAME")
MIN_LITERAL = 4
KIND_LABELS = {  # for the Markdown line: (singular, plural)
    "hostname": ("host name", "host names"), "user": ("user name", "user names"),
    "mac": ("hardware address", "hardware addresses"), "ip": ("IP address", "IP addresses"),
    "uuid": ("UUID", "UUIDs"), "serial": ("serial number", "serial numbers"),
    "url_credentials": ("URL credential", "URL credentials"), "tokens": ("token", "tokens"),
    "secret_assignments": ("secret value", "secret values"),
    "env_list_values": ("environment list value", "environment list values"),
    "secret_env_values": ("secret environment value", "secret environment values"),
}


def usable_hostname(name: str) -> bool:
    return (len(name) >= 3 and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) is not None
            and re.search(r"[A-Za-z]", name) is not None and name.lower() not in GENERIC_HOSTNAMES
            and not MODEL_LIKE.fullmatch(name) and not PLACEHOLDER.fullmatch(name))


def usable_user(name: str) -> bool:
    return (len(name) >= 2 and re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*\$?", name) is not None
            and re.search(r"[A-Za-z]", name) is not None and name.lower() not in NOT_A_USER
            and name.lower() not in GENERIC_HOSTNAMES and not PLACEHOLDER.fullmatch(name))


def usable_literal(value: str) -> bool:
    """A value worth chasing through the whole bundle: long enough, and not a word that
    would rewrite facts wherever it stands ("true", "nvidia", a small number)."""
    v = value.strip()
    return (len(v) >= MIN_LITERAL and not PLACEHOLDER.fullmatch(v) and v.lower() not in NOT_A_USER
            and v.lower() not in GENERIC_HOSTNAMES and v.lower() not in ("true", "false", "yes", "no")
            and (re.search(r"[A-Za-z]", v) is not None or (v.isdigit() and len(v) >= 8)))  # never "12.4"


def words_pattern(names: Iterable[str]) -> re.Pattern | None:
    """One pattern for names that stand alone: not inside a longer alphanumeric word."""
    names = sorted(set(names), key=len, reverse=True)
    if not names:
        return None
    return re.compile("(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, names)) + ")(?![A-Za-z0-9])")


def hosts_aliases(text: str, names: Iterable[str]) -> list[str]:
    """Every name on the /etc/hosts lines that name one of ``names`` (or its short label).

    >>> hosts_aliases("127.0.0.1 localhost\\n127.0.1.1 node17.cluster.example.org node17 # me\\n", ["node17"])
    ['node17.cluster.example.org', 'node17']
    """
    known = {n.lower() for n in names} | {n.lower().split(".")[0] for n in names}
    out: list[str] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and any(f.lower() in known or f.lower().split(".")[0] in known for f in fields[1:]):
            out += fields[1:]
    return out


def split_list(name: str, value: str) -> tuple[str, list[str], re.Pattern] | None:
    """How a list-like variable's value splits: (separator, elements, what an element
    that is kept looks like); None for a variable that is not a list of paths or devices."""
    if DEVICE_LIST_NAME.search(name):
        return ",", value.split(","), DEVICE_ID
    windows = ";" in value or re.match(r"[A-Za-z]:[\\/]", value) is not None
    if PATH_NAME.search(name) or ("://" not in value and "/" in value and ":" in value):
        if windows:
            return ";", value.split(";"), WINDOWS_PATH_ELEMENT
        return ":", value.split(":"), POSIX_PATH_ELEMENT
    return None

def foreign_elements(name: str, value: str) -> list[str]:
    split = split_list(name, value)
    if split is None:
        return []
    _, elements, keep = split
    return [e for e in elements if not keep.fullmatch(e) and e != "REDACTED"]


LONG_TEXT = 1 << 16  # shorter texts are scanned whole
WORD_LIMIT = 1 << 16  # the most of a word without white space that _sub looks at around a marker
ASCII_SPACE = " \t\n\r\f\v"
SPACE = re.compile(r"\s")


def sub(pattern: re.Pattern, repl: Callable[[re.Match], str], s: str, markers: Iterable[str],
         fold: bool = False, context: int = 0) -> str:
    """``pattern.sub(repl, s)`` for a pattern whose matches hold one of ``markers`` and never
    white space: a long ``s`` is scanned only on the words around the markers (plus
    ``context`` characters of whole words before them), since Python's re scans a pattern
    that starts with a character class at about 20 MB/s. ``fold``: the markers are lower case
    and the pattern ignores case."""
    markers = [m for m in markers if m]
    hay = s.lower() if fold else s
    if not any(m in hay for m in markers):
        return s
    if len(s) < LONG_TEXT or len(hay) != len(s) or any(hay.count(m) > len(s) // 256 for m in markers):
        return pattern.sub(repl, s)  # short, or dense with markers: one scan is cheaper
    spans = []
    for marker in markers:
        i = hay.find(marker)
        while i >= 0:
            spans.append((i, i + len(marker)))
            i = hay.find(marker, i + 1)
    windows: list[list[int]] = []
    for a, b in sorted(spans):
        floor = max(a - WORD_LIMIT, 0)
        left = max(max(s.rfind(c, floor, a) for c in ASCII_SPACE) + 1, floor)
        if context and left > 0:  # whole words before it, as far back as context reaches
            lo = left - 1 - context
            m = SPACE.search(s, lo, left) if lo > 0 else None
            left = 0 if lo <= 0 else (m.end() if m else left)
        m = SPACE.search(s, b, min(b + WORD_LIMIT, len(s)))
        right = m.start() if m else min(b + WORD_LIMIT, len(s))
        if windows and left <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], right)
        else:
            windows.append([left, right])
    out, last = [], 0
    for left, right in windows:
        out += [s[last:left], pattern.sub(repl, s[left:right])]
        last = right
    out.append(s[last:])
    return "".join(out)


def strings(value: Any) -> Iterable[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from strings(v)


def basename(path: str) -> str:
    return posixpath.basename(path.replace("\\", "/").rstrip("/"))
