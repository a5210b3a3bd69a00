"""The kernel log: NVRM Xid errors and the NVIDIA / nouveau messages worth showing.

Canonical sources (spec §1): this boot from command ``["dmesg"]``; earlier boots from
``/var/log/kern.log``, ``/var/log/messages`` and commands ``["journalctl", "-b", "-1"]``,
``["journalctl", "-b", "-2"]`` (as nvidia-bug-report runs them). When dmesg is refused
(``kernel.dmesg_restrict``: "dmesg: read kernel buffer failed: Operation not permitted")
this boot comes from ``["journalctl", "-k", "-b", "0", "--no-pager"]``, then from
``["journalctl", "-b", "-0"]`` (nvidia-bug-report's own form, present in its captures).

Check by hand: ``sudo dmesg | grep -E 'NVRM|nouveau'``; earlier boots:
``journalctl -k -b -1 | grep NVRM``, ``grep NVRM /var/log/kern.log``.

Which boot a line belongs to matters (spec: ``gpu.xid`` is a warning for this boot, info
for earlier boots; ``driver.library-mismatch`` needs this boot's evidence). kern.log and
messages hold this boot too, so a file line counts as *current* when dmesg holds the same
line (same monotonic timestamp and text; text alone when either side has no timestamp),
and so does the rest of the file's last boot segment once one of its lines matched
(dmesg's ring buffer may have dropped the older lines of a long boot). Every other file
line is *previous*. Without a readable current-boot source, file lines count as previous
(the conservative side: info, not warning).

``nvrm_messages`` and ``nouveau_messages`` are ``"<source>: <line as printed>"``; the
source says the boot, and :func:`message_boot` reads it back.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from dlkit.facts import KernelLogFacts, XidEvent
from dlkit.host import Host
from dlkit.host.base import StopAfterTimeout
from dlkit.probes.busid import normalize_bus_id

DMESG = ("dmesg",)
CURRENT_FALLBACKS = (("journalctl", "-k", "-b", "0", "--no-pager"), ("journalctl", "-b", "-0"))
EARLIER_COMMANDS = (("journalctl", "-b", "-1"), ("journalctl", "-b", "-2"))
EARLIER_FILES = ("/var/log/kern.log", "/var/log/messages")
# dmesg can run to megabytes; keep the newest of what matches.
MAX_XIDS = 200
MAX_MESSAGES = 200
THIS_BOOT = " (this boot)"
# labels whose lines are this boot (plus any label ending in THIS_BOOT)
CURRENT_LABELS = frozenset({"dmesg", "journalctl -k -b 0 --no-pager", "journalctl -b -0", "journalctl -b 0",
                            "journalctl -b", "journalctl -k -b 0", "journalctl -k -b -0", "journalctl -k -b"})

# "<4>" (dmesg -r), syslog / journalctl short and ISO prefixes up to "kernel:",
# dmesg --decode "kern  :err   : ", then the monotonic "[   22.636732]" or dmesg -T "[Sat Sep 13 ...]".
_LEVEL_RE = re.compile(r"^<\d+>")
# (journalctl prints month names in the user's locale: "9月 23 11:42:40", "août 25 18:29:59")
_SYSLOG_RE = re.compile(r"^[^\[]{0,40}?\d\d:\d\d:\d\d\S*\s+\S+\s+kernel(?:\[\d+\])?:\s?")
_DECODE_RE = re.compile(r"^[a-z]+\s*:[a-z]+\s*:\s")
_TS_RE = re.compile(r"^\[\s*(\d+\.\d+)\]\s?")
_HUMAN_TS_RE = re.compile(r"^\[[A-Z][a-z]{2} [^\]]*\d\]\s?")
_KERNEL_RE = re.compile(r"^kernel:\s?")

XID_RE = re.compile(
    r"NVRM: Xid \((?:PCI:)?(?P<bus>(?:[0-9a-fA-F]{1,8}:)?[0-9a-fA-F]{1,2}:[0-9a-fA-F]{1,2}(?:\.[0-7])?)"
    r"[^)]*\):\s*(?P<xid>\d+)")
# NVRM (and related kernel) lines worth showing: each names a failure mode
# (failure-modes.md F03 mismatch, F08 nouveau, F09 Secure Boot, F17 fallen off the bus).
WORTH_SHOWING = (
    "API mismatch",
    "probe routine was not called",
    "No NVIDIA devices probed",
    "No NVIDIA GPU found",
    "Version mismatch",  # nvidia-modeset / nvidia-drm against nvidia.ko
    "RmInitAdapter failed",
    "rm_init_adapter failed",
    "has fallen off the bus",
    "loading NVIDIA UNIX",
    "installed in this system is not supported",
    "PCI I/O region assigned to your NVIDIA device is invalid",
    "Key was rejected by service",
    "module with unavailable key is rejected",
    "unsigned module loading is restricted",
)
_NOUVEAU_RE = re.compile(r"^(?:\[drm\] (?:Initialized )?)?nouveau\b")
# the header lines of nvidia-bug-report's "kernel messages" section, when such a block
# reaches us as the dmesg output (a converted bug report without a separate dmesg).
_BUG_REPORT_HEADER_RE = re.compile(r"^  (/var/log/[^\s:]+|journalctl(?: -[-\w]+)*):$")


# ---------------------------------------------------------------- pure parsers


def split_line(line: str) -> tuple[float | None, str]:
    """(monotonic timestamp, message) of one kernel log line, whatever printed it.

    >>> split_line("[   22.636732] NVRM: GPU 0000:0f:00.0: GPU has fallen off the bus.")
    (22.636732, 'NVRM: GPU 0000:0f:00.0: GPU has fallen off the bus.')
    >>> split_line("Sep 13 09:44:22 red1 kernel: [   22.636732] NVRM: GPU 0000:0f:00.0: GPU has fallen off the bus.")
    (22.636732, 'NVRM: GPU 0000:0f:00.0: GPU has fallen off the bus.')
    >>> split_line("Sep 13 09:44:22 red1 kernel: NVRM: loading NVIDIA UNIX x86_64 Kernel Module  535.230.02")
    (None, 'NVRM: loading NVIDIA UNIX x86_64 Kernel Module  535.230.02')
    >>> split_line("9月 23 11:42:40 lynmax-pc kernel: NVRM: loading NVIDIA UNIX x86_64 Kernel Module  430.40")
    (None, 'NVRM: loading NVIDIA UNIX x86_64 Kernel Module  430.40')
    >>> split_line("2025-09-13T09:44:22.123456+00:00 red1 kernel: [   22.636732] NVRM: Xid (PCI:0000:0f:00): 79")
    (22.636732, 'NVRM: Xid (PCI:0000:0f:00): 79')
    >>> split_line("[   22.636732] kernel: NVRM: Xid (PCI:0000:0f:00): 79")
    (22.636732, 'NVRM: Xid (PCI:0000:0f:00): 79')
    """
    rest = _LEVEL_RE.sub("", line, count=1)
    rest = _SYSLOG_RE.sub("", rest, count=1)
    rest = _DECODE_RE.sub("", rest, count=1)
    ts = None
    m = _TS_RE.match(rest)
    if m:
        ts = float(m.group(1))
        rest = rest[m.end():]
    else:
        rest = _HUMAN_TS_RE.sub("", rest, count=1)
    rest = _KERNEL_RE.sub("", rest, count=1)
    return ts, rest.strip()


def parse_xid(line: str) -> tuple[int, str | None] | None:
    """(Xid, bus id) of an NVRM Xid line, any of the formats drivers have printed.

    >>> parse_xid("[   22.636732] NVRM: Xid (PCI:0000:0f:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.")
    (79, '0000:0f:00.0')
    >>> parse_xid("Jul 23 13:42:46 srini-Precision-7530 kernel: [ 4015.437442] NVRM: Xid (PCI:0000:01:00): 31, pid=7034, Ch 00000002, intr 10000000. MMU Fault: ENGINE HOST6 HUBCLIENT_HOST fault")
    (31, '0000:01:00.0')
    >>> parse_xid("NVRM: Xid (0000:02:00): 13, 0008 00000000 0000a097 00001b0c 00000000 00000000")
    (13, '0000:02:00.0')
    >>> parse_xid("NVRM: Xid (PCI:0000:b1:00 GPU-I:05): 31, pid=2271, name=python3, Ch 00000008")
    (31, '0000:b1:00.0')
    >>> parse_xid("NVRM: GPU at PCI:0000:0f:00: GPU-9f182a9c-de64-01de-bcec-841bd0a6728a") is None
    True
    """
    m = XID_RE.search(line)
    if not m:
        return None
    return int(m.group("xid")), normalize_bus_id(m.group("bus"))


def classify(body: str) -> str | None:
    """"xid", "nvrm" (worth showing), "nouveau" or None for a message (from :func:`split_line`).

    >>> classify("NVRM: API mismatch: the client has the version 418.152.00, but")
    'nvrm'
    >>> classify("nvidia-modeset: Version mismatch: nvidia.ko(418.152.00) nvidia-modeset.ko(430.64)")
    'nvrm'
    >>> classify("nouveau 0000:04:00.0: unknown chipset (132000a1)"), classify("nouveau: probe of 0000:04:00.0 failed with error -12")
    ('nouveau', 'nouveau')
    >>> classify("NVRM: Xid (PCI:0000:0f:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.")
    'xid'
    >>> classify("nvidia-uvm: Loaded the UVM driver, major device number 508."), classify("")
    (None, None)
    """
    if "Xid" in body and XID_RE.search(body):
        return "xid"
    if any(s in body for s in WORTH_SHOWING):
        return "nvrm"
    if "nouveau" in body and _NOUVEAU_RE.match(body):
        return "nouveau"
    return None


def split_bug_report_sections(text: str, label: str) -> list[tuple[str, str]]:
    """nvidia-bug-report's kernel-message block -> [(label, text)]; other text is one section.

    >>> split_bug_report_sections("  /var/log/kern.log:\\nSep 8 a\\n  journalctl -b -0:\\nSep 13 b\\n", "dmesg")
    [('/var/log/kern.log', 'Sep 8 a'), ('journalctl -b -0', 'Sep 13 b\\n')]
    >>> split_bug_report_sections("[    1.0] x\\n", "dmesg")
    [('dmesg', '[    1.0] x\\n')]
    """
    if "  /var/log/" not in text and "  journalctl" not in text:
        return [(label, text)]
    sections: list[tuple[str, list[str]]] = [(label, [])]
    for line in text.split("\n"):
        m = _BUG_REPORT_HEADER_RE.match(line)
        if m:
            sections.append((m.group(1), []))
        else:
            sections[-1][1].append(line)
    return [(name, "\n".join(lines)) for name, lines in sections if any(s.strip() for s in lines)]


def message_boot(message: str) -> str:
    """"current" or "previous" for an entry of ``nvrm_messages`` / ``nouveau_messages``.

    >>> message_boot("dmesg: [    2.864296] nvidia-modeset: Version mismatch: nvidia.ko(418.152.00) nvidia-modeset.ko(430.64)")
    'current'
    >>> message_boot("/var/log/kern.log (this boot): Sep 13 09:44:22 red1 kernel: [   22.636736] NVRM: GPU 0000:0f:00.0: GPU has fallen off the bus.")
    'current'
    >>> message_boot("/var/log/kern.log: Jul 23 15:05:42 host kernel: [  249.289479] NVRM: API mismatch: the client has the version 418.152.00, but")
    'previous'
    """
    label = message.split(": ", 1)[0]
    return "current" if label in CURRENT_LABELS or label.endswith(THIS_BOOT) else "previous"


def label_boot(label: str) -> str | None:
    """The boot a source label names: "current", "previous", or None for a log file.

    >>> label_boot("dmesg"), label_boot("journalctl -b -1"), label_boot("/var/log/kern.log")
    ('current', 'previous', None)
    """
    if label.startswith("/"):
        return None
    if label in CURRENT_LABELS:
        return "current"
    return "previous"


# ---------------------------------------------------------------- assembling


@dataclass(frozen=True)
class _Line:
    ts: float | None
    body: str
    raw: str


@dataclass(frozen=True)
class _Hit:
    kind: str  # xid | nvrm | nouveau
    boot: str  # current | previous
    body: str
    raw: str
    label: str  # the source, as shown in messages
    ts: float | None = None  # monotonic seconds since this hit's boot


def _lines(text: str, keep_all: bool) -> list[_Line]:
    """Split a log; unless keep_all, only lines that might matter are split (dmesg is big)."""
    out = []
    for raw in text.splitlines():
        if not keep_all and "NVRM" not in raw and "nouveau" not in raw and "nvidia" not in raw \
                and "key" not in raw.lower():
            continue
        ts, body = split_line(raw)
        if body:
            out.append(_Line(ts, body, raw.rstrip()))
    return out


def _hits(lines: list[_Line], boots: list[str], label: str) -> list[_Hit]:
    """Classified lines; an "API mismatch" line is joined with its continuation, which
    names the kernel module's version (the driver prints the message over four lines)."""
    out = []
    for i, (line, boot) in enumerate(zip(lines, boots)):
        kind = classify(line.body)
        if kind is None:
            continue
        body, raw = line.body, line.raw
        if "API mismatch" in body and i + 1 < len(lines):
            nxt = lines[i + 1].body
            if nxt.startswith("NVRM: this kernel module has the version"):
                extra = nxt[len("NVRM: "):]
                body, raw = f"{body} {extra}", f"{raw} {extra}"
        shown = label + THIS_BOOT if boot == "current" and label_boot(label) is None else label
        out.append(_Hit(kind, boot, body, raw, shown, line.ts))
    return out


def _segments(lines: list[_Line]) -> list[int]:
    """Boot segment index per line: a new boot where the monotonic clock goes backwards
    or the kernel prints its banner."""
    seg, last, out = 0, None, []
    for line in lines:
        if line.body.startswith("Linux version ") or (line.ts is not None and last is not None and line.ts < last):
            seg += 1
        if line.ts is not None:
            last = line.ts
        out.append(seg)
    return out


def _file_boots(lines: list[_Line], cur_keys: set[tuple[float, str]], cur_bodies: Counter,
                cur_has_ts: bool, have_current: bool) -> list[str]:
    if not have_current:
        return ["previous"] * len(lines)
    segs = _segments(lines)
    last_seg = segs[-1] if segs else 0
    # the file's last boot is this one when it shares a line (timestamp and text) with dmesg
    promote = cur_has_ts and any(
        s == last_seg and line.ts is not None and (line.ts, line.body) in cur_keys for line, s in zip(lines, segs))
    boots = ["previous"] * len(lines)
    # Text alone (one side has no timestamp): a message matches at most as often as this
    # boot's log holds it, newest file lines first, so that an old boot's identical
    # message is not promoted with it.
    left = Counter(cur_bodies)
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if promote and segs[i] == last_seg:
            boots[i] = "current"
        elif line.ts is not None and cur_has_ts:
            if (line.ts, line.body) in cur_keys:
                boots[i] = "current"
        elif left[line.body] > 0:
            left[line.body] -= 1
            boots[i] = "current"
    return boots


def _merge(groups: list[list[_Hit]]) -> list[_Hit]:
    """One boot's events seen by several sources (kern.log and journalctl -b -1 hold the
    same lines) are counted once: per (boot, kind, message) the source that holds it most
    often wins, the first such source on a tie."""
    counts = [Counter((h.boot, h.kind, h.body) for h in g) for g in groups]
    winner: dict[tuple[str, str, str], int] = {}
    for i, c in enumerate(counts):
        for key, n in c.items():
            if key not in winner or n > counts[winner[key]][key]:
                winner[key] = i
    return [h for i, g in enumerate(groups) for h in g if winner[(h.boot, h.kind, h.body)] == i]


def _unique_messages(hits: list[_Hit]) -> list[str]:
    """Each distinct message once per boot (its newest occurrence), previous boots first."""
    last: dict[tuple[str, str], _Hit] = {}
    for h in hits:
        key = (h.boot, h.body)
        last.pop(key, None)
        last[key] = h
    ordered = [h for h in last.values() if h.boot == "previous"] + [h for h in last.values() if h.boot == "current"]
    return [f"{h.label}: {h.raw}" for h in ordered][-MAX_MESSAGES:]


def collect(host: Host) -> KernelLogFacts:
    host = StopAfterTimeout(host)  # one hung command must not overrun the probe's bound
    unknown: dict[str, str] = {}
    sources: list[str] = []

    # ---- this boot
    current_text: str | None = None
    current_label = "dmesg"
    why_not = []
    for argv in (DMESG, *CURRENT_FALLBACKS):
        r = host.run(list(argv))
        if r.ok and not _journal_refused(r.stdout, r.stderr):
            current_text, current_label = r.stdout, " ".join(argv)
            break
        why_not.append(r.why() if not r.ok else f"`{' '.join(argv)}`: no entries readable (insufficient permissions)")
    if current_text is None:
        unknown["current_boot"] = "; ".join(why_not) + " (file lines are counted as earlier boots)"

    # A converted nvidia-bug-report may hand its whole kernel-message block over as dmesg.
    sections = split_bug_report_sections(current_text, current_label) if current_text is not None else []
    current_sections = [(lab, txt) for lab, txt in sections if label_boot(lab) == "current"]
    other_sections = [(lab, txt) for lab, txt in sections if label_boot(lab) != "current"]
    have_current = bool(current_sections)

    current_groups: list[list[_Hit]] = []
    cur_keys: set[tuple[float, str]] = set()
    cur_bodies: Counter = Counter()
    cur_has_ts = False
    for lab, txt in current_sections:
        lines = _lines(txt, keep_all=False)
        for line in lines:
            cur_bodies[line.body] += 1
            if line.ts is not None:
                cur_keys.add((line.ts, line.body))
                cur_has_ts = True
        current_groups.append(_hits(lines, ["current"] * len(lines), lab))
        sources.append(lab)

    # ---- files (this boot and earlier ones)
    file_groups: list[list[_Hit]] = []
    file_inputs: list[tuple[str, str]] = []
    for path in EARLIER_FILES:
        r = host.read_text(path)
        if r.text is None:
            if r.error != "missing":
                unknown[path] = r.error or "unreadable"
            continue
        if r.truncated:
            unknown[path] = "only the first 4 MiB were read; its newest lines are missing"
        file_inputs.append((path, r.text))
    file_inputs += [(lab, txt) for lab, txt in other_sections if label_boot(lab) is None]
    for lab, txt in file_inputs:
        # every line takes part in the boot segmentation, only the relevant ones are kept
        lines = _lines(txt, keep_all=True)
        boots = _file_boots(lines, cur_keys, cur_bodies, cur_has_ts, have_current)
        file_groups.append(_hits(lines, boots, lab))
        sources.append(lab)

    # ---- journal of earlier boots
    journal_hits: list[_Hit] = []
    for argv in EARLIER_COMMANDS:
        r = host.run(list(argv))
        if r.ok and not _journal_refused(r.stdout, r.stderr):
            lines = _lines(r.stdout, keep_all=False)
            journal_hits += _hits(lines, ["previous"] * len(lines), " ".join(argv))
            sources.append(" ".join(argv))
    for lab, txt in other_sections:
        if label_boot(lab) == "previous":
            lines = _lines(txt, keep_all=False)
            journal_hits += _hits(lines, ["previous"] * len(lines), lab)
            sources.append(lab)
    if not file_groups and not any(label_boot(s) == "previous" for s in sources):
        unknown["earlier_boots"] = "no /var/log/kern.log, /var/log/messages or journal of earlier boots"

    merged = _merge(current_groups + file_groups + [journal_hits])
    previous = [h for h in merged if h.boot == "previous"]
    current = [h for h in merged if h.boot == "current"]
    if all(h.ts is not None for h in current):
        # dmesg and this boot's part of kern.log share one clock: interleave them in time
        current.sort(key=lambda h: h.ts)
    ordered = previous + current

    xids = []
    for h in ordered:
        if h.kind == "xid":
            parsed = parse_xid(h.body)
            if parsed:
                xids.append(XidEvent(xid=parsed[0], pci_bus_id=parsed[1], line=h.raw, boot=h.boot))
    return KernelLogFacts(
        xids=tuple(xids[-MAX_XIDS:]),
        nvrm_messages=tuple(_unique_messages([h for h in ordered if h.kind == "nvrm"])),
        nouveau_messages=tuple(_unique_messages([h for h in ordered if h.kind == "nouveau"])),
        sources=tuple(dict.fromkeys(sources)),
        unknown=unknown,
    )


def _journal_refused(stdout: str, stderr: str) -> bool:
    """journalctl run by a user outside systemd-journal/adm exits 0 with no kernel lines.

    >>> _journal_refused("-- No entries --\\n", "Hint: You are currently not seeing messages from other users and the system.")
    True
    >>> _journal_refused("[    1.0] x\\n", "")
    False
    """
    text = stdout.strip()
    if text and text != "-- No entries --":
        return False
    err = stderr.lower()
    return "insufficient permissions" in err or "not seeing messages" in err
