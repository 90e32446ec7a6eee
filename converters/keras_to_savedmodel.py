"""Keras → SavedModel with a `serving_default` signature that keeps the Keras input and output names
(Keras 3: `keras.export.ExportArchive`, as `model.export` does; tf-keras: `tf.saved_model.save`)."""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import converting
from portkit.formats import Format
from portkit.options import ConvertOptions
from portkit.versions import versions

from ._tf_common import export_savedmodel, keras_loader_for, savedmodel_signature

SOURCE = (Format.KERAS, Format.KERAS_H5, Format.KERAS_JSON)
TARGET = Format.SAVEDMODEL
REQUIRES = ("tensorflow", "keras")
COST = 0.5
TOOL = "keras export (SavedModel)"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    model, kind = keras_loader_for(src)
    with converting(f"{src.format.value}→savedmodel (model.export)", alternative="--to onnx"):
        export_savedmodel(model, out, kind)
    return Artifact(str(out), TARGET, savedmodel_signature(str(out)),
                    {"producer": TOOL, "signature": "serving_default",
                     "versions": versions("tensorflow", "keras")})
