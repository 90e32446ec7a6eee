"""ONNX → TFLite with onnx2tf (channels-first tensors become channels-last; recorded in metadata),
optionally quantized: fp16, dynamic range, or int8 with the user's calibration data (never downloaded).
Imports TensorFlow and onnx2tf only: no torch."""
from __future__ import annotations

import shutil
from pathlib import Path

from portkit.artifact import Artifact
from portkit.formats import Format
from portkit.options import ConvertOptions
from portkit.versions import versions

from ._onnx2tf_common import mapping_metadata, onnx2tf_run, pick_tflite
from ._tf_common import check_quantize

SOURCE = Format.ONNX
TARGET = Format.TFLITE
REQUIRES = ("tensorflow", "onnx2tf", "tf_keras", "onnxruntime")
COST = 1.5
TOOL = "onnx2tf"
HOP = "onnx→tflite (onnx2tf)"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    from portkit.runtimes.tflite import TFLiteRunner

    mode = check_quantize(opts)
    with onnx2tf_run(src, opts, HOP, "--via savedmodel (TFLiteConverter)", want_quant=True,
                      tflite=True) as res:
        shutil.copyfile(pick_tflite(res, mode, opts.int8_io), out)
    sig = TFLiteRunner(str(out)).signature
    return Artifact(str(out), TARGET, sig, {"producer": TOOL, **mapping_metadata(res, sig),
                                            "versions": versions("tensorflow", "onnx2tf", "onnx")})
