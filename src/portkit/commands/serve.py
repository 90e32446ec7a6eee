"""`portkit serve MODEL [MODEL...]`: an Open Inference Protocol (KServe v2) HTTP server."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("serve", no_args_is_help=True)(serve)


def serve(
    models: list[str] = typer.Argument(..., help="ONNX (or TFLite) model files; NAME=PATH names a model."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, "--port", "-p", help="TCP port (0: pick a free one)."),
    name: str | None = typer.Option(None, "--name", help="Model name (one model; default: the file name)."),
    provider: str = typer.Option("cpu", "--provider", help="onnxruntime execution provider: cpu or cuda."),
    max_batch: int = typer.Option(8, "--max-batch", help="Merge concurrent requests up to N rows (1: no batching)."),
    max_delay_ms: float = typer.Option(2.0, "--max-delay-ms", help="How long a batch waits for more requests."),
    workers: int = typer.Option(1, "--workers", help="Server processes, each with its own copy of the models."),
    concurrency: int = typer.Option(2, "--concurrency", help="Executions in flight per model (threads)."),
    threads: int | None = typer.Option(None, "--threads", help="onnxruntime intra-op threads per execution."),
    max_request_mb: float = typer.Option(64.0, "--max-request-mb", help="Refuse request bodies over this size (413)."),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level (info shows each start/stop)."),
) -> None:
    """Serve models over the Open Inference Protocol (KServe v2 / Triton HTTP): health, metadata, infer
    (JSON and binary tensors), Prometheus /metrics, dynamic batching. Stops cleanly on Ctrl+C / SIGTERM."""
    from portkit import ui
    from portkit.serving import serve as _serve

    _serve(models, name=name, host=host, port=port, provider=provider.lower(), max_batch=max_batch,
           max_delay_ms=max_delay_ms, workers=workers, concurrency=concurrency, threads=threads,
           max_request_bytes=int(max_request_mb * 1024 * 1024), log_level=log_level, log=ui.progress)
