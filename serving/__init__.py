"""portkit.serving: an Open Inference Protocol (KServe v2) server for converted models, and Triton
model repository export. Starlette and uvicorn load only when a server starts (the `serve` extra)."""

from __future__ import annotations

from .options import ServeOptions
from .server import RunningServer, serve, start
from .triton import TritonExport, export_triton

__all__ = ["serve", "start", "export_triton", "ServeOptions", "RunningServer", "TritonExport"]
