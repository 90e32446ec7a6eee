"""`portkit ops MODEL --target web|ort|tflite`: which operators the target cannot run, node by node."""
from __future__ import annotations

from pathlib import Path

import typer

from ._common import JSON


def register(app: typer.Typer) -> None:
    app.command("ops", no_args_is_help=True)(ops)


def ops(
    model: Path = typer.Argument(..., help="An ONNX model (or a web bundle folder)."),
    target: str = typer.Option("web", "--target", "-t", help="web (onnxruntime-web WASM), ort (ORT format "
                               "builds) or tflite (TFLite builtins via onnx2tf)."),
    as_json: bool = JSON,
) -> None:
    """Check a model's operators against a mobile/web runtime before converting. Exit 3 when some are
    unsupported (every op listed with its node names), 0 when all run."""
    from portkit import ui
    from portkit.errors import BadInput
    from portkit.formats import Format, sniff
    from portkit.prep.op_report import check_ops

    fmt = sniff(model)
    path = model
    if fmt is Format.WEB:
        from portkit.prep.web_bundle import model_file

        path = model_file(model)
        if path.suffix != ".onnx":
            raise BadInput("the bundle holds an ORT-format model; check its ONNX source instead", path=model)
    elif fmt is not Format.ONNX:
        raise BadInput(f"op checks read ONNX models, this is {fmt.value}", path=model,
                       hint=f"convert it first: portkit convert {model} --to onnx")
    report = check_ops(path, target.lower())
    if as_json:
        ui.print_json(report.to_dict())
    else:
        ui.table(f"{model}: operators vs {report.checked_against}", ["op", "count", "supported"],
                 [[op, n, "no" if any(_key(i) == op for i in report.unsupported) else "yes"]
                  for op, n in report.ops.items()])
        for text in report.lines():
            ui.line(f"unsupported: {text}")
        ui.line(report.summary())
    if not report.ok:
        raise typer.Exit(3)


def _key(issue) -> str:  # noqa: ANN001 - OpIssue
    return f"{issue.domain}:{issue.op}" if issue.domain else issue.op
