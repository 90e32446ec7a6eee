"""`portkit inspect MODEL`."""
from __future__ import annotations

from typing import Any

import typer

from portkit.options import ConvertOptions

from ._common import JSON
from ._options import Flags, with_flags


def register(app: typer.Typer) -> None:
    app.command("inspect", no_args_is_help=True)(inspect)


@with_flags(Flags(ConvertOptions, "loading", only=("input_specs", "weights", "allow_pickle", "task", "allow_unsafe")))
def inspect(
    model: str = typer.Argument(..., help="Model file/folder or pkg.module:factory."),
    loading: dict[str, Any] | None = None,
    as_json: bool = JSON,
) -> None:
    """Show a model's format, inputs/outputs (dynamic dims kept), size and opset/producer."""
    from portkit import api, ui

    info = api.inspect(model, **(loading or {}))
    if as_json:
        ui.print_json(info.to_dict())
        return
    ui.line(f"{info.path}: {info.format.value}, {ui.fmt_size(info.size_bytes)}")
    rows = [["input", t.name, t.dtype, t.shape_text(), t.layout or ""] for t in info.signature.inputs]
    rows += [["output", t.name, t.dtype, t.shape_text(), t.layout or ""] for t in info.signature.outputs]
    ui.table(None, ["", "name", "dtype", "shape", "layout"], rows)
    for k, v in info.details.items():
        ui.line(f"{k}: {v}")
