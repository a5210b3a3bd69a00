"""CUDA toolkits, the host compiler nvcc would use, and cuDNN installs.

Canonical sources (spec §1): command ``["nvcc", "--version"]``;
``/usr/local/cuda*/version.json`` (CUDA 11.1+) or ``version.txt`` (up to 11.0); cuDNN
headers ``/usr/include/cudnn_version.h``, ``/usr/include/*/cudnn_version*.h`` and
``/usr/local/cuda*/include/cudnn_version.h``. Also read: ``["gcc", "--version"]``,
``["ldconfig", "-p"]`` (the cuDNN the loader finds) and the directories of
``LD_LIBRARY_PATH``.

Check by hand: ``nvcc --version; ls -l /usr/local | grep cuda;
cat /usr/local/cuda/version.json; gcc --version; ldconfig -p | grep libcudnn;
grep -h 'define CUDNN_\\(MAJOR\\|MINOR\\|PATCHLEVEL\\)' /usr/include/cudnn_version*.h``.

Cheap by design: one listing of ``/usr/local`` and ``/usr/include`` (plus its multiarch
sub-directories, where Debian's cuDNN packages put ``cudnn_version_v9.h``), a handful of
small files, no recursive walk.
"""

from __future__ import annotations

import json
import posixpath
import re

from dlkit.facts import CudaFacts, CudaToolkit, CudnnInstall
from dlkit.host import Host
from dlkit.host.base import StopAfterTimeout

LOCAL = "/usr/local"
INCLUDE = "/usr/include"
TOOLKIT_DIR_RE = re.compile(r"^cuda(?:-\d+(?:\.\d+)*)?$")
LIBCUDNN_RE = re.compile(r"^libcudnn\.so\.(\d+(?:\.\d+)*)$")
# At most this many LD_LIBRARY_PATH entries are listed (a runaway PATH-like value is not a
# reason to list hundreds of directories).
MAX_LD_DIRS = 16
MAX_LINK_HOPS = 4


# ---------------------------------------------------------------- pure parsers


def major_minor(version: str | None) -> str | None:
    """Major.minor of a dotted version.

    >>> major_minor("12.8.93"), major_minor("10.2"), major_minor("12"), major_minor(None)
    ('12.8', '10.2', None, None)
    """
    m = re.match(r"^(\d+)\.(\d+)", version or "")
    return f"{m.group(1)}.{m.group(2)}" if m else None


def parse_nvcc_version(text: str) -> tuple[str, str | None] | None:
    """(release, full version) from ``nvcc --version``.

    >>> parse_nvcc_version('''nvcc: NVIDIA (R) Cuda compiler driver
    ... Copyright (c) 2005-2025 NVIDIA Corporation
    ... Built on Wed_Jan_15_19:20:09_PST_2025
    ... Cuda compilation tools, release 12.8, V12.8.61
    ... Build cuda_12.8.r12.8/compiler.35404655_0''')
    ('12.8', '12.8.61')
    >>> parse_nvcc_version("Cuda compilation tools, release 9.0, V9.0.176"), parse_nvcc_version("bash: nvcc: not found")
    (('9.0', '9.0.176'), None)
    """
    m = re.search(r"release (\d+\.\d+)(?:,\s*V(\d+(?:\.\d+)+))?", text or "")
    if not m:
        return None
    return m.group(1), m.group(2)


def parse_version_json(text: str) -> str | None:
    """The toolkit version from ``version.json`` (the ``cuda`` entry; CUDA 11.1 and later).

    >>> parse_version_json('{"cuda" : {"name" : "CUDA SDK", "version" : "12.8.2"}, '
    ...                    '"cuda_cudart" : {"name" : "CUDA Runtime (cudart)", "version" : "12.8.90"}}')
    '12.8.2'
    >>> parse_version_json("not json"), parse_version_json('{"cuda": "12.8"}'), parse_version_json("[]")
    (None, None, None)
    """
    try:
        data = json.loads(text)
    except (ValueError, TypeError, RecursionError):  # RecursionError: absurdly nested garbage
        return None
    entry = data.get("cuda") if isinstance(data, dict) else None
    version = entry.get("version") if isinstance(entry, dict) else None
    if isinstance(version, str) and re.match(r"^\d+\.\d+", version.strip()):
        return version.strip()
    return None


def parse_version_txt(text: str) -> str | None:
    """The version in ``version.txt`` (CUDA 11.0 and older).

    >>> parse_version_txt("CUDA Version 10.2.89\\n"), parse_version_txt("")
    ('10.2.89', None)
    """
    m = re.search(r"CUDA Version\s+(\d+\.\d+(?:\.\d+)*)", text or "")
    return m.group(1) if m else None


def parse_gcc_version(text: str) -> str | None:
    """The version on the first line of ``gcc --version`` (None for clang posing as gcc).

    >>> parse_gcc_version("gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0\\nCopyright (C) 2021 Free Software Foundation, Inc.")
    '11.4.0'
    >>> parse_gcc_version("gcc (GCC) 14.2.1 20240912 (Red Hat 14.2.1-3)")
    '14.2.1'
    >>> parse_gcc_version("x86_64-linux-gnu-gcc-12 (Debian 12.2.0-14) 12.2.0")
    '12.2.0'
    >>> parse_gcc_version("Apple clang version 15.0.0 (clang-1500.1.0.2.5)"), parse_gcc_version("")
    (None, None)
    """
    lines = (text or "").strip().splitlines()
    if not lines or "clang" in lines[0].lower():
        return None
    first = lines[0]
    m = re.search(r"\)\s+(\d+(?:\.\d+)+)\b", first) or re.search(r"\bgcc\S*\s+(\d+(?:\.\d+)+)\b", first)
    return m.group(1) if m else None


def parse_cudnn_header(text: str) -> str | None:
    """``MAJOR.MINOR.PATCHLEVEL`` from ``cudnn_version.h`` (or cuDNN 7's ``cudnn.h``).

    >>> parse_cudnn_header('''#ifndef CUDNN_VERSION_H_
    ... #define CUDNN_VERSION_H_
    ... #define CUDNN_MAJOR 9
    ... #define CUDNN_MINOR 1
    ... #define CUDNN_PATCHLEVEL 0
    ... #define CUDNN_VERSION (CUDNN_MAJOR * 10000 + CUDNN_MINOR * 100 + CUDNN_PATCHLEVEL)''')
    '9.1.0'
    >>> parse_cudnn_header('#include "cudnn_version.h"'), parse_cudnn_header("#define CUDNN_MAJOR 8")
    (None, '8')
    """
    parts = {}
    for name in ("MAJOR", "MINOR", "PATCHLEVEL"):
        m = re.search(rf"^\s*#\s*define\s+CUDNN_{name}\s+(\d+)\b", text or "", re.M)
        if m:
            parts[name] = m.group(1)
    if "MAJOR" not in parts:
        return None
    out = parts["MAJOR"]
    for name in ("MINOR", "PATCHLEVEL"):
        if name not in parts:
            break
        out += "." + parts[name]
    return out


def parse_ldconfig_cudnn(text: str) -> list[tuple[str, str]]:
    """(version from the soname, path) for every ``libcudnn.so.N`` the loader cache lists.

    Only the main library: ``libcudnn_ops.so.9`` and friends follow it.

    >>> parse_ldconfig_cudnn('''1234 libs found in cache `/etc/ld.so.cache'
    ... \tlibcudnn_ops.so.9 (libc6,x86-64) => /lib/x86_64-linux-gnu/libcudnn_ops.so.9
    ... \tlibcudnn.so.9 (libc6,x86-64) => /lib/x86_64-linux-gnu/libcudnn.so.9
    ... \tlibcudnn.so (libc6,x86-64) => /lib/x86_64-linux-gnu/libcudnn.so
    ... \tlibcudnn.so.8 (libc6,x86-64) => /usr/local/cuda-11.8/lib64/libcudnn.so.8''')
    [('9', '/lib/x86_64-linux-gnu/libcudnn.so.9'), ('8', '/usr/local/cuda-11.8/lib64/libcudnn.so.8')]
    """
    out = []
    seen = set()
    for line in (text or "").splitlines():
        m = re.match(r"^\s*(libcudnn\.so\.(\d+(?:\.\d+)*))\s+\([^)]*\)\s+=>\s+(\S+)\s*$", line)
        if m and m.group(3) not in seen:
            seen.add(m.group(3))
            out.append((m.group(2), m.group(3)))
    return out


def _more_specific(a: str | None, b: str | None) -> str | None:
    """The longer of two dotted versions that agree on their common prefix."""
    if not a:
        return b
    if not b:
        return a
    return b if b.startswith(a + ".") else a


# ---------------------------------------------------------------- host reads


def _resolve_link(host: Host, path: str) -> tuple[str, list[str]]:
    """Follow a symlink chain (at most a few hops); returns the final path and the hops."""
    hops: list[str] = []
    current = path
    for _ in range(MAX_LINK_HOPS):
        target = host.readlink(current)
        if target is None:
            break
        hops.append(target)
        current = posixpath.normpath(posixpath.join(posixpath.dirname(current), target))
    return current, hops


def _toolkit_version(host: Host, root: str) -> tuple[str | None, str | None, str]:
    """(full version, source path, why-not) of the toolkit installed at ``root``."""
    reasons = []
    r = host.read_text(f"{root}/version.json")
    if r.text is not None:
        v = parse_version_json(r.text)
        if v:
            return v, r.path, ""
        reasons.append(f"{r.path}: no cuda.version entry")
    else:
        reasons.append(f"{r.path}: {r.error}")
    r = host.read_text(f"{root}/version.txt")
    if r.text is not None:
        v = parse_version_txt(r.text)
        if v:
            return v, r.path, ""
        reasons.append(f"{r.path}: no 'CUDA Version' line")
    else:
        reasons.append(f"{r.path}: {r.error}")
    return None, None, "; ".join(reasons)


def _local_toolkits(host: Host, unknown: dict[str, str]) -> tuple[list[CudaToolkit], list[str]]:
    """Toolkits under /usr/local, a symlink (``cuda -> cuda-12.8``) reported once with its
    target. Also returns every toolkit root seen (for the cuDNN header search)."""
    listing = host.list_dir(LOCAL)
    if listing.entries is None:
        return [], []
    names = sorted(n for n in listing.entries if TOOLKIT_DIR_RE.match(n))
    # name -> resolved path and the link chain (readlink also records the link in a capture)
    resolved = {n: _resolve_link(host, f"{LOCAL}/{n}") for n in names}
    links_to: dict[str, list[str]] = {}
    for n, (real, hops) in resolved.items():
        if hops:
            links_to.setdefault(real, []).append(f"{LOCAL}/{n} -> {hops[-1] if len(hops) == 1 else ' -> '.join(hops)}")
    toolkits = []
    roots = []
    done = set()
    for n in names:
        real, hops = resolved[n]
        if hops and posixpath.dirname(real) == LOCAL and posixpath.basename(real) in names:
            continue  # the target is listed too: reported there, with this link
        if real in done:
            continue
        done.add(real)
        root = real if hops else f"{LOCAL}/{n}"
        roots.append(root)
        full, source, why = _toolkit_version(host, root)
        if source is not None and links_to.get(root):
            source += " (" + "; ".join(links_to[root]) + ")"
        elif source is None and links_to.get(root):
            why += " (" + "; ".join(links_to[root]) + ")"
        if full is None:
            unknown[f"toolkit {root}"] = why or "no version file"
        toolkits.append(CudaToolkit(version=major_minor(full), full_version=full, path=root, source=source))
    return toolkits, roots


def _cudnn_headers(host: Host, toolkit_roots: list[str]) -> list[CudnnInstall]:
    candidates: list[str] = [f"{INCLUDE}/cudnn_version.h"]
    listing = host.list_dir(INCLUDE)
    for name in sorted(listing.entries or ()):
        if re.match(r"^cudnn_version.*\.h$", name):
            candidates.append(f"{INCLUDE}/{name}")
        elif "-linux-" in name:  # multiarch: x86_64-linux-gnu, aarch64-linux-gnu, ...
            sub = host.list_dir(f"{INCLUDE}/{name}")
            for entry in sorted(sub.entries or ()):
                if re.match(r"^cudnn_version.*\.h$", entry):
                    candidates.append(f"{INCLUDE}/{name}/{entry}")
    for root in toolkit_roots:
        candidates.append(f"{root}/include/cudnn_version.h")
    # cuDNN 7 and older keep the version defines in cudnn.h
    legacy = [f"{INCLUDE}/cudnn.h"] + [f"{root}/include/cudnn.h" for root in toolkit_roots]

    out: list[CudnnInstall] = []
    seen_real: set[str] = set()

    def take(path: str) -> bool:
        real, _ = _resolve_link(host, path)
        if real in seen_real:
            return True
        r = host.read_text(path)
        if r.text is None:
            return False
        version = parse_cudnn_header(r.text)
        if version is None:
            return False
        seen_real.add(real)
        out.append(CudnnInstall(version=version, source=path))
        return True

    found_dirs = set()
    for path in dict.fromkeys(candidates):
        if take(path):
            found_dirs.add(posixpath.dirname(path))
    for path in legacy:
        if posixpath.dirname(path) not in found_dirs:
            take(path)
    return out


def _cudnn_libraries(host: Host, unknown: dict[str, str]) -> list[CudnnInstall]:
    out: list[CudnnInstall] = []
    seen: set[str] = set()
    r = host.run(["ldconfig", "-p"])
    if r.status == "not-found":
        # Debian keeps ldconfig in /sbin, which is not on a user's PATH.
        r = host.run(["/sbin/ldconfig", "-p"])
    if r.ok:
        for version, path in parse_ldconfig_cudnn(r.stdout):
            real, hops = _resolve_link(host, path)
            m = LIBCUDNN_RE.match(posixpath.basename(real))
            version = _more_specific(version, m.group(1) if m else None)
            if real not in seen:
                seen.add(real)
                out.append(CudnnInstall(version=version, source=path))
    else:
        unknown["cudnn_ldconfig"] = r.why()

    ld = host.env("LD_LIBRARY_PATH") or ""
    dirs = [d for d in dict.fromkeys(ld.split(":")) if d.startswith("/")][:MAX_LD_DIRS]
    for d in dirs:
        listing = host.list_dir(d)
        best: tuple[str, str, str] | None = None  # (version, path, resolved path)
        for name in sorted(listing.entries or ()):
            m = LIBCUDNN_RE.match(name)
            if not m:
                continue
            path = f"{d.rstrip('/')}/{name}"
            # readlink also records the soname link in a capture, so that replay lists it
            # (a recorded listing keeps sub-directories and what was read, not plain files)
            real, _ = _resolve_link(host, path)
            rm = LIBCUDNN_RE.match(posixpath.basename(real))
            version = _more_specific(m.group(1), rm.group(1) if rm else None) or m.group(1)
            if best is None or len(version) > len(best[0]):
                best = (version, path, real)
        if best is not None and best[2] not in seen and best[1] not in seen:
            seen.add(best[2])
            out.append(CudnnInstall(version=best[0], source=f"{best[1]} (LD_LIBRARY_PATH)"))
    return out


def collect(host: Host) -> CudaFacts:
    host = StopAfterTimeout(host)  # one hung command must not overrun the probe's bound
    unknown: dict[str, str] = {}
    toolkits: list[CudaToolkit] = []

    r = host.run(["nvcc", "--version"])
    parsed = parse_nvcc_version(r.stdout) if r.ok else None
    if parsed:
        release, full = parsed
        toolkits.append(CudaToolkit(version=release, full_version=full, source="nvcc --version", on_path=True))
    elif r.ok:
        unknown["nvcc"] = "`nvcc --version` printed no 'release X.Y' line"
    else:
        unknown["nvcc"] = r.why()

    cuda_home = host.env("CUDA_HOME") or host.env("CUDA_PATH")
    local, roots = _local_toolkits(host, unknown)
    toolkits += local

    # A CUDA_HOME outside /usr/local (conda, /opt, a module system) is a toolkit too.
    if cuda_home and cuda_home.startswith("/"):
        home = posixpath.normpath(cuda_home)
        home_real, _ = _resolve_link(host, home)
        if home not in roots and home_real not in roots:
            full, source, why = _toolkit_version(host, home)
            if full is not None:
                roots.append(home)
                toolkits.append(CudaToolkit(version=major_minor(full), full_version=full, path=home,
                                            source=f"{source} (CUDA_HOME)"))
            else:
                unknown[f"toolkit {home}"] = why

    if not toolkits:
        unknown.setdefault("toolkits", "no nvcc on PATH and no /usr/local/cuda* toolkit")

    g = host.run(["gcc", "--version"])
    gcc = parse_gcc_version(g.stdout) if g.ok else None
    if gcc is None:
        unknown["gcc_version"] = g.why() if not g.ok else "`gcc --version`: first line names no gcc version (clang?)"

    cudnn = _cudnn_headers(host, roots) + _cudnn_libraries(host, unknown)
    if not cudnn:
        unknown["cudnn"] = "no cudnn_version.h header and no libcudnn.so.N in the loader cache or LD_LIBRARY_PATH"
    return CudaFacts(toolkits=tuple(toolkits), cuda_home=cuda_home, gcc_version=gcc, cudnn=tuple(cudnn),
                     unknown=unknown)
