"""Eager PyTorch module → ONNX with torch.onnx's dynamo exporter (dynamic batch by default)."""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import converting, require
from portkit.formats import Format
from portkit.options import ConvertOptions

from ._torch_common import example_args, finish_onnx, module_and_signature

SOURCE = Format.TORCH
TARGET = Format.ONNX
REQUIRES = ("torch", "onnxscript")
COST = 1.0
TOOL = "torch.onnx (dynamo)"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    torch = require("torch", "PyTorch export")
    module, sig = module_and_signature(src)
    specs, out_names = sig.inputs, [o.name for o in sig.outputs]
    args = example_args(specs)
    dynamic = None
    if any(s.batch_dynamic for s in specs):
        # a named Dim keeps the batch symbolic (and named "batch" in the graph); the example uses batch 2 so
        # export does not 0/1-specialise it.
        batch = torch.export.Dim("batch", min=1)
        dynamic = tuple({0: batch} if s.batch_dynamic else None for s in specs)
    with converting("torch→onnx (torch.onnx dynamo exporter)", alternative="--via torchscript"):
        program = torch.onnx.export(
            module, args, dynamo=True, input_names=[s.name for s in specs], output_names=out_names,
            dynamic_shapes=dynamic, opset_version=opts.opset, verbose=False, optimize=True,
            external_data=False,
        )
        program.save(str(out))
    return finish_onnx(out, TOOL)
