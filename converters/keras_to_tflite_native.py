"""Keras → TFLite with Keras' own exporter (`model.export(path, format="litert")`, Keras >= 3.13), beside
the TFLiteConverter edge. On the TensorFlow backend Keras' exporter is ExportArchive → SavedModel →
TFLiteConverter, the same converter, but it names the outputs `output_0`: so it costs a little more and
is the fallback (`--tool "keras export (litert)"` forces it). fp32 only: --quantize fails this hop."""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import ConversionFailed, converting, require
from portkit.formats import Format
from portkit.options import ConvertOptions
from portkit.versions import versions

from ._keras_rnn import flex_tensor_lists, tensor_list_failure, unroll_rnns
from ._tf_common import keras_export, keras_loader_for, keras_names

SOURCE = (Format.KERAS, Format.KERAS_H5, Format.KERAS_JSON)
TARGET = Format.TFLITE
REQUIRES = ("tensorflow", "keras")
COST = 1.1
TOOL = "keras export (litert)"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    if opts.quantize or opts.int8_io:
        raise ConversionFailed("Keras' litert export writes fp32 only",
                               hint="--tool TFLiteConverter quantizes (the planner falls back to it)")
    model, kind = keras_loader_for(src)
    require("keras", "Keras export")
    from portkit.runtimes.keras import keras_signature
    from portkit.runtimes.tflite import TFLiteRunner

    sig = keras_signature(model)
    in_names, out_names = keras_names(model)
    unrolled: list[str] = []
    with converting(f"{src.format.value}→tflite (keras export)", alternative="--tool TFLiteConverter"):
        # Keras' exporter falls back to Flex (Select TF) ops for an RNN loop the converter cannot lower at a
        # dynamic batch; the LiteRT interpreter cannot run those: unroll the layers instead (see _keras_rnn)
        try:
            keras_export(model, sig, in_names, out, "litert")
            loop_left = flex_tensor_lists(out)
        except Exception as e:
            if not tensor_list_failure(e):
                raise
            loop_left = True
        if loop_left:
            unrolled = unroll_rnns(model)
            if unrolled:
                keras_export(model, sig, in_names, out, "litert")
    out_sig = TFLiteRunner(str(out)).signature
    renamed: dict[str, dict[str, str]] = {}
    for k, ours, theirs in (("inputs", in_names, out_sig.inputs), ("outputs", out_names, out_sig.outputs)):
        pairs = {a: b.name for a, b in zip(ours, theirs, strict=False) if a != b.name}
        if pairs and len(ours) == len(theirs):
            renamed[k] = pairs
    extra = {"rnn_unrolled": unrolled} if unrolled else {}
    return Artifact(str(out), TARGET, out_sig, {"producer": TOOL, "keras_flavour": kind, "renamed": renamed,
                                                **extra, "versions": versions("tensorflow", "keras")})
