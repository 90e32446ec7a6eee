"""Keras → ONNX with Keras' own exporter (`model.export(path, format="onnx")`, Keras >= 3.8), beside the
tf2onnx edge: the planner tries this one first and falls back to tf2onnx when it fails (both validated).
`--tool tf2onnx` forces the other. Tensor names, NHWC marking and constant reshapes are finished as on
the tf2onnx edge, so both produce the same kind of file."""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import ConversionFailed, converting, require
from portkit.formats import Format
from portkit.options import ConvertOptions

from ._tf_common import finish_tf_onnx, four_d_inputs, keras_export, keras_loader_for, keras_names, rename_onnx_io

SOURCE = (Format.KERAS, Format.KERAS_H5, Format.KERAS_JSON)
TARGET = Format.ONNX
REQUIRES = ("tensorflow", "keras", "tf2onnx")  # Keras' ONNX export on the TensorFlow backend uses tf2onnx
COST = 0.9
TOOL = "keras export"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    model, kind = keras_loader_for(src)
    require("keras", "Keras export")
    from portkit.runtimes.keras import keras_signature

    sig = keras_signature(model)
    in_names, out_names = keras_names(model)
    with converting(f"{src.format.value}→onnx (keras export)", alternative="--tool tf2onnx"):
        keras_export(model, sig, in_names, out, "onnx", opset_version=opts.opset)
        import onnx

        proto = onnx.load(str(out))
    # Keras' exporter can leave constants of the graph as inputs (EfficientNet's Normalization layer: its
    # mean/variance became 'Sub/y:0', 'Sqrt/x:0' inputs): no runtime would be fed those, so the hop fails
    # here and the planner falls back to tf2onnx, instead of a file that validation can only reject
    inits = {t.name for t in proto.graph.initializer}
    extra = [i.name for i in proto.graph.input if i.name not in inits][len(in_names):]
    if extra:
        raise ConversionFailed(f"{src.format.value}→onnx (keras export) left constants as model inputs: "
                               f"{', '.join(extra[:3])}{' …' if len(extra) > 3 else ''}",
                               hint="--tool tf2onnx converts this model")
    with converting(f"{src.format.value}→onnx (keras export)", alternative="--tool tf2onnx"):
        rename_onnx_io(proto, {**{i.name: n for i, n in zip(proto.graph.input, in_names, strict=False)},
                               **{o.name: n for o, n in zip(proto.graph.output, out_names, strict=False)}})
    return finish_tf_onnx(proto, out, four_d_inputs(sig), TOOL, keras_flavour=kind)
