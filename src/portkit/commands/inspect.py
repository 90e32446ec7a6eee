"""`portkit inspect MODEL`."""
from __future__ import annotations

import typer

from ._common import JSON, dynamic_axis_option, input_dtype_option, input_shape_option


def register(app: typer.Typer) -> None:
    app.command("inspect", no_args_is_help=True)(inspect)


def inspect(
    model: str = typer.Argument(..., help="Model file/folder or pkg.module:factory."),
    input_shape: list[str] | None = input_shape_option(),
    input_dtype: list[str] | None = input_dtype_option(),
    dynamic_axis: list[str] | None = dynamic_axis_option(),
    weights: str | None = typer.Option(None, "--weights", help="state_dict for a factory reference."),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help="Allow loading a pickled PyTorch module."),
    task: str | None = typer.Option(None, "--task", help="Hugging Face folders: the task (default from architectures[0])."),
    allow_unsafe: bool = typer.Option(False, "--allow-unsafe", help="Hugging Face folders: run the folder's own modelling code (trust_remote_code)."),
    as_json: bool = JSON,
) -> None:
    """Show a model's format, inputs/outputs (dynamic dims kept), size and opset/producer."""
    from portkit import api, ui

    info = api.inspect(model, input_shapes=input_shape or None, weights=weights, allow_pickle=allow_pickle,
                       input_dtypes=input_dtype or None, dynamic_axes=dynamic_axis or None, task=task,
                       allow_unsafe=allow_unsafe)
    if as_json:
        ui.print_json(info.to_dict())
        return
    ui.line(f"{info.path}: {info.format.value}, {ui.fmt_size(info.size_bytes)}")
    rows = [["input", t.name, t.dtype, t.shape_text(), t.layout or ""] for t in info.signature.inputs]
    rows += [["output", t.name, t.dtype, t.shape_text(), t.layout or ""] for t in info.signature.outputs]
    ui.table(None, ["", "name", "dtype", "shape", "layout"], rows)
    for k, v in info.details.items():
        ui.line(f"{k}: {v}")
