"""CUDA checks for `portkit bench`, run on a GPU machine (see docs/benchmarking.md):

1. the sample CNN under the CPU and CUDA providers, with and without IO binding, batches 1/8/32;
2. a model with an op the CUDA provider lacks: the fallback to the CPU is detected, the run is labelled
   `cuda+cpu` (never `cuda`), and --strict turns it into RuntimeUnavailable (exit 5);
3. harness fidelity under CUDA with IO binding (harness p50 / bare run_with_iobinding p50).

    python benchmarks/gpu_check.py MODEL.onnx --out DIR     # writes DIR/gpu-*.json and DIR/gpu-*.md
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def fallback_models(folder: Path) -> list[Path]:
    """Small float models each holding one op the CUDA provider may lack (Det, Unique), behind a MatMul."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out = []
    w = numpy_helper.from_array(np.eye(8, dtype=np.float32) * 2, "w")
    for op in ("Det", "Unique"):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8, 8])
        nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Relu", ["m"], ["r"])]
        if op == "Det":
            nodes.append(helper.make_node("Det", ["r"], ["y"]))
            y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch"])
        else:
            nodes.append(helper.make_node("Unique", ["r"], ["y"], sorted=1))
            y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])
        g = helper.make_graph(nodes, f"fallback_{op.lower()}", [x], [y], [w])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        p = folder / f"fallback_{op.lower()}.onnx"
        onnx.save(m, str(p))
        out.append(p)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--iterations", type=int, default=1000)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    import portkit.benchmark as pb
    from portkit.errors import RuntimeUnavailable

    summary: dict = {}
    # 1. the sample CNN, CPU vs CUDA, plain and IO-bound
    for io in (False, True):
        r = pb.bench([str(a.model)], providers=["cpu", "cuda"], batches=[1, 8, 32], iterations=a.iterations,
                     warmup=50, io_binding=io, log=print)
        tag = "iobinding" if io else "plain"
        (a.out / f"gpu-digits-{tag}.json").write_text(json.dumps(r.to_dict(), indent=2, default=str) + "\n")
        (a.out / f"gpu-digits-{tag}.md").write_text(f"# digits CNN, CPU vs CUDA ({tag})\n\n" + r.to_markdown())
        print(r.to_markdown())
        summary[f"digits_{tag}"] = [(m.provider, m.batch, round(m.stats.p50, 4)) for m in r.measurements]
    # 2. CPU fallback detection
    fb = []
    for model in fallback_models(a.out):
        try:
            r = pb.bench([str(model)], providers=["cuda"], batches=[4], iterations=200, warmup=10)
        except Exception as e:  # noqa: BLE001 - report whatever happens on the device
            fb.append({"model": model.name, "error": f"{type(e).__name__}: {e}"})
            continue
        m = r.measurements[0]
        entry = {"model": model.name, "requested": m.requested_provider, "labelled": m.provider,
                 "placement": m.placement, "notes": m.notes, "p50_ms": m.stats.p50}
        try:
            pb.bench([str(model)], providers=["cuda"], batches=[4], iterations=20, warmup=2, strict=True)
            entry["strict"] = "no error (no node fell back)"
        except RuntimeUnavailable as e:
            entry["strict"] = f"RuntimeUnavailable (exit {e.exit_code}): {e.one_line()}"
        fb.append(entry)
        model.unlink()
    (a.out / "gpu-fallback.json").write_text(json.dumps(fb, indent=2, default=str) + "\n")
    summary["fallback"] = fb
    # 3. fidelity under CUDA + IO binding
    from bench_fidelity import measure

    fid = [measure(a.model, "cuda", 1, rounds=10, per_round=500, io_binding=True),
           measure(a.model, "cuda", 1, rounds=10, per_round=500, io_binding=False),
           measure(a.model, "cpu", 1, rounds=10, per_round=500)]
    (a.out / "gpu-fidelity.json").write_text(json.dumps(fid, indent=2, default=str) + "\n")
    summary["fidelity"] = [(f["provider"], f["io_binding"], round(f["ratio_p50"], 4)) for f in fid]
    print(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
