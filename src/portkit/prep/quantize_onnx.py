"""ONNX quantization and fp16: onnxruntime.quantization (dynamic, static QDQ int8) and an fp16 cast.

Runs inside a worker (see portkit.prep.steps). `quantize(src, out, kind, ...)` writes `out` and returns the
metadata the candidate Artifact carries: `quantized` switches validation to the quantized criteria.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ..errors import BadInput, converting, require
from ..formats import GRAPH_KINDS
from .calibration import Reader, calibration_batches, require_calibration

__all__ = ["KINDS", "quantize"]

KINDS = GRAPH_KINDS
# Dynamic quantization of Conv becomes ConvInteger, which onnxruntime's CPU kernels (and so the WASM
# backend) implement only for uint8 weights and which is slower than float on most CPUs: dynamic mode
# quantizes the weight-heavy matrix ops, as onnxruntime recommends for transformers/RNNs.
DYNAMIC_OPS = ["MatMul", "Gemm", "Attention", "LSTM", "GRU", "EmbedLayerNormalization"]


def quantize(src: str | Path, out: str | Path, kind: str, calibration: str | None = None,
             per_channel: bool = True, reduce_range: bool = True,
             keep_float: tuple[str, ...] = ()) -> dict[str, Any]:
    """Write `out`; returns the Artifact metadata. `reduce_range` (7-bit weights) is on by default: x86
    CPUs without VNNI saturate in onnxruntime's fused u8s8/s8s8 kernels (measured on the digits CNN:
    logits off by 2.6 with full-range weights under the default optimisation level, 0.3 with reduce_range,
    and the same numbers at every optimisation level and in onnxruntime-web)."""
    if kind not in KINDS:
        raise BadInput(f"unknown --quantize '{kind}'", hint=f"valid: {', '.join(KINDS)}")
    if kind == "fp16":
        return to_fp16(src, out)
    require("onnxruntime", "ONNX quantization")
    from onnxruntime import quantization as q

    with tempfile.TemporaryDirectory(prefix="portkit-quant-") as tmp:
        prepared = _preprocess(Path(src), Path(tmp) / "prepared.onnx")
        if kind == "dynamic":
            with converting("onnx quantization (dynamic)", alternative="--quantize int8 with --calibration"):
                q.quantize_dynamic(str(prepared), str(out), op_types_to_quantize=DYNAMIC_OPS,
                                   per_channel=per_channel, reduce_range=reduce_range,
                                   weight_type=q.QuantType.QInt8)
            return {"quantized": "dynamic", "quantization": {"mode": "dynamic", "weights": "int8",
                                                             "ops": DYNAMIC_OPS, "per_channel": per_channel,
                                                             "reduce_range": reduce_range}}
        data = require_calibration(calibration, kind)
        from .. import onnxutil

        prepared_model = onnxutil.load(prepared)
        batches = calibration_batches(data, onnxutil.signature(prepared_model))
        if keep_float:
            from ..quantsense import check_layer_names

            check_layer_names(keep_float, [n.name for n in prepared_model.graph.node if n.name],
                              Path(src).name)

        class _Reader(Reader, q.CalibrationDataReader):  # onnxruntime's base class, our data
            def __init__(self) -> None:
                Reader.__init__(self, batches)

        with converting("onnx quantization (static int8 QDQ)", alternative="--quantize dynamic"):
            q.quantize_static(str(prepared), str(out), _Reader(), quant_format=q.QuantFormat.QDQ,
                              per_channel=per_channel, reduce_range=reduce_range,
                              activation_type=q.QuantType.QInt8,
                              weight_type=q.QuantType.QInt8, calibrate_method=q.CalibrationMethod.MinMax,
                              nodes_to_exclude=list(keep_float),
                              extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
    samples = sum(int(next(iter(b.values())).shape[0]) for b in batches)
    return {"quantized": "int8", "quantization": {"mode": "static", "format": "QDQ", "activations": "int8",
                                                  "weights": "int8", "per_channel": per_channel,
                                                  "reduce_range": reduce_range,
                                                  "calibration": Path(data).name,
                                                  "calibration_samples": samples,
                                                  "method": "MinMax", "keep_float": list(keep_float)}}


def _preprocess(src: Path, out: Path) -> Path:
    """onnxruntime's recommended pre-pass (shape inference + basic optimisation); the input if it fails."""
    from portkit.onnxutil import light_ort_tools

    light_ort_tools()  # the pre-pass's symbolic shape inference lives in onnxruntime.tools
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from portkit.onnxutil import scratch_cwd

    # paths are absolute: the pre-pass runs in a scratch cwd (its symbolic shape inference writes there)
    src, out = src.resolve(), out.resolve()
    with scratch_cwd():
        try:
            quant_pre_process(str(src), str(out), skip_symbolic_shape=False)
            return out
        except Exception:  # noqa: BLE001 - the pre-pass is an optimisation; quantization works without it
            try:
                quant_pre_process(str(src), str(out), skip_symbolic_shape=True)
                return out
            except Exception:  # noqa: BLE001
                return src


def to_fp16(src: str | Path, out: str | Path, keep_io_types: bool = True) -> dict[str, Any]:
    """Weights and activations in float16; inputs/outputs stay float32 unless keep_io_types=False."""
    import onnx

    model = onnx.load(str(src))
    with converting("onnx fp16 conversion"):
        try:
            from onnxruntime.transformers.float16 import convert_float_to_float16
        except ImportError:
            from .fp16 import cast_to_fp16 as convert_float_to_float16  # own small pass
            tool = "portkit fp16 pass"
        else:
            tool = "onnxruntime.transformers.float16"
        model16 = convert_float_to_float16(model, keep_io_types=keep_io_types)
        onnx.save(model16, str(out))
    io = "float32" if keep_io_types else "float16"
    return {"quantized": "fp16", "quantization": {"mode": "fp16", "io": io, "tool": tool}}
