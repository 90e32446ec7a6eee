"""Runtime adapters: one module per runtime, each with `load(artifact, **options) -> Runner`.

Which module loads a format, and where its runner lives, is the format's row in portkit.formats.FORMATS:
onnxruntime runs in the calling process; every framework runtime (torch, torch.export, ExecuTorch,
TensorFlow/Keras, LiteRT) runs in a spawned worker of its family (see portkit.workers for why).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..artifact import Artifact
from ..formats import Format
from .base import Runner

if TYPE_CHECKING:
    from ..workers import WorkerPool

__all__ = ["Runner", "open_runner", "runtime_module", "runtime_name", "warm_imports"]


def runtime_module(fmt: Format) -> str:
    """The adapter module that loads `fmt` (its row in portkit.formats.FORMATS)."""
    return f"portkit.runtimes.{fmt.info.runtime}"


def warm_imports(formats: Any) -> list[str]:
    """The modules that running `formats` in this process imports (the runtime module and the LIBRARIES it
    names), for portkit.workers.warm: the framework formats run in workers and need nothing here."""
    import importlib

    out: list[str] = []
    for fmt in dict.fromkeys(formats):
        if fmt.info.in_process:
            module = runtime_module(fmt)
            out += [module, *getattr(importlib.import_module(module), "LIBRARIES", ())]
    return list(dict.fromkeys(out))


def runtime_name(fmt: Format) -> str:
    return fmt.info.runtime_name


def open_runner(artifact: Artifact, *, isolate: bool | None = None, pool: WorkerPool | None = None,
                **options: Any) -> Runner:
    """Load a runner for `artifact`; framework runtimes run in a worker process unless isolate=False
    (in `pool`'s worker of their framework family when a pool is given: see portkit.workers.WorkerPool)."""
    info = artifact.format.info
    module = runtime_module(artifact.format)
    if isolate is None:
        isolate = not info.in_process
    if not isolate:
        import importlib

        return importlib.import_module(module).load(artifact, **options)
    from .remote import RemoteRunner

    worker = pool.get(info.family or "torch") if pool is not None else None
    return RemoteRunner(artifact, module, options, worker)
