"""`make bench`: the sample model across runtimes, one table, results in benchmarks/results/.

TorchScript (samples/digits_cnn.ts.pt) under torch, its ONNX export under onnxruntime (CPU, and CUDA when
this machine has it), and its TFLite conversion under LiteRT when the onnx→tflite route works here (else a
note says why it was skipped). Writes results/latest.json (the `portkit bench --json` schema),
results/latest.md (the table) and results/latest.html (plots, not committed).

    python benchmarks/run_all.py [--duration 2] [--batch 1,8,32] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MODELS = RESULTS / "_models"  # conversions cached between runs (ignored by git)
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))


def _convert(portkit, source: Path, to: str, out: Path, notes: list[str]) -> Path | None:
    if out.exists():
        return out
    t0 = time.perf_counter()
    try:
        portkit.convert(str(source), to, out, log=lambda m: print(m, file=sys.stderr))
    except portkit.PortkitError as e:
        notes.append(f"{to} skipped: converting {source.name} failed after {time.perf_counter() - t0:.0f} s "
                     f"({e.one_line()[:300]})")
        return None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=2.0, help="seconds per series")
    ap.add_argument("--batch", default="1,8,32")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--no-tflite", action="store_true", help="skip the (slow) onnx→tflite conversion")
    a = ap.parse_args(argv)

    import onnxruntime as ort

    import portkit
    from portkit.benchmark import bench
    from portkit.graph import edges
    from portkit.report_bench import write_html

    MODELS.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    ts = ROOT / "samples" / "digits_cnn.ts.pt"
    onnx_path = _convert(portkit, ts, "onnx", MODELS / "digits.onnx", notes)
    models = [ts] + ([onnx_path] if onnx_path else [])
    has_edge = any(e.source.value == "onnx" and e.target.value == "tflite" and e.available for e in edges())
    if a.no_tflite:
        notes.append("tflite skipped (--no-tflite)")
    elif not has_edge:
        notes.append("tflite skipped: no available onnx→tflite edge here (needs the tf extra)")
    elif onnx_path:
        tfl = _convert(portkit, onnx_path, "tflite", MODELS / "digits.tflite", notes)
        models += [tfl] if tfl else []
    providers = ["cpu"] + (["cuda"] if "CUDAExecutionProvider" in ort.get_available_providers() else [])
    result = bench([str(m) for m in models], providers=providers, batches=a.batch, duration=a.duration,
                   warmup=20, threads=a.threads, log=lambda m: print(m, file=sys.stderr))
    result.notes = notes + result.notes
    data = result.to_dict()
    for r in data["results"]:  # paths relative to the repository, so results compare across checkouts
        resolved = Path(r["model"]).resolve()
        r["model"] = str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else r["model"]
    (RESULTS / "latest.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    md = "# portkit bench — samples across runtimes\n\n`make bench` (benchmarks/run_all.py), " \
         f"{time.strftime('%Y-%m-%d')}, {a.duration:g} s per series.\n\n" + result.to_markdown()
    (RESULTS / "latest.md").write_text(md)
    write_html(result, RESULTS / "latest.html")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
