"""Redaction of a capture, and of a report, before it is shared (spec §1, "Redaction").

One redactor, general rules, applied to every byte that leaves the machine: the capture's
files, command outputs, environment, library answers, manifest and path names, and the
``--json`` / ``--markdown`` report.

* identities it learns without the network (never a resolver: a DNS lookup has no
  timeout and is traffic on a default path): host names from ``socket.gethostname()``, ``/etc/hostname``,
  ``/proc/sys/kernel/hostname`` and the /etc/hosts aliases of those names; user names from
  the password database, ``$USER``, ``$LOGNAME``, ``$SUDO_USER`` and ``$HOME``. A replayed
  capture is redacted with the names its own files hold, never the replaying machine's;
* values it learns from the environment: secret-looking variables are blanked, and the
  elements of path lists (``LD_LIBRARY_PATH``) and device lists (``CUDA_VISIBLE_DEVICES``)
  that are not paths or device ids are removed; each value removed so is then replaced
  wherever else it appears, as are URL credentials;
* shapes it recognises anywhere: MAC and InfiniBand hardware addresses, IP addresses,
  UUIDs, serials, URL credentials, ``/home/<user>`` paths, well-known token formats.

Placeholders are consistent (the same UUID always maps to the same placeholder) and keep
the value's shape, so parsers still read a redacted capture: MAC addresses map into the
documentation range 00:00:5e:00:53:xx (RFC 7042), IPv4 into 192.0.2.x (RFC 5737), IPv6
into 2001:db8::x (RFC 3849), UUIDs to zero UUIDs with a counter, host names to host-N and
user names to user-N. Redacting twice changes nothing more.
"""

from __future__ import annotations

import ipaddress
import json
import os
import posixpath
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, Callable

from dlkit.host.capture import Capture

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


def _usable_hostname(name: str) -> bool:
    return (len(name) >= 3 and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) is not None
            and re.search(r"[A-Za-z]", name) is not None and name.lower() not in GENERIC_HOSTNAMES
            and not MODEL_LIKE.fullmatch(name) and not PLACEHOLDER.fullmatch(name))


def _usable_user(name: str) -> bool:
    return (len(name) >= 2 and re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*\$?", name) is not None
            and re.search(r"[A-Za-z]", name) is not None and name.lower() not in NOT_A_USER
            and name.lower() not in GENERIC_HOSTNAMES and not PLACEHOLDER.fullmatch(name))


def _usable_literal(value: str) -> bool:
    """A value worth chasing through the whole bundle: long enough, and not a word that
    would rewrite facts wherever it stands ("true", "nvidia", a small number)."""
    v = value.strip()
    return (len(v) >= MIN_LITERAL and not PLACEHOLDER.fullmatch(v) and v.lower() not in NOT_A_USER
            and v.lower() not in GENERIC_HOSTNAMES and v.lower() not in ("true", "false", "yes", "no")
            and (re.search(r"[A-Za-z]", v) is not None or (v.isdigit() and len(v) >= 8)))  # never "12.4"


def _words(names: Iterable[str]) -> re.Pattern | None:
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


class Redactor:
    def __init__(self, hostnames: Iterable[str] = (), users: Iterable[str] = ()) -> None:
        self.maps: dict[str, dict[str, str]] = {}
        self.seen: dict[str, set[str]] = {}  # what this pass replaced: summary()
        self.literals: dict[str, tuple[str, str]] = {}  # value -> (kind, key): replaced wherever it appears
        self._literal_re: re.Pattern | None = None
        self._literal_forms: list[str] = []
        self.hostnames: list[str] = []
        self.users: list[str] = []
        self._host_re: re.Pattern | None = None
        self._user_re: re.Pattern | None = None
        self._user_short_re: re.Pattern | None = None
        self.add_hostnames(hostnames)
        self.add_users(users)

    # -------------------------------------------------------------- learning

    def add_hostnames(self, names: Iterable[str]) -> None:
        learned = set(self.hostnames)
        for name in names:
            name = (name or "").strip().rstrip(".")
            for n in (name, name.split(".")[0]):
                if _usable_hostname(n) and not any(n.lower() == h.lower() for h in learned):
                    learned.add(n)
        # Longest first so that a FQDN is replaced before its short name.
        self.hostnames = sorted(learned, key=lambda n: (-len(n), n))
        self._host_re = None
        if self.hostnames:
            self._host_re = re.compile(
                "(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, self.hostnames)) + f")(?:{DOMAIN_TAIL})?(?![A-Za-z0-9])",
                re.I)

    def add_users(self, names: Iterable[str]) -> None:
        learned = set(self.users)
        for name in names:
            name = (name or "").strip()
            if "\\" in name:  # DOMAIN\user
                name = name.rsplit("\\", 1)[1]
            if _usable_user(name):
                learned.add(name)
        self.users = sorted(learned, key=lambda n: (-len(n), n))
        self._user_re = _words(n for n in self.users if len(n) >= 3)
        # A two-letter name is replaced only as a whole path component (/scratch/al/x, ~al).
        short = [re.escape(n) for n in self.users if len(n) < 3]
        self._user_short_re = (re.compile(r"(?<=[/\\~])(?:" + "|".join(short) + r")(?=[/\\\s\"':]|$)")
                               if short else None)

    def remember(self, value: str, kind: str, key: str | None = None) -> None:
        """Replace ``value`` wherever it appears from now on (a secret learned somewhere)."""
        value = value.strip()
        if not _usable_literal(value) or value in self.literals:
            return
        self.literals[value] = (kind, key if key is not None else value)
        forms = {value, json.dumps(value, ensure_ascii=False)[1:-1]}  # also as JSON text holds it
        for v in list(self.literals):
            forms.add(v)
            forms.add(json.dumps(v, ensure_ascii=False)[1:-1])
        alts = []
        for f in sorted(forms, key=len, reverse=True):
            alts.append(("(?<![A-Za-z0-9])" if f[0].isalnum() else "") + re.escape(f)
                        + ("(?![A-Za-z0-9])" if f[-1].isalnum() else ""))
        self._literal_re = re.compile("|".join(alts))
        self._literal_forms = sorted(forms, key=len, reverse=True)

    def learn_environ(self, env: Mapping[str, str], lists: bool = True) -> None:
        """The values environ() would remove, remembered (nothing is counted): secret-named
        values, and with ``lists`` the elements of path and device lists that are not paths
        or device ids; the user and host names the identity variables hold."""
        for name, value in env.items():
            if not isinstance(value, str):
                continue
            if SECRET_NAME.search(name):
                self.remember(value, "secret_env_values", name)
            elif lists:
                for element in self._foreign_elements(name, value):
                    if not re.fullmatch(r"[a-z]{1,8}[0-9]{0,2}", element.strip()):  # "lib64": a path word, not a secret
                        self.remember(element, "env_list_values")
        users = [env.get(n) or "" for n in ("USER", "LOGNAME", "SUDO_USER", "USERNAME")]
        users += [_basename(env.get(n) or "") for n in ("HOME", "USERPROFILE")]
        self.add_users(users)
        self.add_hostnames([env.get("HOSTNAME") or "", env.get("COMPUTERNAME") or ""])

    def learn_text(self, s: str) -> None:
        """Secrets that text() would replace in ``s``, remembered, so that they go elsewhere too."""
        def url(m: re.Match) -> str:
            userinfo = m.group(2)
            if userinfo != "REDACTED":
                self.remember(userinfo, "url_credentials")
                if ":" in userinfo:
                    self.remember(userinfo.split(":", 1)[1], "url_credentials", userinfo)
            return m.group(0)

        def assignment(m: re.Match) -> str:
            if SECRET_NAME.search(m.group(1)) and m.group(4) != "REDACTED":
                self.remember(m.group(4), "secret_assignments")
            return m.group(0)

        _sub(URL_CREDENTIALS, url, s, ("://",))
        _sub(SECRET_ASSIGNMENT, assignment, s, ("=",))

    def learn_capture(self, cap: Capture) -> None:
        """Identities and secrets from the capture itself: its host name files, the user
        and host variables it holds, the environment's removable values, URL credentials."""
        names: list[str] = []
        for path in HOSTNAME_FILES:
            data = cap.files.get(path)
            if data is not None:
                names += data.decode("utf-8", "replace").split()[:1]
        hosts = cap.files.get("/etc/hosts")
        if hosts is not None and names:
            names += hosts_aliases(hosts.decode("utf-8", "replace"), names)
        self.add_hostnames(names)
        self.learn_environ(cap.environ)
        for data in cap.files.values():
            self.learn_text(data.decode("utf-8", "replace"))
        for r in cap.commands.values():
            for t in (*r.argv, r.stdout, r.stderr):
                self.learn_text(t)
        for value in (cap.python, cap.live, cap.nvml, cap.manifest):
            for text in _strings(value):
                self.learn_text(text)

    @classmethod
    def for_host(cls, host: Any = None, environ: Mapping[str, str] | None = None) -> "Redactor":
        """A redactor for the live machine ``host`` (a LiveHost or a RecordingHost over one).

        Host names: ``socket.gethostname()`` and the host's /etc/hostname,
        /proc/sys/kernel/hostname and /etc/hosts aliases of those names (read through the
        host, never the network). Users: the password database and ``$USER``, ``$LOGNAME``,
        ``$SUDO_USER``, ``$HOME`` of ``environ`` (default: this process's environment) and of
        the host. The values of ``environ``'s secret-named variables, and everything a
        RecordingHost read from the environment, are learned too.
        """
        from dlkit.host.live import LiveHost
        from dlkit.host.record import RecordingHost

        source = host.inner if isinstance(host, RecordingHost) else host  # identity reads are not the probes'
        if source is None:
            source = LiveHost()
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
        users: list[str] = []
        try:
            import pwd  # not on Windows

            users.append(pwd.getpwuid(os.getuid()).pw_name)
        except (ImportError, KeyError, OSError, AttributeError):
            pass
        r = cls(names, users)
        r.learn_environ(dict(os.environ) if environ is None else dict(environ), lists=False)
        r.learn_environ({n: v for n in IDENTITY_ENV if (v := source.env(n))}, lists=False)
        if isinstance(host, RecordingHost):
            r.learn_environ(dict(host.environ))
        return r

    @classmethod
    def for_capture(cls, cap: Capture) -> "Redactor":
        """A redactor for a capture being replayed: the names its own files hold."""
        r = cls()
        r.learn_capture(cap)
        return r

    @classmethod
    def for_this_machine(cls) -> "Redactor":
        return cls.for_host(None)

    # -------------------------------------------------------------- tally

    def _placeholder(self, kind: str, original: str, make: Callable[[int], str]) -> str:
        table = self.maps.setdefault(kind, {})
        if original not in table:
            table[original] = make(len(table) + 1)
        self.seen.setdefault(kind, set()).add(original)
        return table[original]

    def _count(self, kind: str, key: str) -> None:
        self.seen.setdefault(kind, set()).add(key)

    def reset_tally(self) -> None:
        """Start a new summary(); the placeholders stay as they are (consistent)."""
        self.seen = {}

    def summary(self) -> dict[str, int]:
        """What was redacted since the tally started: how many distinct values of each kind (never the values)."""
        return {kind: len(values) for kind, values in sorted(self.seen.items()) if values}

    # -------------------------------------------------------------- text

    def text(self, s: str, before: str = "") -> str:
        """``s`` redacted. ``before``: what precedes it (a JSON key), for the version context of
        a dotted quad. Each rule runs only where its marker is in ``s``, and in a long text
        only on the words around its markers (_sub): a 14 MB GPU name costs substring
        searches, not eighteen regular-expression scans of 14 MB."""
        if not s:
            return s
        if self._literal_re is not None and any(f in s for f in self._literal_forms):
            s = self._literal_re.sub(self._literal, s)
        s = _sub(TOKEN_SHAPES, lambda m: self._redacted("tokens", m.group(0)), s, TOKEN_MARKERS)
        s = _sub(URL_CREDENTIALS, self._url, s, ("://",))
        s = _sub(SECRET_ASSIGNMENT, self._assignment, s, ("=",))
        if "earer" in s or "EARER" in s:
            s = AUTH_HEADER.sub(lambda m: m.group(1) + m.group(2) + self._redacted("secret_assignments", m.group(3))
                                if m.group(3) != "REDACTED" else m.group(0), s)
        if self._host_re is not None:
            s = _sub(self._host_re, lambda m: self._placeholder("hostname", m.group(0).lower(), lambda n: f"host-{n}"),
                     s, [h.lower() for h in self.hostnames], fold=True)
        if self._user_re is not None:
            s = _sub(self._user_re, lambda m: self._user(m.group(0)), s, self.users)
        if self._user_short_re is not None:
            s = _sub(self._user_short_re, lambda m: self._user(m.group(0)), s, self.users)
        s = _sub(HOME, lambda m: m.group(1) + self._other_user(m.group(2)), s, ("home/", "Users"))
        s = _sub(TILDE_USER, lambda m: "~" + self._other_user(m.group(1)), s, ("~",))
        s = _sub(HEX_RUNS[0], self._hex_run, s, (":",))
        s = _sub(HEX_RUNS[1], self._hex_run, s, ("-",))
        s = _sub(MAC_DOTTED[0], self._mac, s, (".",))
        s = _sub(MAC_DOTTED[1], self._mac, s, (":",))
        low = s.lower()
        if "guid" in low:
            s = GUID_HEX.sub(self._guid_hex, s)
        s = _sub(UUID, self._uuid, s, ("-",))
        if "serial" in low:
            s = SERIAL_XML.sub(lambda m: m.group(1) + self._serial(m.group(2)) + m.group(3), s)
            s = SERIAL_TEXT.sub(lambda m: m.group(1) + self._serial(m.group(2)), s)
        s = _sub(IPV4, lambda m: self._ipv4(m, before), s, (".",), context=120)
        s = _sub(IPV6_CANDIDATE, self._ipv6, s, (":",))
        return s

    def _redacted(self, kind: str, key: str) -> str:
        self._count(kind, key)
        return "REDACTED"

    def _literal(self, m: re.Match) -> str:
        value = m.group(0)
        found = self.literals.get(value)
        if found is None:  # the JSON-escaped form of a literal
            found = next((k for v, k in self.literals.items() if json.dumps(v, ensure_ascii=False)[1:-1] == value),
                         ("secret_assignments", value))
        return self._redacted(*found)

    def _url(self, m: re.Match) -> str:
        if m.group(2) == "REDACTED":
            return m.group(0)
        return m.group(1) + self._redacted("url_credentials", m.group(2)) + "@"

    def _assignment(self, m: re.Match) -> str:
        if not SECRET_NAME.search(m.group(1)) or m.group(4) == "REDACTED":
            return m.group(0)
        return m.group(1) + m.group(2) + m.group(3) + self._redacted("secret_assignments", m.group(4))

    def _user(self, name: str) -> str:
        return self._placeholder("user", name, lambda n: f"user-{n}")

    def _other_user(self, user: str) -> str:
        if user.lower() in NOT_A_USER or PLACEHOLDER.fullmatch(user):
            return user
        return self._user(user)

    def _hex_run(self, m: re.Match) -> str:
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
        return head + self._mac_groups(groups, sep)

    def _mac(self, m: re.Match) -> str:
        token = m.group(0)
        sep = "." if "." in token else ":"
        return self._mac_groups(token.split(sep), sep)

    def _mac_groups(self, groups: list[str], sep: str) -> str:
        """A hardware address given as its groups, replaced by a placeholder of the same shape."""
        token = sep.join(groups)
        digits = "".join(groups).lower()
        if digits.strip("0") == "":
            return token
        if len(digits) == 40:  # InfiniBand: QPN and flags (4 octets), GID prefix (8), port GUID (8)
            if digits[24:].startswith(DOC_MAC):
                return token
            ph = self._placeholder("mac", digits, lambda n: DOC_MAC + f"{n % 65536:06x}")
            new = digits[:8] + "fe80000000000000" + ph
        else:
            if digits.startswith(DOC_MAC):
                return token
            width = len(digits) - len(DOC_MAC)
            new = self._placeholder("mac", digits, lambda n: DOC_MAC + f"{n % 16 ** width:0{width}x}")
        # the placeholder in the notation of the original
        digit = iter(new)
        return "".join(next(digit) if c in "0123456789abcdefABCDEF" else c for c in token)

    def _guid_hex(self, m: re.Match) -> str:
        digits = m.group(2)[2:].lower()
        if digits.startswith(DOC_MAC) or digits.strip("0") == "":
            return m.group(0)
        return m.group(1) + "0x" + self._placeholder("mac", digits, lambda n: DOC_MAC + f"{n % 65536:06x}")

    def _uuid(self, m: re.Match) -> str:
        prefix, body = m.group(1) or "", m.group(2).lower()
        if body in PUBLIC_GUIDS or body.strip("0-") == "" or body.startswith("00000000-0000-0000-0000-"):
            return m.group(0)
        return prefix + self._placeholder("uuid", body, lambda n: f"00000000-0000-0000-0000-{n:012d}")

    def _serial(self, value: str) -> str:
        if value.upper() in ("N/A", "[N/A]", "NONE", "NOT SPECIFIED", "TO BE FILLED BY O.E.M.") or \
                value.startswith("REDACTED-SERIAL-"):
            return value
        return self._placeholder("serial", value, lambda n: f"REDACTED-SERIAL-{n}")

    def _ipv4(self, m: re.Match, before: str = "") -> str:
        try:
            ip = ipaddress.IPv4Address(m.group(1))
        except ValueError:
            return m.group(0)
        if ip.is_loopback or ip.is_unspecified or str(ip).startswith("192.0.2.") or ip.is_multicast:
            return m.group(0)
        line = (before + m.string[max(0, m.start() - 120):m.start()])[-120:].rsplit("\n", 1)[-1]
        if VERSION_CONTEXT.search(line):
            return m.group(0)
        return self._placeholder("ip", str(ip), lambda n: f"192.0.2.{n % 254 + 1}")

    def _ipv6(self, m: re.Match) -> str:
        token = m.group(0)
        if "::" not in token and token.count(":") != 7:
            return token  # times, PCI bus ids and the like
        try:
            ip = ipaddress.IPv6Address(token)
        except ValueError:
            return token
        if ip.is_loopback or ip.is_unspecified or token.startswith("2001:db8:"):
            return token
        return self._placeholder("ip", str(ip), lambda n: f"2001:db8::{n:x}")

    # -------------------------------------------------------------- environment

    @staticmethod
    def _split(name: str, value: str) -> tuple[str, list[str], re.Pattern] | None:
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

    def _foreign_elements(self, name: str, value: str) -> list[str]:
        split = self._split(name, value)
        if split is None:
            return []
        _, elements, keep = split
        return [e for e in elements if not keep.fullmatch(e) and e != "REDACTED"]

    def env_value(self, name: str, value: str) -> str:
        """One variable's value, redacted (not a secret-named one: environ() blanks those)."""
        split = self._split(name, value)
        if split is not None:
            sep, elements, keep = split
            out = []
            for e in elements:
                if keep.fullmatch(e) or e == "REDACTED":
                    out.append(e)
                else:
                    self._count("env_list_values", e)
                    out.append("REDACTED")
            value = sep.join(out)
        return self.text(value)

    def environ(self, env: dict[str, str]) -> dict[str, str]:
        self.learn_environ(env)
        out = {}
        for name, value in env.items():
            if SECRET_NAME.search(name):
                self._count("secret_env_values", name)
                out[name] = "REDACTED"
            else:
                out[name] = self.env_value(name, value)
        return out

    # -------------------------------------------------------------- structures

    def json_value(self, value: Any, key: str | None = None) -> Any:
        """A JSON value with every string (keys too) redacted; a string under a key is read
        as JSON text shows it ('"cudnn_version": "9.1.0.70"': a version, not an address)."""
        if isinstance(value, str):
            return self.text(value, f'"{key}": "' if key is not None else "")
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.json_value(v, k if isinstance(k, str) else None)
                    for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.json_value(v) for v in value]
        return value

    def redact_capture(self, cap: Capture) -> Capture:
        """``cap`` redacted (the input is left as it is); summary() then says what this capture lost."""
        self.learn_capture(cap)
        self.reset_tally()
        environ = self.environ(cap.environ)
        files = {self.text(p): self.text(d.decode("utf-8", "replace")).encode("utf-8") for p, d in cap.files.items()}
        commands = {}
        for argv, r in cap.commands.items():
            new_argv = tuple(self.text(a) for a in argv)
            commands[new_argv] = replace(r, argv=new_argv, stdout=self.text(r.stdout), stderr=self.text(r.stderr))
        # The manifest's own lists (unreadable paths, notes) too; its format fields are facts.
        keep = ("format", "version", "created", "dlkit_version", "platform", "redacted", "redactions")
        manifest = {k: (v if k in keep else self.json_value(v)) for k, v in cap.manifest.items()}
        return Capture(
            manifest=manifest,
            files=files,
            links={self.text(p): self.text(t) for p, t in cap.links.items()},
            dirs={self.text(d) for d in cap.dirs},
            commands=commands,
            python=self.json_value(cap.python) if cap.python is not None else None,
            environ=environ,
            live=self.json_value(cap.live),
            nvml=self.json_value(cap.nvml) if cap.nvml is not None else None,
        )

    def describe(self) -> str:
        """summary() in words, for a report: "1 host name, 2 user names"."""
        parts = []
        for kind, n in self.summary().items():
            one, many = KIND_LABELS.get(kind, (kind.replace("_", " "), kind.replace("_", " ")))
            parts.append(f"{n} {one if n == 1 else many}")
        return ", ".join(parts) if parts else "nothing identifying was found"


LONG_TEXT = 1 << 16  # shorter texts are scanned whole
WORD_LIMIT = 1 << 16  # the most of a word without white space that _sub looks at around a marker
ASCII_SPACE = " \t\n\r\f\v"
SPACE = re.compile(r"\s")


def _sub(pattern: re.Pattern, repl: Callable[[re.Match], str], s: str, markers: Iterable[str],
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


def _strings(value: Any) -> Iterable[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _basename(path: str) -> str:
    return posixpath.basename(path.replace("\\", "/").rstrip("/"))
