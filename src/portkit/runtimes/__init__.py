"""Runtime adapters: one module per runtime, each with `load(artifact, **options) -> Runner`.

`open_runner` decides where a runner lives: onnxruntime runs in the calling process; every framework
runtime (torch, TensorFlow/Keras, LiteRT) runs in a spawned worker (see portkit.workers for why).
"""
from __future__ import annotations

from typing import Any

from ..artifact import Artifact
from ..formats import Format
from .base import Runner

__all__ = ["Runner", "open_runner", "RUNTIME_MODULES", "runtime_name"]

RUNTIME_MODULES: dict[Format, str] = {
    Format.ONNX: "portkit.runtimes.onnx",
    Format.TORCH: "portkit.runtimes.torch",
    Format.TORCHSCRIPT: "portkit.runtimes.torch",
    Format.KERAS: "portkit.runtimes.keras",
    Format.KERAS_H5: "portkit.runtimes.keras",
    Format.KERAS_JSON: "portkit.runtimes.keras",
    Format.SAVEDMODEL: "portkit.runtimes.savedmodel",
    Format.TFLITE: "portkit.runtimes.tflite",
    Format.ORT: "portkit.runtimes.ort",
    Format.WEB: "portkit.runtimes.ort",
}
_IN_PROCESS = {Format.ONNX, Format.ORT, Format.WEB}


def runtime_name(fmt: Format) -> str:
    return {Format.ONNX: "onnxruntime", Format.ORT: "onnxruntime", Format.WEB: "onnxruntime",
            Format.TORCH: "torch", Format.TORCHSCRIPT: "torch",
            Format.TFLITE: "litert"}.get(fmt, "tensorflow")


def open_runner(artifact: Artifact, *, isolate: bool | None = None, **options: Any) -> Runner:
    """Load a runner for `artifact`; framework runtimes run in a worker process unless isolate=False."""
    module = RUNTIME_MODULES[artifact.format]
    if isolate is None:
        isolate = artifact.format not in _IN_PROCESS
    if not isolate:
        import importlib

        return importlib.import_module(module).load(artifact, **options)
    from .remote import RemoteRunner

    return RemoteRunner(artifact, module, options)
