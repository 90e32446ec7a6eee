"""Gate flags shared by `convert`, `validate` and `bench` (see portkit.gates): generated from the `Gates`
fields as the option flags are from the options' (portkit.commands._options), so a gate is its field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from portkit.gates import Gates

from ._options import Flags

__all__ = ["gate_flags", "gated", "render_gates"]


def gate_flags(*skip: str) -> Flags:
    """The gate flags of a command, into its parameter `gates`: every gate less those it cannot measure
    (`skip`: field names). The command hands the given ones to the API as a dict (Gates.of reads them)."""
    return Flags(Gates, "gates", skip=skip)


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
