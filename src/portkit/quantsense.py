"""Per-layer int8 sensitivity, and the choices `--keep-float` makes from it.

A quantized layer hurts through the tensors it quantizes. For each activation tensor that int8 quantizes,
the sensitivity is the noise that quantizing *that tensor alone* adds: the float model's own activations on
the calibration data, fake-quantized with the scale/zero point the quantizer chose, compared per channel
(signal-to-quantization-noise ratio, dB, averaged over the channels that carry signal). Per channel because
the failure int8 users meet is an outlier channel stretching a per-tensor range until the other channels
round to zero: onnxruntime.quantization.qdq_loss_debug flattens each tensor, so its SQNR is dominated by the
outlier and misses exactly that (we read the quantizer's scales from the QDQ model instead, as it does).
Keeping a tensor float means keeping every layer that quantizes it (its producer and its consumers), so
the auto fallback takes the worst tensors' layer sets one at a time (portkit.prep.keep_float).

`onnx_sensitivity` runs in a worker (onnxruntime only); the rest is numpy.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BadInput

__all__ = ["AUTO", "check_layer_names", "default_limit", "counted", "keep_float_sets", "onnx_layers",
           "onnx_sensitivity"]

AUTO = "auto"
CAP_DB = 60.0  # a channel quantized this cleanly is as good as float; caps the average
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


def default_limit(layers: int) -> int:
    """--keep-float-max's default: 10 % of the quantized layers, at least two — keeping one tensor float
    takes the layer that writes it and the one that reads it."""
    return max(2, math.ceil(0.1 * layers))


def check_layer_names(names: Sequence[str], layers: Sequence[str], where: str) -> None:
    """One line for a --keep-float name that is no layer of the model (with the layers it has)."""
    missing = [n for n in names if n not in set(layers)]
    if missing:
        shown = ", ".join(list(layers)[:12]) + (", ..." if len(layers) > 12 else "")
        raise BadInput(f"--keep-float: no layer named {', '.join(repr(m) for m in missing)} in {where}",
                       hint=f"its layers are: {shown} (or pass --keep-float auto)")


def onnx_layers(qdq_path: str | Path) -> dict[str, str]:
    """{node name: op type} of the layers int8 quantized in a QDQ model: nodes that read a dequantized
    tensor (weights or activations)."""
    import onnx

    graph = onnx.load(str(qdq_path), load_external_data=False).graph
    dq_out = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    return {n.name: n.op_type for n in graph.node
            if n.op_type not in QDQ_OPS and n.name and any(i in dq_out for i in n.input)}


def _activation_quant(graph: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{tensor: (scale, zero point)} of every QuantizeLinear on an activation (not an initializer)."""
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    consts = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in graph.node
              if n.op_type == "Constant" and n.attribute and n.attribute[0].type == 4}
    values = {**consts, **inits}
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for n in graph.node:
        if n.op_type == "QuantizeLinear" and n.input[0] not in values and n.input[1] in values:
            zp = values.get(n.input[2]) if len(n.input) > 2 and n.input[2] else np.array(0, np.uint8)
            out[n.input[0]] = (values[n.input[1]], zp)
    return out


def _fake_quant(x: np.ndarray, scale: np.ndarray, zp: np.ndarray) -> np.ndarray:
    lo, hi = (np.iinfo(zp.dtype).min, np.iinfo(zp.dtype).max) if zp.dtype.kind in "iu" else (-128, 127)
    s = scale.astype(np.float64)
    q = np.clip(np.round(x / s) + zp.astype(np.float64), lo, hi)
    return (q - zp.astype(np.float64)) * s


def onnx_sensitivity(float_path: str, qdq_path: str, batches: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    """Per-tensor and per-layer sensitivity of a QDQ model against its float model, on `batches`.

    Returns {"layers": {name: {"op", "sqnr_db"}}, "tensors": [{"tensor", "sqnr_db", "layers"}] worst
    first}; a layer's sqnr_db is that of the worst tensor it quantizes."""
    import onnx
    import onnxruntime as ort

    qdq = onnx.load(qdq_path, load_external_data=False).graph
    layers = onnx_layers(qdq_path)
    quant = _activation_quant(qdq)
    # which layers quantize each tensor: its producer (when that is a layer) and its readers
    q_out = {n.output[0]: n.input[0] for n in qdq.node if n.op_type == "QuantizeLinear"}
    dq_src = {n.output[0]: q_out.get(n.input[0]) for n in qdq.node if n.op_type == "DequantizeLinear"}
    owners: dict[str, set[str]] = {t: set() for t in quant}
    for n in qdq.node:
        if n.name in layers:
            for i in n.input:
                if dq_src.get(i) in owners:
                    owners[dq_src[i]].add(n.name)
            for o in n.output:
                if o in owners:
                    owners[o].add(n.name)
    model = onnx.load(float_path)
    have = {o for n in model.graph.node for o in n.output} | {i.name for i in model.graph.input}
    tensors = [t for t in quant if t in have and owners[t]]
    known = {o.name for o in model.graph.output}
    for t in tensors:
        if t not in known:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(t))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every tensor
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    signal: dict[str, np.ndarray] = {}
    noise: dict[str, np.ndarray] = {}
    for feeds in batches:
        got = dict(zip(names, sess.run(None, feeds), strict=True))
        for t in tensors:
            x = np.asarray(got[t] if t in got else feeds[t], dtype=np.float64)
            err = x - _fake_quant(x, *quant[t])
            # channel axis 1 ([N, C, ...]); a vector is one channel
            axes = (0, *range(2, x.ndim)) if x.ndim >= 2 else tuple(range(x.ndim))
            s, e = (x * x).sum(axis=axes), (err * err).sum(axis=axes)
            signal[t] = signal.get(t, 0) + np.atleast_1d(s)
            noise[t] = noise.get(t, 0) + np.atleast_1d(e)
    rows = []
    for t in tensors:
        live = signal[t] > 0
        if not live.any():
            continue
        db = 10 * np.log10(signal[t][live] / np.maximum(noise[t][live], 1e-30))
        rows.append({"tensor": t, "sqnr_db": round(float(np.minimum(db, CAP_DB).mean()), 2),
                     "layers": sorted(owners[t])})
    rows.sort(key=lambda r: r["sqnr_db"])
    per_layer: dict[str, dict[str, Any]] = {n: {"op": op, "sqnr_db": None} for n, op in layers.items()}
    for r in reversed(rows):  # worst last, so it wins
        for n in r["layers"]:
            per_layer[n]["sqnr_db"] = r["sqnr_db"]
    return {"layers": per_layer, "tensors": rows, "samples": int(sum(
        next(iter(b.values())).shape[0] for b in batches))}


def counted(layers: dict[str, dict[str, Any]]) -> int:
    """How many layers count against the limit (pass-through ops like Reshape, `free`, do not)."""
    return sum(1 for r in layers.values() if not r.get("free"))


def keep_float_sets(tensors: list[dict[str, Any]], limit: int, free: set[str] | None = None) -> list[list[str]]:
    """The layer sets the auto fallback tries, growing one sensitive tensor (its layers) at a time, worst
    first, never more than `limit` layers (those in `free` not counted)."""
    free = free or set()
    sets: list[list[str]] = []
    kept: list[str] = []
    for r in tensors:
        new = [n for n in r["layers"] if n not in kept]
        if not new:
            continue
        if len([n for n in kept + new if n not in free]) > limit:
            continue  # too many at once: a later, smaller set may still fit
        kept = kept + new
        sets.append(list(kept))
    return sets
