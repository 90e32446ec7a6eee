"""ONNX → ONNX: offline graph optimisation (onnxslim, then onnxruntime's basic level).

A transform step, not a conversion: the planner never routes through it; `--optimize` appends it after a
route that ends in ONNX (portkit.prep), and the hop executor runs and validates it like any edge."""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.formats import Format
from portkit.options import ConvertOptions

SOURCE = Format.ONNX
TARGET = Format.ONNX
REQUIRES = ("onnxruntime", "onnxslim")
COST = 0.1
TOOL = "onnxslim + onnxruntime (basic)"
STEP = "optimize"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    from portkit.prep.optimize_onnx import optimize
    from portkit.prep.steps import transformed

    return transformed(src, out, optimize(src.location, str(out)), TOOL)
