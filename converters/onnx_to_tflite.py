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
    if mode == "int8" and opts.keep_float:
        return _keep_float(src, out, opts)
    with onnx2tf_run(src, opts, HOP, "--via savedmodel (TFLiteConverter)", want_quant=True,
                      tflite=True) as res:
        shutil.copyfile(pick_tflite(res, mode, opts.int8_io), out)
    sig = TFLiteRunner(str(out)).signature
    return Artifact(str(out), TARGET, sig, {"producer": TOOL, **mapping_metadata(res, sig),
                                            "versions": versions("tensorflow", "onnx2tf", "onnx")})


def _keep_float(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    """int8 with layers kept float (--keep-float): onnx2tf's float model through the TFLiteConverter and its
    quantization debugger (onnx2tf's own int8 writer takes no per-op list). Layer names are the TFLite
    ops' output tensors (`--keep-float auto` lists them)."""
    import dataclasses
    import tempfile

    from portkit.runtimes.tflite import TFLiteRunner

    from ._onnx2tf_common import save_savedmodel
    from ._tf_common import convert_savedmodel_to_tflite, savedmodel_signature

    _fresh_names()
    with onnx2tf_run(src, dataclasses.replace(opts, quantize=None), HOP, "--via savedmodel (TFLiteConverter)",
                      tflite=False) as res, tempfile.TemporaryDirectory(prefix="portkit-sm-") as tmp:
        saved = Path(tmp) / "saved_model"
        save_savedmodel(res, saved)
        md = convert_savedmodel_to_tflite(saved, out, opts, savedmodel_signature(str(saved)).inputs)
        sig = TFLiteRunner(str(out)).signature
        return Artifact(str(out), TARGET, sig, {"producer": f"{TOOL} + TFLiteConverter", **md,
                                                **mapping_metadata(res, sig),
                                                "versions": versions("tensorflow", "onnx2tf", "onnx")})


def _fresh_names() -> None:
    """Layer names (model/dense_4/...) count up across models built in one process; --keep-float names
    must be the same in every try of the search, so each build starts from a clean session."""
    import tf_keras

    tf_keras.backend.clear_session()
