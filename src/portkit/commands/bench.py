"""`portkit bench MODEL [MODEL...]`: latency side by side across runtimes, providers and batch sizes."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from portkit.options import BenchOptions, ConvertOptions

from ._common import JSON
from ._gates import gate_flags, gated, render_gates
from ._options import Flags, with_flags


def register(app: typer.Typer) -> None:
    app.command("bench", no_args_is_help=True)(bench)


@with_flags(Flags(BenchOptions, "options"), Flags(ConvertOptions, "loading", only=("weights",)),
            gate_flags("max_error", "min_agreement"))
def bench(
    models: list[str] = typer.Argument(..., help="Model files (ONNX, TorchScript, TFLite, Keras, SavedModel) "
                                                 "or pkg.module:factory; the first is the ratio baseline."),
    options: dict[str, Any] | None = None,
    loading: dict[str, Any] | None = None,
    report: Path | None = typer.Option(None, "--report", help="Write a self-contained HTML report here."),
    gates: dict[str, Any] | None = None,
    as_json: bool = JSON,
) -> None:
    """Measure latency (p50/p90/p99, CI of the median) and throughput, one table for all models."""
    from portkit import api, ui

    result, failed = gated(lambda: api.bench(models, report=report, gates=gates or None, log=ui.progress,
                                             **(options or {}), **(loading or {})))
    if report is not None:
        ui.progress(f"wrote {report}")
    if as_json:
        ui.print_json(result.to_dict())
    elif getattr(result, "generative", False):
        render_generative(result)
    else:
        render(result)
    render_gates(result, as_json)
    if failed:
        raise failed


def render(result) -> None:
    from portkit import ui

    env = result.environment
    ui.table(f"latency per call (ms) — {env.get('cpu')}, threads: {env.get('threads')}",
             list(result.TABLE_COLUMNS), result.table_rows())
    for m in result.fell_back:  # loud, on stderr: the provider asked for is not what ran
        print(f"portkit: warning: {m.label} batch {m.batch}: asked for {m.requested_provider}, "
              f"ran as {m.provider}", file=sys.stderr)
    for note in result.notes + [f"{m.label} batch {m.batch}: {n}" for m in result.measurements for n in m.notes]:
        ui.line(f"note: {note}")


def render_generative(result) -> None:
    from portkit import ui

    env = result.environment
    ui.table(f"generation (batch 1) — {env.get('cpu')}, threads: {env.get('threads')}, load {env.get('load_average_1m')}",
             result.table_columns, result.table_rows())
    for note in result.notes + [f"{m.label}: {n}" for m in result.measurements for n in m.to_dict()["notes"]]:
        ui.line(f"note: {note}")
