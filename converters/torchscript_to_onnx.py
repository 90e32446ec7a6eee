"""TorchScript → ONNX with the legacy (TorchScript-based) exporter.

The dynamo exporter cannot export a loaded ScriptModule, so this edge uses `dynamo=False`.
"""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import converting, require
from portkit.formats import Format
from portkit.options import ConvertOptions

from ._torch_common import dynamic_axes, example_args, finish_onnx, module_and_signature, ranges_metadata

SOURCE = Format.TORCHSCRIPT
TARGET = Format.ONNX
REQUIRES = ("torch",)
COST = 1.0
TOOL = "torch.onnx (legacy TorchScript exporter)"
DEFAULT_OPSET = 17


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    torch = require("torch", "TorchScript export")
    module, sig = module_and_signature(src)
    in_names = [s.name for s in sig.inputs]
    out_names = [o.name for o in sig.outputs]
    axes: dict[str, dict[int, str]] = dict(dynamic_axes(sig.inputs))  # every dynamic axis, named
    if any(s.batch_dynamic for s in sig.inputs):
        axes.update({o: {0: "batch"} for o in out_names})
    with converting("torchscript→onnx (legacy exporter)", alternative="export the eager module instead"):
        torch.onnx.export(module, example_args(sig.inputs), str(out), dynamo=False,
                          input_names=in_names, output_names=out_names, dynamic_axes=axes or None,
                          opset_version=opts.opset or DEFAULT_OPSET, do_constant_folding=True)
    return finish_onnx(out, TOOL, **ranges_metadata(module, sig))
