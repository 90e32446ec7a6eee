"""The one small base every runner shares (validate, bench and serving all use it)."""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..signature import ModelSignature

Feeds = dict[str, np.ndarray]


class Runner(ABC):
    """Loaded model: `.signature`, `.run(feeds) -> outputs by name`, `.close()`; a context manager."""

    signature: ModelSignature
    name: str = "runner"

    @abstractmethod
    def run(self, feeds: Feeds) -> Feeds: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
