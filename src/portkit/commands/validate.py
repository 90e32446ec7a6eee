"""`portkit validate REFERENCE CANDIDATE`."""
from __future__ import annotations

from typing import Any

import typer

from portkit.options import ValidateOptions

from ._common import JSON
from ._gates import gate_flags, gated, render_gates
from ._options import Flags, with_flags


def register(app: typer.Typer) -> None:
    app.command("validate", no_args_is_help=True)(validate)


@with_flags(Flags(ValidateOptions, "checks"), gate_flags("max_latency_ms"))
def validate(
    reference: str = typer.Argument(..., help="The reference model (any supported format)."),
    candidate: str = typer.Argument(..., help="The model to check against it."),
    checks: dict[str, Any] | None = None,
    quantized: str | None = typer.Option(None, "--quantized", help="Judge as a quantized candidate (int8, dynamic, fp16): cosine + argmax agreement instead of atol."),
    locate: bool = typer.Option(False, "--locate", help="On failure, find the first diverging layer (ONNX, TFLite, TorchScript, PyTorch, Keras; any pairing)."),
    reduce: str | None = typer.Option(None, "--reduce", help="On failure, write the smallest ONNX subgraph around the first divergence, its inputs (.npz) and a repro command to this folder (implies --locate)."),
    report: list[str] | None = typer.Option(None, "--report", help="Write a report: out.json, out.md or out.html (repeatable)."),
    junit: str | None = typer.Option(None, "--junit", help="Write a JUnit XML report for CI."),
    reference_weights: str | None = typer.Option(None, "--weights", help="state_dict for a pkg.module:factory reference."),
    gates: dict[str, Any] | None = None,
    as_json: bool = JSON,
) -> None:
    """Run both models on the same inputs and compare every output; exit 1 when they differ."""
    from portkit import api
    from portkit.errors import ValidationFailed
    from portkit.generative.check import GenerationCheck
    from portkit.report import render_table, to_json, write_report

    result, failed = gated(lambda: api.validate(
        reference, candidate, gates=gates or None, quantized=quantized, locate=locate, reduce=reduce,
        reference_options={"weights": reference_weights} if reference_weights else None, **(checks or {})))
    if isinstance(result, GenerationCheck):
        _render_generation(result, as_json)
        if not result:
            raise ValidationFailed(result.summary(), result=result, path=candidate,
                                   hint="the table above has every prompt; --json for the numbers")
        return
    for path in report or []:
        write_report(result, path)
    if junit:
        write_report(result, junit, "junit")
    if as_json:
        import sys

        sys.stdout.write(to_json(result) + "\n")
    else:
        render_table(result)
    render_gates(result, as_json)
    if not result:
        w = result.worst()
        failed = w.failed_to_run.partition(" ")[0] if w is not None else ""  # "candidate" / "reference"
        model = reference if failed == "reference" else candidate
        hint = (f"check what it takes: portkit inspect {model}" if failed
                else "the table above has every output and case; --json for the numbers")
        raise ValidationFailed(result.summary(), result=result, path=model, hint=hint)
    if failed:
        raise failed


def render(result) -> None:
    from portkit.report import render_table

    render_table(result)


def _render_generation(result, as_json: bool) -> None:
    from portkit import ui

    if as_json:
        ui.print_json(result.to_dict())
        return
    rows = []
    for i, p in enumerate(result.prompts):
        d = p.first_divergence
        rows.append([str(i + 1), str(p.prompt_length), f"{p.identical}/{p.steps}",
                     "-" if d is None else f"step {d['step']}: {d['expected']} → {d['got']}",
                     f"{p.max_abs:.2e}", f"{p.top1:.3f}", f"{p.prefill_abs:.2e}"])
    ui.table(f"{result.reference} → {result.candidate} (greedy generation, with the cache)",
             ["prompt", "length", "identical", "first divergence", "logits max abs", "top-1", "one-pass abs"],
             rows)
    ui.line(("ok — " if result else "FAILED — ") + result.summary())
