"""dlkit bench timers (issue 6): statistics on synthetic samples, the adaptive stop rule, the
CPU block timer on a fake clock and the CUDA event timer against a fake torch."""

from __future__ import annotations

import pytest

from dlkit.benchmarks.timing import (StopRule, l2_flush_bytes, quantile, sample_until, summarize, time_cpu,
                                     time_cuda)


def test_summary_of_synthetic_samples():
    s = summarize([1.0, 9.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    assert (s.median_s, s.iqr_s, s.min_s, s.n) == (5.0, 4.0, 1.0, 9)
    assert s.samples == (1.0, 9.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)  # raw, in order
    assert s.rel_iqr == pytest.approx(0.8)
    assert (s.p25_s, s.p75_s) == (3.0, 7.0)
    assert quantile([10.0], 0.5) == 10.0
    with pytest.raises(ValueError):
        summarize([])


def test_stop_rule_needs_ten_samples_half_a_second_and_two_percent():
    rule = StopRule(rel_iqr=0.02, min_samples=10, min_time_s=0.5, budget_s=10)
    tight = [1.0, 1.001, 0.999, 1.0, 1.002, 0.998, 1.0, 1.001, 0.999, 1.0]
    assert rule.verdict(tight[:9], 5.0) is None  # 9 samples: not yet
    assert rule.verdict(tight, 0.4) is None  # 10 samples, 0.4 s: not yet
    assert rule.verdict(tight, 0.6) == "converged"
    noisy = [1.0, 1.2, 0.8, 1.1, 0.9, 1.3, 0.7, 1.0, 1.1, 0.9]
    assert rule.verdict(noisy, 5.0) is None
    assert rule.verdict(noisy, 10.0) == "budget"
    assert rule.verdict([], 99.0) is None  # never stop with nothing measured


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_sample_until_stops_on_budget_with_a_fake_clock():
    clock = FakeClock()

    def take(k):
        clock.t += 0.3 * k
        return [0.3 * (1 + (i % 3) * 0.1) for i in range(k)]
    samples, why, elapsed = sample_until(take, StopRule(budget_s=1.0), batch=1, now=clock)
    assert why == "budget" and len(samples) == 4 and elapsed == pytest.approx(1.2)


def test_cpu_timer_calibrates_blocks_and_excludes_the_first_call():
    clock = FakeClock()
    calls = []

    def fn():
        calls.append(clock.t)
        clock.t += 0.5 if len(calls) == 1 else 0.001  # a slow first call (lazy init)

    s = time_cpu(fn, StopRule(budget_s=0.5, min_time_s=0.1), warmup_s=0.0, min_block_s=0.02, now=clock)
    assert s.calls_per_sample >= 20  # 1 ms calls in ≥ 20 ms blocks
    assert s.median_s == pytest.approx(0.001)  # the 0.5 s first call is not a sample
    assert s.stop == "converged" and s.n >= 10


def test_l2_flush_is_twice_the_device_l2():
    assert l2_flush_bytes(50 * 2**20) == 100 * 2**20
    assert l2_flush_bytes(None) == 256 * 2**20


class _Event:
    log: list = []

    def __init__(self, enable_timing=False):
        self.t = None

    def record(self, stream=None):
        self.t = len(_Event.log)
        _Event.log.append("record")

    def synchronize(self):
        pass

    def elapsed_time(self, other):  # ms
        return 2.0


class _FakeCuda:
    Event = _Event

    def __init__(self):
        self.sleeps = []

    def Stream(self):
        return object()

    def stream(self, s):
        import contextlib
        return contextlib.nullcontext()

    def synchronize(self):
        _Event.log.append("sync")

    def _sleep(self, cycles):
        self.sleeps.append(cycles)
        _Event.log.append("sleep")


class _Buf:
    def zero_(self):
        _Event.log.append("flush")


class _FakeTorch:
    uint8 = "uint8"

    def __init__(self):
        self.cuda = _FakeCuda()
        self.flush_bytes = None

    def empty(self, n, dtype=None, device=None):
        self.flush_bytes = n
        return _Buf()


def test_cuda_timer_flushes_before_every_sample_and_hides_launches():
    _Event.log = []
    torch = _FakeTorch()
    kernel_calls = []

    def fn():
        kernel_calls.append(1)
        _Event.log.append("kernel")

    s = time_cuda(fn, torch, StopRule(budget_s=0.05, min_time_s=0.0, min_samples=10), flush_bytes=1234,
                  warmup_s=0.0, target_batch_s=0.02, sm_clock=lambda: 1980.0)
    assert torch.flush_bytes == 1234
    assert s.median_s == pytest.approx(0.002) and s.iqr_s == 0 and s.stop == "converged"
    assert s.extra["clock_mhz"] and s.extra["clock_mhz"][0] == 1980.0
    assert torch.cuda.sleeps[0] == 1_000_000  # calibration of the sleep kernel
    log = _Event.log
    # first call untimed and synchronised (cuBLAS/cuDNN autotune excluded)
    assert log[:2] == ["kernel", "sync"]
    # in the measured batches every sample is flush → start event → kernel → end event
    first_sleep = log.index("sleep", log.index("sleep") + 1)
    body = log[first_sleep + 1:first_sleep + 1 + 4 * 3]
    assert body == ["flush", "record", "kernel", "record"] * 3
