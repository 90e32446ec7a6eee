"""Keras → ONNX with tf2onnx, with an explicit input signature (Keras 3 needs one).

The ONNX model keeps the Keras tensor names and the channels-last (NHWC) layout of the source; NHWC
inputs are marked in the file's metadata so a later onnx2tf hop leaves them as they are.
"""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import converting, require
from portkit.formats import Format
from portkit.options import ConvertOptions

from ._tf_common import (
    finish_tf_onnx,
    four_d_inputs,
    keras_input_specs,
    keras_loader_for,
    keras_names,
    keras_serving_fn,
    rename_onnx_io,
    tf2onnx_opset,
)

SOURCE = (Format.KERAS, Format.KERAS_H5, Format.KERAS_JSON)
TARGET = Format.ONNX
REQUIRES = ("tensorflow", "keras", "tf2onnx")
COST = 1.0
TOOL = "tf2onnx"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    model, kind = keras_loader_for(src)
    tf2onnx = require("tf2onnx", "Keras → ONNX")
    from portkit.runtimes.keras import keras_signature

    sig = keras_signature(model)
    in_names, out_names = keras_names(model)
    with converting(f"{src.format.value}→onnx (tf2onnx)", alternative="--via savedmodel, or --via tflite"):
        try:
            proto, _ = tf2onnx.convert.from_keras(model, input_signature=keras_input_specs(model),
                                                  opset=tf2onnx_opset(opts))
        except (AttributeError, TypeError, ValueError):
            # older/newer Keras objects tf2onnx does not introspect: convert the serving function instead
            fn, specs = keras_serving_fn(model)
            proto, _ = tf2onnx.convert.from_function(fn, input_signature=specs, opset=tf2onnx_opset(opts))
        rename_onnx_io(proto, {**{i.name: n for i, n in zip(proto.graph.input, in_names, strict=False)},
                               **{o.name: n for o, n in zip(proto.graph.output, out_names, strict=False)}})
    return finish_tf_onnx(proto, out, four_d_inputs(sig), TOOL, keras_flavour=kind)
