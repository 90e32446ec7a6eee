"""Eager PyTorch module → TorchScript (torch.jit.trace; the signature is stored inside the archive)."""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import converting, require
from portkit.formats import Format
from portkit.options import ConvertOptions
from portkit.versions import versions

from ._torch_common import example_args, module_and_signature, ranges_metadata, save_script

SOURCE = Format.TORCH
TARGET = Format.TORCHSCRIPT
REQUIRES = ("torch",)
COST = 0.5
TOOL = "torch.jit.trace"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    torch = require("torch", "TorchScript export")
    module, sig = module_and_signature(src)
    with converting("torch→torchscript (torch.jit.trace)", alternative="--via onnx"):
        with torch.no_grad():
            # trace records one path through Python control flow; check_trace re-runs and compares
            script = torch.jit.trace(module, example_args(sig.inputs), check_trace=True, strict=False)
        ranges = ranges_metadata(module, sig)
        save_script(script, out, sig, ranges.get("input_ranges"))
    md = {"producer": TOOL, "versions": versions("torch"), **ranges}
    return Artifact(str(out), Format.TORCHSCRIPT, sig, md)
