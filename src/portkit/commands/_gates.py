"""Gate options shared by `convert`, `validate` and `bench` (see portkit.gates)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

MAX_ERROR = typer.Option(
    None, "--max-error", help="Gate: fail (exit 1) when max |diff| against the source exceeds this."
)
MIN_AGREEMENT = typer.Option(
    None, "--min-agreement", help="Gate: fail when top-1 agreement is below this (0..1)."
)
MAX_LATENCY = typer.Option(
    None,
    "--max-latency-ms",
    help="Gate: p50 latency limit in ms, or p99=N; fails only when the whole 95% CI is above it.",
)
MAX_SIZE = typer.Option(
    None, "--max-size-mb", help="Gate: fail when the model is larger than this (MB, 1e6 bytes)."
)
BASELINE = typer.Option(
    None, "--baseline", help="Gate: an earlier --json result or run manifest to compare with."
)
MAX_REGRESSION = typer.Option(
    None, "--max-regression", help="Gate: allowed regression against --baseline, in percent."
)


def gates_from(
    max_error: float | None,
    min_agreement: float | None,
    max_latency_ms: str | None,
    max_size_mb: float | None,
    baseline: Path | None,
    max_regression: float | None,
) -> Any:
    from portkit.gates import Gates

    return Gates.of(
        {
            "max_error": max_error,
            "min_agreement": min_agreement,
            "max_latency_ms": max_latency_ms,
            "max_size_mb": max_size_mb,
            "baseline": str(baseline) if baseline else None,
            "max_regression": max_regression,
        }
        if any(
            v is not None
            for v in (max_error, min_agreement, max_latency_ms, max_size_mb, baseline, max_regression)
        )
        else None
    )


def gated(call: Callable[[], Any]) -> tuple[Any, Any]:
    """Run an API call with gates: (result, GateFailed or None). The caller renders, then raises."""
    from portkit.gates import GateFailed

    try:
        return call(), None
    except GateFailed as e:
        return e.result, e


def render_gates(result: Any, as_json: bool) -> None:
    """The gate table: on stdout with the result table, on stderr when stdout carries --json."""
    from portkit import ui

    report = getattr(result, "gates", None)
    if report is None or not report.verdicts:
        return
    ui.table(
        "gates: " + ("passed" if report.passed else "FAILED"),
        list(report.COLUMNS),
        report.rows(),
        stderr=as_json,
    )
    for note in report.notes:
        if as_json:
            ui.progress(f"note: {note}")
        else:
            ui.line(f"note: {note}")
