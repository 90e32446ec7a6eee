"""`portkit export triton MODEL -o REPO`: deployment layouts for existing serving engines."""
from __future__ import annotations

from pathlib import Path

import typer

from ._common import JSON


def register(app: typer.Typer) -> None:
    sub = typer.Typer(name="export", help="Write a model in the layout a serving engine consumes.",
                      no_args_is_help=True, rich_markup_mode=None)
    sub.command("triton", no_args_is_help=True)(triton)
    app.add_typer(sub, name="export")


def triton(
    model: Path = typer.Argument(..., help="ONNX model file."),
    output: Path = typer.Option(..., "--output", "-o", help="Model repository folder (created if missing)."),
    name: str | None = typer.Option(None, "--name", help="Model name in the repository (default: file name)."),
    max_batch: int | None = typer.Option(None, "--max-batch", help="max_batch_size (default 8 when the batch dim is dynamic, else 0)."),
    max_delay_us: int = typer.Option(2000, "--max-delay-us", help="Dynamic batching queue delay (microseconds)."),
    version: int = typer.Option(1, "--version", help="Model version folder."),
    instances: int = typer.Option(1, "--instances", help="Model instances (instance_group count)."),
    gpu: bool = typer.Option(False, "--gpu", help="instance_group kind KIND_GPU (default KIND_CPU)."),
    as_json: bool = JSON,
) -> None:
    """Write a Triton model repository entry: REPO/NAME/VERSION/model.onnx + REPO/NAME/config.pbtxt."""
    from portkit import ui
    from portkit.serving import export_triton

    result = export_triton(model, output, name=name, max_batch=max_batch, max_delay_us=max_delay_us,
                           version=version, instances=instances, gpu=gpu)
    if as_json:
        ui.print_json(result.to_dict())
        return
    ui.line(f"wrote {result.model_path} and {result.config_path} (max_batch_size {result.config['max_batch_size']})")
    ui.line(f"run it: tritonserver --model-repository {result.repository}")
