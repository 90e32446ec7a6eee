"""litert-torch vs ONNX → onnx2tf: end-to-end wall time of `portkit convert mobilenet_v3_small.pt2 --to
tflite` (litert-torch, the planner's choice) against the same conversion forced `--via onnx` (torch.onnx
dynamo + onnx2tf), each validated as portkit always does; then the ExecuTorch (.pte, XNNPACK) export
of the same program, and `portkit bench` of the source and every result side by side.

mobilenet_v3_small (torchvision, seeded random weights, 10 classes) at 1×3×64×64, exported `--static`:
litert-torch 0.10 converts fixed shapes only (a symbolic batch fails its lowering of flatten).

    python benchmarks/bench_litert.py [--repeat 2] [--duration 1]

Writes benchmarks/results/litert-vs-onnx2tf.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
ARCH, SHAPE = "mobilenet_v3_small", "1,3,64,64"


def portkit(*args: str, cwd: Path, check: bool = True) -> tuple[float, dict]:
    """Run the real CLI (as a user would) with --json; (wall seconds, parsed result). With check=False a
    failure is returned as {"error": its one line, "exit_code": N}."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "portkit", *args, "--json"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 and not check:
        line = next((ln for ln in proc.stderr.splitlines() if ln.startswith("portkit: error:")), proc.stderr[-300:])
        return wall, {"error": line[:400], "exit_code": proc.returncode}
    if proc.returncode != 0:
        raise SystemExit(f"portkit {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    return wall, json.loads(proc.stdout)


def make_state_dict(path: Path) -> None:
    code = (f"import torch, torchvision; torch.manual_seed(0); "
            f"m = torchvision.models.{ARCH}(weights=None, num_classes=10).eval(); "
            f"torch.save(m.state_dict(), {str(path)!r})")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=600)


def conversion_row(label: str, walls: list[float], res: dict) -> dict:
    v = res.get("validation") or (res["hops"][-1]["validation"] if res["hops"] else None) or {}
    return {"route": label, "planned": res["route"][0], "tools": [h["tool"] for h in res["hops"]],
            "wall_s": [round(w, 2) for w in walls], "wall_median_s": round(statistics.median(walls), 2),
            "hop_s": [h["seconds"] for h in res["hops"]], "passed": res["passed"],
            "max_rel": v.get("max_rel"), "size_bytes": res["size_bytes"], "output": Path(res["output"]).name}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2, help="conversions per route (median reported)")
    ap.add_argument("--duration", type=float, default=1.0, help="seconds per bench series")
    a = ap.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="portkit-bench-litert-") as tmp:
        d = Path(tmp)
        sd = d / f"{ARCH}.pt"
        make_state_dict(sd)
        pt2 = d / f"{ARCH}.pt2"
        portkit("convert", f"torchvision.models:{ARCH}", "--weights", str(sd), "--model-args",
                '{"num_classes": 10}', "--input-shape", SHAPE, "--static", "--to", "pt2", "-o", str(pt2), cwd=d)
        rows = []
        for label, extra, out in (("litert-torch (planner's choice)", [], "litert.tflite"),
                                  ("ONNX → onnx2tf (--via onnx)", ["--via", "onnx"], "onnx2tf.tflite"),
                                  ("ExecuTorch XNNPACK (.pte)", [], "model.pte")):
            to = "executorch" if out.endswith(".pte") else "tflite"
            walls, res = [], {}
            for _ in range(a.repeat):
                wall, res = portkit("convert", str(pt2), "--to", to, "-o", str(d / out), *extra, cwd=d)
                walls.append(wall)
            rows.append(conversion_row(label, walls, res))
            print(f"{label}: {rows[-1]['wall_median_s']} s ({rows[-1]['planned']})", file=sys.stderr)
        # coverage: a tiny BERT (int64 ids + mask, fixed 1×32), through both routes once
        bert = d / "bert_tiny.pt2"
        portkit("convert", "examples.hf_models:bert_tiny", "--static", "--no-validate", "--to", "pt2", "-o", str(bert),
                cwd=ROOT)
        coverage = []
        for label, extra, out in (("litert-torch", [], "bert_litert.tflite"),
                                  ("ONNX → onnx2tf", ["--via", "onnx"], "bert_onnx2tf.tflite")):
            wall, res = portkit("convert", str(bert), "--to", "tflite", "-o", str(d / out), *extra, cwd=d, check=False)
            error = (res.get("error") or "").replace(str(d) + "/", "")  # the temp folder means nothing later
            coverage.append({"route": label, "wall_s": round(wall, 2), "passed": bool(res.get("passed")),
                             "error": error or None, "max_rel": (res.get("validation") or
                                                                    (res.get("hops") or [{}])[-1].get("validation")
                                                                    or {}).get("max_rel")})
            print(f"bert {label}: {coverage[-1]}", file=sys.stderr)
        _, bench = portkit("bench", str(pt2), str(d / "litert.tflite"), str(d / "onnx2tf.tflite"), str(d / "model.pte"),
                           "--duration", str(a.duration), cwd=d)
    speedup = rows[1]["wall_median_s"] / rows[0]["wall_median_s"]
    load = [round(load_before, 2), round(os.getloadavg()[0], 2)]  # a shared machine skews wall times: say so
    latency = [{"model": Path(r["model"]).name, "runtime": r["runtime"], "batch": r["batch"],
                "p50_ms": round(r["latency_ms"]["p50"], 3),
                "ratio": None if r["ratio"] is None else float(f"{r['ratio']:.3g}")} for r in bench["results"]]
    result = {"schema": "portkit.bench-litert/1", "model": f"{ARCH} {SHAPE} (static)", "repeat": a.repeat,
              "conversions": rows, "speedup_litert_vs_onnx2tf": round(speedup, 2), "goal": ">= 2x",
              "coverage_bert_tiny": coverage,
              "latency": latency, "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                              "platform": platform.platform(), "load_average_1min": load}}
    (RESULTS / "litert-vs-onnx2tf.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [f"# litert-torch vs ONNX → onnx2tf: `portkit convert {ARCH}.pt2 --to tflite`", "",
          f"{ARCH} at {SHAPE} (static), end to end (CLI process start, conversion, validation), median of "
          f"{a.repeat}; {os.cpu_count()} CPUs, 1-minute load average {load[0]} before / {load[1]} after "
          "(other work on the machine slows both routes).", "",
          "| route | tools | wall (s) | hops (s) | validated | max rel | size |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['route']} | {', '.join(r['tools'])} | {r['wall_median_s']} | "
                  f"{', '.join(str(h) for h in r['hop_s'])} | {'yes' if r['passed'] else 'FAILED'} | "
                  f"{r['max_rel']:.2e} | {r['size_bytes'] / 1e6:.2f} MB |")
    md += ["", f"litert-torch is **{speedup:.1f}×** faster end to end than ONNX → onnx2tf (goal ≥ 2×).", "",
           "Coverage: tiny BERT (`examples.hf_models:bert_tiny`, int64 ids + mask, fixed 1×32):", "",
           "| route | wall (s) | result |", "|---|---|---|"]
    md += [f"| {c['route']} | {c['wall_s']} | "
           + (f"validated, max rel {c['max_rel']:.1e}" if c["passed"] else f"failed: {c['error']}") + " |"
           for c in coverage]
    md += ["", "Latency side by side (`portkit bench`, batch 1; ratio to the .pt2 source, whose torch run suffers "
           "most from a loaded machine: 2 intra-op threads on 2 shared cores):", "",
           "| model | runtime | p50 (ms) | ratio |", "|---|---|---|---|"]
    md += [f"| {x['model']} | {x['runtime']} | {x['p50_ms']} | {x['ratio'] if x['ratio'] is not None else '-'} |"
           for x in latency]
    (RESULTS / "litert-vs-onnx2tf.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
