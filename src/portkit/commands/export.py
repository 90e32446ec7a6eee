"""`portkit export triton MODEL -o REPO`: deployment layouts for existing serving engines."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from portkit.serving.options import TritonOptions

from ._common import JSON
from ._options import Flags, with_flags


def register(app: typer.Typer) -> None:
    sub = typer.Typer(name="export", help="Write a model in the layout a serving engine consumes.",
                      no_args_is_help=True, rich_markup_mode=None)
    sub.command("triton", no_args_is_help=True)(triton)
    app.add_typer(sub, name="export")


@with_flags(Flags(TritonOptions, "options"))
def triton(
    model: Path = typer.Argument(..., help="ONNX model file."),
    output: Path = typer.Option(..., "--output", "-o", help="Model repository folder (created if missing)."),
    options: dict[str, Any] | None = None,
    as_json: bool = JSON,
) -> None:
    """Write a Triton model repository entry: REPO/NAME/VERSION/model.onnx + REPO/NAME/config.pbtxt."""
    import dataclasses

    from portkit import ui
    from portkit.serving import export_triton

    checked = TritonOptions(**(options or {}))  # the fields' rules, as for a recipe's `export: triton`
    result = export_triton(model, output, **dataclasses.asdict(checked))
    if as_json:
        ui.print_json(result.to_dict())
        return
    ui.line(f"wrote {result.model_path} and {result.config_path} (max_batch_size {result.config['max_batch_size']})")
    ui.line(f"run it: tritonserver --model-repository {result.repository}")
