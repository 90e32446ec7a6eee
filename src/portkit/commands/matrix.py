"""`portkit matrix MODEL`: every other format by the best route, each validated, as one table."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from portkit.options import ConvertOptions, ValidateOptions

from ._common import JSON
from ._options import Flags, with_flags


def register(app: typer.Typer) -> None:
    app.command("matrix", no_args_is_help=True)(matrix)


@with_flags(Flags(ConvertOptions, "loading", only=("input_specs", "weights", "allow_unsafe", "custom_objects")),
            Flags(ValidateOptions, "checks", only=("atol", "rtol", "inputs")))
def matrix(
    model: str = typer.Argument(..., help="Model file/folder, or pkg.module:factory for an eager PyTorch model."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Output folder (default: <model>_matrix)."),
    to: list[str] | None = typer.Option(None, "--to", "-t", help="Only these targets (repeatable)."),
    loading: dict[str, Any] | None = None,
    checks: dict[str, Any] | None = None,
    as_json: bool = JSON,
) -> None:
    """Convert MODEL to every other format by the best route, validate each, print the table.

    Exit 0 when every route passed, 1 when a validation failed, 3 when a conversion failed."""
    from portkit import ui
    from portkit.errors import ConversionFailed, ValidationFailed
    from portkit.matrix import matrix as run_matrix

    options = {k: v for k, v in (loading or {}).items() if v is not False}  # a flag not given: the default
    result = run_matrix(model, output, targets=list(to) if to else None, log=ui.progress, **(checks or {}),
                        **options)
    if as_json:
        ui.print_json(result.to_dict())
    else:
        render(result)
    code = result.exit_code()
    if code == 1:
        raise ValidationFailed(result.summary(), result=result)
    if code:
        raise ConversionFailed(result.summary(), hint="see the table for each failing route")


def render(result) -> None:  # noqa: ANN001
    from portkit import ui

    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:.2e}"

    rows = [[r.target, r.route or "-", r.status, num(r.max_abs), num(r.max_rel),
             ui.fmt_size(r.size_bytes) if r.size_bytes else "-", f"{r.seconds:.1f}"] for r in result.rows]
    ui.table(f"{result.source} ({result.source_format}) → every other format",
             ["target", "route", "status", "max abs", "max rel", "size", "seconds"], rows)
    for r in result.rows:
        if r.message:
            ui.line(f"{r.target}: {r.message}")
    ui.line(f"{result.summary()} in {result.seconds:.0f} s; outputs in {result.output_dir}")
