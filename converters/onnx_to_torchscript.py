"""ONNX → TorchScript with onnx2torch, after normalising the graph to what onnx2torch accepts.

onnx2torch handles opset ≤ 17, so newer models are version-converted first; Reshape's `allowzero=1`
(which onnx2torch rejects) is dropped when the shape input is a constant with no zeros, where it cannot
change the result. The resulting fx module is traced to TorchScript with the ONNX signature stored inside.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from portkit import onnxutil
from portkit.artifact import Artifact
from portkit.errors import ConversionFailed, converting, require
from portkit.formats import Format
from portkit.options import ConvertOptions
from portkit.signature import ModelSignature
from portkit.versions import versions

from ._torch_common import example_args, save_script

SOURCE = Format.ONNX
TARGET = Format.TORCHSCRIPT
REQUIRES = ("torch", "onnx2torch")
COST = 1.5
TOOL = "onnx2torch"
MAX_OPSET = 17


def normalise(model: Any) -> tuple[Any, list[str]]:
    """Bring a model into onnx2torch's range. Returns the model and a note per change made."""
    import onnx
    from onnx import numpy_helper, version_converter

    notes: list[str] = []
    current = onnxutil.opset(model)
    if current > MAX_OPSET:
        try:
            model = version_converter.convert_version(model, MAX_OPSET)
        except Exception as e:
            raise ConversionFailed(f"onnx→torchscript: cannot lower opset {current} to {MAX_OPSET}: {e}",
                                   hint="re-export the model with --opset 17") from e
        notes.append(f"opset {current} → {MAX_OPSET}")
        # the 18→17 adapters keep `noop_with_empty_axes` on Reduce* ops, an attribute opset 17 only
        # knows for ReduceSum; its default (0) is opset 17's behaviour, so dropping it changes nothing
        for node in model.graph.node:
            if node.op_type.startswith("Reduce") and node.op_type != "ReduceSum":
                for a in list(node.attribute):
                    if a.name == "noop_with_empty_axes" and a.i == 0:
                        node.attribute.remove(a)
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    consts[node.output[0]] = numpy_helper.to_array(a.t)
    for node in model.graph.node:
        if node.op_type != "Reshape":
            continue
        for a in list(node.attribute):
            if a.name == "allowzero" and a.i == 1:
                shape = consts.get(node.input[1])
                if shape is not None and not np.any(shape == 0):
                    node.attribute.remove(a)
                    notes.append(f"Reshape {node.name}: allowzero dropped (constant shape has no 0)")
    onnx.checker.check_model(model)
    return model, notes


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    torch = require("torch", "ONNX → TorchScript")
    onnx2torch = require("onnx2torch", "ONNX → TorchScript")
    model = onnxutil.load(src.location, external=True)
    sig = onnxutil.signature(model)
    model, notes = normalise(model)
    with converting("onnx→torchscript (onnx2torch)", alternative="keep the model in ONNX (onnxruntime)"):
        module = onnx2torch.convert(model).eval()
        specs = _concrete_specs(sig, opts)
        with torch.no_grad():
            script = torch.jit.trace(module, example_args(specs), check_trace=False, strict=False)
        save_script(script, out, ModelSignature(sig.inputs, sig.outputs))
    return Artifact(str(out), Format.TORCHSCRIPT, sig,
                    {"producer": TOOL, "normalised": notes, "versions": versions("torch", "onnx2torch")})


def _concrete_specs(sig: ModelSignature, opts: ConvertOptions):
    shapes = opts.input_shapes
    if not shapes:
        return sig.inputs
    return tuple(s.with_shape(tuple(shapes.get(s.name) or shapes.get("") or s.shape)) for s in sig.inputs)
