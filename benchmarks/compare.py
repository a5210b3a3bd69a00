"""``dlkit bench --compare OLD.json``: SAME / FASTER / SLOWER / UNCLEAR from intervals, not
from raw percentages (methodology §3: nvbench-compare-robust, pyperf ``compare_to``).

The interval of a result is the notched-box-plot 95 % interval of its median,
``median ± 1.58·IQR/√n`` (McGill, Tukey & Larsen 1978): two medians whose notches do not
overlap differ at roughly the 5 % level. Rules:

* notches apart → FASTER (new time lower) or SLOWER;
* notches overlap and |Δmedian| + both half-widths ≤ ``tolerance`` (5 %) of the old median →
  SAME: the change is known to be smaller than the tolerance;
* otherwise, or with fewer than ``MIN_SAMPLES`` samples on a side → UNCLEAR: the runs are too
  noisy (or too short) to tell, whatever the percentages say.

A floor of 0.5 % of the median on the half-width stands for clock and timer noise that a
short run cannot see (a run whose samples are all equal has an IQR of 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from dlkit.benchmarks.timing import summarize

MIN_SAMPLES = 5
NOISE_FLOOR = 0.005
KEY_FIELDS = ("kernel", "device", "dtype", "math", "shape", "layout", "cudnn_benchmark", "pinned", "variant")


@dataclass(frozen=True)
class Interval:
    median_s: float
    low_s: float
    high_s: float
    n: int

    @property
    def rel_half_width(self) -> float:
        return (self.high_s - self.low_s) / 2 / self.median_s if self.median_s > 0 else math.inf


def interval(median_s: float, iqr_s: float, n: int) -> Interval:
    """
    >>> i = interval(1.0, 0.1, 100); (round(i.low_s, 4), round(i.high_s, 4))
    (0.9842, 1.0158)
    """
    half = max(1.58 * iqr_s / math.sqrt(max(n, 1)), NOISE_FLOOR * median_s)
    return Interval(median_s, median_s - half, median_s + half, n)


def interval_of(result: dict[str, Any]) -> Interval | None:
    samples = result.get("samples")
    if isinstance(samples, list) and samples and all(isinstance(x, (int, float)) for x in samples):
        s = summarize(samples)
        # all-zero (or negative) samples are a broken file, not an infinitely fast kernel
        return interval(s.median_s, s.iqr_s, s.n) if s.median_s > 0 else None
    med, iqr, n = result.get("median_s"), result.get("iqr_s"), result.get("n")
    if isinstance(med, (int, float)) and isinstance(iqr, (int, float)) and isinstance(n, int) and med > 0:
        return interval(float(med), float(iqr), n)
    return None


def verdict(old: Interval, new: Interval, tolerance: float = 0.05) -> str:
    """
    >>> a = interval(1.00, 0.01, 20)
    >>> verdict(a, interval(0.90, 0.01, 20)), verdict(a, interval(1.10, 0.01, 20)), verdict(a, interval(1.001, 0.01, 20))
    ('FASTER', 'SLOWER', 'SAME')
    >>> verdict(a, interval(1.02, 0.30, 20)), verdict(a, interval(0.5, 0.0, 2))
    ('UNCLEAR', 'UNCLEAR')
    """
    if old.n < MIN_SAMPLES or new.n < MIN_SAMPLES:
        return "UNCLEAR"
    if new.high_s < old.low_s:
        return "FASTER"
    if new.low_s > old.high_s:
        return "SLOWER"
    # SAME only when even the far ends of both intervals are within the tolerance: the
    # change is then known to be smaller than it, not just not shown to be larger.
    worst = abs(new.median_s - old.median_s) + (old.high_s - old.low_s) / 2 + (new.high_s - new.low_s) / 2
    if worst <= tolerance * old.median_s:
        return "SAME"
    return "UNCLEAR"


def result_key(result: dict[str, Any]) -> tuple:
    return tuple(tuple(v) if isinstance(v := result.get(f), list) else v for f in KEY_FIELDS)


def label(result: dict[str, Any]) -> str:
    parts = [str(result.get("kernel")), str(result.get("device")), str(result.get("dtype"))]
    if result.get("math") == "tf32":
        parts[-1] = "tf32"
    shape, kernel = result.get("shape") or [], result.get("kernel")
    if kernel == "matmul":
        parts.append("×".join(str(x) for x in shape))
    elif kernel == "conv2d":
        parts.append(f"{result.get('name') or shape} N={shape[0] if shape else '?'}")
    elif kernel in ("copy", "triad") and shape:
        parts.append(f"{shape[0] * 4 // 2**20} MiB/array")
    elif kernel in ("h2d", "d2h", "bidir") and shape:
        parts.append(f"{shape[0] // 2**20} MiB")
    elif kernel == "mlp" and shape:
        parts.append(f"batch {shape[0]}")
    for f in ("layout", "variant"):
        if result.get(f):
            parts.append(str(result[f]))
    if result.get("cudnn_benchmark") is not None:
        parts.append("autotune" if result["cudnn_benchmark"] else "no-autotune")
    if result.get("pinned") is not None:
        parts.append("pinned" if result["pinned"] else "pageable")
    return " ".join(parts)


@dataclass(frozen=True)
class Row:
    label: str
    verdict: str
    old_median_s: float
    new_median_s: float
    ratio: float  # old / new: > 1 means the new run is faster
    old_interval: tuple[float, float]
    new_interval: tuple[float, float]


@dataclass(frozen=True)
class Comparison:
    old_name: str
    rows: tuple[Row, ...]
    only_old: tuple[str, ...]
    only_new: tuple[str, ...]
    unreadable: tuple[str, ...] = ()  # cases whose timings could not be read on one side

    def counts(self) -> dict[str, int]:
        out = {v: 0 for v in ("FASTER", "SLOWER", "SAME", "UNCLEAR")}
        for r in self.rows:
            out[r.verdict] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {"old": self.old_name, "counts": self.counts(), "only_old": list(self.only_old),
                "only_new": list(self.only_new), "unreadable": list(self.unreadable),
                "rows": [{"label": r.label, "verdict": r.verdict, "old_median_s": r.old_median_s,
                          "new_median_s": r.new_median_s, "speedup": round(r.ratio, 4),
                          "old_interval_s": list(r.old_interval), "new_interval_s": list(r.new_interval)}
                         for r in self.rows]}


class CompareInputError(ValueError):
    """The OLD file is not a dlkit bench result; one line for the user."""


# A real result file holds tens of cases with at most a few thousand samples each.
MAX_RESULTS = 10_000
MAX_SAMPLES = 1_000_000


def check_document(doc: Any, name: str) -> list[dict[str, Any]]:
    """The results of an OLD file, or :class:`CompareInputError` naming the first entry
    that is not a dlkit bench result: the file is judged before the benchmark runs, so a
    foreign or hand-broken file costs nothing (it used to be skipped entry by entry, and a
    file of nothing but broken entries then ran the whole suite to compare with nothing)."""
    if not isinstance(doc, dict) or doc.get("schema") != "dlkit.bench/1":
        raise CompareInputError(f"{name} is not a dlkit bench result (no \"schema\": \"dlkit.bench/1\")")
    results = doc.get("results")
    if not isinstance(results, list):
        raise CompareInputError(f"{name} has no results list")
    if not results:
        raise CompareInputError(f"{name} holds no results to compare with")
    if len(results) > MAX_RESULTS:
        raise CompareInputError(f"{name} holds {len(results):,} results; a dlkit bench result has at most {MAX_RESULTS:,}")
    for i, r in enumerate(results):
        problem = _malformed(r)
        if problem:
            raise CompareInputError(f"{name}: results[{i}] {problem}")
    return list(results)


def _number(v: Any, low: float = 0.0) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= low


def _malformed(result: Any) -> str | None:
    """What makes one entry unusable (types, required keys), or None."""
    if not isinstance(result, dict):
        return "is not an object"
    for f in ("kernel", "device"):
        if not isinstance(result.get(f), str) or not result[f]:
            return f"has no {f} (a string)"
    for f in KEY_FIELDS:
        if f != "shape" and not (result.get(f) is None or isinstance(result[f], (str, int, float, bool))):
            return f"{f} must be a string, number or null"
    shape = result.get("shape")
    if shape is not None and not (isinstance(shape, list) and all(isinstance(x, int) and not isinstance(x, bool)
                                                                  and 0 <= x < 2**48 for x in shape)):
        return "shape must be a list of non-negative integers"
    samples = result.get("samples")
    if samples is not None:
        if not isinstance(samples, list) or len(samples) > MAX_SAMPLES or not all(_number(x) for x in samples):
            return f"samples must be a list of at most {MAX_SAMPLES:,} finite times in seconds (≥ 0)"
    for f in ("median_s", "iqr_s"):
        if result.get(f) is not None and not _number(result[f]):
            return f"{f} must be a finite number of seconds (≥ 0)"
    n = result.get("n")
    if n is not None and not (isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_SAMPLES):
        return "n must be a sample count"
    return None


def compare(old_results: Iterable[dict[str, Any]], new_results: Iterable[dict[str, Any]], old_name: str,
            tolerance: float = 0.05) -> Comparison:
    old = {result_key(r): r for r in old_results}
    new = {result_key(r): r for r in new_results}
    rows = []
    unreadable: list[str] = []
    for key, n in new.items():
        o = old.get(key)
        if o is None:
            continue
        oi, ni = interval_of(o), interval_of(n)
        if oi is None or ni is None:
            # unreadable timings on either side: report the case as not compared
            unreadable.append(label(n))
            continue
        rows.append(Row(label(n), verdict(oi, ni, tolerance), oi.median_s, ni.median_s,
                        oi.median_s / ni.median_s if ni.median_s > 0 else math.inf,
                        (oi.low_s, oi.high_s), (ni.low_s, ni.high_s)))
    return Comparison(old_name, tuple(rows), tuple(label(old[k]) for k in old if k not in new),
                      tuple(label(new[k]) for k in new if k not in old), tuple(unreadable))
