"""ONNX → ORT format (`.ort`) for onnxruntime mobile and minimal builds.

With --optimize / --quantize the ONNX model is optimised / quantized first (portkit.prep), inside this hop,
and the hop is validated against the float ONNX with the quantized criteria. The required-operators config
is written beside the final `.ort` once it is in place (portkit.prep.finish).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from portkit.artifact import Artifact
from portkit.formats import Format
from portkit.options import ConvertOptions

SOURCE = Format.ONNX
TARGET = Format.ORT
REQUIRES = ("onnxruntime",)
COST = 1.0
TOOL = "onnxruntime (ORT format)"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    from portkit import onnxutil
    from portkit.prep.ort_format import to_ort
    from portkit.prep.steps import prepare_onnx
    from portkit.versions import versions

    md: dict = {}
    with tempfile.TemporaryDirectory(prefix="portkit-ort-") as tmp:
        model = Path(src.location)
        if opts.quantize or opts.optimize:
            prepared = Path(tmp) / "prepared.onnx"
            md = prepare_onnx(model, prepared, opts)
            model = prepared
        sig = onnxutil.signature(onnxutil.load(model))
        opset = onnxutil.opset(onnxutil.load(model))
        to_ort(model, out)
    keep = src.carried()
    return Artifact(str(out), Format.ORT, sig, {**keep, **md, "producer": TOOL, "opset": opset,
                                                "optimization_level": "basic",
                                                "versions": versions("onnxruntime", "onnx")})
