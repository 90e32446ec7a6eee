"""`portkit init MODEL`: write a commented starter recipe for a model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from portkit.options import ConvertOptions

from ._common import JSON, input_shape_option
from ._options import Flags, with_flags


def register(app: typer.Typer) -> None:
    app.command("init", no_args_is_help=True)(init)


@with_flags(Flags(ConvertOptions, "options", only=("calibration",)))  # with it, the int8 targets are active
def init(
    model: str = typer.Argument(..., help="Model file/folder, or pkg.module:factory."),
    output: Path = typer.Option(Path("recipe.yaml"), "--output", "-o", help="Where to write the recipe."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    options: dict[str, Any] | None = None,
    input_shape: list[str] | None = input_shape_option(),
    as_json: bool = JSON,
) -> None:
    """Write a commented starter recipe (targets, validation, benchmark and gates) for MODEL that runs as
    written; run it with `portkit run`. int8 targets need --calibration (without it they are written
    commented out)."""
    from portkit import api, ui

    path = api.init(model, output, force=force, input_shapes=input_shape or None, **(options or {}))
    recipe = api.load_recipe(path)  # the starter must pass its own schema
    if as_json:
        ui.print_json(
            {
                "recipe": str(path),
                "models": [m.name for m in recipe.models],
                "targets": [t.label for m in recipe.models for t in m.targets],
            }
        )
        return
    ui.line(
        f"wrote {path} ({', '.join(t.label for m in recipe.models for t in m.targets)}); "
        f"run it: portkit run {path}"
    )
