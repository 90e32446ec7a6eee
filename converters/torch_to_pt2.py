"""Eager PyTorch module → `.pt2` ExportedProgram with torch.export (dynamic axes from the input specs as
named `Dim`s: at least the batch unless --static). The hub format of today's PyTorch toolchains:
ExecuTorch, litert-torch and the dynamo ONNX exporter all start from it."""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import converting, require
from portkit.formats import Format
from portkit.options import ConvertOptions, static_batch

from ._pt2_common import export_program, finish_pt2, static_signature
from ._torch_common import example_args, module_and_signature

SOURCE = (Format.TORCH, Format.HF)  # an HF folder loads as a torch module (portkit.hf)
TARGET = Format.PT2
REQUIRES = ("torch",)
COST = 1.6  # above torch → torchscript → onnx as a fallback of torch → onnx (both use torch.export)
TOOL = "torch.export"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    require("torch", "torch.export")
    module, sig = module_and_signature(src)
    dynamic = opts.dynamic and src.record.dynamic is not False
    args = example_args(sig.inputs, batch=2 if dynamic else static_batch(opts), module=module)
    with converting("torch→pt2 (torch.export)", alternative="--static (no dynamic axes), or --via torchscript"):
        program = export_program(module, sig.inputs, args, dynamic)
    if not dynamic:
        sig = static_signature(sig, args, program)
    return finish_pt2(program, out, sig, TOOL, src, module)
