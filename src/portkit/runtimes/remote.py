"""A Runner whose model lives in a worker process; the worker keeps it loaded between calls."""
from __future__ import annotations

import importlib
from typing import Any

from ..artifact import Artifact
from ..signature import ModelSignature
from ..workers import Worker
from .base import Feeds, Runner

_LOADED: dict[int, Runner] = {}  # in the worker: runners by handle


def _load(module: str, artifact: Artifact, options: dict[str, Any]) -> tuple[int, ModelSignature, str]:
    runner = importlib.import_module(module).load(artifact, **options)
    handle = len(_LOADED) + 1
    _LOADED[handle] = runner
    return handle, runner.signature, runner.name


def _unload(handle: int) -> None:
    runner = _LOADED.pop(handle, None)
    if runner is not None:
        runner.close()


def _run(handle: int, feeds: Feeds) -> Feeds:
    return _LOADED[handle].run(feeds)


def _call(handle: int, method: str, args: tuple, kwargs: dict) -> Any:
    return getattr(_LOADED[handle], method)(*args, **kwargs)


class RemoteRunner(Runner):
    """`worker`: a pooled worker to load into (kept open on close, the model unloaded); else a new one."""

    def __init__(self, artifact: Artifact, module: str, options: dict[str, Any],
                 worker: Worker | None = None) -> None:
        self._owned = worker is None
        self._worker = worker or Worker(f"{artifact.format.value} runtime")
        try:
            self._handle, self.signature, self.name = self._worker.call_as(
                f"{artifact.format.value} runtime", __name__, "_load", module, artifact, options)
        except BaseException:
            if self._owned:
                self._worker.close()
            raise

    def run(self, feeds: Feeds) -> Feeds:
        return self._worker.call(__name__, "_run", self._handle, feeds)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call another method of the runner inside the worker (e.g. a timing loop for bench)."""
        return self._worker.call(__name__, "_call", self._handle, method, args, kwargs)

    def time_calls(self, feeds: Feeds, **options: Any) -> list[int]:
        """Timed inside the worker, next to the model: the pipe is crossed once per loop, not per call."""
        return self.call("time_calls", feeds, **options)

    def describe_timed(self) -> dict[str, Any]:
        return self.call("describe_timed")

    def close(self) -> None:
        if self._owned:
            self._worker.close()
        elif self._worker.alive:
            self._worker.call(__name__, "_unload", self._handle)
