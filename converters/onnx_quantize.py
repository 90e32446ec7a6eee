"""ONNX → ONNX: quantization (`--quantize int8|dynamic` with onnxruntime.quantization, `fp16` with
onnxruntime.transformers.float16; IO stays float32).

A transform step, not a conversion: the planner never routes through it; `--quantize` appends it after a
route that ends in ONNX (portkit.prep), and the hop executor runs and validates it like any edge (on the
calibration data, or more random samples, with quantized criteria)."""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import BadInput
from portkit.formats import Format
from portkit.options import ConvertOptions

SOURCE = Format.ONNX
TARGET = Format.ONNX
REQUIRES = ("onnxruntime",)
COST = 0.1
TOOL = "onnxruntime.quantization"  # fp16: onnxruntime.transformers.float16 (portkit.prep.steps.FP16_TOOL)
STEP = "quantize"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    from portkit.prep.quantize_onnx import quantize
    from portkit.prep.steps import FP16_TOOL, transformed

    if not opts.quantize:
        raise BadInput("the quantize step needs a kind", hint="pass --quantize int8|dynamic|fp16")
    if opts.keep_float == ("auto",):  # portkit.prep.keep_float turns "auto" into names before this step
        raise BadInput("--keep-float auto is chosen by the conversion, not by the quantize step",
                       hint="use portkit.convert(..., keep_float='auto')")
    md = quantize(src.location, str(out), opts.quantize, opts.calibration,
                  reduce_range=opts.reduce_range, keep_float=opts.keep_float)
    return transformed(src, out, md, FP16_TOOL if opts.quantize == "fp16" else TOOL)
