"""Keras → TFLite with TFLiteConverter (through a temporary SavedModel, which works for Keras 3 and
tf-keras alike), optionally quantized: fp16, dynamic range, or int8 with calibration data. Keras 3
LSTM/GRU layers that the converter cannot lower at a dynamic batch are unrolled and converted again
(recorded as `rnn_unrolled`; see _keras_rnn)."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from portkit.artifact import Artifact
from portkit.errors import converting
from portkit.formats import Format
from portkit.options import ConvertOptions
from portkit.versions import versions

from ._keras_rnn import tensor_list_failure, unroll_rnns
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
    unrolled: list[str] = []
    with converting(f"{src.format.value}→tflite (TFLiteConverter)", alternative="--via onnx (onnx2tf)"):
        try:
            md = _convert(model, kind, out, opts, sig)
        except Exception as e:
            # Keras 3 RNNs at a dynamic batch: TensorList ops the converter cannot lower (see _keras_rnn)
            unrolled = unroll_rnns(model) if tensor_list_failure(e) else []
            if not unrolled:
                raise
            md = _convert(model, kind, out, opts, sig)
    out_sig = TFLiteRunner(str(out)).signature
    extra = {"rnn_unrolled": unrolled} if unrolled else {}
    return Artifact(str(out), TARGET, out_sig,
                    {"producer": TOOL, **md, **extra, "versions": versions("tensorflow", "keras")})


def _convert(model: Any, kind: str, out: Path, opts: ConvertOptions, sig: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="portkit-sm-") as tmp:
        saved = Path(tmp) / "saved_model"
        export_savedmodel(model, saved, kind)
        return convert_savedmodel_to_tflite(saved, out, opts, sig.inputs)
