"""``dlkit doctor --capture PATH --force`` replaces a file, or a folder that is itself a dlkit
capture, and nothing else (issue 11: ``--capture . --force`` in a project deleted it).
Everything else is refused with one line, exit code 2, and every byte left as it was."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dlkit.cli import app
from dlkit.host import CaptureError, load_capture, write_capture
from dlkit.host import capture_write as capture_module
from test_golden import part1_capture

REPO = Path(__file__).resolve().parents[1]


def tree(path: Path) -> dict[str, str]:
    """Every entry under ``path`` (links not followed) with its content hash or link target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            rel = str(full.relative_to(path))
            if full.is_symlink():
                out[rel] = "-> " + os.readlink(full)
            elif full.is_file():
                out[rel] = hashlib.sha256(full.read_bytes()).hexdigest()
            else:
                out[rel] = "dir"
    return out


def doctor_capture(dest: str, *extra: str, cwd: Path | None = None):
    if cwd is not None:  # the current folder matters: a real child
        return subprocess.run([sys.executable, "-m", "dlkit", "doctor", "--capture", dest, "--force", *extra],
                              capture_output=True, text=True, cwd=cwd, timeout=60)
    return CliRunner().invoke(app, ["doctor", "--capture", dest, "--force", *extra])


def assert_refused(result, why: str) -> None:
    code = getattr(result, "exit_code", getattr(result, "returncode", None))
    assert code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dlkit: error: "), result.stderr
    assert why in lines[0] and "--force replaces only a file or a dlkit capture folder" in lines[0], lines[0]


@pytest.fixture()
def project(tmp_path) -> Path:
    root = tmp_path / "myproject"
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.py").write_text("print('my work')\n")
    (root / "README.md").write_text("# mine\n")
    return root


def test_a_folder_of_files_is_never_replaced(project):
    before = tree(project)
    assert_refused(doctor_capture(str(project)), "is a folder that is not a dlkit capture")
    assert tree(project) == before


def test_the_current_folder_is_never_replaced(project):
    before = tree(project)
    assert_refused(doctor_capture(".", cwd=project), "is the current folder or holds it")
    assert tree(project) == before


def test_a_throwaway_home_is_never_replaced(tmp_path):
    home = tmp_path / "home" / "someone"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("secret\n")
    (home / "notes.txt").write_text("notes\n")
    before = tree(home)
    result = subprocess.run([sys.executable, "-m", "dlkit", "doctor", "--capture", str(home), "--force"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60, env={**os.environ, "HOME": str(home)})
    assert_refused(result, "is a folder that is not a dlkit capture")
    assert tree(home) == before


def test_the_root_folder_is_never_replaced():
    assert_refused(doctor_capture("/"), "is the current folder or holds it")


def test_a_symlink_to_a_folder_is_never_replaced(project, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(project)
    before = tree(project)
    assert_refused(doctor_capture(str(link)), "is a symbolic link")
    assert link.is_symlink() and os.readlink(link) == str(project)
    assert tree(project) == before


def test_a_symlink_to_a_file_is_never_replaced(tmp_path):
    (tmp_path / "precious.txt").write_text("keep\n")
    (tmp_path / "x.tar.gz").symlink_to(tmp_path / "precious.txt")
    assert_refused(doctor_capture(str(tmp_path / "x.tar.gz")), "is a symbolic link")
    assert (tmp_path / "precious.txt").read_text() == "keep\n"


def test_a_fifo_is_never_replaced(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    assert_refused(doctor_capture(str(tmp_path / "pipe")), "is a FIFO")
    assert (tmp_path / "pipe").is_fifo()


def test_a_capture_folder_holding_other_files_is_never_replaced(tmp_path):
    dest = tmp_path / "cap"
    write_capture(part1_capture(), str(dest))
    (dest / "my-notes.txt").write_text("mine\n")
    before = tree(dest)
    assert_refused(doctor_capture(str(dest)), "also holds my-notes.txt")
    assert tree(dest) == before


def test_a_folder_whose_manifest_is_not_dlkit_s_is_never_replaced(tmp_path):
    dest = tmp_path / "cap"
    dest.mkdir()
    (dest / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    assert_refused(doctor_capture(str(dest)), "its manifest.json is not dlkit's")


@pytest.mark.parametrize("name", ["old-capture", "old-capture.tar.gz"])
def test_an_earlier_capture_is_replaced(tmp_path, name):
    dest = tmp_path / name
    write_capture(part1_capture(), str(dest))
    result = doctor_capture(str(dest), "--json")
    assert result.exit_code in (0, 1, 2) and json.loads(result.stdout)["schema"] == "dlkit.doctor/1"
    cap = load_capture(str(dest))
    assert cap.manifest["format"] == "dlkit-capture" and "/proc/cpuinfo" in cap.files
    assert cap.files != part1_capture().files  # this machine's, not the old one's
    assert sorted(os.listdir(tmp_path)) == [name]  # no staging leftovers


def test_a_regular_file_is_replaced(tmp_path):
    dest = tmp_path / "x.tar.gz"
    dest.write_text("an old file\n")
    assert doctor_capture(str(dest), "--json").exit_code in (0, 1, 2)
    assert load_capture(str(dest)).manifest["format"] == "dlkit-capture"


@pytest.mark.parametrize("name", ["cap", "cap.tar.gz"])
def test_a_full_disk_leaves_the_old_capture_and_no_temporary_files(tmp_path, monkeypatch, name):
    dest = tmp_path / name
    write_capture(part1_capture(), str(dest))
    before = tree(tmp_path)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(capture_module, "_write_tree", full)
    with pytest.raises(OSError, match="No space left"):
        write_capture(part1_capture(), str(dest), force=True)
    assert tree(tmp_path) == before


def test_a_failed_rename_puts_the_old_capture_back(tmp_path, monkeypatch):
    dest = tmp_path / "cap"
    write_capture(part1_capture(), str(dest))
    before = tree(tmp_path)
    real_replace = os.replace

    def flaky(src, dst):
        if str(dst) == str(dest) and "replaced" not in str(src):
            raise OSError(errno.EIO, "Input/output error")
        return real_replace(src, dst)
    monkeypatch.setattr(capture_module.os, "replace", flaky)
    with pytest.raises(OSError):
        write_capture(part1_capture(), str(dest), force=True)
    assert tree(tmp_path) == before


def test_the_target_is_checked_again_just_before_it_is_replaced(tmp_path):
    """The probes take seconds; a folder that became something else meanwhile is still refused."""
    dest = tmp_path / "cap"
    write_capture(part1_capture(), str(dest))
    capture_module.check_target(str(dest), force=True)  # what the CLI checks first: fine
    (dest / "added-later.txt").write_text("mine\n")
    with pytest.raises(CaptureError, match="also holds added-later.txt"):
        write_capture(part1_capture(), str(dest), force=True)
    assert (dest / "added-later.txt").read_text() == "mine\n"
