"""`portkit run RECIPE`: convert, validate, benchmark, gate and export the models a recipe names."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from ._common import JSON


def register(app: typer.Typer) -> None:
    app.command("run", no_args_is_help=True)(run)


def run(
    recipe: Path = typer.Argument(..., help="The recipe (YAML); `portkit init MODEL` writes a starter one."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output folder (default: the recipe's `out:`, else ./portkit-out)."
    ),
    jobs: int = typer.Option(
        1, "--jobs", "-j", help="Models run in parallel, each in its own process (spawn)."
    ),
    executor: str = typer.Option(
        "process",
        "--executor",
        help="process (local processes) or ray (Ray tasks; pip install 'portkit[ray]').",
    ),
    junit: Path | None = typer.Option(
        None, "--junit", help="Write a JUnit XML report (a test per step and gate)."
    ),
    report: Path | None = typer.Option(
        None, "--report", help="Also write the HTML report here (OUT/report.html is always written)."
    ),
    check: bool = typer.Option(
        False, "--check", help="Only check the recipe (schema and files), run nothing."
    ),
    as_json: bool = JSON,
) -> None:
    """Run a recipe: every model's targets converted, validated, benchmarked, gated and exported; writes
    OUT/manifest.json (sha256, route, versions, results and gate verdicts of every artifact). Exit 1 when a
    validation or gate fails, 2 when the recipe is malformed (nothing runs then)."""
    from portkit import api, ui
    from portkit.recipes import RecipeError

    try:
        parsed = api.load_recipe(recipe)
    except RecipeError as e:
        _print_problems(e)
        raise
    if check:
        if as_json:
            ui.print_json({"recipe": str(recipe), "valid": True, "models": [m.name for m in parsed.models]})
        else:
            ui.line(
                f"{recipe}: valid ({len(parsed.models)} model(s), "
                f"{sum(len(m.targets) for m in parsed.models)} target(s))"
            )
        return
    with _stdout_to_stderr(as_json):
        result = api.run(
            parsed, out=out, jobs=jobs, executor=executor, junit=junit, report=report, log=ui.progress
        )
    ui.progress(f"wrote {result.manifest_path}")
    if as_json:
        ui.print_json(result.to_dict())
    else:
        render(result)
    if not result:
        _fail(result)


@contextmanager
def _stdout_to_stderr(active: bool) -> Iterator[None]:
    """With --json, anything a library prints while the recipe runs goes to stderr (file-descriptor level),
    so stdout carries the manifest alone."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _print_problems(e) -> None:  # noqa: ANN001
    from portkit import ui

    if len(e.problems) > 1:
        ui.progress(
            f"portkit: {e.path}: {len(e.problems)} problems in the recipe (nothing was run or written):"
        )
        for loc, msg, fix in e.problems:
            ui.progress(f"  {loc}: {msg}" + (f" — {fix}" if fix else ""))


def render(result) -> None:  # noqa: ANN001
    from portkit import ui
    from portkit.manifest import ARTIFACT_COLUMNS, GATE_COLUMNS, artifact_rows, gate_rows

    m = result.manifest
    ui.table(f"portkit run: {m['recipe']['path']} → {m['out']}", list(ARTIFACT_COLUMNS), artifact_rows(m))
    if m["gates"]:
        ui.table("gates", list(GATE_COLUMNS), gate_rows(m))
    for note in m["notes"]:
        ui.line(f"note: {note}")
    ui.line(f"manifest: {result.manifest_path}")


def _fail(result) -> None:  # noqa: ANN001
    from portkit import ui
    from portkit.errors import ValidationFailed
    from portkit.manifest import GATE_COLUMNS, gate_rows

    failed = result.failed_gates()
    s = result.manifest["summary"]
    if failed:
        # the failed gates again, on stderr, so they are visible even when stdout carries --json
        ui.table(
            "FAILED gates", list(GATE_COLUMNS), gate_rows(result.manifest, failed_only=True), stderr=True
        )
    errors = [
        f"{m['name']}/{a['name']}: {a['error']['message']}"
        for m in result.manifest["models"]
        for a in m["artifacts"]
        if a.get("error")
    ]
    errors += [f"{m['name']}: {m['error']['message']}" for m in result.manifest["models"] if m.get("error")]
    parts = []
    if failed:
        parts.append(
            f"{len(failed)} of {s['gates']} gate(s) failed: "
            + "; ".join(
                f"{v['artifact']} {v['gate']}" + (f" ({v['stat']})" if v.get("stat") else "") for v in failed
            )
        )
    if errors:
        parts.append(f"{len(errors)} step(s) failed: " + "; ".join(errors))
    if not parts:
        parts.append(f"{s['artifacts_failed']} artifact(s) failed")
    codes = [
        a["error"]["exit_code"] for m in result.manifest["models"] for a in m["artifacts"] if a.get("error")
    ]
    codes += [m["error"]["exit_code"] for m in result.manifest["models"] if m.get("error")]
    err = ValidationFailed(
        " · ".join(parts), path=str(result.manifest_path), hint="details in the manifest and OUT/report.html"
    )
    if codes and not failed and all(c not in (0, 1) for c in codes):
        err.exit_code = max(codes)  # e.g. every failure a conversion error (3): say so
    raise err
