"""Eager PyTorch module → ONNX with torch.onnx's dynamo exporter (dynamic batch by default, and every axis the
input specs name dynamic: e.g. batch and sequence of token inputs, one torch.export.Dim per name)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from portkit.artifact import Artifact
from portkit.errors import converting, require
from portkit.formats import Format
from portkit.options import ConvertOptions

from ._torch_common import (
    adaptive_pools_as_means,
    dynamic_shapes,
    example_args,
    finish_onnx,
    module_and_signature,
    name_dims,
    ranges_metadata,
)

SOURCE = (Format.TORCH, Format.HF)  # an HF folder loads as a torch module (portkit.hf)
TARGET = Format.ONNX
REQUIRES = ("torch", "onnxscript")
COST = 1.0
TOOL = "torch.onnx (dynamo)"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    torch = require("torch", "PyTorch export")
    module, sig = module_and_signature(src)
    specs, out_names = sig.inputs, [o.name for o in sig.outputs]
    args = example_args(specs, module=module)
    dynamic = dynamic_shapes(torch, specs)
    with converting("torch→onnx (torch.onnx dynamo exporter)", alternative="--via torchscript"):
        captured: Any = module
        try:  # the exporter's own first capture strategy, done here so the graph can be cleaned first
            captured = torch.export.export(module, args, dynamic_shapes=dynamic, strict=False)
            adaptive_pools_as_means(torch, captured)
        except Exception:  # noqa: BLE001 - the exporter tries its other capture strategies on the module
            captured = module
        program = torch.onnx.export(
            captured, args, dynamo=True, input_names=[s.name for s in specs], output_names=out_names,
            dynamic_shapes=dynamic if captured is module else None, opset_version=opts.opset, verbose=False,
            optimize=True, external_data=False,
        )
        program.save(str(out))
    name_dims(out, sig)
    return finish_onnx(out, TOOL, **ranges_metadata(module, sig))
