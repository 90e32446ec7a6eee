"""Runtime adapters: one module per runtime, each with `load(artifact, **options) -> Runner`.

`open_runner` decides where a runner lives: onnxruntime runs in the calling process; every framework
runtime (torch, torch.export, ExecuTorch, TensorFlow/Keras, LiteRT) runs in a spawned worker
(see portkit.workers for why).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..artifact import Artifact
from ..formats import Format
from .base import Runner

if TYPE_CHECKING:
    from ..workers import WorkerPool

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
    Format.PT2: "portkit.runtimes.pt2",
    Format.EXECUTORCH: "portkit.runtimes.executorch",
}
_IN_PROCESS = {Format.ONNX, Format.ORT, Format.WEB}


def runtime_name(fmt: Format) -> str:
    return {Format.ONNX: "onnxruntime", Format.ORT: "onnxruntime", Format.WEB: "onnxruntime",
            Format.TORCH: "torch", Format.TORCHSCRIPT: "torch",
            Format.TFLITE: "litert", Format.PT2: "torch.export",
            Format.EXECUTORCH: "executorch"}.get(fmt, "tensorflow")


# runtimes that load TensorFlow (or LiteRT beside it): they go in a pool's "tf" worker, never the torch one
_TF_RUNTIMES = {"portkit.runtimes.keras", "portkit.runtimes.savedmodel", "portkit.runtimes.tflite"}


def open_runner(artifact: Artifact, *, isolate: bool | None = None, pool: WorkerPool | None = None,
                **options: Any) -> Runner:
    """Load a runner for `artifact`; framework runtimes run in a worker process unless isolate=False
    (in `pool`'s worker of their framework family when a pool is given: see portkit.workers.WorkerPool)."""
    module = RUNTIME_MODULES[artifact.format]
    if isolate is None:
        isolate = artifact.format not in _IN_PROCESS
    if not isolate:
        import importlib

        return importlib.import_module(module).load(artifact, **options)
    from .remote import RemoteRunner

    worker = pool.get("tf" if module in _TF_RUNTIMES else "torch") if pool is not None else None
    return RemoteRunner(artifact, module, options, worker)
