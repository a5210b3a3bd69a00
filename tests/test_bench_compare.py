"""dlkit bench --compare (issue 6): verdicts from intervals on synthetic results."""

from __future__ import annotations

import pytest

from dlkit.benchmarks.compare import (CompareInputError, check_document, compare, interval, interval_of, result_key,
                                      verdict)


def _r(samples, **kw):
    base = {"kernel": "matmul", "device": "cpu", "dtype": "float32", "math": "ieee", "shape": [2048, 2048, 2048]}
    base.update(kw)
    base["samples"] = samples
    return base


TIGHT = [1.00, 1.01, 0.99, 1.00, 1.005, 0.995, 1.00, 1.01, 0.99, 1.00]


@pytest.mark.parametrize("new,expected", [
    ([x * 0.90 for x in TIGHT], "FASTER"),  # notches apart, lower time
    ([x * 1.10 for x in TIGHT], "SLOWER"),
    ([x * 1.002 for x in TIGHT], "SAME"),  # overlap, both narrow
    ([0.7, 1.3, 0.8, 1.2, 1.0, 0.9, 1.1, 1.25, 0.75, 1.0], "UNCLEAR"),  # overlap, too noisy to tell
    ([0.5, 0.5], "UNCLEAR"),  # 2 samples: a big raw % is still no verdict
])
def test_verdict_table_on_synthetic_intervals(new, expected):
    cmp = compare([_r(TIGHT)], [_r(new)], "old.json")
    assert [r.verdict for r in cmp.rows] == [expected]


def test_a_three_percent_change_is_slower_only_when_the_intervals_say_so():
    quiet = compare([_r(TIGHT)], [_r([x * 1.03 for x in TIGHT])], "o").rows[0]
    noisy_old = [1.0, 1.1, 0.9, 1.05, 0.95, 1.08, 0.92, 1.0, 1.02, 0.98]
    noisy = compare([_r(noisy_old)], [_r([x * 1.03 for x in noisy_old])], "o").rows[0]
    assert quiet.verdict == "SLOWER" and noisy.verdict == "UNCLEAR"
    assert quiet.ratio == pytest.approx(1 / 1.03, rel=1e-3)


def test_interval_from_summary_fields_and_matching_keys():
    iv = interval_of({"median_s": 2.0, "iqr_s": 0.2, "n": 16})
    assert (round(iv.low_s, 3), round(iv.high_s, 3)) == (1.921, 2.079)
    assert interval(1.0, 0.0, 50).high_s == pytest.approx(1.005)  # the 0.5 % noise floor
    assert verdict(interval(1.0, 0.0, 3), interval(2.0, 0.0, 30)) == "UNCLEAR"
    a, b = _r(TIGHT), _r(TIGHT, dtype="bfloat16")
    cmp = compare([a, b], [_r(TIGHT), _r(TIGHT, shape=[4096, 4096, 4096])], "o")
    assert len(cmp.rows) == 1 and cmp.only_old == ("matmul cpu bfloat16 2048×2048×2048",)
    assert cmp.only_new == ("matmul cpu float32 4096×4096×4096",)
    assert result_key(a) != result_key(b)
    assert cmp.to_json()["counts"] == {"FASTER": 0, "SLOWER": 0, "SAME": 1, "UNCLEAR": 0}


def test_old_file_must_be_a_bench_result():
    with pytest.raises(CompareInputError, match="not a dlkit bench result"):
        check_document({"schema": "dlkit.doctor/1"}, "x.json")
    with pytest.raises(CompareInputError, match="no results list"):
        check_document({"schema": "dlkit.bench/1"}, "x.json")
    with pytest.raises(CompareInputError, match="holds no results"):
        check_document({"schema": "dlkit.bench/1", "results": []}, "x.json")
    with pytest.raises(CompareInputError, match=r"^x: results\[0\] is not an object$"):
        check_document({"schema": "dlkit.bench/1", "results": [1, {"kernel": "mlp"}]}, "x")
    with pytest.raises(CompareInputError, match=r"^x: results\[0\] has no device \(a string\)$"):
        check_document({"schema": "dlkit.bench/1", "results": [{"kernel": "mlp"}]}, "x")
    ok = {"kernel": "mlp", "device": "cpu"}
    assert check_document({"schema": "dlkit.bench/1", "results": [ok]}, "x") == [ok]


def test_all_zero_old_samples_are_unreadable_not_slower():
    from dlkit.benchmarks.compare import compare
    base = {"kernel": "matmul", "device": "cpu", "dtype": "float32", "shape": [64, 64, 64], "threads": 2}
    cmp = compare([dict(base, samples=[0.0, 0.0, 0.0])], [dict(base, samples=[1e-3, 1.01e-3, 0.99e-3])], "old.json")
    assert cmp.rows == () and len(cmp.unreadable) == 1 and cmp.to_json()["unreadable"] == list(cmp.unreadable)


@pytest.mark.parametrize("bad,message", [
    ({"shape": {"a": 1}}, "shape must be a list of non-negative integers"),
    ({"shape": ["x"]}, "shape must be a list of non-negative integers"),
    ({"dtype": ["x"]}, "dtype must be a string, number or null"),
    ({"samples": "fast"}, "samples must be a list"),
    ({"samples": [1e-3, True]}, "samples must be a list"),
    ({"samples": [1e-3, -1.0]}, "samples must be a list"),
    ({"median_s": "1"}, "median_s must be a finite number"),
    ({"n": 2.5}, "n must be a sample count"),
])
def test_foreign_entries_in_an_old_result_are_refused_before_the_benchmark_runs(bad, message):
    from dlkit.benchmarks.compare import check_document
    good = {"kernel": "matmul", "device": "cpu", "dtype": "float32", "shape": [64, 64, 64], "samples": [1e-3]}
    assert check_document({"schema": "dlkit.bench/1", "results": [good]}, "old.json") == [good]
    with pytest.raises(CompareInputError) as info:
        check_document({"schema": "dlkit.bench/1", "results": [good, dict(good, **bad)]}, "old.json")
    assert str(info.value).startswith(f"old.json: results[1] {message}")
