"""Does `--locate` find the layer that is wrong, and what does it cost? → results/locate.{json,md}

For each architecture (torchvision CNNs, a ViT, a BERT, Keras CNN / LSTM / Conv1D, all conditioned as the
coverage corpus's: benchmarks/corpus_models.py) and each pairing portkit converts between — PyTorch eager,
.pt2 and TorchScript ↔ ONNX, ONNX ↔ ONNX, ONNX ↔ TFLite (onnx2tf), .pt2 ↔ TFLite (litert-torch), ONNX ↔
TorchScript (onnx2torch), Keras ↔ TFLite, Keras ↔ ONNX — a fault is
injected in weighted layer k of the converted artifact with portkit.locate.inject (the tool the tests use):
one layer's weights scaled by 1.5 (`weight`), an attribute changed (`attribute`: TFLite fused activation,
ONNX Conv padding moved to one side or Softmax axis, TorchScript convolution dilation or softmax dim; see
portkit.locate.inject), the weights read with two axes swapped (`transpose`). A case is located when the
first divergence `--locate` reports is that layer, named on the graph side (the ONNX node whose weights
are the faulted ones, found by value, or the node onnx2torch named the faulted module after; the Keras
layer likewise). A fault that cannot be injected is listed as n/a with the reason and counted apart.
Cost: one `validate` of the clean pair against one locate of the faulty pair, each from a cold start, as
`portkit validate` and `portkit validate --locate` run them.

    python benchmarks/bench_locate.py [--only resnet18,bert] [--ks 1,4] [--out benchmarks/results]

Each architecture runs in its own process (one at a time); partial results are kept after each one.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# name -> (kind, builder arguments)
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "resnet18": ("torchvision", {"arch": "resnet18"}),
    "mobilenet_v3_small": ("torchvision", {"arch": "mobilenet_v3_small"}),
    "squeezenet1_1": ("torchvision", {"arch": "squeezenet1_1"}),
    "efficientnet_b0": ("torchvision", {"arch": "efficientnet_b0"}),
    "vit_tiny": ("torchvision", {"arch": "vit_tiny"}),
    "bert": ("hf", {"kind": "bert"}),
    "keras_mobilenet_v2": ("keras", {"kind": "app", "name": "MobileNetV2"}),
    "keras_conv1d": ("keras", {"kind": "own", "name": "conv1d"}),
    "keras_lstm": ("keras", {"kind": "own", "name": "lstm"}),
}
FAULTS = ("weight", "attribute", "transpose")
TIMED = ("onnx-tflite", "keras-tflite")  # the pair whose cold validate vs locate is timed
ACTIVATIONS = {"Relu", "Clip", "Relu6", "HardSwish", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid"}


def _source(kind: str, args: dict[str, Any], work: Path, pool: Any) -> tuple[Any, str]:
    """(the reference Artifact, its location for portkit.convert)."""
    from portkit.conversion import source_artifact
    from portkit.options import ConvertOptions

    if kind == "keras":
        out = str(work / f"{args['name']}.keras")
        pool.get("tf").call("benchmarks.corpus_models", "keras_file", args["kind"], args["name"], out)
        return source_artifact(out, ConvertOptions()), out
    factory = "benchmarks.corpus_models:" + ("torchvision_model" if kind == "torchvision" else "hf_model")
    return source_artifact(factory, ConvertOptions(model_args=args)), factory


def _expected(pair: str, info: dict[str, Any], graph_path: str, pool: Any) -> str | None:
    from portkit.locate.inject import onnx_node_of_weight

    if pair.endswith("-onnx"):  # the fault is in the ONNX itself: its node
        return info["layer"]
    if pair == "pt2-tflite":  # litert-torch: the program's FX node holding those weights
        return pool.get("torch").call("portkit.locate.inject", "pt2_node_of_weight", graph_path, info["original"],
                                      bool(info.get("removed_activation")))
    if pair.startswith("keras-"):
        return pool.get("tf").call("portkit.locate.inject", "keras_layer_of_weight", graph_path, info["original"],
                                   bool(info.get("removed_activation")))
    if info.get("original") is None:  # a TorchScript attribute: onnx2torch names each module after its node
        from portkit.locate.inject import onnx_node_of_module

        return onnx_node_of_module(graph_path, info["layer"])
    node = onnx_node_of_weight(graph_path, info["original"])
    if info.get("removed_activation") and node:  # the fused activation is the ONNX node after the weighted one
        import onnx

        g = onnx.load(graph_path).graph
        outs = next((list(n.output) for n in g.node if n.name == node), [])
        return next((n.name for n in g.node if n.op_type in ACTIVATIONS and set(n.input) & set(outs)), node)
    return node


def _converter(reuse: bool) -> Any:
    """portkit.convert, or with `reuse` the file an earlier run of this benchmark wrote there (--reuse: the
    conversions are not what is measured; the converters are the same)."""
    import portkit
    from portkit.artifact import Artifact
    from portkit.formats import Format

    def convert(src: str, to: str, out: Path, **kw: Any) -> Any:
        if reuse and Path(out).exists():
            return Artifact(str(out), Format(to))
        return portkit.convert(src, to, out, validate=False, **kw).output
    return convert


def run_model(name: str, ks: list[int], work: str, reuse: bool = False) -> dict[str, Any]:
    """Every pair × fault × k of one architecture (in a fresh process)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import portkit
    from portkit.artifact import Artifact
    from portkit.formats import Format
    from portkit.locate import locate_divergence
    from portkit.options import ValidateOptions
    from portkit.workers import WorkerPool

    kind, args = MODELS[name]
    convert = _converter(reuse)
    folder = Path(work) / name
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    timing: list[dict[str, Any]] = []
    opts = ValidateOptions(batches=(1,))
    with WorkerPool() as pool:
        ref, loc = _source(kind, args, folder, pool)
        model_args = args if kind != "keras" else None
        made: dict[str, tuple[Any, Any, str]] = {}  # pair -> (reference Artifact, clean candidate, graph path)
        try:
            onnx = convert(loc, "onnx", folder / "m.onnx", model_args=model_args)
        except Exception as e:  # noqa: BLE001 - a route that fails is reported, not fatal
            return {"model": name, "error": f"to onnx: {e}"[:300], "rows": [], "timing": []}
        if kind == "keras":
            made["keras-onnx"] = (ref, onnx, onnx.location)
            for pair, to in (("keras-tflite", "tflite"),):
                try:
                    made[pair] = (ref, convert(loc, to, folder / f"k.{to}"), loc)
                except Exception as e:  # noqa: BLE001
                    rows.append({"model": name, "pair": pair, "error": str(e)[:300]})
        else:
            made["torch-onnx"] = (ref, onnx, onnx.location)
            made["onnx-onnx"] = (onnx, onnx, onnx.location)
            for pair, to, out in (("onnx-tflite", "tflite", "m.tflite"), ("onnx-torchscript", "torchscript", "m.pt")):
                try:
                    made[pair] = (onnx, convert(onnx.location, to, folder / out), onnx.location)
                except Exception as e:  # noqa: BLE001
                    rows.append({"model": name, "pair": pair, "error": str(e)[:300]})
            # the other PyTorch sources: a .pt2 (→ ONNX, → TFLite by litert-torch) and a TorchScript (→ ONNX)
            # (litert-torch reshapes with concrete sizes only: its .pt2 is a fixed-shape one)
            for pair, steps in (("pt2-onnx", (("pt2", "s.pt2", {}), ("onnx", "pt2.onnx", {}))),
                                ("pt2-tflite", (("pt2", "s_static.pt2", {"dynamic": False}),
                                                ("tflite", "lt.tflite", {"tool": "litert-torch"}))),
                                ("torchscript-onnx", (("torchscript", "s.pt", {}), ("onnx", "ts.onnx", {})))):
                try:
                    (to0, out0, kw0), (to1, out1, kw) = steps
                    src = folder / out0
                    first = Artifact(str(src), Format(to0)) if src.exists() else convert(
                        loc, to0, src, model_args=model_args, **kw0)
                    cand = convert(first.location, to1, folder / out1, **kw)
                    made[pair] = (first, cand, cand.location if to1 == "onnx" else first.location)
                except Exception as e:  # noqa: BLE001
                    rows.append({"model": name, "pair": pair, "error": str(e)[:300]})
        for pair, (r, c, graph_path) in made.items():
            family = c.format.info.family or "torch"
            suffix = Path(c.location).suffix
            for fault in FAULTS:
                for k in ks:
                    bad = folder / f"bad_{pair}_{fault}_{k}{suffix}"
                    row: dict[str, Any] = {"model": name, "pair": pair, "fault": fault, "k": k}
                    try:
                        info = pool.get(family).call("portkit.locate.inject", "inject", c.location, str(bad), fault, k)
                    except Exception as e:  # noqa: BLE001 - this fault does not apply to that layer
                        row.update(applicable=False, why=str(e).splitlines()[0][:200])
                        rows.append(row)
                        continue
                    row["injected"] = info["layer"]
                    row["expected"] = _expected(pair, info, graph_path, pool)
                    t0 = time.perf_counter()
                    try:
                        rep = locate_divergence(r, Artifact(str(bad), c.format), opts, pool=pool)
                    except Exception as e:  # noqa: BLE001
                        row.update(applicable=True, located=False, error=str(e).splitlines()[0][:300])
                        rows.append(row)
                        continue
                    first = rep.get("first_divergence") or {}
                    row.update(applicable=True, seconds=round(time.perf_counter() - t0, 2),
                               found=first.get("node"), located=bool(first) and first.get("node") == row["expected"],
                               compared=rep.get("compared"), matched=rep.get("matched"))
                    rows.append(row)
            # cost: a cold validate of the clean pair against a cold locate of a faulty one (CLI-like)
            bad = folder / f"bad_{pair}_weight_{ks[0]}{suffix}"
            if bad.exists() and pair in TIMED:  # one pair per architecture: each costs two cold starts
                t0 = time.perf_counter()
                portkit.validate(r.location, c.location, batches=(1,),
                                 reference_options={"model_args": model_args} if r.format is Format.TORCH else None)
                t_val = time.perf_counter() - t0
                t0 = time.perf_counter()
                locate_divergence(r, Artifact(str(bad), c.format), opts)
                t_loc = time.perf_counter() - t0
                timing.append({"model": name, "pair": pair, "validate_s": round(t_val, 2),
                               "locate_s": round(t_loc, 2), "ratio": round(t_loc / t_val, 2)})
    return {"model": name, "rows": rows, "timing": timing}


def _child(name: str, ks: list[int], work: str, reuse: bool, q: Any) -> None:
    try:
        q.put(run_model(name, ks, work, reuse))
    except BaseException as e:  # noqa: BLE001 - one architecture's failure is a row, not the end
        q.put({"model": name, "error": f"{type(e).__name__}: {e}"[:400], "trace": traceback.format_exc()[-800:],
               "rows": [], "timing": []})


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [r for res in results for r in res["rows"] if r.get("applicable")]
    not_applicable = [r for res in results for r in res["rows"] if not r.get("applicable", True)]
    failed = [res["model"] for res in results if res.get("error")] + \
        [f"{r['model']} {r['pair']}" for res in results for r in res["rows"] if "applicable" not in r]
    located = [r for r in rows if r.get("located")]
    by_pair: dict[str, list[int]] = {}
    for r in rows:
        t = by_pair.setdefault(r["pair"], [0, 0])
        t[0] += bool(r.get("located"))
        t[1] += 1
    timing = [t for res in results for t in res["timing"]]
    ratios = sorted(t["ratio"] for t in timing)
    return {"cases": len(rows), "located": len(located), "not_injected": len(not_applicable), "failed": failed,
            "rate": len(located) / len(rows) if rows else None,
            "by_pair": {p: {"located": a, "cases": b} for p, (a, b) in by_pair.items()},
            "architectures": sorted({r["model"] for r in rows}),
            "cost_ratio_median": ratios[len(ratios) // 2] if ratios else None,
            "cost_ratio_max": ratios[-1] if ratios else None}


def write(results: list[dict[str, Any]], out: Path, meta: dict[str, Any]) -> None:
    s = summarize(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "locate.json").write_text(json.dumps({"meta": meta, "summary": s, "results": results}, indent=1,
                                                default=str))
    md = ["# --locate: injected faults found, and cost", "",
          f"Measured {meta['date']} on {meta['machine']} (load {meta['load']}), ks = {meta['ks']}. "
          "Goals: ≥ 95 % of injected faults located exactly at their layer; a locate ≤ 3× one validation.", "",
          f"**Located: {s['located']} / {s['cases']}"
          + (f" ({100 * s['rate']:.1f} %)" if s["rate"] is not None else "") + f"** over "
          f"{len(s['architectures'])} architectures; cost ratio locate / validate: median "
          f"{s['cost_ratio_median']}, max {s['cost_ratio_max']}. Faults that could not be injected (n/a, not "
          f"counted): {s['not_injected']}; architectures or pairs that failed to convert: "
          f"{', '.join(s['failed']) or 'none'}. Load average at the end: {meta.get('load_end', '?')}.", "",
          "| pair | located | cases |", "|---|---|---|"]
    md += [f"| {p} | {v['located']} | {v['cases']} |" for p, v in sorted(s["by_pair"].items())]
    by_model: dict[str, list[int]] = {}
    for res in results:
        for r in res["rows"]:
            if r.get("applicable"):
                t = by_model.setdefault(res["model"], [0, 0])
                t[0] += bool(r.get("located"))
                t[1] += 1
    md += ["", "| model | located | cases |", "|---|---|---|"]
    md += [f"| {m} | {a} | {b} |" for m, (a, b) in by_model.items()]
    md += ["", "| model | pair | fault | k | expected | found | located |", "|---|---|---|---|---|---|---|"]
    for res in results:
        if res.get("error"):
            md.append(f"| {res['model']} | — | — | — | error: {res['error'][:120]} | | |")
        for r in res["rows"]:
            if not r.get("applicable", True) or r.get("error"):
                why = r.get("why") or r.get("error") or ""
                md.append(f"| {r['model']} | {r['pair']} | {r.get('fault', '')} | {r.get('k', '')} | "
                          f"n/a: {why[:100].replace('|', '/')} | | |")
                continue
            md.append(f"| {r['model']} | {r['pair']} | {r['fault']} | {r['k']} | {r['expected']} | {r['found']} | "
                      f"{'yes' if r['located'] else 'NO'} |")
    md += ["", "| model | pair | validate s | locate s | ratio |", "|---|---|---|---|---|"]
    md += [f"| {t['model']} | {t['pair']} | {t['validate_s']} | {t['locate_s']} | {t['ratio']} |"
           for res in results for t in res["timing"]]
    (out / "locate.md").write_text("\n".join(md) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--ks", default="1,4", help="weighted-layer indices to fault")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--work", default="/tmp/portkit-bench-locate")
    ap.add_argument("--reuse", action="store_true", help="reuse the converted files already in --work")
    ap.add_argument("--keep", action="store_true", help="keep the other architectures' results already in --out")
    a = ap.parse_args()
    names = [n for n in a.only.split(",") if n] or list(MODELS)
    ks = [int(k) for k in a.ks.split(",")]
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": f"{os.cpu_count()} CPUs",
            "load": round(os.getloadavg()[0], 2), "ks": ks}
    results: list[dict[str, Any]] = []
    old = Path(a.out) / "locate.json"
    if a.keep and old.is_file():  # earlier runs' architectures, each from its own measured run
        results = [r for r in json.loads(old.read_text())["results"] if r["model"] not in names]
        meta["kept"] = [r["model"] for r in results]
    ctx = mp.get_context("spawn")
    for name in names:
        q = ctx.Queue()
        p = ctx.Process(target=_child, args=(name, ks, a.work, a.reuse, q))
        p.start()
        try:
            res = q.get(timeout=1800)
        except Exception:  # noqa: BLE001 - a hung architecture is reported as such
            res = {"model": name, "error": "timed out", "rows": [], "timing": []}
        p.join(timeout=60)
        results.append(res)
        meta["load_end"] = round(os.getloadavg()[0], 2)
        write(results, Path(a.out), meta)
        print(f"{name}: " + json.dumps(summarize([res])), flush=True)


if __name__ == "__main__":
    main()
