"""`portkit matrix MODEL`: every other format by the best route, each validated, as one table."""
from __future__ import annotations

from pathlib import Path

import typer

from ._common import JSON, dynamic_axis_option, input_dtype_option, input_shape_option


def register(app: typer.Typer) -> None:
    app.command("matrix", no_args_is_help=True)(matrix)


def matrix(
    model: str = typer.Argument(..., help="Model file/folder, or pkg.module:factory for an eager PyTorch model."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Output folder (default: <model>_matrix)."),
    to: list[str] | None = typer.Option(None, "--to", "-t", help="Only these targets (repeatable)."),
    input_shape: list[str] | None = input_shape_option(),
    input_dtype: list[str] | None = input_dtype_option(),
    dynamic_axis: list[str] | None = dynamic_axis_option(),
    weights: str | None = typer.Option(None, "--weights", help="state_dict (.pt) or Keras weights."),
    allow_unsafe: bool = typer.Option(False, "--allow-unsafe", help="Keras safe_mode=False (Lambda layers run code)."),
    custom_objects: str | None = typer.Option(None, "--custom-objects", help="Module registering Keras custom objects."),
    atol: float | None = typer.Option(None, "--atol", help="Absolute tolerance (default per dtype)."),
    rtol: float | None = typer.Option(None, "--rtol", help="Relative tolerance (default per dtype)."),
    inputs: str | None = typer.Option(None, "--inputs", help="Validate on this data (.npz or folder of .npy)."),
    as_json: bool = JSON,
) -> None:
    """Convert MODEL to every other format by the best route, validate each, print the table.

    Exit 0 when every route passed, 1 when a validation failed, 3 when a conversion failed."""
    from portkit import ui
    from portkit.errors import ConversionFailed, ValidationFailed
    from portkit.matrix import matrix as run_matrix

    options = {k: v for k, v in dict(input_shapes=input_shape or None, input_dtypes=input_dtype or None,
                                     dynamic_axes=dynamic_axis or None, weights=weights,
                                     allow_unsafe=allow_unsafe or None, custom_objects=custom_objects).items()
               if v is not None}
    result = run_matrix(model, output, targets=list(to) if to else None, log=ui.progress, atol=atol, rtol=rtol,
                        inputs=inputs, **options)
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
