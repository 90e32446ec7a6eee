"""`portkit validate REFERENCE CANDIDATE`."""
from __future__ import annotations

from typing import Optional

import typer

from ._common import JSON, input_shape_option, parse_tolerances


def register(app: typer.Typer) -> None:
    app.command("validate", no_args_is_help=True)(validate)


def validate(
    reference: str = typer.Argument(..., help="The reference model (any supported format)."),
    candidate: str = typer.Argument(..., help="The model to check against it."),
    inputs: Optional[str] = typer.Option(None, "--inputs", help=".npz (keys = input names) or folder of .npy."),
    samples: int = typer.Option(1, "--samples", help="Random sample sets per batch size."),
    batch: Optional[list[int]] = typer.Option(None, "--batch", help="Batch sizes to sweep (default 1, 2, 7 when dynamic)."),
    atol: Optional[float] = typer.Option(None, "--atol", help="Absolute tolerance (default per dtype)."),
    rtol: Optional[float] = typer.Option(None, "--rtol", help="Relative tolerance (default per dtype)."),
    tolerance: Optional[list[str]] = typer.Option(None, "--tolerance", help="Per output: name=atol,rtol (repeatable)."),
    input_shape: Optional[list[str]] = input_shape_option(),
    seed: int = typer.Option(0, "--seed", help="Seed for random inputs."),
    as_json: bool = JSON,
) -> None:
    """Run both models on the same inputs and compare every output; exit 1 when they differ."""
    from portkit import api, ui
    from portkit.errors import ValidationFailed

    result = api.validate(reference, candidate, inputs=inputs, samples=samples,
                          batches=tuple(batch) if batch else (1, 2, 7), atol=atol, rtol=rtol,
                          per_output=parse_tolerances(tolerance), input_shapes=input_shape or None, seed=seed)
    if as_json:
        ui.print_json(result.to_dict())
    else:
        render(result)
    if not result:
        raise ValidationFailed(result.summary(), result=result)


def render(result) -> None:  # noqa: ANN001
    from portkit import ui

    rows = [[o.name, o.batch, "ok" if o.passed else "FAILED", f"{o.max_abs:.2e}", f"{o.mean_abs:.2e}",
             f"{o.max_rel:.2e}", f"{o.cosine:.6f}", "-" if o.argmax_agreement is None else f"{o.argmax_agreement:.3f}",
             f"{o.atol:g}/{o.rtol:g}"] for o in result.outputs]
    ui.table(f"{result.reference} vs {result.candidate}",
             ["output", "batch", "status", "max abs", "mean abs", "max rel", "cosine", "argmax", "atol/rtol"], rows)
    for w in result.warnings:
        ui.progress(f"warning: {w}")
    ui.line(result.summary())
