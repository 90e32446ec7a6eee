"""ONNX → TorchScript with onnx2torch, after normalising the graph to what onnx2torch accepts
(portkit.normalize: Identity-aliased initializers of TorchScript-exported ONNX, opset ≤ 17 with Gelu &co.
decomposed first, Split-18 as Slices, Reshape allowzero; checked with onnxruntime). The resulting fx module
is traced to TorchScript with the ONNX signature stored inside. onnx2torch runs with portkit's converters
(converters/_onnx2torch_ops.py): shape arithmetic the tracer keeps symbolic, so the TorchScript keeps the
dynamic batch and sequence of transformers, plus LSTM/GRU, which onnx2torch has no converter for.
"""
from __future__ import annotations

from pathlib import Path

from portkit import onnxutil
from portkit.artifact import Artifact
from portkit.errors import converting, require
from portkit.formats import Format
from portkit.inputs import infer_ranges
from portkit.normalize import normalize
from portkit.options import ConvertOptions
from portkit.signature import ModelSignature
from portkit.versions import versions

from ._onnx2torch_ops import install as install_onnx2torch_ops
from ._torch_common import example_args, save_script

SOURCE = Format.ONNX
TARGET = Format.TORCHSCRIPT
REQUIRES = ("torch", "onnx2torch")
COST = 1.5
TOOL = "onnx2torch"
MAX_OPSET = 17


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    torch = require("torch", "ONNX → TorchScript")
    onnx2torch = require("onnx2torch", "ONNX → TorchScript")
    model = onnxutil.load(src.location, external=True)
    sig = onnxutil.signature(model)
    model, notes = normalize(model, max_opset=MAX_OPSET, hop="onnx→torchscript", shapes=opts.shapes,
                             ranges=infer_ranges(src), tool=TOOL)
    with converting("onnx→torchscript (onnx2torch)", alternative="keep the model in ONNX (onnxruntime)"):
        install_onnx2torch_ops(model)
        module = onnx2torch.convert(model).eval()
        specs = _concrete_specs(sig, opts)
        with torch.no_grad():
            script = torch.jit.trace(module, example_args(specs), check_trace=False, strict=False)
        save_script(script, out, ModelSignature(sig.inputs, sig.outputs))
    return Artifact(str(out), Format.TORCHSCRIPT, sig,
                    {"producer": TOOL, "normalised": notes, "versions": versions("torch", "onnx2torch")})


def _concrete_specs(sig: ModelSignature, opts: ConvertOptions):
    shapes = opts.shapes
    if not shapes:
        return sig.inputs
    return tuple(s.with_shape(tuple(shapes.get(s.name) or shapes.get("") or s.shape)) for s in sig.inputs)
