"""SavedModel → TFLite with TFLiteConverter (signature `serving_default`), optionally quantized."""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import converting
from portkit.formats import Format
from portkit.options import ConvertOptions
from portkit.versions import versions

from ._tf_common import check_quantize, convert_savedmodel_to_tflite, savedmodel_signature

SOURCE = Format.SAVEDMODEL
TARGET = Format.TFLITE
REQUIRES = ("tensorflow",)
COST = 1.0
TOOL = "TFLiteConverter"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    from portkit.runtimes.tflite import TFLiteRunner

    check_quantize(opts)
    sig = savedmodel_signature(src.location)
    with converting("savedmodel→tflite (TFLiteConverter)", alternative="--via onnx (onnx2tf)"):
        md = convert_savedmodel_to_tflite(src.path, out, opts, sig.inputs)
    return Artifact(str(out), TARGET, TFLiteRunner(str(out)).signature,
                    {"producer": TOOL, **md, "versions": versions("tensorflow")})
