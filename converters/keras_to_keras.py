"""Keras H5 / JSON architecture + weights → `.keras` (the native Keras format)."""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import converting
from portkit.formats import Format
from portkit.options import ConvertOptions

from ._tf_common import keras_artifact, keras_loader_for, save_keras

SOURCE = (Format.KERAS_H5, Format.KERAS_JSON)
TARGET = Format.KERAS
REQUIRES = ("tensorflow", "keras")
COST = 0.3
TOOL = "keras (model.save)"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    model, kind = keras_loader_for(src)
    with converting(f"{src.format.value}→keras (model.save)", alternative="--to savedmodel"):
        save_keras(model, out, ".keras")
    return keras_artifact(out, TARGET, model, kind, src, TOOL)
