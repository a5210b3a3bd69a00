"""One typed table loader for every CSV dlkit reads: the shipped catalogs and the user's.

A table's schema is a frozen dataclass. A field's annotation is its type (``str``, ``int``,
``float``, ``bool`` written yes/no, ``tuple[str, ...]`` written ``a; b``), ``X | None`` makes
the cell optional (empty = unknown, never zero), and ``cell(...)`` metadata adds the header
spelling, a range, the allowed values or a pattern. Adding a column is adding one field.

Every problem is a :class:`CatalogError` that names ``file:line:column`` and says what is
wrong, in one line: for a shipped table that is a bug in dlkit's data, for a user's file it
is the message the user sees (exit 2). Extra columns are ignored, so a newer file with more
columns still reads.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import functools
import io
import math
import re
import types
import typing
from collections.abc import Iterator
from importlib.resources import files
from typing import Any, TypeVar

T = TypeVar("T")
_DATE_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")  # a price "in 2026" is dated to its year, no finer
_YES, _NO = {"yes", "true", "1", "y"}, {"no", "false", "0", "n", ""}
_CELL_LIMIT = 1 << 20  # a 1 MiB cell is not a catalog value


class CatalogError(ValueError):
    """A CSV table (shipped or the user's) is malformed; the message is one line naming
    ``file:line:column``."""


def cell(*, column: str | None = None, lo: float | None = None, hi: float | None = None,
         choices: tuple[str, ...] | None = None, pattern: str | None = None, date: bool = False,
         default: Any = dataclasses.MISSING) -> Any:
    """A schema field with checks: ``column`` is the header when it is not the field name
    (SkyPilot's ``InstanceType``); ``lo``/``hi`` bound a number; ``choices`` and ``pattern``
    constrain text; ``date`` asks for YYYY-MM-DD (or YYYY-MM, or YYYY when the source gives only the year)."""
    meta = {"column": column, "lo": lo, "hi": hi, "choices": choices,
            "pattern": re.compile(pattern) if pattern else None, "date": date}
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class _Column:
    field: str
    header: str
    base: Any
    optional: bool  # an empty cell is allowed (None, or the field's default)
    has_default: bool  # the column may be missing from the header
    meta: dict[str, Any]


def _base(hint: Any) -> tuple[Any, bool]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], True
    return hint, False


@functools.lru_cache(maxsize=None)
def _columns(model: type) -> tuple[_Column, ...]:
    hints = typing.get_type_hints(model)
    out = []
    for f in dataclasses.fields(model):
        if not f.init:
            continue
        base, optional = _base(hints[f.name])
        if typing.get_origin(base) is tuple:
            base = tuple
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        meta = dict(f.metadata) or {"column": None, "lo": None, "hi": None, "choices": None, "pattern": None,
                                    "date": False}
        out.append(_Column(f.name, (meta.get("column") or f.name).lower(), base,
                           optional or has_default or base is tuple, has_default, meta))
    return tuple(out)


def csv_rows(text: str, name: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) per CSV row; what the csv module cannot read (an unclosed quote,
    a NUL byte, a 1 MB cell) is a :class:`CatalogError` naming the line."""
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise CatalogError(f"{name}:{line}: a NUL byte: this is not a CSV text file")
    reader = csv.reader(io.StringIO(text))
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CatalogError(f"{name}:{reader.line_num}: not CSV dlkit reads ({exc})") from None
        yield reader.line_num, fields


def header_of(text: str, name: str) -> list[str]:
    """The header row, lower case (to tell file layouts apart before parsing)."""
    return [h.strip().lower() for h in next(csv_rows(text, name), (1, []))[1]]


def _convert(col: _Column, text: str, where: str) -> Any:
    m = col.meta
    if col.base is tuple:
        return tuple(a.strip() for a in text.split(";") if a.strip())
    if col.base is bool:
        low = text.lower()
        if low not in _YES | _NO:
            raise CatalogError(f"{where}: {text!r} is not yes or no")
        return low in _YES
    if col.base in (int, float):
        try:
            value = col.base(text) if col.base is float else int(text)
        except ValueError:
            raise CatalogError(f"{where}: {text!r} is not {'an integer' if col.base is int else 'a number'}") from None
        if not math.isfinite(value):
            raise CatalogError(f"{where}: {text!r} is not a finite number")
        if (m.get("lo") is not None and value < m["lo"]) or (m.get("hi") is not None and value > m["hi"]):
            raise CatalogError(f"{where}: {text} is outside {m.get('lo', '')}..{m.get('hi', '')}")
        return value
    if m.get("date"):
        if not _DATE_RE.match(text):
            raise CatalogError(f"{where}: {text!r} is not a date (YYYY-MM-DD)")
        try:
            dt.date.fromisoformat((text + "-01-01")[:10])  # 2026 -> 2026-01-01, 2026-05 -> 2026-05-01
        except ValueError:
            raise CatalogError(f"{where}: {text!r} is not a real date") from None
    if m.get("choices") and text.lower() not in m["choices"]:
        raise CatalogError(f"{where}: {text!r} is not one of {', '.join(m['choices'])}")
    if m.get("pattern") is not None and not m["pattern"].fullmatch(text):
        raise CatalogError(f"{where}: {text!r} does not look like a {col.field}")
    return text


def parse_table(model: type[T], text: str, name: str) -> list[T]:
    """Every non-blank row of ``text`` as a ``model``; :class:`CatalogError` on the first
    problem (missing column, wrong cell count, a cell that is not its type or out of range)."""
    cols = _columns(model)
    rows = csv_rows(text, name)
    header = [h.strip().lower() for h in next(rows, (1, []))[1]]
    missing = [c.header for c in cols if c.header not in header and not c.has_default]
    if missing:
        raise CatalogError(f"{name}:1: missing column(s) {', '.join(missing)}")
    index = {h: i for i, h in enumerate(header)}
    out = []
    for line, fields in rows:
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            raise CatalogError(f"{name}:{line}: {len(fields)} cells for {len(header)} columns")
        values: dict[str, Any] = {}
        for c in cols:
            if c.header not in index:
                continue  # an optional column the file lacks: the field's default
            text = fields[index[c.header]].strip()
            where = f"{name}:{line}:{index[c.header] + 1} ({c.header})"
            if len(text) > _CELL_LIMIT:
                raise CatalogError(f"{where}: a cell of {len(text):,} characters")
            if text == "" and c.base is not tuple and c.base is not bool:
                if not c.optional:
                    raise CatalogError(f"{where}: empty, but required")
                if not c.has_default:
                    values[c.field] = None
                continue
            values[c.field] = _convert(c, text, where)
        try:
            out.append(model(**values))
        except (TypeError, ValueError) as exc:  # __post_init__ checks across columns
            raise CatalogError(f"{name}:{line}: {exc}") from None
    return out


@functools.lru_cache(maxsize=None)
def _shipped(model: type, table: str) -> tuple[Any, ...]:
    text = (files("dlkit.catalog") / "data" / f"{table}.csv").read_text(encoding="utf-8")
    return tuple(parse_table(model, text, f"dlkit/catalog/data/{table}.csv"))


def shipped(model: type[T], table: str) -> tuple[T, ...]:
    """A shipped table (``dlkit/catalog/data/TABLE.csv``), parsed once and cached."""
    return _shipped(model, table)
