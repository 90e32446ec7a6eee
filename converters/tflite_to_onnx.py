"""TFLite → ONNX with tf2onnx (`from_tflite`). ONNX inputs/outputs take the TFLite signature names
(not the raw tensor names like `serving_default_x:0`); 4-D inputs stay NHWC and are marked as such."""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import converting, require
from portkit.formats import Format
from portkit.options import ConvertOptions

from ._tf_common import finish_tf_onnx, four_d_inputs, rename_onnx_io, tf2onnx_opset

SOURCE = Format.TFLITE
TARGET = Format.ONNX
REQUIRES = ("tf2onnx",)
COST = 1.5
TOOL = "tf2onnx (from_tflite)"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    from portkit.runtimes.tflite import TFLiteRunner

    tf2onnx = require("tf2onnx", "TFLite → ONNX")
    runner = TFLiteRunner(src.location)
    tensor_to_sig = {d["name"]: n for n, d in runner.input_details + runner.output_details}
    alternative = "convert the model's source (Keras/SavedModel) instead"
    with converting("tflite→onnx (tf2onnx)", alternative=alternative):
        proto, _ = tf2onnx.convert.from_tflite(src.location, opset=tf2onnx_opset(opts))
        mapping = {}
        pairs = list(zip(proto.graph.input, runner.input_details, strict=False))
        pairs += list(zip(proto.graph.output, runner.output_details, strict=False))
        for vi, (name, _d) in pairs:
            mapping[vi.name] = tensor_to_sig.get(vi.name, name)
        rename_onnx_io(proto, mapping)
    return finish_tf_onnx(proto, out, four_d_inputs(runner.signature), TOOL)
