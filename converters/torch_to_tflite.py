"""Eager PyTorch module or `.pt2` program → TFLite with litert-torch (no ONNX, no TensorFlow graph).

Preferred over torch → ONNX → onnx2tf for PyTorch sources: faster, covers transformers (int64 ids +
masks) that onnx2tf fails, and keeps the source layout (NCHW stays NCHW: recorded as `layout_kept`
with an empty layout map, so validation compares without transposes). The batch axis (and other
dynamic axes where litert-torch can keep them) stays dynamic. --quantize fp16 (ai-edge-quantizer
recipe), dynamic (PT2E dynamic int8) and int8 with --int8-io (PT2E static, calibrated on --calibration).
"""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import ConversionFailed, converting
from portkit.formats import Format
from portkit.options import ConvertOptions, static_batch

from ._litert_common import (
    VIA_ONNX,
    check_quantize,
    dynamic_shapes,
    missing_ok,
    named_module,
    quant_config,
    require_litert,
    source_module,
    symbolic_reshape,
    tflite_artifact,
)
from ._torch_common import example_args

SOURCE = (Format.TORCH, Format.HF, Format.PT2)
TARGET = Format.TFLITE
# litert-torch loads torch's compiler stack (triton), never TensorFlow: this hop belongs in the torch worker
# family (ai_edge_litert, which it brings along, would put it in the TensorFlow one: see portkit.workers)
REQUIRES = ("torch", "litert_torch")
COST = 1.0
TOOL = "litert-torch"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    mode = check_quantize(opts)  # bad options fail before any work
    module, sig = source_module(src)
    dynamic = opts.dynamic and src.record.dynamic is not False and any(s.dynamic_dims for s in sig.inputs)
    # fixed shapes: the user's --input-shape sizes (a checkpoint's sequence at 128), else batch 1 and the default
    shapes = {} if dynamic else opts.shapes
    args = example_args(sig.inputs, batch=2 if dynamic else static_batch(opts), module=module, shapes=shapes)
    reshape = symbolic_reshape(module, args, sig) if dynamic else None
    if reshape:  # known before converting (and before importing litert-torch, 4-7 s): fail now, not after
        # export + three decomposition passes (15-25 s on mobilenet_v3_small)
        static = "a fixed-shape .pt2 (export it with --static)" if src.format is Format.PT2 else "--static"
        raise ConversionFailed(f"litert-torch cannot keep the dynamic axes of this graph ({reshape})",
                               hint=f"{static} keeps litert-torch, or {VIA_ONNX} for a dynamic batch")
    litert_torch = require_litert()
    kwargs = dict(zip([s.name for s in sig.inputs], args))
    with converting(f"{src.format.value}→tflite (litert-torch)", alternative=VIA_ONNX):
        model, qcfg = quant_config(mode, module, args, sig, opts)
        named = named_module(model, sig)
        target = named if named is not None else model
        converted, kept = None, "none"
        if dynamic:
            try:
                converted = _convert(litert_torch, target, args, kwargs, dynamic_shapes(sig, named is not None),
                                     qcfg, by_name=named is not None)
                kept = "dynamic"
            except Exception as e:  # noqa: BLE001 - litert-torch 0.10 lowers few symbolic shapes (flatten /
                # view of a CNN head, attention masks fail): one clear line, and the planner's next route
                raise ConversionFailed(
                    "litert-torch cannot keep the dynamic axes of this graph "
                    f"({type(e).__name__}: {(str(e).splitlines() or [''])[0][:160]})",
                    hint=f"--static keeps litert-torch (fixed shapes), or {VIA_ONNX} for a dynamic batch") from e
        else:
            converted = _convert(litert_torch, target, args, kwargs, None, qcfg, by_name=named is not None)
            kept = "none (static)"
        converted.export(str(out))
    missing_ok(out)
    return tflite_artifact(out, TOOL, src, mode, sig, dynamic_axes=kept)


def _convert(litert_torch, module, args, kwargs, shapes, qcfg, *, by_name: bool):
    if by_name:
        return litert_torch.convert(module, sample_kwargs=kwargs, dynamic_shapes=shapes, quant_config=qcfg)
    return litert_torch.convert(module, args, dynamic_shapes=shapes, quant_config=qcfg)
