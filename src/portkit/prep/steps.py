"""Post-route steps for ONNX targets (optimise, quantize: transform edges the conversion runs through the
one hop executor after the route); option checks; ORT operator config; size report."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..artifact import Artifact
from ..errors import BadInput
from ..formats import Format, quantizable
from ..graph import Edge
from ..options import ConvertOptions, ValidateOptions
from .calibration import require_calibration

if TYPE_CHECKING:
    from ..conversion import ConversionResult  # finish's argument; conversion calls finish, not the reverse

__all__ = ["PREP_TARGETS", "check_options", "finish", "hop_label", "hop_tool", "post_route_steps", "prepare_onnx",
           "same_format_output"]

Log = Callable[[str], None]
PREP_TARGETS = tuple(f for f in Format if f.info.onnx_steps)  # an ONNX graph inside: onnx, ort, web
# every int8 target keeps float layers (portkit.prep.keep_float)
KEEP_FLOAT_TARGETS = (*PREP_TARGETS, Format.TFLITE, Format.EXECUTORCH)
FP16_TOOL = "onnxruntime.transformers.float16"  # what the quantize step runs for --quantize fp16
# validation batches for a quantized step without user/calibration data: enough samples for agreement
QUANT_BATCHES = (1, 2, 16)


def check_options(source: Format, to: Format, opts: ConvertOptions,
                  vopts: ValidateOptions | None = None) -> ValidateOptions | None:
    """Reject option combinations that cannot work, before any hop runs. Returns the validation options
    for the route: a quantized result is judged on the calibration data when there is some (random
    inputs say little about int8 ranges), else on more random samples, so top-1 agreement means
    something; unchanged when the user gave --inputs or nothing is quantized."""
    if opts.quantize:
        # an unknown kind never gets here: ConvertOptions checks `choices` when it is built
        if not to.info.quantize:
            names = [f.value for f in sorted(quantizable(), key=lambda f: not f.info.onnx_steps)]
            raise BadInput(f"--quantize applies to {', '.join(names[:-1])} and {names[-1]} targets, not {to.value}",
                           hint="convert to one of those, or drop --quantize")
        if opts.quantize == "int4" and opts.quantize not in to.info.quantize:  # no graph-level int4 route
            raise BadInput(f"--quantize int4 (4-bit weights) applies to a causal LM exported with its key/value "
                           f"cache, not to a {source.value} → {to.value} graph conversion",
                           hint="convert a causal LM (a save_pretrained folder) --to onnx or executorch, or use "
                                "--quantize dynamic")
        if opts.quantize not in to.info.quantize:
            takes = [f.value for f in quantizable() if opts.quantize in f.info.quantize]
            raise BadInput(f"--quantize {opts.quantize} does not apply to {to.value} targets",
                           hint=f"use --quantize {' or '.join(to.info.quantize)} there, or convert to "
                                f"{', '.join(takes)} for {opts.quantize}")
        if opts.quantize == "int8":
            require_calibration(opts.calibration, "int8")
    if opts.keep_float and opts.quantize != "int8":
        raise BadInput("--keep-float needs --quantize int8 (it keeps layers of an int8 model in float)",
                       hint="add --quantize int8 --calibration DATA, or drop --keep-float")
    if opts.keep_float_max is not None and opts.keep_float != ("auto",):
        raise BadInput("--keep-float-max limits --keep-float auto", hint="add --keep-float auto")
    if opts.keep_float and to not in KEEP_FLOAT_TARGETS:
        raise BadInput(f"--keep-float applies to {', '.join(t.value for t in KEEP_FLOAT_TARGETS)} targets, "
                       f"not {to.value}", hint="drop --keep-float")
    if opts.optimize and to not in PREP_TARGETS:
        raise BadInput(f"--optimize applies to onnx, ort and web targets, not {to.value}",
                       hint="drop --optimize (TFLite converters optimise on their own)")
    if opts.int8_io and to in PREP_TARGETS:
        raise BadInput("--int8-io applies to TFLite targets only",
                       hint="ONNX int8 models keep float inputs/outputs (QuantizeLinear/DequantizeLinear "
                            "inside)")
    if source is to and to is not Format.ONNX and (opts.quantize or opts.optimize):
        raise BadInput(f"--quantize/--optimize on a {to.value} model is not supported",
                       hint=f"convert from the float source model: portkit convert SOURCE --to {to.value} "
                            "--quantize ...")
    # judged on the calibration data where there is some (ExecuTorch's int8 keeps float I/O like ONNX's)
    judged = (*PREP_TARGETS, Format.EXECUTORCH, Format.TFLITE)
    return quantized_validation(opts, vopts) if opts.quantize and to in judged else vopts


def quantized_validation(opts: ConvertOptions, vopts: ValidateOptions | None) -> ValidateOptions:
    vopts = vopts or ValidateOptions(input_specs=opts.input_specs)
    if vopts.inputs:
        return vopts
    if opts.calibration:
        return dataclasses.replace(vopts, inputs=opts.calibration)
    return dataclasses.replace(vopts, batches=vopts.batches or QUANT_BATCHES)


def same_format_output(source: Artifact, opts: ConvertOptions) -> Path:
    """Default output of `m.onnx --to onnx --quantize/--optimize`: `m.int8.onnx`, never the source."""
    tag = opts.quantize or "opt"
    return Path(Path(source.location).name.removesuffix(".onnx") + f".{tag}.onnx")


def prepare_onnx(src: Path, out: Path, opts: ConvertOptions) -> dict[str, Any]:
    """Optimise then quantize an ONNX file into `out` (in this process: callers run in workers)."""
    import shutil
    import tempfile

    from .optimize_onnx import optimize
    from .quantize_onnx import quantize

    md: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="portkit-prep-") as tmp:
        current = src
        if opts.optimize:
            nxt = Path(tmp) / "optimized.onnx"
            md.update(optimize(current, nxt))
            current = nxt
        if opts.quantize:
            nxt = Path(tmp) / "quantized.onnx"
            md.update(quantize(current, nxt, opts.quantize, opts.calibration,
                                reduce_range=opts.reduce_range,
                                keep_float=tuple(n for n in opts.keep_float if n != "auto")))
            if opts.quantize == "int8" and opts.keep_float == ("auto",):  # the ranking the search reads
                from .keep_float import sensitivity_of

                md["sensitivity"] = sensitivity_of(str(current), str(nxt), str(opts.calibration))
            current = nxt
        shutil.copyfile(current, out)
    return md


def transformed(src: Artifact, out: Path, md: dict[str, Any], tool: str) -> Artifact:
    """The Artifact an ONNX → ONNX step wrote (converters/onnx_optimize.py, onnx_quantize.py; in the worker):
    its own signature, the source's layout/renames/ranges carried over, what the step recorded."""
    from .. import onnxutil
    from ..versions import versions

    model = onnxutil.load(out)
    keep = src.carried()
    if src.record.quantized and "quantized" not in md:  # optimising a quantized model keeps it quantized
        keep["quantized"] = src.record.quantized
    return Artifact(str(out), Format.ONNX, onnxutil.signature(model),
                    {**keep, **md, "producer": tool, "opset": onnxutil.opset(model),
                     "versions": versions("onnxruntime", "onnx", "onnxslim")})


def post_route_steps(target: Format, opts: ConvertOptions) -> tuple[Edge, ...]:
    """The ONNX → ONNX transform edges a route ending in ONNX gets after it (--optimize, then --quantize);
    the conversion runs them through the hop executor like the route's own hops."""
    if target is not Format.ONNX:
        return ()
    from ..graph import step_edge

    return tuple(step_edge(s) for s, on in (("optimize", opts.optimize), ("quantize", opts.quantize)) if on)


def hop_tool(edge: Edge, opts: ConvertOptions) -> str:
    """The library a hop runs: the edge's, except fp16 quantization (onnxruntime's float16 converter)."""
    if edge.step == "quantize" and opts.quantize == "fp16":
        return FP16_TOOL
    return edge.tool


def hop_label(edge: Edge, opts: ConvertOptions) -> str:
    """A hop's name in logs and results: `torch→onnx`, or for a step `onnx→onnx (int8)` / `(optimize)`."""
    if not edge.step:
        return str(edge)
    return f"{edge}{f' ({opts.quantize})' if edge.step == 'quantize' else f' ({edge.step})'}"


def quant_summary(v: Any) -> str:
    """The validation summary, with top-1 agreement and cosine first for quantized criteria."""
    if not str(getattr(v, "criteria", "")).startswith("quantized") or not v.outputs:
        return v.summary()
    agree = [o.argmax_agreement for o in v.outputs if o.argmax_agreement is not None]
    head = f"{v.criteria}: cosine ≥ {min(o.cosine for o in v.outputs):.5f}"
    if agree:
        head += f", top-1 agreement {min(agree):.1%}"
    return f"{head}; {v.summary()}"


def _fmt(n: int) -> str:
    return f"{n / 1024:.1f} KB" if n < 1024 ** 2 else f"{n / 1024 ** 2:.2f} MB"


def finish(result: ConversionResult, to: Format, opts: ConvertOptions, log: Log) -> ConversionResult:
    """After the route and its steps: write the ORT operator config, report sizes."""
    if to is Format.ORT:
        from .ort_format import write_operator_config

        config = write_operator_config(result.output.location)
        result.output.note(operator_config=config.name)
        log(f"required-operators config for a reduced ORT build: {config}")
    elif to is Format.WEB:
        ops = result.output.record.ops or {}
        if ops:
            log(f"op check: {ops.get('summary', '')}")
    if to in PREP_TARGETS and (opts.quantize or opts.optimize or to is not Format.ONNX):
        _report_size(result, log)
    return result


def record_kept(art: Artifact, record: dict[str, Any] | None, opts: ConvertOptions, log: Log) -> None:
    """The layers kept float go into the metadata (sidecar, manifest) and the log."""
    from .keep_float import finish_record

    record = record or {"mode": "names", "layers": list(opts.keep_float)}
    record = finish_record(record, art.location, opts, log)
    # a converter's ranking (sensitivity) gives way to the record, which keeps what matters of it
    art.note(sensitivity=None, keep_float=record)
    art.write_sidecar()
    layers = record.get("layers") or []
    log(f"  kept in float: {', '.join(layers) if layers else 'none (full int8 meets the gate)'}"
        + (f" ({len(layers)} of {record['quantized_layers']} quantized layers)"
           if record.get("quantized_layers") else ""))


def _report_size(result: ConversionResult, log: Log) -> None:
    out = result.output
    before_loc = out.record.float_model or (
        result.hops[-2].output if len(result.hops) > 1 else result.source.location)
    before_art = Artifact(before_loc, Format.ONNX)
    before = before_art.size_bytes() if Path(before_loc).is_file() else 0
    after = out.size_bytes()
    if out.format is Format.WEB:
        from ..formats import model_file

        after = model_file(out.location).stat().st_size
    if before and after:
        ratio = after / before
        out.note(size={"before_bytes": before, "after_bytes": after, "ratio": round(ratio, 4), "before": before_loc})
        quantized = out.record.quantized
        log(f"size: {_fmt(before)} → {_fmt(after)} ({ratio:.2f}×)" + (f", {quantized}" if quantized else ""))
