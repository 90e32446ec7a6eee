"""TorchScript → `.pt2`: torch.export does not take a ScriptModule, so torch's TS2EPConverter translates
it to an ExportedProgram first; that program's module is then exported again with portkit's dynamic
axes (TS2EPConverter marks every axis dynamic). Works for traced/scripted modules whose ops
TS2EPConverter knows; anything else fails this hop (the TorchScript → ONNX route stays)."""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import converting, require
from portkit.formats import Format
from portkit.options import ConvertOptions

from ._pt2_common import export_program, finish_pt2, static_signature
from ._torch_common import example_args, module_and_signature

SOURCE = Format.TORCHSCRIPT
TARGET = Format.PT2
REQUIRES = ("torch",)
COST = 1.6  # ts → pt2 → tflite stays behind ts → onnx → tflite (2.5): TS2EP + a fixed-shape litert-torch
TOOL = "torch.export (TS2EPConverter)"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    require("torch", "torch.export")
    from torch._export.converter import TS2EPConverter  # torch's own (documented) TorchScript bridge

    module, sig = module_and_signature(src)
    dynamic = opts.dynamic and src.metadata.get("dynamic", True)
    args = example_args(sig.inputs, batch=2 if dynamic else 1)
    with converting("torchscript→pt2 (TS2EPConverter + torch.export)",
                    alternative="--via onnx, or export the eager module with torch.export"):
        loose = TS2EPConverter(module, args).convert()
        program = export_program(loose.module(), sig.inputs, args, dynamic)
    if not dynamic:
        sig = static_signature(sig, args, program)
    return finish_pt2(program, out, sig, TOOL, src, module, converted_from="torchscript")
