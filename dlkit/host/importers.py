"""Importers: the reports people already paste into bug trackers, read as captures.

``dlkit doctor --from PATH`` takes a capture (spec §1), and also (same section) the text
of ``python -m torch.utils.collect_env`` and a bare ``nvidia-smi -q -x`` / ``nvidia-smi -q``
file. :func:`load_input` tells them apart by content (never by the file name) and turns the
pasted ones into an in-memory :class:`~dlkit.host.capture.Capture`, so that every probe
and check replays them exactly like a capture:

* a collect_env report becomes ``python.json`` (spec §3) plus the few commands and files
  collect_env itself read (``nvidia-smi -L``, the driver line of ``nvidia-smi``,
  ``nvcc --version``, ``lscpu``, ``/etc/os-release``), each only when the report printed
  a value for it. "Could not collect" means collect_env's command failed; such an entry is
  left out, and an absent command replays as "not-found".
* a bare nvidia-smi file becomes the one command that printed it.

Nothing is invented: a value the report does not show stays absent (or ``null`` in
python.json), and ``manifest.json``'s ``notes`` lists every synthesized entry.

Everything here is pure (standard library only) except :func:`load_input`, which reads
the one file it is given.
"""

from __future__ import annotations

import os
import re
import zlib

from dlkit.host.base import CommandResult
from dlkit.host.capture import FORMAT, MAX_CAPTURE_BYTES, VERSION, Capture, CaptureError, load_capture
from dlkit.host.safefile import FileRefused, loads_json, read_regular, size_text
from dlkit.host.collect_env import COLLECT_ENV_IMPORTER, import_collect_env, torch_cudnn_int

# A pasted report is a few kilobytes, an nvidia-smi -q -x of 8 GPUs under load well
# under a megabyte; anything past this is not one of them.
MAX_INPUT_BYTES = 64 * 1024 * 1024

NOT_AN_INPUT = "not a dlkit capture, collect_env report or nvidia-smi output"

NVIDIA_SMI_IMPORTER = "dlkit-import-nvidia-smi"

# ---------------------------------------------------------------- detection

_GZIP_MAGIC = b"\x1f\x8b"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_BZ2_MAGIC = re.compile(rb"BZh[1-9]1AY&SY")
_TAR_MAGIC_OFFSET = 257  # "ustar" (POSIX and GNU tar headers)

# nvidia-bug-report.sh's log holds an nvidia-smi -q among much else; importing only that
# part would diagnose from a fraction of the log, so such a log is refused by name.
_BUG_REPORT = "Start of NVIDIA bug report log file"
_NVSMI_XML_ROOT = re.compile(r"<nvidia_smi_log[\s>/]")
# nvidia-smi -q prints "==============NVSMI LOG==============" (14 "=" each side).
_NVSMI_TEXT_BANNER = re.compile(r"^[ \t]*=+[ \t]*NVSMI LOG[ \t]*=+[ \t]*$", re.M)

# Lines every collect_env version prints (2019's first format to today's). The issue
# template's hand-written "- PyTorch Version (e.g., 1.0):" bullets are not among them:
# matching is case-sensitive and at the start of a line.
_COLLECT_ENV_MARKERS = (
    "PyTorch version:", "Is debug build:", "CUDA used to build PyTorch:", "Is CUDA available:",
    "CUDA runtime version:", "GPU models and configuration:", "Nvidia driver version:",
    "cuDNN version:", "Versions of relevant libraries:",
)


def _is_tar(head: bytes) -> bool:
    return head[_TAR_MAGIC_OFFSET:_TAR_MAGIC_OFFSET + 5] == b"ustar"


def _gunzip_head(data: bytes, size: int = 1024) -> tuple[bytes, bool] | None:
    """The first ``size`` bytes a gzip stream holds and whether it ended there; None when
    the stream is too damaged to tell."""
    try:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return d.decompress(data[:65536], size), d.eof
    except zlib.error:
        return None


def _gzip_holds_tar(data: bytes) -> bool:
    """Whether a gzip stream starts with a tar header. A stream too damaged to tell is
    treated as an archive, so that the archive reader names the damage."""
    peek = _gunzip_head(data)
    if peek is None:
        return True
    head, ended = peek
    if len(head) < _TAR_MAGIC_OFFSET + 5:
        return not ended  # a short stream that ended is a small gzipped file, not a tar
    return _is_tar(head)


def _text_of(data: bytes) -> str:
    """Decode a pasted report. Windows PowerShell 5 writes ``cmd > file`` as UTF-16 LE
    with a BOM, Notepad adds a UTF-8 BOM; bytes that are not UTF-8 are replaced."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    head = data[:512]
    if len(head) >= 8 and head.count(b"\x00") * 3 >= len(head):
        # UTF-16 without a BOM: every other byte of ASCII text is zero.
        odd_zero = head[1::2].count(0) > head[0::2].count(0)
        return data.decode("utf-16-le" if odd_zero else "utf-16-be", errors="replace")
    return data.decode("utf-8", errors="replace")


def _looks_like_collect_env(text: str) -> bool:
    found = {m for m in _COLLECT_ENV_MARKERS if re.search(r"^[ \t]*" + re.escape(m), text, re.M)}
    return len(found) >= 3 and bool(found & {"PyTorch version:", "Is CUDA available:"})


def detect_kind(data: bytes) -> str | None:
    """What a file given to ``--from`` holds, judged by its content, never its name.

    Returns "capture-archive" (a gzip/xz/bzip2 or plain tar archive), "nvsmi-xml"
    (``nvidia-smi -q -x``: an ``<nvidia_smi_log>`` element, even truncated), "nvsmi-text"
    (``nvidia-smi -q``: the ``==============NVSMI LOG==============`` banner),
    "collect_env" (``python -m torch.utils.collect_env``, any version from 2019 on), or
    None.

    >>> detect_kind(b'<?xml version="1.0" ?>\\n<nvidia_smi_log>\\n<driver_version>550.54.14')
    'nvsmi-xml'
    >>> detect_kind(b"PyTorch version: 1.5.0\\nIs debug build: No\\nCUDA used to build PyTorch: 10.2\\n")
    'collect_env'
    >>> detect_kind(b"") is None
    True
    """
    if not data:
        return None
    if data.startswith(_GZIP_MAGIC):
        return "capture-archive" if _gzip_holds_tar(data) else None
    if data.startswith(_XZ_MAGIC) or _BZ2_MAGIC.match(data[:10]) or _is_tar(data[:512]):
        return "capture-archive"
    text = _text_of(data)
    if "\x00" in text[:4096] or _BUG_REPORT in text[:4096]:
        return None  # binary, or an nvidia-bug-report log
    xml = _NVSMI_XML_ROOT.search(text)
    banner = _NVSMI_TEXT_BANNER.search(text)
    if xml and (banner is None or xml.start() < banner.start()):
        return "nvsmi-xml"
    if banner:
        return "nvsmi-text"
    if _looks_like_collect_env(text):
        return "collect_env"
    return None


_DRIVER_MODEL_XML = re.compile(r"<current_dm>\s*(WDDM|TCC|MCDM)\s*</current_dm>")
_DRIVER_MODEL_TEXT = re.compile(r"Driver Model\s*\n\s*Current\s*:\s*(WDDM|TCC|MCDM)\b")
_PERSISTENCE_XML = re.compile(r"<persistence_mode>\s*(Enabled|Disabled)\s*</persistence_mode>")
_PERSISTENCE_TEXT = re.compile(r"^\s*Persistence Mode\s*:\s*(Enabled|Disabled)\b", re.M)
_POSIX_PROCESS_XML = re.compile(r"<process_name>\s*/")
_POSIX_PROCESS_TEXT = re.compile(r"^\s*Name\s*:\s*/", re.M)


def _nvsmi_platform(text: str, xml: bool) -> tuple[str, str]:
    """Windows' nvidia-smi reports the driver model (WDDM, TCC, MCDM); Linux's says N/A.

    WSL2's nvidia-smi also says WDDM (its driver is the Windows one: corpus sample
    wsl2-rtx-4090-x8-link-docker), but it reports persistence mode, which Windows leaves
    N/A, and its processes have POSIX paths ("/Xwayland"), where Windows' have "C:\\...".
    """
    dm = (_DRIVER_MODEL_XML if xml else _DRIVER_MODEL_TEXT).search(text)
    if not dm:
        return "linux", "no GPU uses a Windows driver model"
    persistence = (_PERSISTENCE_XML if xml else _PERSISTENCE_TEXT).search(text)
    posix = (_POSIX_PROCESS_XML if xml else _POSIX_PROCESS_TEXT).search(text)
    if persistence or posix:
        why = "persistence mode is reported" if persistence else "processes have POSIX paths"
        return "linux", f"driver model {dm.group(1)}, but {why}: WSL2"
    return "windows", f"driver model {dm.group(1)}"


def import_nvidia_smi(text: str, kind: str) -> Capture:
    """An in-memory capture holding one bare nvidia-smi output: ``nvidia-smi -q -x``
    ("nvsmi-xml") or ``nvidia-smi -q`` ("nvsmi-text"). Whether it parses is the nvidia-smi
    probe's to judge; a truncated XML is kept as it is.

    Sample (the first lines of a ``-q -x``)::

        <?xml version="1.0" ?>
        <!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v11.dtd">
        <nvidia_smi_log>
            <driver_version>516.59</driver_version>
            ... <driver_model><current_dm>WDDM</current_dm> ...
    """
    if kind not in ("nvsmi-xml", "nvsmi-text"):
        raise ValueError(f"import_nvidia_smi: kind must be nvsmi-xml or nvsmi-text, not {kind!r}")
    xml = kind == "nvsmi-xml"
    text = text.replace("\r\n", "\n")
    extra: list[str] = []
    # stdout holds only what nvidia-smi printed: a pasted shell prompt or error line
    # before it (or after the closing tag) would make the XML unparsable. Such text is
    # kept, as the command's stderr.
    if xml:
        root = _NVSMI_XML_ROOT.search(text)
        marks = (text.find("<?xml"), text.find("<!DOCTYPE nvidia_smi_log"), root.start() if root else -1)
        start = min((i for i in marks if i >= 0), default=0)
        close = text.rfind("</nvidia_smi_log>")
        end = len(text) if close < 0 else close + len("</nvidia_smi_log>")
        if close < 0:
            extra.append("the XML has no closing </nvidia_smi_log> (truncated?)")
        argv = ("nvidia-smi", "-q", "-x")
    else:
        banner = _NVSMI_TEXT_BANNER.search(text)
        start, end = (banner.start() if banner else 0), len(text)
        argv = ("nvidia-smi", "-q")
    before, after = text[:start], text[end:]
    if not before.strip():
        before, start = "", 0
    if not after.strip():
        after, end = "", len(text)
    stdout = text[start:end] + ("\n" if after else "")
    stderr = "\n".join(part.strip("\n") for part in (before, after) if part)
    if stderr:
        extra.append(f"{len(stderr)} characters around the output kept as its stderr")
    platform, why = _nvsmi_platform(stdout, xml)
    notes = (f"Imported from a bare `{' '.join(argv)}` output, not captured by dlkit. Platform {platform}: {why}. "
             f"Synthesized: command \"{' '.join(argv)}\" (the file as given, as its stdout"
             + ("; " + "; ".join(extra) if extra else "") + "). Everything else is absent.")
    manifest = {
        "format": FORMAT, "version": VERSION, "created": None, "dlkit_version": NVIDIA_SMI_IMPORTER,
        "platform": platform, "redacted": False, "notes": notes, "imported_from": kind,
    }
    return Capture(manifest=manifest, commands={argv: CommandResult(argv, 0, stdout, stderr, "ok")})


# ---------------------------------------------------------------- entry point


def _not_an_input(path: str, data: bytes, text: str) -> CaptureError:
    """The one-line refusal, with a hint when the file is something we recognise."""
    if not data.strip():
        return CaptureError(f"{path}: empty file; {NOT_AN_INPUT}")
    hint = ""
    if data.startswith(_GZIP_MAGIC):
        peek = _gunzip_head(data, 4096)
        if peek and _BUG_REPORT.encode() in peek[0]:
            hint = " (a gzipped nvidia-bug-report log, which dlkit does not read)"
        else:
            hint = " (a gzip file that holds no tar archive: decompress it first)"
    elif _BUG_REPORT in text[:4096]:
        hint = " (an nvidia-bug-report log, which dlkit does not read)"
    elif text.lstrip().startswith(("{", "[")):
        try:
            doc = loads_json(text, path)
        except FileRefused:
            doc = None
        if isinstance(doc, dict) and doc.get("format") == FORMAT:
            hint = " (this is a capture's manifest.json: pass the folder that holds it)"
        elif isinstance(doc, dict) and str(doc.get("schema", "")).startswith("dlkit.doctor"):
            hint = " (this is a dlkit doctor report, not a capture)"
        elif doc is not None:
            hint = " (a JSON file)"
    elif re.search(r"\|\s*NVIDIA-SMI \S+", text):
        hint = " (the nvidia-smi table; run `nvidia-smi -q -x > gpu.xml` and pass that)"
    return CaptureError(f"{path}: {NOT_AN_INPUT}{hint}")


def load_input(path: str) -> Capture:
    """Whatever ``dlkit doctor --from PATH`` was given, as a capture.

    A directory is a capture folder; a file is judged by its content (:func:`detect_kind`):
    a capture archive, a collect_env report, or a bare nvidia-smi file. Anything else
    raises :class:`CaptureError` with a one-line message naming the problem.
    """
    if not os.path.lexists(path):
        raise CaptureError(f"{path}: no such file or directory")
    if os.path.isdir(path):
        return load_capture(path)
    try:
        data = read_regular(path, MAX_CAPTURE_BYTES, path)
    except FileRefused as exc:
        raise CaptureError(str(exc)) from None
    kind = detect_kind(data)
    if kind == "capture-archive":
        return load_capture(path, data)
    if len(data) > MAX_INPUT_BYTES:
        raise CaptureError(f"{path}: {size_text(len(data))} is too large for a report (at most "
                           f"{size_text(MAX_INPUT_BYTES)}); {NOT_AN_INPUT}")
    text = _text_of(data)
    if kind is not None and "\x00" in text:
        raise CaptureError(f"{path}: holds NUL bytes; a pasted report is text")
    if kind == "collect_env":
        return import_collect_env(text)
    if kind in ("nvsmi-xml", "nvsmi-text"):
        return import_nvidia_smi(text, kind)
    raise _not_an_input(path, data, text)


__all__ = ["COLLECT_ENV_IMPORTER", "NVIDIA_SMI_IMPORTER", "detect_kind", "import_collect_env",
           "import_nvidia_smi", "load_input", "torch_cudnn_int"]
