"""`portkit init MODEL`: write a commented starter recipe for a model."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import JSON, input_shape_option


def register(app: typer.Typer) -> None:
    app.command("init", no_args_is_help=True)(init)


def init(
    model: str = typer.Argument(..., help="Model file/folder, or pkg.module:factory."),
    output: Path = typer.Option(Path("recipe.yaml"), "--output", "-o", help="Where to write the recipe."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    calibration: str | None = typer.Option(None, "--calibration", help="Calibration data (.npz or folder of .npy): adds the int8 targets."),
    input_shape: list[str] | None = input_shape_option(),
    as_json: bool = JSON,
) -> None:
    """Write a commented starter recipe (targets, validation, benchmark and gates) for MODEL that runs as
    written; run it with `portkit run`. int8 targets need --calibration (without it they are written
    commented out)."""
    from portkit import api, ui

    path = api.init(model, output, force=force, calibration=calibration, input_shapes=input_shape or None)
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
