"""Keras → TFLite with TFLiteConverter (through a temporary SavedModel, which works for Keras 3 and
tf-keras alike), optionally quantized: fp16, dynamic range, or int8 with calibration data."""
from __future__ import annotations

import tempfile
from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import converting
from portkit.formats import Format
from portkit.options import ConvertOptions
from portkit.versions import versions

from ._tf_common import check_quantize, convert_savedmodel_to_tflite, export_savedmodel, keras_loader_for

SOURCE = (Format.KERAS, Format.KERAS_H5, Format.KERAS_JSON)
TARGET = Format.TFLITE
REQUIRES = ("tensorflow", "keras")
COST = 1.0
TOOL = "TFLiteConverter"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    check_quantize(opts)  # bad options fail before any work
    model, kind = keras_loader_for(src)
    from portkit.runtimes.keras import keras_signature
    from portkit.runtimes.tflite import TFLiteRunner

    sig = keras_signature(model)
    with converting(f"{src.format.value}→tflite (TFLiteConverter)", alternative="--via onnx (onnx2tf)"):
        with tempfile.TemporaryDirectory(prefix="portkit-sm-") as tmp:
            saved = Path(tmp) / "saved_model"
            export_savedmodel(model, saved, kind)
            md = convert_savedmodel_to_tflite(saved, out, opts, sig.inputs)
    out_sig = TFLiteRunner(str(out)).signature
    return Artifact(str(out), TARGET, out_sig,
                    {"producer": TOOL, **md, "versions": versions("tensorflow", "keras")})
