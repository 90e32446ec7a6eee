"""Keras (`.keras` / JSON + weights) → legacy Keras H5 (one file holding architecture and weights)."""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import converting
from portkit.formats import Format
from portkit.options import ConvertOptions

from ._tf_common import keras_artifact, keras_loader_for, save_keras

SOURCE = (Format.KERAS, Format.KERAS_JSON)
TARGET = Format.KERAS_H5
REQUIRES = ("tensorflow", "keras", "h5py")
COST = 0.3
TOOL = "keras (model.save, legacy H5)"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    model, kind = keras_loader_for(src)
    with converting(f"{src.format.value}→keras_h5 (model.save)", alternative="--to keras"):
        save_keras(model, out, ".h5")
    return keras_artifact(out, TARGET, model, kind, src, TOOL)
