"""`portkit verify ARTIFACT`: re-check a converted model against the bundle `convert --bundle` saved."""
from __future__ import annotations

import typer

from ._common import JSON


def register(app: typer.Typer) -> None:
    app.command("verify", no_args_is_help=True)(verify)


def verify(
    artifact: str = typer.Argument(..., help="The converted model (its .bundle folder sits beside it)."),
    bundle: str | None = typer.Option(None, "--bundle", help="The bundle folder (default ARTIFACT.bundle)."),
    report: list[str] | None = typer.Option(None, "--report", help="Write a report: out.json, out.md or out.html (repeatable)."),
    junit: str | None = typer.Option(None, "--junit", help="Write a JUnit XML report for CI."),
    as_json: bool = JSON,
) -> None:
    """Run the artifact on the saved inputs and compare with the saved source outputs; exit 1 on a
    mismatch. Needs only the artifact's runtime (e.g. LiteRT), not the source framework."""
    from portkit import api
    from portkit.errors import ValidationFailed
    from portkit.report import render_table, to_json, write_report

    result = api.verify(artifact, bundle=bundle)
    for path in report or []:
        write_report(result, path)
    if junit:
        write_report(result, junit, "junit")
    if as_json:
        import sys

        sys.stdout.write(to_json(result) + "\n")
    else:
        render_table(result)
    if not result:
        raise ValidationFailed(result.summary(), result=result)
