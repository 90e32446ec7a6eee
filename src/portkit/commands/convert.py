"""`portkit convert SOURCE --to FORMAT`."""
from __future__ import annotations

from pathlib import Path

import typer

from ._common import JSON, dynamic_axis_option, input_dtype_option, input_shape_option
from ._gates import (
    BASELINE,
    MAX_ERROR,
    MAX_LATENCY,
    MAX_REGRESSION,
    MAX_SIZE,
    MIN_AGREEMENT,
    gated,
    gates_from,
    render_gates,
)


def register(app: typer.Typer) -> None:
    app.command("convert", no_args_is_help=True)(convert)


def convert(
    source: str = typer.Argument(..., help="Model file/folder, or pkg.module:factory for an eager PyTorch model."),
    to: str = typer.Option(..., "--to", "-t", help="Target format: onnx, torchscript, tflite, savedmodel, keras, ..."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Output path (default: beside the source name)."),
    via: str | None = typer.Option(None, "--via", help="Force the route through this format."),
    tool: str | None = typer.Option(None, "--tool", help="Keep only routes using this tool for a hop (e.g. tf2onnx, 'keras export', litert-torch, onnx2tf; see `portkit routes`)."),
    opset: int | None = typer.Option(None, "--opset", help="ONNX opset for ONNX exports."),
    input_shape: list[str] | None = input_shape_option(),
    input_dtype: list[str] | None = input_dtype_option(),
    dynamic_axis: list[str] | None = dynamic_axis_option(),
    dynamic: bool = typer.Option(True, "--dynamic/--static", help="Dynamic batch axis (default) or static shapes."),
    weights: str | None = typer.Option(None, "--weights", help="state_dict (.pt, loaded weights_only) or Keras weights."),
    model_args: str | None = typer.Option(None, "--model-args", help='JSON keyword arguments for the factory, e.g. \'{"num_classes": 10}\'.'),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help="Allow loading a pickled PyTorch module (runs code from the file)."),
    allow_unsafe: bool = typer.Option(False, "--allow-unsafe", help="Run code the model carries: Keras safe_mode=False (Lambda layers), a Hugging Face folder's own modelling code (trust_remote_code)."),
    task: str | None = typer.Option(None, "--task", help="Hugging Face folders: the task to export (default from architectures[0]): feature-extraction, text-classification, fill-mask, text-generation, ..."),
    custom_objects: str | None = typer.Option(None, "--custom-objects", help="Module registering Keras custom objects."),
    keep_layout: bool = typer.Option(False, "--keep-layout", help="Ask onnx2tf to keep NCHW where it can."),
    no_validate: bool = typer.Option(False, "--no-validate", help="Skip validation against the source."),
    atol: float | None = typer.Option(None, "--atol", help="Absolute tolerance (default per dtype; fp32 1e-4)."),
    rtol: float | None = typer.Option(None, "--rtol", help="Relative tolerance (default per dtype; fp32 1e-4)."),
    inputs: str | None = typer.Option(None, "--inputs", help="Validate on this data (.npz or folder of .npy)."),
    clean: bool = typer.Option(False, "--clean", help="Remove intermediate files of multi-hop routes."),
    quantize: str | None = typer.Option(None, "--quantize", help="fp16, dynamic or int8 (TFLite, ONNX and ExecuTorch targets; ExecuTorch: int8, dynamic)."),
    calibration: str | None = typer.Option(None, "--calibration", help="Calibration data for int8 (.npz or folder of .npy)."),
    int8_io: bool = typer.Option(False, "--int8-io", help="Integer inputs/outputs for full-int8 TFLite."),
    keep_float: str | None = typer.Option(None, "--keep-float", help="int8: keep these layers float (NAME,...), or 'auto': the most sensitive ones until the gate (--min-agreement/--max-error/--max-drop) holds."),
    keep_float_max: int | None = typer.Option(None, "--keep-float-max", help="--keep-float auto: at most this many float layers (default 10%% of the quantized layers)."),
    optimize: bool = typer.Option(False, "--optimize", help="Offline graph optimisation (onnxslim / onnxruntime), validated."),
    reduce_range: bool = typer.Option(True, "--reduce-range/--full-range", help="ONNX dynamic/int8 weights in 7 bits (default: x86 without VNNI overflows with 8) or the full 8 (ARM-only deployments)."),
    web_model: str = typer.Option("onnx", "--web-model", help="The model a web bundle holds: onnx or ort."),
    eval_data: str | None = typer.Option(None, "--eval-data", help="Labelled data (.npz with inputs + 'labels') for accuracy delta."),
    max_drop: float | None = typer.Option(None, "--max-drop", help="With --eval-data: fail (exit 1) when top-1 accuracy falls more than this below the source's (0.01 = one point); a target of --keep-float auto."),
    bundle: bool = typer.Option(False, "--bundle", help="Save inputs + reference outputs beside the artifact for `portkit verify`."),
    cache: bool | None = typer.Option(None, "--cache/--no-cache", help="Causal LMs: export with the key/value cache (default where the model has one) or as one pass (--no-cache)."),
    cache_length: int | None = typer.Option(None, "--cache-length", min=2, help="Causal LMs to tflite/executorch: static cache length (default: the model's context, at most 1024)."),
    tokens: int = typer.Option(32, "--tokens", min=1, help="Causal LMs: greedy tokens generated per prompt by the validation."),
    max_error: float | None = MAX_ERROR,
    min_agreement: float | None = MIN_AGREEMENT,
    max_latency_ms: str | None = MAX_LATENCY,
    max_size_mb: float | None = MAX_SIZE,
    baseline: Path | None = BASELINE,
    max_regression: float | None = MAX_REGRESSION,
    as_json: bool = JSON,
) -> None:
    """Convert a model to another format and validate it against the source."""
    from portkit import api, ui

    gates = gates_from(max_error, min_agreement, max_latency_ms, max_size_mb, baseline, max_regression)
    result, failed = gated(lambda: api.convert(
        source, to, output, gates=gates, validate=not no_validate, via=via, clean=clean, atol=atol, rtol=rtol,
        inputs=inputs, log=ui.progress, opset=opset, input_shapes=input_shape or None, dynamic=dynamic,
        input_dtypes=input_dtype or None, dynamic_axes=dynamic_axis or None,
        weights=weights, model_args=model_args or {}, allow_pickle=allow_pickle, allow_unsafe=allow_unsafe, task=task,
        custom_objects=custom_objects, keep_layout=keep_layout, quantize=quantize, calibration=calibration,
        int8_io=int8_io, keep_float=keep_float, keep_float_max=keep_float_max, max_drop=max_drop, optimize=optimize,
        reduce_range=reduce_range, web_model=web_model, eval_data=eval_data, bundle=bundle, tool=tool, cache=cache,
        cache_length=cache_length, tokens=tokens,
    ))
    if as_json:
        ui.print_json(result.to_dict())
    else:
        render(result)
    render_gates(result, as_json)
    if failed:
        raise failed


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
    kept = result.output.metadata.get("keep_float")
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
