"""`portkit convert SOURCE --to FORMAT`."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from portkit.options import ConvertOptions, ValidateOptions

from ._common import JSON
from ._gates import gate_flags, gated, render_gates
from ._options import Flags, with_flags

# the ValidateOptions a conversion's validation takes from the command line (the rest: `portkit validate`)
CHECKS = ("atol", "rtol", "inputs", "tokens")


def register(app: typer.Typer) -> None:
    app.command("convert", no_args_is_help=True)(command())


def command(options_class: type[ConvertOptions] = ConvertOptions) -> Callable[..., None]:
    """`portkit convert`, its flags generated from `options_class`'s fields (and the validation's CHECKS)."""

    @with_flags(Flags(options_class, "options", skip=("debug",)), Flags(ValidateOptions, "checks", only=CHECKS),
                gate_flags())
    def convert(
        source: str = typer.Argument(..., help="Model file/folder, or pkg.module:factory for an eager PyTorch model."),
        to: str = typer.Option(..., "--to", "-t", help="Target format: onnx, torchscript, tflite, savedmodel, keras, ..."),
        output: Path | None = typer.Option(None, "--output", "-o", help="Output path (default: beside the source name)."),
        via: str | None = typer.Option(None, "--via", help="Force the route through this format."),
        options: dict[str, Any] | None = None,
        no_validate: bool = typer.Option(False, "--no-validate", help="Skip validation against the source."),
        checks: dict[str, Any] | None = None,
        clean: bool = typer.Option(False, "--clean", help="Remove intermediate files of multi-hop routes."),
        eval_data: str | None = typer.Option(None, "--eval-data", help="Labelled data (.npz with inputs + 'labels') for accuracy delta."),
        bundle: bool = typer.Option(False, "--bundle", help="Save inputs + reference outputs beside the artifact for `portkit verify`."),
        gates: dict[str, Any] | None = None,
        as_json: bool = JSON,
    ) -> None:
        """Convert a model to another format and validate it against the source."""
        from portkit import api, ui
        from portkit.options import convert_options
        from portkit.workers import warm

        if not as_json:
            warm("rich.console", "rich.table")  # the result table's, imported while the conversion runs
        result, failed = gated(lambda: api.convert(
            source, to, output, convert_options(options_class, **(options or {})), gates=gates or None,
            validate=not no_validate, via=via, clean=clean, eval_data=eval_data, bundle=bundle, log=ui.progress,
            **(checks or {})))
        if as_json:
            ui.print_json(result.to_dict())
        else:
            render(result)
        render_gates(result, as_json)
        if failed:
            raise failed

    return convert


def render(result) -> None:
    from portkit import ui

    rows = []
    for h in result.hops:
        v = h.validation
        rows.append([h.edge, h.tool, f"{h.seconds:.1f}s",
                     "skipped" if v is None else ("ok" if v else "FAILED"),
                     "-" if v is None else f"{v.max_abs:.2e}", "-" if v is None else f"{v.max_rel:.2e}"])
    if result.validation is not None:
        v = result.validation
        rows.append(["end to end", "", f"{result.seconds:.1f}s", "ok" if v else "FAILED",
                     f"{v.max_abs:.2e}", f"{v.max_rel:.2e}"])
    ui.table(f"{result.source.location} → {result.output.location}",
             ["hop", "tool", "time", "validation", "max abs", "max rel"], rows)
    ui.line(f"wrote {result.output.location} ({ui.fmt_size(result.output.size_bytes())})")
    kept = result.output.record.keep_float
    if kept:
        render_kept(kept)


def render_kept(kept: dict) -> None:
    """The layers --keep-float kept, the most sensitive layers and what it cost against float / full int8."""
    from portkit import ui

    ui.line(f"kept in float: {', '.join(kept.get('layers') or []) or 'none'}")
    rows = [[r["layer"][:48], r["op"], "-" if r["sqnr_db"] is None else f"{r['sqnr_db']:.1f}",
             "float" if r["layer"] in (kept.get("layers") or []) + (kept.get("also_float") or []) else "int8"]
            for r in (kept.get("sensitivity") or [])[:8]]
    if rows:
        ui.table("per-layer int8 sensitivity (SQNR on the calibration data, worst first)",
                 ["layer", "op", "SQNR dB", "kept"], rows)
    compare = kept.get("compare") or {}
    if compare:
        ui.table("float / full int8 / result", ["model", "size", "latency (onnxruntime CPU)"],
                 [[k, ui.fmt_size(v["bytes"]), f"{v['latency_ms']:.3f} ms" if "latency_ms" in v else "-"]
                  for k, v in compare.items()])
