"""How part names match: the one normaliser and matcher for GPU and CPU names.

People, drivers and providers spell the same part many ways: "3090", "rtx3090", "GeForce
RTX 3090", nvidia-smi's "NVIDIA GeForce RTX 3090", /proc/cpuinfo's "Intel(R) Core(TM)
i7-6850K CPU @ 3.60GHz". :func:`tokens` reduces a name to the words that identify the part;
:func:`candidates` lists the rows a name can mean, best first; :func:`match_part` takes the
one row or raises :class:`UnknownPart` with "did you mean" or "name one".
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import Any

# The longest real part name is under 60 characters ("NVIDIA RTX PRO 6000 Blackwell Max-Q
# Workstation Edition"). A longer "name" is garbage from a pasted report or a broken
# capture, and matching it costs time in proportion to its length (a 14 MB "GPU name"
# took 43 s): it names no part.
MAX_NAME_CHARS = 200


class UnknownPart(ValueError):
    """A part name matched nothing, or several rows equally well."""

    def __init__(self, kind: str, query: str, suggestions: list[str], ambiguous: bool = False, hint: str = ""):
        self.kind, self.query, self.suggestions, self.ambiguous = kind, query, suggestions, ambiguous
        query = query if len(query) <= 60 else query[:57] + "..."  # a message is one readable line
        if ambiguous:
            msg = f"{kind} {query!r} matches several: {', '.join(suggestions)}; name one"
        elif suggestions:
            msg = f"unknown {kind} {query!r}; did you mean {', '.join(suggestions)}?"
        else:
            msg = f"unknown {kind} {query!r}; {hint or f'see dlkit plan-build --list {kind}s'}"
        super().__init__(msg)


# Words that vendors, drivers and /proc/cpuinfo add around the model number.
_NOISE = re.compile(
    r"\(r\)|\(tm\)|\b(nvidia|geforce|intel|amd|processor|cpu|graphics|with radeon graphics)\b"
    r"|@\s*[\d.]+\s*ghz|\b\d+(st|nd|rd|th) gen\b|\b\d+-core\b", re.IGNORECASE)
# "24GB" stays one word: memory size tells variants apart but is not what people type first.
_TOKEN = re.compile(r"\d+gb\b|[a-z]+|\d+")
_MEMORY_WORD = re.compile(r"^\d+gb$")
# Words after the model number that name a different product, not a variant of it:
# "3090" is not the 3090 Ti, "5800X" is not the 5800X3D, "4080" is not the 4080 Super,
# "L40" is not the L40S, "A10" is not the A10G.
_OTHER_MODEL = {"ti", "super", "xt", "xtx", "d", "s", "g"}
_FORM_WORDS = {"sxm", "hbm"}  # "SXM4", "HBM3": the digit belongs to the word


def tokens(name: str) -> tuple[str, ...]:
    """The words of a part name that identify it.

    >>> tokens("NVIDIA GeForce RTX 3090")
    ('rtx', '3090')
    >>> tokens("rtx3090")
    ('rtx', '3090')
    >>> tokens("A100 80GB PCIe")
    ('a', '100', '80gb', 'pcie')
    >>> tokens("Intel(R) Core(TM) i7-6850K CPU @ 3.60GHz")
    ('core', 'i', '7', '6850', 'k')
    >>> tokens("AMD Ryzen Threadripper 3960X 24-Core Processor")
    ('ryzen', 'threadripper', '3960', 'x')
    """
    return tuple(_TOKEN.findall(_NOISE.sub(" ", name.lower())))


def key(name: str) -> str:
    """One comparable spelling: the tokens run together ("NVIDIA GeForce RTX 3090" → "rtx3090")."""
    return "".join(tokens(name))


def _names(row: Any) -> tuple[str, ...]:
    return (row.name, *row.aliases)


def _suffix_ok(nt: tuple[str, ...], qt: tuple[str, ...]) -> bool:
    last = max(i for i, t in enumerate(nt) if t in qt)
    for i in range(last + 1, len(nt)):
        t = nt[i]
        if t in _OTHER_MODEL or (t.isdigit() and not (i and nt[i - 1] in _FORM_WORDS)):
            return False
    return True


def _extra_words(nt: tuple[str, ...], qt: tuple[str, ...]) -> int:
    """Words a name adds to the query; a memory size and the digit of "SXM4" do not count,
    so "A100 80GB" is as far from the PCIe board as from the SXM4 one (name one)."""
    extra = {t for i, t in enumerate(nt) if t not in qt and not _MEMORY_WORD.match(t)
             and not (t.isdigit() and i and nt[i - 1] in _FORM_WORDS)}
    return len(extra)


def _exact(q: str, rows: Sequence[Any], extra_names: dict[str, Any] | None) -> list[Any]:
    """Rows that carry ``q`` as a name or alias. Several rows may: a driver prints one name
    for memory variants of a card ("NVIDIA GeForce RTX 5060 Ti" is the 8 GB and the 16 GB
    model), and only the memory size tells them apart."""
    low = q.lower()
    found = [row for row in rows if any(low == n.lower() for n in _names(row))]
    extra = (extra_names or {}).get(low)
    return found or ([extra] if extra is not None else [])


def _scored(query: str, rows: Sequence[Any], extra_names: dict[str, Any] | None) -> list[tuple[int, Any]]:
    q = query.strip()
    if not q or len(q) > MAX_NAME_CHARS:
        return []
    exact = _exact(q, rows, extra_names)
    if exact:
        return [(0, row) for row in exact]
    qt = tokens(q)
    qkey = "".join(qt)
    scored: list[tuple[int, int, Any]] = []
    for i, row in enumerate(rows):
        extras = []
        for n in _names(row):
            nt = tokens(n)
            if qt and set(qt) <= set(nt) and _suffix_ok(nt, qt):
                extras.append(_extra_words(nt, qt))
            elif qkey and qkey == "".join(nt):
                extras.append(0)
        if extras:
            scored.append((min(extras), i, row))
    scored.sort(key=lambda t: (t[0], t[1]))
    return [(extra, row) for extra, _, row in scored]


def candidates(query: str, rows: Sequence[Any], extra_names: dict[str, Any] | None = None) -> list[Any]:
    """Every row ``query`` can name, best first. An exact name or alias (case-insensitive, or
    one of ``extra_names``: lower-case spelling → row) makes its rows the only candidates,
    tied when a driver name covers memory variants. Otherwise a
    row qualifies when one of its names holds every word of the query and no word after the
    model number makes it another product; rows rank by how few words they add (a memory
    size such as "12GB" does not count). A name that runs together ("rtx3090") also matches."""
    return [row for _, row in _scored(query, rows, extra_names)]


def best(query: str, rows: Sequence[Any], extra_names: dict[str, Any] | None = None) -> list[Any]:
    """The rows tied for first place among :func:`candidates` (exactly one row = a match)."""
    scored = _scored(query, rows, extra_names)
    return [row for extra, row in scored if extra == scored[0][0]] if scored else []


def suggestions(query: str, names: Iterable[tuple[str, str]], n: int = 3) -> list[str]:
    """Close spellings for "did you mean": ``names`` are (any spelling, canonical name) pairs."""
    keys: dict[str, str] = {}
    tokens: dict[str, str] = {}
    for spelling, canonical in names:
        keys.setdefault(key(spelling), canonical)
        # the model number alone ("7950X" of "Ryzen 9 7950X"), so a typo in it still finds the
        # row: people type the number, the catalog spells the whole name. Whole names rank first.
        for token in spelling.split():
            if len(token) >= 3 and any(c.isdigit() for c in token):
                tokens.setdefault(key(token), canonical)
    close = [keys[k] for k in difflib.get_close_matches(key(query), list(keys), n=n * 2, cutoff=0.6)]
    close += [tokens[k] for k in difflib.get_close_matches(key(query), list(tokens), n=n * 2, cutoff=0.6)]
    return list(dict.fromkeys(close))[:n]


def match_part(kind: str, query: str, rows: Sequence[Any], extra_names: dict[str, Any] | None = None) -> Any:
    """The one row ``query`` names; :class:`UnknownPart` on a miss ("did you mean" over every
    name and alias) or a tie ("A100", "H100": name one)."""
    top = best(query, rows, extra_names)
    if len(top) == 1:
        return top[0]
    if top:
        raise UnknownPart(kind, query, [r.name for r in candidates(query, rows, extra_names)[:6]], ambiguous=True)
    pairs = [(n, r.name) for r in rows for n in _names(r)] + [(n, r.name) for n, r in (extra_names or {}).items()]
    raise UnknownPart(kind, query, suggestions(query, pairs) if len(query.strip()) <= MAX_NAME_CHARS else [])
