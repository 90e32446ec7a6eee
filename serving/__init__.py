"""portkit.serving: an Open Inference Protocol (KServe v2) server for converted models, and Triton
model repository export. Starlette and uvicorn load only when a server starts (the `serve` extra).

Where it lives: this folder stays at the repository root (serving/, the project's layout) and installs as
`portkit.serving` (pyproject.toml's package-dir), so `portkit.serving.app` is serving/app.py. It sits
between the converters and conversion in the layers (docs/architecture.md): it runs artifacts, never
converts them."""

from __future__ import annotations

from typing import Any

from .options import ServeOptions

__all__ = ["serve", "start", "export_triton", "ServeOptions", "RunningServer", "TritonExport"]


def __getattr__(name: str) -> Any:
    """The server and the Triton export load when first named: the command line reads ServeOptions (its
    flags) at start, and the server's modules import numpy, onnxruntime's runners and the artifact layer."""
    if name in ("serve", "start", "RunningServer"):
        from . import server as module
    elif name in ("export_triton", "TritonExport"):
        from . import triton as module
    else:
        raise AttributeError(f"module 'portkit.serving' has no attribute '{name}'")
    value = getattr(module, name)
    globals()[name] = value
    return value
