"""ONNX → Keras (`.keras`) with onnx2tf. onnx2tf builds a tf-keras (Keras 2) model out of TensorFlow-op
layers, so the file loads with `tf_keras` (portkit's Keras runtime picks it automatically), not Keras 3.
Channels-first tensors become channels-last; recorded in metadata."""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import converting
from portkit.formats import Format
from portkit.options import ConvertOptions
from portkit.versions import versions

from ._onnx2tf_common import mapping_metadata, onnx2tf_run
from ._tf_common import save_keras

SOURCE = Format.ONNX
TARGET = Format.KERAS
REQUIRES = ("tensorflow", "onnx2tf", "tf_keras", "onnxruntime")
COST = 1.5
TOOL = "onnx2tf"
HOP = "onnx→keras (onnx2tf)"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    from portkit.runtimes.keras import keras_signature

    with onnx2tf_run(src, opts, HOP, "--to savedmodel") as res:
        with converting(HOP, alternative="--to savedmodel"):
            save_keras(res.model, out, ".keras")
        sig = keras_signature(res.model)
    return Artifact(str(out), TARGET, sig, {"producer": TOOL, "keras_flavour": "tf_keras",
                                            **mapping_metadata(res, sig),
                                            "versions": versions("tensorflow", "onnx2tf", "tf_keras")})
