"""portkit: move trained models between Keras, SavedModel, PyTorch, ONNX and TFLite — validated.

`import portkit` imports no framework: the API functions load what they need when called.
Every CLI command has a function here (`portkit.convert`, `portkit.run`, ...); see docs/api.md.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .public import API_FUNCTIONS, PUBLIC_TYPES
from .versions import PORTKIT as __version__

__all__ = ["__version__", *API_FUNCTIONS, *PUBLIC_TYPES]

_LAZY = {**dict.fromkeys(API_FUNCTIONS, "portkit.api"), **{n: f"portkit.{m}" for n, m in PUBLIC_TYPES.items()}}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'portkit' has no attribute '{name}'")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps the API functions when a submodule of the same name is imported: importing `portkit.matrix`
    (the module) would otherwise replace the function `portkit.matrix` on the package."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in API_FUNCTIONS and isinstance(value, types.ModuleType):
            return  # the submodule stays importable: `from portkit.matrix import ...` reads sys.modules
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
