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
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, Callable

from dlkit.host.capture import Capture
from dlkit.host.redact_hardware import dotted_mac, guid_hex, hex_run, host_names, login_users
from dlkit.host.redact_rules import (
    AUTH_HEADER, DOMAIN_TAIL, GUID_HEX, HEX_RUNS, HOME,
    HOSTNAME_FILES, IDENTITY_ENV, IPV4, IPV6_CANDIDATE, KIND_LABELS, MAC_DOTTED,
    NOT_A_USER, PLACEHOLDER, PUBLIC_GUIDS, SECRET_ASSIGNMENT, SECRET_NAME, SERIAL_TEXT,
    SERIAL_XML, TILDE_USER, TOKEN_MARKERS, TOKEN_SHAPES, URL_CREDENTIALS, UUID,
    VERSION_CONTEXT, basename, foreign_elements, hosts_aliases, split_list, strings,
    sub, usable_hostname, usable_literal, usable_user, words_pattern,
)


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
                if usable_hostname(n) and not any(n.lower() == h.lower() for h in learned):
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
            if usable_user(name):
                learned.add(name)
        self.users = sorted(learned, key=lambda n: (-len(n), n))
        self._user_re = words_pattern(n for n in self.users if len(n) >= 3)
        # A two-letter name is replaced only as a whole path component (/scratch/al/x, ~al).
        short = [re.escape(n) for n in self.users if len(n) < 3]
        self._user_short_re = (re.compile(r"(?<=[/\\~])(?:" + "|".join(short) + r")(?=[/\\\s\"':]|$)")
                               if short else None)

    def remember(self, value: str, kind: str, key: str | None = None) -> None:
        """Replace ``value`` wherever it appears from now on (a secret learned somewhere)."""
        value = value.strip()
        if not usable_literal(value) or value in self.literals:
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
                for element in foreign_elements(name, value):
                    if not re.fullmatch(r"[a-z]{1,8}[0-9]{0,2}", element.strip()):  # "lib64": a path word, not a secret
                        self.remember(element, "env_list_values")
        users = [env.get(n) or "" for n in ("USER", "LOGNAME", "SUDO_USER", "USERNAME")]
        users += [basename(env.get(n) or "") for n in ("HOME", "USERPROFILE")]
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

        sub(URL_CREDENTIALS, url, s, ("://",))
        sub(SECRET_ASSIGNMENT, assignment, s, ("=",))

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
            for text in strings(value):
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
        r = cls(host_names(source), login_users())
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
        s = sub(TOKEN_SHAPES, lambda m: self._redacted("tokens", m.group(0)), s, TOKEN_MARKERS)
        s = sub(URL_CREDENTIALS, self._url, s, ("://",))
        s = sub(SECRET_ASSIGNMENT, self._assignment, s, ("=",))
        if "earer" in s or "EARER" in s:
            s = AUTH_HEADER.sub(lambda m: m.group(1) + m.group(2) + self._redacted("secret_assignments", m.group(3))
                                if m.group(3) != "REDACTED" else m.group(0), s)
        if self._host_re is not None:
            s = sub(self._host_re, lambda m: self._placeholder("hostname", m.group(0).lower(), lambda n: f"host-{n}"),
                     s, [h.lower() for h in self.hostnames], fold=True)
        if self._user_re is not None:
            s = sub(self._user_re, lambda m: self._user(m.group(0)), s, self.users)
        if self._user_short_re is not None:
            s = sub(self._user_short_re, lambda m: self._user(m.group(0)), s, self.users)
        s = sub(HOME, lambda m: m.group(1) + self._other_user(m.group(2)), s, ("home/", "Users"))
        s = sub(TILDE_USER, lambda m: "~" + self._other_user(m.group(1)), s, ("~",))
        s = sub(HEX_RUNS[0], lambda m: hex_run(m, self._placeholder), s, (":",))
        s = sub(HEX_RUNS[1], lambda m: hex_run(m, self._placeholder), s, ("-",))
        s = sub(MAC_DOTTED[0], lambda m: dotted_mac(m, self._placeholder), s, (".",))
        s = sub(MAC_DOTTED[1], lambda m: dotted_mac(m, self._placeholder), s, (":",))
        low = s.lower()
        if "guid" in low:
            s = GUID_HEX.sub(lambda m: guid_hex(m, self._placeholder), s)
        s = sub(UUID, self._uuid, s, ("-",))
        if "serial" in low:
            s = SERIAL_XML.sub(lambda m: m.group(1) + self._serial(m.group(2)) + m.group(3), s)
            s = SERIAL_TEXT.sub(lambda m: m.group(1) + self._serial(m.group(2)), s)
        s = sub(IPV4, lambda m: self._ipv4(m, before), s, (".",), context=120)
        s = sub(IPV6_CANDIDATE, self._ipv6, s, (":",))
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

    def env_value(self, name: str, value: str) -> str:
        """One variable's value, redacted (not a secret-named one: environ() blanks those)."""
        split = split_list(name, value)
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
