"""Whole-process cost of `portkit convert` against the bare script it wraps (issue 14's goal).

Each row is a whole process, started fresh, timed from spawn to exit, the variants interleaved in one run
(so machine noise hits them alike): a bare script doing `torch.jit.load` + `torch.onnx.export` (what a user
would write), `portkit convert SAMPLE --to onnx` (validated: the source runs again at batch 1 and 2 and
onnxruntime runs the result) and the same with `--no-validate`. After every portkit run the process group
is checked for anything left running, and the machine's load recorded. The bare script ends the way
portkit's processes end (portkit.workers.exit_now). Goals: validated ≤ 1.3×, --no-validate ≤ 1.1× the bare
script.

Before timing, portkit's own sources are byte-compiled once (untimed), as `pip install` does for an installed
package and did for torch's: with PYTHONDONTWRITEBYTECODE set (as in some sandboxes and CI images) a
checkout's edited modules would otherwise be compiled again in every run, a cost no installed portkit has.

Writes benchmarks/results/process-latest.{json,md}.

    python benchmarks/bench_process.py [--repeat 5]
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from portkit.workers import exit_now

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SAMPLE = ROOT / "samples" / "digits_cnn.ts.pt"
PORTKIT = [sys.executable, "-m", "portkit"]

# the bare script ends the way portkit's workers end (portkit.workers.exit_now: atexit handlers, then
# os._exit, skipping the 2-3 s of freeing torch's modules): its very source is appended, so the two
# teardowns cannot drift apart and the ratio compares the work, not the interpreter's exit
BARE = """
import os, sys, warnings, torch
from typing import NoReturn
warnings.filterwarnings("ignore")
m = torch.jit.load(sys.argv[1], map_location="cpu").eval()
x = torch.randn(2, 1, 8, 8)
torch.onnx.export(m, (x,), sys.argv[2], dynamo=False, input_names=["input"], output_names=["output"],
                  dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=17)
""" + inspect.getsource(exit_now) + "\nexit_now()\n"

WHERE = """Where portkit's extra time goes (a fixed cost, not one that grows with the model): the framework runs
in one worker process that isolates it — a converter that segfaults is exit 3 naming the hop instead of
killing portkit, and TensorFlow never shares a process with torch's compiler stack. The command line starts
that worker first thing (portkit.cli._prestart: the source's suffix names its family), forked from a process
that holds nothing yet, so the worker imports torch at once (no second interpreter start) and its
`import torch` runs beside the parent's own imports and parsing (typer, numpy, the conversion graph)
instead of after them; while the worker converts, the parent imports what it needs next (onnxruntime for
validation, rich for the table: portkit.workers.warm); the worker's exit runs beside the parent's table
(reaped at the end: portkit.workers.reap_at_exit), and both end as the bare script does (exit_now). What
remains on the path is the parent's start up to the fork, the worker's portkit imports and the hop's
bookkeeping, and the parent's table and exit; validation adds the reference run in that same warm worker
(no second torch import) and the onnxruntime run in the parent. On any real model (seconds to minutes of
export) this fixed cost vanishes into the conversion. With the 1-minute load above the CPU count every
process waits for a core and the parallel start buys little: the ratios then approach the ratio of CPU time
spent (the `cpu_s` column)."""

GOALS = {"portkit convert (validated)": 1.3, "portkit convert --no-validate": 1.1}


def _leftovers(pgid: int) -> list[str]:
    """Processes still in the group `pgid` (the command's own session) after it exited."""
    out = subprocess.run(["ps", "-eo", "pid=,pgid=,args="], capture_output=True, text=True).stdout
    rows = [ln.split(None, 2) for ln in out.splitlines() if ln.strip()]
    return [r[2] if len(r) > 2 else r[0] for r in rows if len(r) > 1 and r[1] == str(pgid)]


def _timed(cmd: list[str], cwd: str) -> tuple[float, float, list[str]]:
    """(wall seconds, CPU seconds of the process and the children it reaped, what it left running)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         start_new_session=True)
    _, err = p.communicate(timeout=600)
    seconds = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {err.decode()[-500:]}")
    time.sleep(0.2)  # anything still in the group now was left behind, not just exiting
    left = _leftovers(p.pid)
    for _ in left:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return seconds, cpu, left


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="portkit-bench-process-")
    bare_py = Path(work) / "bare.py"
    bare_py.write_text(BARE)
    variants = {
        "bare script (torch.jit.load + torch.onnx.export)": [sys.executable, str(bare_py), str(SAMPLE), "b.onnx"],
        "portkit convert (validated)": [*PORTKIT, "convert", str(SAMPLE), "--to", "onnx", "-o", "p.onnx", "-q"],
        "portkit convert --no-validate": [*PORTKIT, "convert", str(SAMPLE), "--to", "onnx", "-o", "n.onnx",
                                          "--no-validate", "-q"],
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    cpus: dict[str, list[float]] = {k: [] for k in variants}
    left: dict[str, list[str]] = {k: [] for k in variants}
    # portkit's bytecode current, as an installed package's (see the module docstring); untimed
    sources = [str(ROOT / d) for d in ("src", "converters", "serving")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *sources], stdout=subprocess.DEVNULL, check=False)
    for cmd in variants.values():  # warm the page cache once, untimed
        _timed(cmd, work)
    load = [os.getloadavg()[0]]  # 1-minute load average: before, after each round (other jobs skew ratios)
    for _ in range(a.repeat):
        for name, cmd in variants.items():
            s, c, lo = _timed(cmd, work)
            times[name].append(s)
            cpus[name].append(c)
            left[name] += lo
        load.append(os.getloadavg()[0])
    bare = statistics.median(next(iter(times.values())))
    bare_cpu = statistics.median(next(iter(cpus.values())))
    rows = []
    for name, ts in times.items():
        med = statistics.median(ts)
        goal = GOALS.get(name)
        rows.append({"variant": name, "median_s": round(med, 3), "min_s": round(min(ts), 3),
                     "runs": [round(t, 3) for t in ts], "ratio_to_bare": round(med / bare, 3),
                     "cpu_s": round(statistics.median(cpus[name]), 3),
                     "cpu_ratio_to_bare": round(statistics.median(cpus[name]) / bare_cpu, 3),
                     "goal": goal, "met": None if goal is None else med / bare <= goal,
                     "left_running": sorted(set(left[name]))})
    import platform

    record = {"sample": SAMPLE.name, "repeat": a.repeat, "machine": platform.platform(),
              "cpus": os.cpu_count(), "python": platform.python_version(),
              "load_1m": {"per_round": [round(x, 2) for x in load], "max": round(max(load), 2)},
              "bare_teardown": "portkit.workers.exit_now (as portkit's workers and command line)",
              "bytecode": "portkit's sources compiled before timing (compileall), as an installed package's",
              "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "process-latest.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [f"# Whole-process time: portkit convert vs the bare script ({SAMPLE.name} → ONNX)", "",
             f"{a.repeat} interleaved runs per variant, medians; {os.cpu_count()} CPUs; "
             f"{platform.platform()}; 1-minute load average {min(load):.2f}–{max(load):.2f} during the run "
             + ("(above the CPU count: other jobs shared the machine and the ratios are noisier). "
                if max(load) > (os.cpu_count() or 1) else "(below the CPU count). ")
             + "The bare script ends as portkit's processes (its workers and the command line) do: "
             "portkit.workers.exit_now.", "",
             "| variant | median s | min s | × bare | goal | met | cpu s | cpu × bare | left running at exit |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['median_s']:.2f} | {r['min_s']:.2f} | {r['ratio_to_bare']:.2f} | "
                     f"{'≤ ' + str(r['goal']) + '×' if r['goal'] else ''} | "
                     f"{'' if r['met'] is None else ('yes' if r['met'] else 'no')} | "
                     f"{r['cpu_s']:.2f} | {r['cpu_ratio_to_bare']:.2f} | {', '.join(r['left_running']) or 'nothing'} |")
    lines += ["", WHERE]
    (RESULTS / "process-latest.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
