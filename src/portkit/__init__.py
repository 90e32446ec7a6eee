"""portkit: move trained models between Keras, SavedModel, PyTorch, ONNX and TFLite — validated.

`import portkit` imports no framework: the API functions load what they need when called.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "convert",
    "inspect",
    "validate",
    "routes",
    "Format",
    "PortkitError",
    "BadInput",
    "ConversionFailed",
    "ValidationFailed",
    "MissingDependency",
    "RuntimeUnavailable",
]

_LAZY = {
    "convert": "portkit.api", "inspect": "portkit.api", "validate": "portkit.api", "routes": "portkit.api",
    "Format": "portkit.formats",
    "PortkitError": "portkit.errors", "BadInput": "portkit.errors", "ConversionFailed": "portkit.errors",
    "ValidationFailed": "portkit.errors", "MissingDependency": "portkit.errors",
    "RuntimeUnavailable": "portkit.errors",
}


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
