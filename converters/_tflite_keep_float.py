"""TFLite int8 with layers kept in float (--keep-float): TensorFlow's QuantizationDebugger, whose
`denylisted_nodes` leave the named ops (by output tensor name) in float, and whose per-layer metrics rank
the layers for `--keep-float auto` (the per-channel SQNR of each op's int8 output against its float output
from the same inputs, as portkit.quantsense does for ONNX). Runs in the TF worker."""
from __future__ import annotations

from typing import Any

import numpy as np

from portkit.errors import converting
from portkit.quantsense import CAP_DB, check_layer_names

PASS_THROUGH = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE"}  # move values, compute nothing
SKIP_OPS = {"NUMERICVERIFY", "QUANTIZE", "DEQUANTIZE"}  # the debug model's own ops (names vary in case)


def _sqnr_db(float_tensors: Any, quant_tensors: Any, scale: float, zero_point: int) -> float:
    """Per-channel (last axis: NHWC / features) SQNR of one op's int8 output, averaged over live channels."""
    f = np.concatenate([np.asarray(x, np.float64).reshape(-1, np.shape(x)[-1] if np.ndim(x) else 1)
                        for x in float_tensors])
    q = np.concatenate([(np.asarray(x, np.float64) - zero_point).reshape(-1, np.shape(x)[-1] if np.ndim(x) else 1)
                        for x in quant_tensors]) * scale
    sig, err = (f * f).sum(0), ((f - q) ** 2).sum(0)
    live = sig > 0
    if not live.any():
        return CAP_DB
    return float(np.minimum(10 * np.log10(sig[live] / np.maximum(err[live], 1e-30)), CAP_DB).mean())


def _graph(debugger: Any) -> tuple[dict[int, str], dict[str, str], dict[int, list[int]], dict[str, int]]:
    """The quantized layers of the debug model: {tensor index: layer name}, {layer: op}, {tensor index:
    indices of the layers reading it} and {NumericVerify tensor: index}. A layer's name is its op's float
    output tensor, the name `denylisted_nodes` takes."""
    interp = debugger._quant_interpreter  # noqa: SLF001 - the debug model's op graph has no public accessor
    verify = {d["name"]: debugger._get_operand_name_and_index(d["name"])  # noqa: SLF001
              for d in debugger._get_numeric_verify_tensor_details()}  # noqa: SLF001
    names = {idx: name for name, idx in verify.values()}
    ops: dict[str, str] = {}
    readers: dict[int, list[int]] = {}
    for op in interp._get_ops_details():  # noqa: SLF001
        if op["op_name"].upper().replace("_", "") in SKIP_OPS or not len(op["outputs"]):
            continue
        out = int(op["outputs"][0])
        if out in names:
            ops[names[out]] = op["op_name"]
        for i in op["inputs"]:
            readers.setdefault(int(i), []).append(out)
    return names, ops, readers, {k: v[1] for k, v in verify.items()}


def _owners(idx: int, by_index: dict[int, str], ops: dict[str, str], readers: dict[int, list[int]]) -> set[str]:
    """The layers that must be float for tensor `idx` to stay float: its producer and readers, and through
    a pass-through op (reshape, ...) the readers of that op's output as well."""
    out = {by_index[idx]}
    todo = list(readers.get(idx, []))
    while todo:
        r = todo.pop()
        if r not in by_index or by_index[r] in out:
            continue
        out.add(by_index[r])
        if ops.get(by_index[r], "").upper() in PASS_THROUGH:
            todo += readers.get(r, [])
    return out


def quantize_keep_float(t: Any, converter: Any, keep_float: tuple[str, ...],
                        where: str) -> tuple[bytes, dict[str, Any]]:
    """The int8 model with `keep_float` ops float, or for ("auto",) the full int8 model plus
    `{"sensitivity": ...}` (layers, tensors worst first) for portkit.prep.keep_float. `t`: tensorflow, as
    _tf_common loaded it (it calls this module: importing it back would make a cycle)."""
    auto = keep_float == ("auto",)
    names = [] if auto else list(keep_float)
    dataset = converter.representative_dataset
    with converting("TFLite int8 with float layers (QuantizationDebugger)"):
        debugger = t.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=dataset,
            debug_options=t.lite.experimental.QuantizationDebugOptions(
                layer_direct_compare_metrics={"sqnr_db": _sqnr_db}))
    by_index, layers, readers, verify_index = _graph(debugger)
    md: dict[str, Any] = {}
    if names:
        check_layer_names(names, list(layers), where)
        with converting("TFLite int8 with float layers (QuantizationDebugger)"):
            debugger.options = t.lite.experimental.QuantizationDebugOptions(denylisted_nodes=names)
    if auto:
        with converting("TFLite per-layer sensitivity (QuantizationDebugger)"):
            debugger.run()
        rows = []
        for key, st in debugger.layer_statistics.items():
            idx = verify_index.get(key)
            if idx is None or st.get("sqnr_db") is None or not np.isfinite(st["sqnr_db"]):
                continue
            rows.append({"tensor": by_index[idx], "sqnr_db": round(float(st["sqnr_db"]), 2),
                         "layers": sorted(_owners(idx, by_index, layers, readers))})
        rows.sort(key=lambda r: r["sqnr_db"])
        # pass-through ops are kept float with their neighbours but are not counted as layers
        per_layer = {n: {"op": op, "sqnr_db": None, **({"free": True} if op.upper() in PASS_THROUGH else {})}
                     for n, op in layers.items()}
        for r in reversed(rows):
            for n in r["layers"]:
                if n in per_layer:
                    per_layer[n]["sqnr_db"] = r["sqnr_db"]
        md["sensitivity"] = {"layers": per_layer, "tensors": rows,
                             "samples": sum(1 for _ in dataset())}
    with converting("TFLite int8 with float layers (QuantizationDebugger)"):
        data = debugger.get_nondebug_quantized_model()
    md["keep_float_nodes"] = names
    return data, md
