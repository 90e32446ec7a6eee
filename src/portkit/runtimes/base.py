"""The one small base every runner shares (validate, bench and serving all use it)."""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np

from ..signature import ModelSignature

Feeds = dict[str, np.ndarray]


def contiguous(a: np.ndarray) -> np.ndarray:
    """`a` as a C-contiguous array, rank kept: np.ascontiguousarray turns a rank-0 (scalar) input into
    shape (1,), which a model declaring a scalar input then sees (or refuses)."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


class Runner(ABC):
    """Loaded model: `.signature`, `.run(feeds) -> outputs by name`, `.close()`; a context manager.

    Benchmarks use `time_calls`, which runs in the process that holds the model (a RemoteRunner forwards
    it to its worker), so the pipe between processes is never inside a timed interval. Subclasses make
    the timed call lean by overriding `prepare_timed` (inputs converted once, outside the loop) and
    `timing_context` (e.g. torch.inference_mode entered once around the whole loop).
    """

    signature: ModelSignature
    name: str = "runner"

    @abstractmethod
    def run(self, feeds: Feeds) -> Feeds: ...

    def prepare_timed(self, feeds: Feeds, **options: Any) -> Callable[[], Any]:
        """A zero-argument callable doing one inference on `feeds`; everything else is done here, once."""
        return lambda: self.run(feeds)

    def timing_context(self) -> AbstractContextManager[Any]:
        return nullcontext()

    def describe_timed(self) -> dict[str, Any]:
        """What the timed calls really ran on (provider, node placement); empty when nothing to say."""
        return {}

    def time_calls(self, feeds: Feeds, *, iterations: int | None = None, duration: float | None = None,
                   warmup: int = 10, min_iterations: int = 10, **options: Any) -> list[int]:
        """Warm up, then time single inferences (nanoseconds each, warm-up excluded).

        Either a fixed count (`iterations`) or a time budget (`duration` seconds, at least
        `min_iterations` calls). The loop body is one clock read, the call, one clock read and one store
        into a preallocated list.
        """
        fn = self.prepare_timed(feeds, **options)
        clock = time.perf_counter_ns
        with self.timing_context():
            t_warm = clock()
            for _ in range(max(warmup, 1 if duration else 0)):
                fn()
            warm_ns = (clock() - t_warm) / max(warmup, 1)
            if iterations is None:
                budget = int((duration or 1.0) * 1e9)
                # preallocate for the expected count (from the warm-up), grow by chunks if it was short
                n = max(min_iterations, min(int(budget / max(warm_ns, 1.0) * 1.2) + 16, 10_000_000))
                times = [0] * n
                i = 0
                deadline = clock() + budget
                while True:
                    if i == n:
                        times.extend([0] * n)
                        n *= 2
                    t0 = clock()
                    fn()
                    t1 = clock()
                    times[i] = t1 - t0
                    i += 1
                    if t1 >= deadline and i >= min_iterations:
                        break
                del times[i:]
                return times
            times = [0] * iterations
            for i in range(iterations):
                t0 = clock()
                fn()
                times[i] = clock() - t0
            return times

    def close(self) -> None:
        pass

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
