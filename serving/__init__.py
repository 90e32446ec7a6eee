"""portkit.serving: an Open Inference Protocol (KServe v2) server for converted models, and Triton
model repository export. Starlette and uvicorn load only when a server starts (the `serve` extra).

Where it lives: this folder stays at the repository root (serving/, the project's layout) and installs as
`portkit.serving` (pyproject.toml's package-dir), so `portkit.serving.app` is serving/app.py. It sits
between the converters and conversion in the layers (docs/architecture.md): it runs artifacts, never
converts them."""

from __future__ import annotations

from .options import ServeOptions
from .server import RunningServer, serve, start
from .triton import TritonExport, export_triton

__all__ = ["serve", "start", "export_triton", "ServeOptions", "RunningServer", "TritonExport"]
