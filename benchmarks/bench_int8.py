"""int8 that keeps its accuracy (`--keep-float auto`), measured in one run.

1. The int8-sensitive model (samples/sensitive.py: one layer with an outlier channel) on all three runtimes
   — onnxruntime (ONNX QDQ), LiteRT (TFLite via onnx2tf + the TFLiteConverter) and ExecuTorch (XNNPACK, from
   the model's .pt2) — plain int8 and `--keep-float auto`, gate `--min-agreement 0.98`, judged on the
   calibration data (64 samples).
2. Corpus CNNs built as the coverage corpus builds them (benchmarks/corpus_models.py: torchvision, seeded
   random weights, BatchNorm statistics measured on random batches, 10 classes, 64×64): torch → ONNX, then
   ONNX int8 with `--keep-float auto` and the same gate, calibrated and judged on 64 random images in the
   range the BatchNorm statistics were measured on ([-1, 1]). Goal: top-1 agreement ≥ 0.98 with ≤ 10 % of
   the quantized layers float, ≥ 2× smaller than float.

    python benchmarks/bench_int8.py [--only sensitive|corpus] [--models resnet18,...]

Writes benchmarks/results/int8.{json,md}. Numbers are as measured; a goal not reached says so.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))
GATE = 0.98
CORPUS = ("resnet18", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "regnet_x_400mf", "squeezenet1_1")


def _agreement(res: Any) -> float | None:
    from portkit.gate_report import agreement_of, validation_of

    v = validation_of(res.to_dict()) if res is not None else None
    return agreement_of(v) if v else None


def _convert(src: str, to: str, out: Path, **kw: Any) -> dict[str, Any]:
    """One conversion through the API; failures (validation, gate, out-of-reach) are rows too."""
    import portkit
    from portkit.errors import PortkitError
    from portkit.gate_report import GateFailed

    t = time.perf_counter()
    row: dict[str, Any] = {"to": to, "keep_float": kw.get("keep_float") or None}
    try:
        res = portkit.convert(src, to, out, gates={"min_agreement": GATE}, **kw)
        row.update(exit=0, passed=True)
    except GateFailed as e:
        res = e.result
        row.update(exit=1, passed=False, error=e.one_line())
    except PortkitError as e:
        res = getattr(e, "result", None)
        row.update(exit=e.exit_code, passed=False, error=e.one_line())
    row["seconds"] = round(time.perf_counter() - t, 1)
    if res is not None:
        md = res.output.metadata
        kept = md.get("keep_float") or {}
        row.update(agreement=_agreement(res), bytes=res.output.size_bytes(),
                   float_layers=kept.get("layers"), quantized_layers=kept.get("quantized_layers"),
                   tries=len(kept.get("tries") or []), compare=kept.get("compare"))
    return row


def sensitive(work: Path) -> list[dict[str, Any]]:
    import portkit
    from samples.sensitive import write

    model, calib, _ = write(work)
    pt2 = work / "sensitive.pt2"
    portkit.convert(model, "pt2", pt2, inputs=str(calib))  # the ExecuTorch rows start from its .pt2
    rows = []
    for runtime, src, to, suffix in (("onnxruntime", model, "onnx", ".onnx"), ("litert", model, "tflite", ".tflite"),
                                     ("executorch", pt2, "executorch", ".pte")):
        for mode in (None, "auto"):
            out = work / f"{runtime}-{mode or 'plain'}{suffix}"
            row = _convert(str(src), to, out, quantize="int8", calibration=str(calib),
                           **({"keep_float": mode} if mode else {}))
            row["runtime"] = runtime
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def corpus(work: Path, models: list[str]) -> list[dict[str, Any]]:
    import numpy as np

    import portkit

    calib = work / "images.npz"
    x = np.random.default_rng(3).uniform(-1, 1, (64, 3, 64, 64)).astype("float32")
    np.savez(calib, x=x)
    rows = []
    for arch in models:
        float_onnx = work / f"{arch}.onnx"
        row: dict[str, Any] = {"model": arch}
        try:
            portkit.convert("benchmarks.corpus_models:torchvision_model", "onnx", float_onnx,
                            model_args={"arch": arch}, input_shapes=[1, 3, 64, 64], inputs=str(calib))
        except Exception as e:  # noqa: BLE001 - a model that does not export is a row, not the end of the run
            row.update(error=f"float export: {e}")
            rows.append(row)
            continue
        row["float_bytes"] = float_onnx.stat().st_size
        for mode in (None, "auto"):
            out = work / f"{arch}.{mode or 'plain'}.int8.onnx"
            r = _convert(str(float_onnx), "onnx", out, quantize="int8", calibration=str(calib),
                         **({"keep_float": mode} if mode else {}))
            row[mode or "plain"] = r
        auto = row["auto"]
        if auto.get("bytes"):
            row["smaller"] = round(row["float_bytes"] / auto["bytes"], 2)
        n, k = auto.get("quantized_layers"), auto.get("float_layers")
        row["float_share"] = round(len(k) / n, 3) if n and k is not None else (0.0 if auto.get("passed") else None)
        row["goal"] = bool(auto.get("passed") and (row["float_share"] or 0) <= 0.10 and row.get("smaller", 0) >= 2)
        print(json.dumps({k: v for k, v in row.items() if k not in ("plain", "auto")}
                         | {"plain_agreement": row["plain"].get("agreement"),
                            "auto_agreement": auto.get("agreement"), "kept": k}), flush=True)
        rows.append(row)
    return rows


def _md(result: dict[str, Any]) -> str:
    lines = ["# int8 with `--keep-float auto`", "",
             f"Measured {result['date']} on {result['machine']} (load average {result['load']}), "
             f"gate min_agreement {GATE}; `python benchmarks/bench_int8.py`.", ""]
    if result.get("sensitive"):
        lines += ["## The outlier-sensitive model (samples/sensitive.py), judged on its 64 calibration samples", "",
                  "| runtime | int8 | exit | top-1 agreement | float layers | size | seconds |",
                  "|---|---|---|---|---|---|---|"]
        for r in result["sensitive"]:
            kept = r.get("float_layers")
            agree = "-" if r.get("agreement") is None else f"{r['agreement']:.3f}"
            layers = "-" if kept is None else f"{len(kept)} of {r.get('quantized_layers')}"
            mode = "keep-float auto" if r["keep_float"] else "plain"
            lines.append(f"| {r['runtime']} | {mode} | {r['exit']} | {agree} | {layers} | "
                         f"{(r.get('bytes') or 0) / 1024:.1f} KB | {r['seconds']} |")
        lines.append("")
    if result.get("corpus"):
        lines += ["## Corpus CNNs (torchvision, conditioned as the coverage corpus), ONNX int8", "",
                  "| model | plain int8 agreement | size float → plain int8 | keep-float auto | float layers | "
                  "goal |", "|---|---|---|---|---|---|"]
        for r in result["corpus"]:
            if "error" in r:
                lines.append(f"| {r['model']} | error: {r['error'][:80]} | | | | no |")
                continue
            a, p = r["auto"], r["plain"]
            agree = "-" if p.get("agreement") is None else f"{p['agreement']:.3f}"
            size = "-"
            if p.get("bytes"):
                ratio = r["float_bytes"] / p["bytes"]
                size = f"{r['float_bytes'] / 1e6:.1f} MB → {p['bytes'] / 1e6:.1f} MB ({ratio:.1f}×)"
            if a.get("passed"):
                auto = f"{a['agreement']:.3f}, {r.get('smaller')}× smaller"
                kept = f"{len(a.get('float_layers') or [])} of {a.get('quantized_layers')}"
            else:  # the search's own one line: the limit and its best try
                msg = (a.get("error") or "").split(": ", 1)[-1].split(" — ")[0]
                auto, kept = f"exit {a.get('exit')}: {msg}", "-"
            lines.append(f"| {r['model']} | {agree} | {size} | {auto} | {kept} | {'yes' if r['goal'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["sensitive", "corpus"])
    ap.add_argument("--models", default=",".join(CORPUS))
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--render", action="store_true", help="only rewrite int8.md from --out's int8.json")
    args = ap.parse_args()
    if args.render:
        result = json.loads((Path(args.out) / "int8.json").read_text())
        (Path(args.out) / "int8.md").write_text(_md(result))
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                              "load": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="portkit-int8-") as tmp:
        work = Path(tmp)
        if args.only in (None, "sensitive"):
            result["sensitive"] = sensitive(work / "sensitive")
        if args.only in (None, "corpus"):
            (work / "corpus").mkdir()
            result["corpus"] = corpus(work / "corpus", args.models.split(","))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "int8.json").write_text(json.dumps(result, indent=1, default=str))
    (out / "int8.md").write_text(_md(result))
    print(_md(result))


if __name__ == "__main__":
    main()
