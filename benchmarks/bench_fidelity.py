"""Fidelity of the harness: portkit's timing path vs a bare `sess.run` loop on the same session.

Both are measured in one run, interleaved in ABBA rounds (harness, bare, bare, harness, ...) so drift of
the machine (other load, clocks) hits both alike. Prints the ratio of the pooled p50s; the goal is
<= 1.03. The harness path is the one `portkit bench` uses: Runner.time_calls + benchmark.summarize.

    python benchmarks/bench_fidelity.py [MODEL.onnx] [--provider cpu|cuda] [--io-binding] [--batch 1]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from portkit.benchmark import environment, summarize
from portkit.inputs import make_inputs
from portkit.runtimes.onnx import OnnxRunner


def bare_loop(sess, names, feeds, n: int) -> list[int]:
    clock = time.perf_counter_ns
    run = sess.run
    times = [0] * n
    for i in range(n):
        t0 = clock()
        run(names, feeds)
        times[i] = clock() - t0
    return times


def bare_bound_loop(sess, binding, n: int, sync: bool) -> list[int]:
    clock = time.perf_counter_ns
    run = sess.run_with_iobinding
    times = [0] * n
    for i in range(n):
        t0 = clock()
        run(binding)
        if sync:
            binding.synchronize_outputs()
        times[i] = clock() - t0
    return times


def default_model() -> Path:
    out = ROOT / "benchmarks" / "results" / "_models" / "digits.onnx"
    if not out.exists():
        import portkit

        out.parent.mkdir(parents=True, exist_ok=True)
        portkit.convert(str(ROOT / "samples" / "digits_cnn.ts.pt"), "onnx", out)
    return out


def measure(model: Path, provider: str = "cpu", batch: int = 1, rounds: int = 20, per_round: int = 500,
            io_binding: bool = False, threads: int | None = None) -> dict:
    runner = OnnxRunner(str(model), providers=(provider,), threads=threads)
    feeds = make_inputs(runner.signature, batch=batch, seed=0)
    feeds = {k: np.ascontiguousarray(v) for k, v in feeds.items()}
    names = [o.name for o in runner.signature.outputs]
    harness: list[int] = []
    bare: list[int] = []
    runner.time_calls(feeds, iterations=per_round, warmup=50, io_binding=io_binding)  # warm both paths
    binding = None
    if io_binding:  # the bare loop gets the same binding the harness built (same device buffers)
        runner.prepare_timed(feeds, io_binding=True)
        binding = runner.sess.io_binding()
        for name, v in zip(feeds, runner.bound_values[: len(feeds)]):
            binding.bind_ortvalue_input(name, v)
        for name, v in zip(names, runner.bound_values[len(feeds):]):
            binding.bind_ortvalue_output(name, v)
    for r in range(rounds):
        order = ("h", "b") if r % 2 == 0 else ("b", "h")
        for which in order:
            if which == "h":
                harness += runner.time_calls(feeds, iterations=per_round, warmup=0, io_binding=io_binding)
            elif binding is not None:
                bare += bare_bound_loop(runner.sess, binding, per_round, sync=runner.device != "cpu")
            else:
                bare += bare_loop(runner.sess, names, feeds, per_round)
    h, b = summarize(harness, batch), summarize(bare, batch)
    return {"model": str(model), "provider": provider, "io_binding": io_binding, "batch": batch,
            "rounds": rounds, "per_round": per_round, "harness_p50_ms": h.p50, "bare_p50_ms": b.p50,
            "ratio_p50": h.p50 / b.p50, "harness_mean_ms": h.mean, "bare_mean_ms": b.mean,
            "ratio_mean": h.mean / b.mean, "goal": "ratio_p50 <= 1.03",
            "environment": environment(threads)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", type=Path)
    ap.add_argument("--provider", default="cpu")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--per-round", type=int, default=500)
    ap.add_argument("--io-binding", action="store_true")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--json", type=Path, help="also write the result here")
    a = ap.parse_args(argv)
    res = measure(a.model or default_model(), a.provider, a.batch, a.rounds, a.per_round, a.io_binding, a.threads)
    print(f"harness p50 {res['harness_p50_ms'] * 1e3:.2f} µs, bare sess.run p50 {res['bare_p50_ms'] * 1e3:.2f} µs, "
          f"ratio {res['ratio_p50']:.4f} (goal <= 1.03); means {res['ratio_mean']:.4f}")
    if a.json:
        a.json.write_text(json.dumps(res, indent=2, default=str) + "\n")
    return 0 if res["ratio_p50"] <= 1.03 else 1


if __name__ == "__main__":
    sys.exit(main())
