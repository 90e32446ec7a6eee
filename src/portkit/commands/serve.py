"""`portkit serve MODEL [MODEL...]`: an Open Inference Protocol (KServe v2) HTTP server."""
from __future__ import annotations

from typing import Any

import typer

from portkit.serving.options import ServeOptions

from ._options import Flags, with_flags


def register(app: typer.Typer) -> None:
    app.command("serve", no_args_is_help=True)(serve)


@with_flags(Flags(ServeOptions, "options"))
def serve(
    models: list[str] = typer.Argument(..., help="ONNX (or TFLite) model files; NAME=PATH names a model."),
    name: str | None = typer.Option(None, "--name", help="Model name (one model; default: the file name)."),
    options: dict[str, Any] | None = None,
    # ServeOptions.max_request_bytes, in the unit a person types
    max_request_mb: float = typer.Option(64.0, "--max-request-mb", help="Refuse request bodies over this size (413)."),
) -> None:
    """Serve models over the Open Inference Protocol (KServe v2 / Triton HTTP): health, metadata, infer
    (JSON and binary tensors), Prometheus /metrics, dynamic batching. Stops cleanly on Ctrl+C / SIGTERM."""
    from portkit import ui
    from portkit.serving import serve as _serve

    options = dict(options or {})
    if "provider" in options:
        options["provider"] = options["provider"].lower()
    _serve(models, name=name, max_request_bytes=int(max_request_mb * 1024 * 1024), log=ui.progress, **options)
