"""dlkit bench (issue 6): the plan, OOM back-off with a fake allocator, a clean skip of GPU
kernels without CUDA, the dlkit.bench/1 envelope, the CLI, and loose agreement with torch's
Timer. Budgets are tiny: timing claims live in benchmarks/, not here."""

from __future__ import annotations

import doctest
import importlib
import json
import sys
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from dlkit.benchmarks import suite as S
from dlkit.cli import app

torch = pytest.importorskip("torch")
HAS_CUDA = torch.cuda.is_available()


@pytest.mark.parametrize("name", ["dlkit.benchmarks.timing", "dlkit.benchmarks.kernels", "dlkit.benchmarks.peaks",
                                  "dlkit.benchmarks.reference", "dlkit.benchmarks.compare", "dlkit.benchmarks.suite",
                                  "dlkit.benchmarks.environment", "dlkit.render.bench_plot"])
def test_docstring_examples(name):
    assert doctest.testmod(importlib.import_module(name)).failed == 0


def test_plan_without_cuda_skips_gpu_kernels_cleanly_and_keeps_the_cpu_part():
    p = S.plan(S.Options(), S.Machine(cuda=False, cuda_reason="torch 2.13.0+cpu is a CPU-only build"))
    assert {c.device for c in p.cases} == {"cpu"}
    assert p.skipped == ["all cuda kernels: torch 2.13.0+cpu is a CPU-only build"]
    kinds = {c.kernel for c in p.cases}
    assert kinds == {"matmul", "conv2d", "triad", "mlp"}


def test_quick_plan_on_an_h100_gates_dtypes():
    m = S.Machine(cuda=True, cc=(9, 0), has_fp8=True, l2_bytes=50 * 2**20)
    q = S.plan(S.Options(devices=("cuda",), quick=True), m)
    mm = [(c.dtype, c.shape) for c in q.cases if c.kernel == "matmul"]
    assert mm == [("bf16", (8192,) * 3), ("fp32", (8192,) * 3), ("tf32", (8192,) * 3)]
    full = S.plan(S.Options(devices=("cuda",)), m)
    dtypes = {c.dtype for c in full.cases if c.kernel == "matmul"}
    assert dtypes == {"fp32", "tf32", "fp16", "bf16", "fp8"}
    assert any(c.variant == "search" for c in full.cases)
    copy = next(c for c in full.cases if c.kernel == "copy")
    assert copy.shape[0] * 4 >= 4 * 50 * 2**20  # ≥ 4× L2
    t4 = S.plan(S.Options(devices=("cuda",), dtypes=("tf32", "bf16", "fp8")), S.Machine(cuda=True, cc=(7, 5)))
    assert {c.dtype for c in t4.cases if c.kernel == "matmul"} == {"bf16"}
    assert next(c for c in t4.cases if c.kernel == "matmul").note.startswith("fallback")
    assert any(s.startswith("matmul cuda tf32: TF32 needs sm80+") for s in t4.skipped)
    assert any(s.startswith("matmul cuda fp8: fp8 tensor cores need sm89+") for s in t4.skipped)


class FakeOOM(RuntimeError):
    pass


class FakeAllocator:
    """A GPU with ``capacity`` bytes: allocating more raises CUDA's out-of-memory error."""

    def __init__(self, capacity):
        self.capacity, self.tried, self.freed = capacity, [], 0

    def matmul(self, case):
        m, n, k = case.shape
        need = 2 * (m * k + k * n + m * n)  # bf16 A, B, C
        self.tried.append(case.shape)
        if need > self.capacity:
            raise FakeOOM(f"CUDA out of memory. Tried to allocate {need} bytes")
        return {"shape": list(case.shape), "median_s": 1.0}

    def empty_cache(self):
        self.freed += 1


def test_oom_backs_off_to_smaller_sizes_and_never_crashes():
    gpu = FakeAllocator(capacity=64 * 2**20)
    case = S.Case("matmul", "cuda", "bf16", (8192, 8192, 8192))
    res, notes = S.with_backoff(case, gpu.matmul, gpu.empty_cache)
    assert gpu.tried == [(8192,) * 3, (4096,) * 3, (2048,) * 3]
    assert res == {"shape": [2048, 2048, 2048], "median_s": 1.0} and gpu.freed == 2
    assert notes[0] == "matmul cuda bfloat16 8192×8192×8192: out of memory; retried as matmul cuda bfloat16 4096×4096×4096"
    tiny = FakeAllocator(capacity=10)
    res, notes = S.with_backoff(case, tiny.matmul, tiny.empty_cache)
    assert res is None and notes[-1].endswith("256×256×256: out of memory; gave up")
    with pytest.raises(ValueError):  # anything else is not swallowed by the back-off
        S.with_backoff(case, lambda c: (_ for _ in ()).throw(ValueError("bad")))
    assert S.is_oom(type("OutOfMemoryError", (Exception,), {})("x"))


def test_ctrl_c_keeps_what_was_measured(monkeypatch):
    calls = []

    def fake_measure(torch_, case, threads, cc, l2, clock):
        calls.append(case)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return {"kernel": case.kernel, "device": case.device, "median_s": 0.1}
    monkeypatch.setattr(S, "measure", fake_measure)
    cases = [S.Case("triad", "cpu", "fp32", (2**20,)), S.Case("mlp", "cpu", "fp32", (1, 4)), S.Case("mlp", "cpu", "fp32", (32, 4))]
    out = S.run(torch, cases, 1)
    assert out.interrupted and len(out.results) == 1
    assert out.notes == ["interrupted (Ctrl-C or SIGTERM) during mlp cpu float32 batch 1: 1 of 3 cases measured"]


def _tiny_run(**kw):
    from dlkit.benchmarks.report import bench
    return bench(S.Options(devices=("cpu",), quick=True, sizes=(128,), budget_scale=0.03, **kw))


def test_json_envelope_of_a_real_tiny_cpu_run():
    doc = json.loads(json.dumps(_tiny_run(threads=1).to_json()))
    assert doc["schema"] == "dlkit.bench/1"
    assert set(doc) == {"schema", "options", "units", "environment", "peaks", "results", "speedups", "warnings",
                        "notes", "skipped", "interrupted"}
    env = doc["environment"]
    for key in ("torch", "blas", "cpu", "threads", "gpu", "driver", "cuda_runtime", "cudnn", "float32_matmul_precision",
                "tf32_matmul_default", "tf32_cudnn_default", "created", "dlkit_version"):
        assert key in env
    assert env["threads"] == 1
    kernels = [r["kernel"] for r in doc["results"]]
    assert kernels == ["matmul", "conv2d", "conv2d", "triad", "mlp", "mlp"]
    mm = doc["results"][0]
    for key in ("kernel", "device", "dtype", "shape", "threads", "median_s", "iqr_s", "tflops", "samples", "n", "min_s"):
        assert key in mm
    assert (mm["device"], mm["dtype"], mm["math"], mm["shape"], mm["threads"]) == ("cpu", "float32", "ieee", [128, 128, 128], 1)
    assert mm["flop"] == 2 * 128**3
    assert mm["tflops"] == pytest.approx(mm["flop"] / mm["median_s"] / 1e12)
    assert len(mm["samples"]) == mm["n"] >= 1
    assert doc["results"][3]["gbps"] > 0 and doc["results"][1]["layout"] == "nchw"


def test_dlkit_timer_agrees_with_torch_timer_loosely():
    """The claim (within 3 %) is measured by benchmarks/timer_vs_torch.py; here, loosely."""
    from torch.utils import benchmark

    from dlkit.benchmarks import kernels as K
    n = 256
    ratios = []
    for _ in range(3):
        ours = S.measure(torch, S.Case("matmul", "cpu", "fp32", (n, n, n), budget_s=0.3), 1, None, None, None)
        built = K.build_matmul(torch, "cpu", "fp32", n, n, n)
        ref = benchmark.Timer("fn()", globals={"fn": built.fn}, num_threads=1).blocked_autorange(min_run_time=0.3)
        ratios.append(ref.median / ours["median_s"])
    assert sorted(ratios)[1] == pytest.approx(1.0, rel=0.15)


runner = CliRunner()


def _cli(*args):
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def fast(monkeypatch):
    from dlkit.benchmarks import report
    real = report.bench
    monkeypatch.setattr(report, "bench", lambda opts, tick=None, torch=None: real(replace(opts, budget_scale=0.03, sizes=(128,)), tick or (lambda *a: None)))


@pytest.mark.parametrize("args,message", [
    (("--device", "tpu"), "dlkit: error: --device 'tpu': use cpu, cuda or all"),
    (("--dtype", "int4"), "dlkit: error: --dtype: unknown dtype 'int4'; use one of fp32, tf32, fp16, bf16, fp8"),
    (("--size", "0"), "dlkit: error: --size 0: give a square matmul size between 16 and 65536"),
    (("--threads", "0"), "dlkit: error: --threads 0: give at least 1"),
    (("--plot", "x.pdf"), "dlkit: error: --plot x.pdf: the file name must end in .png, .svg or .html"),
    (("--compare", "/nonexistent/old.json"), "dlkit: error: bench result /nonexistent/old.json does not exist"),
])
def test_bad_input_is_one_line_exit_2(args, message):
    code, out, err = _cli("bench", *args)
    assert (code, out, err.strip()) == (2, "", message)


@pytest.mark.skipif(HAS_CUDA, reason="checks the no-CUDA message")
def test_device_cuda_without_cuda_is_a_clear_message():
    code, out, err = _cli("bench", "--device", "cuda", "--quick")
    assert code == 2 and out == ""
    assert err.strip() == (f"dlkit: error: --device cuda: torch {torch.__version__} is a CPU-only build; "
                           "run dlkit bench --device cpu")


def test_without_torch_one_line_and_exit_2(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch → ImportError
    code, out, err = _cli("bench", "--device", "cpu")
    assert (code, out) == (2, "")
    assert err.strip() == "dlkit: error: dlkit bench needs PyTorch: pip install 'dlkit[bench]' (the CUDA wheel on a GPU machine)"


def test_cli_json_compare_and_plot(fast, tmp_path):
    code, out, err = _cli("bench", "--device", "all", "--quick", "--json")
    assert code in (0, 1), err
    doc = json.loads(out)
    assert doc["schema"] == "dlkit.bench/1" and doc["results"][0]["kernel"] == "matmul"
    if not HAS_CUDA:
        assert any(s.startswith("all cuda kernels:") for s in doc["skipped"])
    old = tmp_path / "old.json"
    old.write_text(out)
    plot = tmp_path / "b.html"
    code, out, err = _cli("bench", "--device", "cpu", "--quick", "--json", "--compare", str(old), "--plot", str(plot))
    doc = json.loads(out)
    assert {r["verdict"] for r in doc["compare"]["rows"]} <= {"SAME", "FASTER", "SLOWER", "UNCLEAR"}
    assert len(doc["compare"]["rows"]) == 6
    page = plot.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "http://" not in page.split("<svg", 1)[0]
    code, out, err = _cli("bench", "--device", "cpu", "--plot", str(plot))
    assert code == 2 and "already exists" in err
    png = tmp_path / "b.png"
    code, out, err = _cli("bench", "--device", "cpu", "--quick", "--plot", str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "matmul" in out


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")
def test_cuda_quick_matmul_runs_with_events():
    from dlkit.benchmarks.report import bench
    res = bench(S.Options(devices=("cuda",), quick=True, sizes=(1024,), budget_scale=0.2))
    mm = [r for r in res.results if r["kernel"] == "matmul"]
    assert mm and all(r["tflops"] > 0 and r["device"] == "cuda" for r in mm)
    assert res.environment["gpu"]["sms"] > 0


def test_cpu_matmul_never_plans_more_than_half_the_free_ram():
    import dataclasses
    from dlkit.benchmarks import suite
    base = next(v for v in vars(suite).values() if isinstance(v, type) and v.__name__ == "Machine")
    fields = {f.name: None for f in dataclasses.fields(base)}
    fields.update(cuda=False, cpu_isa=(), ram_available_mib=1024)
    m = base(**{k: v for k, v in fields.items() if k in {f.name for f in dataclasses.fields(base)}})
    opts = suite.Options(devices=("cpu",), sizes=(8192, 256), dtypes=("fp32",))
    p = suite.plan(opts, m)
    assert [c.shape for c in p.cases if c.kernel == "matmul"] == [(256, 256, 256)]
    assert any("8192×8192×8192: needs 0.8 GiB, more than half of the 1.0 GiB free" in s for s in p.skipped)
    assert suite.is_oom(RuntimeError("[enforce fail at alloc_cpu.cpp:118] DefaultCPUAllocator: can't allocate memory"))
