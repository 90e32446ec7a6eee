"""`.pt2` ExportedProgram → ONNX with torch.onnx's dynamo exporter (the program's dynamic axes are kept;
symbolic dims get the program's dim names, e.g. `batch`)."""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import converting, require
from portkit.formats import Format
from portkit.options import ConvertOptions

from ._torch_common import adaptive_pools_as_means, finish_onnx, name_dims

SOURCE = Format.PT2
TARGET = Format.ONNX
REQUIRES = ("torch", "onnxscript")
COST = 1.0
TOOL = "torch.onnx (dynamo)"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    require("torch", "PyTorch export")
    import torch

    from portkit.runtimes.pt2 import load_program, program_signature

    program, stored = load_program(src.location)
    sig = stored if stored is not None and stored.inputs else program_signature(program)
    with converting("pt2→onnx (torch.onnx dynamo exporter)", alternative="--via torchscript"):
        adaptive_pools_as_means(torch, program)
        onnx_program = torch.onnx.export(
            program, input_names=[s.name for s in sig.inputs], output_names=[o.name for o in sig.outputs],
            dynamo=True, opset_version=opts.opset, verbose=False, optimize=True, external_data=False)
        onnx_program.save(str(out))
    name_dims(out, sig)
    keep = {"input_ranges": src.record.input_ranges} if src.record.input_ranges else {}
    return finish_onnx(out, TOOL, **keep)
