"""Timers for ``dlkit bench``: summary statistics, the adaptive stop rule, a CPU wall-clock
timer over calibrated blocks and a CUDA-event timer with an L2 flush and hidden launch latency.

Method and pitfalls: ``../shared/reference/benchmark-methodology.md`` §1 (nvbench's "cold"
measurement, torch Timer's blocks, triton's time-budgeted warm-up) and §4.1 (the targets).
torch is never imported here: the caller passes the module in, so the statistics and the
loop can be tested with fakes and dlkit itself keeps working without torch.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default, what torch Timer's IQR uses).

    >>> quantile([1.0, 2.0, 3.0, 4.0], 0.25), quantile([1.0, 2.0, 3.0, 4.0], 0.5)
    (1.75, 2.5)
    """
    if not sorted_values:
        raise ValueError("no samples")
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@dataclass(frozen=True)
class Summary:
    """Seconds per call: median, IQR (p75 - p25), min, n, and every raw sample kept."""

    median_s: float
    iqr_s: float
    min_s: float
    n: int
    samples: tuple[float, ...]
    stop: str = ""  # why sampling stopped: "converged" | "budget" | "max-samples"
    elapsed_s: float = 0.0  # wall time of the whole measurement, warm-up included
    calls_per_sample: int = 1
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. SM clocks sampled during the run

    @property
    def rel_iqr(self) -> float:
        return self.iqr_s / self.median_s if self.median_s > 0 else math.inf

    @property
    def p25_s(self) -> float:
        return quantile(sorted(self.samples), 0.25)

    @property
    def p75_s(self) -> float:
        return quantile(sorted(self.samples), 0.75)


def summarize(samples: Sequence[float], stop: str = "", elapsed_s: float = 0.0, calls_per_sample: int = 1,
              extra: dict[str, Any] | None = None) -> Summary:
    """
    >>> s = summarize([3.0, 1.0, 2.0, 4.0]); (s.median_s, s.iqr_s, s.min_s, s.n)
    (2.5, 1.5, 1.0, 4)
    """
    ordered = sorted(float(x) for x in samples)
    if not ordered:
        raise ValueError("no samples")
    return Summary(median_s=quantile(ordered, 0.5), iqr_s=quantile(ordered, 0.75) - quantile(ordered, 0.25),
                   min_s=ordered[0], n=len(ordered), samples=tuple(float(x) for x in samples), stop=stop,
                   elapsed_s=elapsed_s, calls_per_sample=calls_per_sample, extra=dict(extra or {}))


@dataclass(frozen=True)
class StopRule:
    """nvbench's stdrel criterion with torch Timer's robust statistic: stop once IQR/median is
    below ``rel_iqr`` with at least ``min_samples`` samples and ``min_time_s`` of sampling, or
    when ``budget_s`` is spent (methodology §4.1: 2 %, ≥ 10 samples, ≥ 0.5 s)."""

    rel_iqr: float = 0.02
    min_samples: int = 10
    min_time_s: float = 0.5
    budget_s: float = 10.0
    max_samples: int = 5000

    def verdict(self, samples: Sequence[float], elapsed_s: float) -> str | None:
        n = len(samples)
        if n >= self.min_samples and elapsed_s >= self.min_time_s:
            s = summarize(samples)
            if s.rel_iqr < self.rel_iqr:
                return "converged"
        if n >= 1 and elapsed_s >= self.budget_s:
            return "budget"
        if n >= self.max_samples:
            return "max-samples"
        return None


def sample_until(take: Callable[[int], list[float]], rule: StopRule, batch: int = 1,
                 now: Callable[[], float] = time.perf_counter) -> tuple[list[float], str, float]:
    """Call ``take(k)`` (which returns k samples in seconds) until ``rule`` says stop.

    Returns (samples, stop reason, seconds spent sampling). The batch shrinks near the end so
    a slow kernel cannot overrun the budget by a whole batch.
    """
    samples: list[float] = []
    t0 = now()
    while True:
        elapsed = now() - t0
        why = rule.verdict(samples, elapsed)
        if why:
            return samples, why, elapsed
        k = batch
        if samples:
            per = max(sum(samples[-batch:]) / min(batch, len(samples)), 1e-9)
            k = max(1, min(batch, int((rule.budget_s - elapsed) / per) or 1))
        samples.extend(take(k))


# --------------------------------------------------------------------------- CPU

@contextlib.contextmanager
def cpu_settings(torch: Any, threads: int) -> Iterator[None]:
    """Threads = physical cores and denormals flushed for the duration (cpu-and-memory.md §4:
    torch Timer defaults to 1 thread; FTZ/DAZ via ``torch.set_flush_denormal``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    flushed = bool(torch.set_flush_denormal(True))
    try:
        yield
    finally:
        torch.set_num_threads(before)
        if flushed:
            torch.set_flush_denormal(False)


def time_cpu(fn: Callable[[], Any], rule: StopRule, warmup_s: float = 0.1, min_block_s: float = 0.02,
             now: Callable[[], float] = time.perf_counter) -> Summary:
    """Wall clock around calibrated blocks of calls (torch Timer's ``blocked_autorange`` idea):
    a block is long enough (≥ ``min_block_s``) that timer overhead and resolution vanish.

    The first call (lazy init, oneDNN primitive creation) is never timed; then a warm-up of
    ``warmup_s`` (methodology §1.3 "lazy init / autotune in first call").
    """
    start = now()
    fn()
    number = 1
    while True:  # calibrate the block: ×10 until long enough (≥ 1 call)
        t0 = now()
        for _ in range(number):
            fn()
        dt = now() - t0
        if dt >= min_block_s or number >= 1_000_000:
            break
        number = number * 10 if dt <= 0 else max(number + 1, min(number * 10, int(number * min_block_s / dt * 1.2) + 1))
    t_end = now() + max(0.0, warmup_s - dt)
    while now() < t_end:
        fn()

    def take(k: int) -> list[float]:
        out = []
        for _ in range(k):
            t0 = now()
            for _ in range(number):
                fn()
            out.append((now() - t0) / number)
        return out

    samples, why, _ = sample_until(take, rule, batch=1, now=now)
    return summarize(samples, why, now() - start, number)


# --------------------------------------------------------------------------- CUDA

def l2_flush_bytes(l2_cache_bytes: int | None) -> int:
    """Flush buffer: 2× the device's L2 (methodology §4.1: "≥ 2× L2, not a fixed 256 MB";
    triton PR #3943), 256 MiB when the driver does not say.

    >>> l2_flush_bytes(50 * 2**20) // 2**20, l2_flush_bytes(None) // 2**20
    (100, 256)
    """
    return 2 * int(l2_cache_bytes) if l2_cache_bytes else 256 * 2**20


def time_cuda(fn: Callable[[], Any], torch: Any, rule: StopRule, *, flush_bytes: int = 0, hide_launch: bool = True,
              warmup_s: float = 0.025, target_batch_s: float = 0.05, max_batch: int = 100,
              sm_clock: Callable[[], float | None] | None = None,
              now: Callable[[], float] = time.perf_counter) -> Summary:
    """CUDA events on a dedicated stream, nvbench "cold" style.

    * the first call runs untimed and synchronised: cuBLAS handle creation, cuDNN autotuning
      (``cudnn.benchmark``) and lazy module loading are excluded from warm-up and samples;
    * warm-up by time budget (≥ ``warmup_s`` and ≥ 3 calls; triton ``do_bench`` uses 25 ms);
    * before every sample the L2 is flushed by zeroing ``flush_bytes`` (outside the events);
    * each batch starts with ``torch.cuda._sleep`` so the GPU is busy while the CPU queues the
      batch: the events then time the kernel, not the launch (pytorch PR #130926; the inductor
      benchmarker; nvbench's blocking kernel). The sleep is sized from how long the previous
      batch took to queue;
    * ``sm_clock`` (MHz) is sampled after each batch; samples are kept raw.
    """
    cuda = torch.cuda
    start = now()
    stream = cuda.Stream()
    extra: dict[str, Any] = {"clock_mhz": []}
    with cuda.stream(stream):
        fn()
        cuda.synchronize()
        flush = torch.empty(int(flush_bytes), dtype=torch.uint8, device="cuda") if flush_bytes else None

        def timed(k: int, sleep_cycles: int) -> tuple[list[float], float]:
            starts = [cuda.Event(enable_timing=True) for _ in range(k)]
            ends = [cuda.Event(enable_timing=True) for _ in range(k)]
            t0 = now()
            if hide_launch and sleep_cycles > 0:
                cuda._sleep(int(sleep_cycles))
            for i in range(k):
                if flush is not None:
                    flush.zero_()
                starts[i].record(stream)
                fn()
                ends[i].record(stream)
            queued = now() - t0
            ends[-1].synchronize()
            return [s.elapsed_time(e) / 1e3 for s, e in zip(starts, ends)], queued

        est, queued3 = timed(3, 0)
        per_call = max(min(est), 1e-7)
        t_end = now() + warmup_s
        while now() < t_end:
            got, _ = timed(1, 0)
            per_call = max(min(per_call, got[0]), 1e-7)
        batch = max(1, min(max_batch, int(target_batch_s / per_call)))
        queue_s = queued3 / 3  # host time to queue one call, from the 3-call batch
        # Cycles per second of the sleep kernel (it spins on the SM clock): measured after the
        # warm-up, at the clock the samples will run at, not at the idle clock.
        cycles_per_s = 1.5e9
        if hide_launch:
            a, b = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
            a.record(stream)
            cuda._sleep(1_000_000)
            b.record(stream)
            b.synchronize()
            ms = a.elapsed_time(b)
            if ms > 0:
                cycles_per_s = 1_000_000 / (ms / 1e3)

        def take(k: int) -> list[float]:
            nonlocal queue_s
            # 1.5× the time the last batch took to queue, capped at 50 ms of idle GPU.
            cycles = int(min(0.05, 1.5 * queue_s * k) * cycles_per_s)
            got, q = timed(k, cycles)
            queue_s = q / k
            if sm_clock is not None:
                try:
                    mhz = sm_clock()
                    if mhz:
                        extra["clock_mhz"].append(float(mhz))
                except Exception:  # a clock reading is evidence, never a reason to fail
                    pass
            return got

        samples, why, _ = sample_until(take, rule, batch=batch, now=now)
    return summarize(samples, why, now() - start, 1, extra)
