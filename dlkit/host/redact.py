"""Redaction of a capture before it is shared (spec §1, "Redaction").

Placeholders are consistent (the same UUID always maps to the same placeholder) and keep
the value's shape, so parsers still read a redacted capture: MAC addresses map into the
documentation range 00:00:5e:00:53:xx (RFC 7042), IPv4 into 192.0.2.x (RFC 5737), IPv6
into 2001:db8::x (RFC 3849), UUIDs to zero UUIDs with a counter.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from collections import Counter
from dataclasses import replace
from typing import Any, Callable

from dlkit.host.capture import Capture

SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.I)
MAC = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}(?![0-9A-Fa-f:])")
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
HOME = re.compile(r"(/home/|/Users/|[A-Za-z]:\\Users\\|/var/home/)([^/\\\s\"':]+)")
SERIAL_TEXT = re.compile(r"(Serial Number\s*:\s*)(\S+)", re.I)
SERIAL_XML = re.compile(r"(<serial>)([^<]+)(</serial>)")
# Well-known, public GUIDs that name things rather than machines: the EFI global
# variable GUID is part of the SecureBoot variable's path and must stay as it is.
PUBLIC_GUIDS = {"8be4df61-93ca-11d2-aa0d-00e098032b8c"}
NOT_A_USER = {"root", "user", "runner", "ubuntu", "shared", "linuxbrew"}
# Default hostnames of distribution and cloud images are not identifying, and replacing
# them everywhere would rewrite the facts ("ID=ubuntu" in /etc/os-release, "nvidia" in
# /proc/modules).
GENERIC_HOSTNAMES = {"localhost", "localhost.localdomain", "(none)", "ubuntu", "debian", "fedora", "centos",
                     "rhel", "rocky", "almalinux", "arch", "archlinux", "manjaro", "opensuse", "kali",
                     "raspberrypi", "pop-os", "linux", "nvidia", "cuda", "gpu", "docker", "container"}


class Redactor:
    def __init__(self, hostnames: list[str] | tuple[str, ...] = ()) -> None:
        self.maps: dict[str, dict[str, str]] = {}
        self.counts: Counter[str] = Counter()
        names = {h.strip() for h in hostnames if h and len(h.strip()) >= 3}
        names |= {h.split(".")[0] for h in names if len(h.split(".")[0]) >= 3}
        names = {n for n in names if n.lower() not in GENERIC_HOSTNAMES}
        # Longest first so that a FQDN is replaced before its short name.
        self.hostnames = sorted(names, key=len, reverse=True)

    @classmethod
    def for_this_machine(cls) -> "Redactor":
        names = []
        try:
            names.append(socket.gethostname())
            names.append(socket.getfqdn())
        except OSError:
            pass
        return cls(names)

    def _placeholder(self, kind: str, original: str, make: Callable[[int], str]) -> str:
        table = self.maps.setdefault(kind, {})
        if original not in table:
            table[original] = make(len(table) + 1)
        self.counts[kind] += 1
        return table[original]

    # -------------------------------------------------------------- text

    def text(self, s: str) -> str:
        if not s:
            return s
        for name in self.hostnames:
            if name in s:
                s = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])",
                           lambda m: self._placeholder("hostname", m.group(0), lambda n: f"host-{n}"), s)
        s = HOME.sub(self._home, s)
        s = MAC.sub(lambda m: self._placeholder("mac", m.group(0).lower(), lambda n: f"00:00:5e:00:53:{n % 256:02x}"), s)
        s = UUID.sub(self._uuid, s)
        s = SERIAL_XML.sub(lambda m: m.group(1) + self._serial(m.group(2)) + m.group(3), s)
        s = SERIAL_TEXT.sub(lambda m: m.group(1) + self._serial(m.group(2)), s)
        s = IPV4.sub(self._ipv4, s)
        s = IPV6_CANDIDATE.sub(self._ipv6, s)
        return s

    def _home(self, m: re.Match) -> str:
        user = m.group(2)
        if user in NOT_A_USER or user.startswith("user-"):
            return m.group(0)
        return m.group(1) + self._placeholder("user", user, lambda n: f"user-{n}")

    def _uuid(self, m: re.Match) -> str:
        prefix, body = m.group(1) or "", m.group(2).lower()
        if body in PUBLIC_GUIDS or body.strip("0-") == "" or body.startswith("00000000-0000-0000-0000-"):
            return m.group(0)
        return prefix + self._placeholder("uuid", body, lambda n: f"00000000-0000-0000-0000-{n:012d}")

    def _serial(self, value: str) -> str:
        if value.upper() in ("N/A", "[N/A]", "NONE", "NOT SPECIFIED", "TO BE FILLED BY O.E.M."):
            return value
        return self._placeholder("serial", value, lambda n: f"REDACTED-SERIAL-{n}")

    def _ipv4(self, m: re.Match) -> str:
        try:
            ip = ipaddress.IPv4Address(m.group(1))
        except ValueError:
            return m.group(0)
        if ip.is_loopback or ip.is_unspecified or str(ip).startswith("192.0.2.") or ip.is_multicast:
            return m.group(0)
        line = m.string[max(0, m.start() - 120):m.start()].rsplit("\n", 1)[-1]
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

    # -------------------------------------------------------------- structures

    def json_value(self, value: Any) -> Any:
        return json.loads(self.text(json.dumps(value, ensure_ascii=False)))

    def environ(self, env: dict[str, str]) -> dict[str, str]:
        out = {}
        for name, value in env.items():
            if SECRET_NAME.search(name):
                self.counts["secret"] += 1
                out[name] = "REDACTED"
            else:
                out[name] = self.text(value)
        return out

    def redact_capture(self, cap: Capture) -> Capture:
        files = {self.text(p): self.text(d.decode("utf-8", "replace")).encode("utf-8") for p, d in cap.files.items()}
        commands = {}
        for argv, r in cap.commands.items():
            new_argv = tuple(self.text(a) for a in argv)
            commands[new_argv] = replace(r, argv=new_argv, stdout=self.text(r.stdout), stderr=self.text(r.stderr))
        return Capture(
            manifest=dict(cap.manifest),
            files=files,
            links={self.text(p): self.text(t) for p, t in cap.links.items()},
            dirs={self.text(d) for d in cap.dirs},
            commands=commands,
            python=self.json_value(cap.python) if cap.python is not None else None,
            environ=self.environ(cap.environ),
            live=self.json_value(cap.live),
            nvml=self.json_value(cap.nvml) if cap.nvml is not None else None,
        )

    def summary(self) -> dict[str, int]:
        """What was redacted: how many distinct values of each kind (never the values)."""
        out = {kind: len(table) for kind, table in sorted(self.maps.items())}
        if self.counts["secret"]:
            out["secret_env_values"] = self.counts["secret"]
        return out

