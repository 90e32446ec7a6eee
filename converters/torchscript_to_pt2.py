"""TorchScript → `.pt2`: torch.export does not take a ScriptModule, so torch's TS2EPConverter translates
it to an ExportedProgram first; that program's module is then exported again with portkit's dynamic
axes. Works for traced/scripted modules whose ops TS2EPConverter knows; anything else fails this hop
(the TorchScript → ONNX route stays)."""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import converting, require
from portkit.formats import Format
from portkit.options import ConvertOptions, static_batch

from ._pt2_common import dynamic_shapes, export_program, finish_pt2, static_signature
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
    dynamic = opts.dynamic and src.record.dynamic is not False
    args = example_args(sig.inputs, batch=2 if dynamic else static_batch(opts))
    with converting("torchscript→pt2 (TS2EPConverter + torch.export)",
                    alternative="--via onnx, or export the eager module with torch.export"):
        loose = _bridge(TS2EPConverter)(module, args, dynamic_shapes(sig.inputs) if dynamic else None).convert()
        program = export_program(loose.module(), sig.inputs, args, dynamic)
    if not dynamic:
        sig = static_signature(sig, args, program)
    return finish_pt2(program, out, sig, TOOL, src, module, converted_from="torchscript")


def _bridge(base: type) -> type:
    class Bridge(base):  # type: ignore[misc, valid-type]
        """TS2EPConverter whose re-trace marks only the axes portkit keeps dynamic. torch's marks every axis
        of every input Dim.AUTO, and a model whose shape arithmetic depends on H/W (alexnet's adaptive
        pool at 64², "The inequality ... cannot be solved") then fails, though its batch alone exports."""

        def __init__(self, module: object, args: tuple, shapes: object) -> None:
            super().__init__(module, args)
            self.portkit_shapes = shapes

        def retrace_as_exported_program(self, gm: object, name_to_constant: dict) -> object:
            import torch._export.converter as bridge

            every_axis = bridge._tree_map_with_path  # what the re-trace builds its dynamic_shapes with
            bridge._tree_map_with_path = lambda _fn, _tree, *a, **k: self.portkit_shapes
            try:
                return super().retrace_as_exported_program(gm, name_to_constant)
            finally:
                bridge._tree_map_with_path = every_axis

    return Bridge
