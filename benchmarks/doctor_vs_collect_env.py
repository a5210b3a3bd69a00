"""Wall time and peak RSS of ``dlkit doctor --json`` against ``python -m torch.utils.collect_env``.

Method:
- Each run is a fresh child process, because that is what a user pays for: interpreter
  start, imports, probing, exit. Timing in-process would hide import cost and share caches.
- Both commands use the same interpreter (``--python``, default: this one), so the
  interpreter's start-up cost is the same on both sides.
- Runs alternate (doctor, collect_env, doctor, ...) so that slow drift of the machine
  (CPU clocks, other load, page cache) hits both sides alike instead of one block.
- One warm-up round (one run of each) is not counted: it fills the page cache with the
  interpreter, dlkit and torch files, so the counted rounds compare warm against warm.
- Medians, not means: one slow outlier run (a noisy neighbour) does not move them.

Run: ``python -m dlkit.benchmarks.doctor_vs_collect_env [--rounds N] [--json PATH]``
(or run this file as a script). Exit code: 0 PASS, 1 FAIL or a run failed, 2 no torch.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCHEMA = "dlkit.bench.doctor-vs-collect-env/1"
TARGET = 0.5  # doctor's median wall time must be <= TARGET x collect_env's

# Asked of the target interpreter (not this one), without importing torch or dlkit:
# importing torch would take seconds, and --python may be another environment.
_VERSIONS = """import importlib.metadata as m, importlib.util as u, json, platform
def v(n):
    try: return m.version(n)
    except m.PackageNotFoundError: return None
print(json.dumps({"python": platform.python_version(), "dlkit": v("dlkit"),
                  "torch": v("torch") if u.find_spec("torch") else None}))"""


def run_once(cmd: list[str], is_doctor: bool) -> tuple[float, float]:
    """Run cmd to completion; return (wall seconds, peak RSS in MiB) of that child.

    Peak RSS comes from os.wait4 on the child's pid, not from getrusage(RUSAGE_CHILDREN)
    deltas: RUSAGE_CHILDREN's ru_maxrss is the largest peak of any child waited for so far,
    a high-water mark and not a sum, so after one ~200 MiB collect_env run every later
    delta would read 0. wait4 gives this child's own rusage (its ru_maxrss covers the
    child and the grandchildren it waited for, e.g. collect_env's lscpu / pip). On Linux
    ru_maxrss is in KiB.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        stdout = out.read()
        err.seek(0)
        stderr = err.read().decode(errors="replace").strip()
    ok = proc.returncode == 0
    if is_doctor:  # doctor exits 0/1/2 by what it finds; a JSON report is success
        try:
            ok = json.loads(stdout).get("schema") == "dlkit.doctor/1"
        except ValueError:
            ok = False
    if not ok:
        tail = stderr.splitlines()[-1] if stderr else "(no stderr)"
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}): {tail}")
    return wall, usage.ru_maxrss / 1024


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def summary(walls: list[float], rss: list[float]) -> dict:
    return {"wall_s_median": round(statistics.median(walls), 4),
            "wall_s_all": [round(w, 4) for w in walls],
            "peak_rss_mib_median": round(statistics.median(rss), 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7, help="counted rounds (default 7)")
    ap.add_argument("--python", default=sys.executable, help="interpreter for both commands")
    ap.add_argument("--json", metavar="PATH", help="also write the result document here")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")

    versions = json.loads(subprocess.run([args.python, "-c", _VERSIONS], check=True,
                                         capture_output=True, text=True).stdout)
    if versions["torch"] is None:
        print(f"torch is not installed for {args.python}; nothing to compare against.")
        return 2
    cmds = {"doctor": [args.python, "-m", "dlkit", "doctor", "--json"],
            "collect_env": [args.python, "-m", "torch.utils.collect_env"]}
    res: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in cmds}
    try:
        for rnd in range(args.rounds + 1):  # round 0 is the warm-up
            for name, cmd in cmds.items():  # alternate: doctor, collect_env, doctor, ...
                wall, rss = run_once(cmd, name == "doctor")
                if rnd:
                    res[name][0].append(wall)
                    res[name][1].append(rss)
            print(f"round {rnd or 'warm-up'}/{args.rounds} done", file=sys.stderr)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    doc = {"schema": SCHEMA,
           "machine": {"cpu_model": cpu_model(), "logical_cores": os.cpu_count(),
                       "python_version": versions["python"], "torch_version": versions["torch"],
                       "dlkit_version": versions["dlkit"]},
           "rounds": args.rounds,
           **{name: summary(*res[name]) for name in cmds}}
    d, c = doc["doctor"], doc["collect_env"]
    doc["ratio_wall"] = round(d["wall_s_median"] / c["wall_s_median"], 3)
    doc["ratio_rss"] = round(d["peak_rss_mib_median"] / c["peak_rss_mib_median"], 3)
    doc["date"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")

    m = doc["machine"]
    print(f"{m['cpu_model']}, {m['logical_cores']} logical cores, Python {m['python_version']}, "
          f"torch {m['torch_version']}, dlkit {m['dlkit_version']}; {args.rounds} rounds + 1 warm-up")
    print(f"{'command':<14}{'wall median (s)':>17}{'peak RSS median (MiB)':>24}")
    for name in cmds:
        print(f"{name:<14}{doc[name]['wall_s_median']:>17.3f}{doc[name]['peak_rss_mib_median']:>24.1f}")
    print(f"{'doctor/collect':<14}{doc['ratio_wall']:>16.3f}x{doc['ratio_rss']:>23.3f}x")
    passed = doc["ratio_wall"] <= TARGET
    print(f"target: doctor <= {TARGET}x collect_env (median wall time): {'PASS' if passed else 'FAIL'}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
