"""ONNX → SavedModel with onnx2tf (channels-first tensors become channels-last; recorded in metadata).
The `serving_default` signature keeps the ONNX tensor names (made TensorFlow-safe where needed)."""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import converting
from portkit.formats import Format
from portkit.options import ConvertOptions
from portkit.versions import versions

from ._onnx2tf_common import mapping_metadata, onnx2tf_run, save_savedmodel

SOURCE = Format.ONNX
TARGET = Format.SAVEDMODEL
REQUIRES = ("tensorflow", "onnx2tf", "tf_keras", "onnxruntime")
COST = 1.5
TOOL = "onnx2tf"
HOP = "onnx→savedmodel (onnx2tf)"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    from portkit.runtimes.savedmodel import SavedModelRunner

    with onnx2tf_run(src, opts, HOP, "--via torchscript, or keep the model in ONNX") as res:
        with converting(HOP, alternative="--to tflite"):
            save_savedmodel(res, out)
    sig = SavedModelRunner(str(out)).signature
    return Artifact(str(out), TARGET, sig, {"producer": TOOL, **mapping_metadata(res, sig),
                                            "versions": versions("tensorflow", "onnx2tf", "onnx")})
