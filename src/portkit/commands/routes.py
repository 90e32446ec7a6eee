"""`portkit routes`."""
from __future__ import annotations

import typer

from ._common import JSON


def register(app: typer.Typer) -> None:
    app.command("routes")(routes)


def routes(
    source: str | None = typer.Option(None, "--from", help="Plan routes from this format."),
    target: str | None = typer.Option(None, "--to", help="Plan routes to this format."),
    as_json: bool = JSON,
) -> None:
    """List the conversion edges and whether their libraries are installed (or plan FROM → TO)."""
    from portkit import api, ui

    if source and target:
        from portkit.formats import Format
        from portkit.graph import plan, route_text

        planned = [{"route": route_text(r), "cost": round(sum(e.cost for e in r), 3), "tools": [e.tool for e in r]}
                   for r in plan(Format.parse(source), Format.parse(target))]
        if as_json:
            ui.print_json(planned)
        else:
            ui.table(f"routes {source} → {target}, best first", ["route", "cost", "tools"],
                     [[p["route"], p["cost"], ", ".join(p["tools"])] for p in planned])
        return
    edges = api.routes()
    if as_json:
        ui.print_json(edges)
        return
    ui.table("conversion edges", ["edge", "tool", "cost", "available"],
             [[e["edge"], e["tool"], e["cost"], "yes" if e["available"] else f"no (missing {', '.join(e['missing'])})"]
              for e in edges])
