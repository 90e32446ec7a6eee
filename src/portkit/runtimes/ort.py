"""onnxruntime for ORT-format files (`.ort`) and web bundles (the model inside the folder).

onnxruntime loads both formats itself, so this reuses the ONNX runner; a web bundle is validated in Python
onnxruntime here, and under onnxruntime-web in Node by the tests (portkit.prep.web_node).
"""
from __future__ import annotations

from typing import Any

from ..artifact import Artifact
from ..formats import Format, model_file
from .onnx import LIBRARIES, OnnxRunner

__all__ = ["LIBRARIES", "load"]


def load(artifact: Artifact, **options: Any) -> OnnxRunner:
    path = artifact.location
    if artifact.format is Format.WEB:
        path = str(model_file(path))
    return OnnxRunner(path, **options)
