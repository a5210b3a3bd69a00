"""The host seam (see base.py). Only this package touches the machine."""

from dlkit.host.base import CommandResult, DirList, FileRead, Host
from dlkit.host.capture import Capture, CaptureError, load_capture
from dlkit.host.capture_write import check_target, write_capture
from dlkit.host.live import LiveHost
from dlkit.host.record import RecordingHost
from dlkit.host.redact import Redactor
from dlkit.host.replay import ReplayHost

__all__ = [
    "Capture", "CaptureError", "CommandResult", "DirList", "FileRead", "Host", "LiveHost",
    "RecordingHost", "Redactor", "ReplayHost", "check_target", "load_capture", "write_capture",
]
