"""Shared fixtures: the real-machine corpus (read at run time from ../shared/corpus, never
copied here) and hand-built captures."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from dlkit.host import Capture, CommandResult, ReplayHost

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"


def corpus_samples() -> list[str]:
    """Every sample folder name (empty when the corpus is absent)."""
    if not CORPUS.is_dir():
        return []
    return sorted(p.name for p in CORPUS.iterdir() if (p / "expected.json").is_file())


def _raw2capture():
    path = SHARED / "tools" / "raw2capture.py"
    if "raw2capture" in sys.modules:
        return sys.modules["raw2capture"]
    spec = importlib.util.spec_from_file_location("raw2capture", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["raw2capture"] = module  # its dataclasses look the module up here
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def corpus_capture(tmp_path_factory):
    """corpus_capture("sample-name") -> Path of that sample converted by raw2capture."""
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent")
    made: dict[str, Path] = {}

    def make(sample: str) -> Path:
        if sample not in made:
            out = tmp_path_factory.mktemp("cap") / sample
            rc = _raw2capture().run_convert(CORPUS / sample, out, False, "idle", None)
            assert rc == 0, f"raw2capture failed on {sample}"
            made[sample] = out
        return made[sample]

    return make


@pytest.fixture
def corpus_file():
    """corpus_file("sample", "file") -> text of a raw corpus file (skips when absent)."""
    def read(sample: str, name: str) -> str:
        path = CORPUS / sample / name
        if not path.is_file():
            pytest.skip(f"{path} is absent")
        return path.read_text(encoding="utf-8", errors="replace")

    return read


def fake_host(files: dict[str, str] | None = None, commands: dict[tuple, str | CommandResult] | None = None,
              links: dict[str, str] | None = None, dirs: set[str] | None = None, platform: str = "linux",
              environ: dict[str, str] | None = None, live: dict | None = None, python: dict | None = None) -> ReplayHost:
    """A ReplayHost over a capture built in the test: the scripted fake of every probe test."""
    cmds = {}
    for argv, out in (commands or {}).items():
        cmds[tuple(argv)] = out if isinstance(out, CommandResult) else CommandResult(tuple(argv), 0, out, "", "ok")
    cap = Capture(
        manifest={"format": "dlkit-capture", "version": 1, "created": "2026-01-01T00:00:00Z",
                  "dlkit_version": "test", "platform": platform, "redacted": False, "notes": ""},
        files={p: t.encode() for p, t in (files or {}).items()},
        links=dict(links or {}), dirs=set(dirs or ()), commands=cmds,
        environ=dict(environ or {}), live=dict(live or {}), python=python,
    )
    return ReplayHost(cap, description="test fake")


@pytest.fixture(autouse=True)
def _no_user_price_cache(tmp_path_factory, monkeypatch):
    """`dlkit cloud-cost refresh` writes a cache that cloud-cost then reads: no test may see
    the developer's own (DLKIT_CACHE_DIR wins over platformdirs' user cache)."""
    monkeypatch.setenv("DLKIT_CACHE_DIR", str(tmp_path_factory.mktemp("dlkit-cache")))
