"""`portkit convert`: plan a route, run each hop in a worker, validate hop by hop and end to end.

Outputs are written to a temporary path beside the destination and renamed only when the hop succeeded,
so a failed conversion never leaves a file at `-o`. When a hop fails the next route is tried, and the
result says so.
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .artifact import Artifact, HopRecord
from .errors import BadInput, ConversionFailed, ValidationFailed
from .formats import Format, sniff
from .gate_report import GateReport
from .graph import Route, plan, route_text
from .hops import HopResult, hop_paths, hop_view, relative_to_source, remove, run_hop, validate_pair, without_maps
from .options import ConvertOptions, ValidateOptions, static_batch
from .signature import InputSpec, merge_input_specs
from .validation import LIBRARIES as VALIDATION_LIBRARIES
from .validation import ValidationResult
from .workers import WorkerPool, command_pool, warm

__all__ = ["ConversionResult", "HopResult", "convert", "default_output", "source_artifact"]

Log = Callable[[str], None]


@dataclass
class ConversionResult:
    source: Artifact
    output: Artifact
    route: list[str]
    hops: list[HopResult] = field(default_factory=list)
    validation: ValidationResult | None = None  # end to end (original vs final)
    failed_routes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    accuracy: dict[str, Any] | None = None  # with eval_data: source/result accuracy and the delta
    bundle: str | None = None  # with bundle=True: the folder `portkit verify` reads
    gates: GateReport | None = None  # the gates checked on this result (portkit.gates), when any were set

    @property
    def validated(self) -> bool:
        return self.validation is not None

    @property
    def passed(self) -> bool:
        # a failed ValidationResult is falsy: test for None, or failures would vanish from the checks
        checks = [h.validation for h in self.hops if h.validation is not None]
        checks += [self.validation] if self.validation is not None else []
        return all(bool(v) for v in checks)

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source.location, "source_format": self.source.format.value,
            "output": self.output.location, "format": self.output.format.value,
            "route": self.route, "passed": self.passed, "validated": self.validated,
            "size_bytes": self.output.size_bytes(), "seconds": round(self.seconds, 3),
            "failed_routes": self.failed_routes, "hops": [h.to_dict() for h in self.hops],
            "validation": self.validation.to_dict() if self.validation is not None else None,
            "signature": self.output.signature.to_dict() if self.output.signature else None,
            "metadata": self.output.metadata,
            "accuracy": self.accuracy, "bundle": self.bundle,
            **({"gates": self.gates.to_dict()} if self.gates is not None else {}),
        }


def source_artifact(source: str | Path, opts: ConvertOptions) -> Artifact:
    """Sniff the source and attach the loading options a runtime or converter needs."""
    fmt = sniff(source)
    md: dict[str, Any] = {"dynamic": opts.dynamic, "input_specs": opts.input_specs}
    if fmt in (Format.TORCH, Format.TORCHSCRIPT):
        md.update(weights=opts.weights, model_args=opts.model_args, allow_pickle=opts.allow_pickle)
        if fmt is Format.TORCH and not opts.allow_pickle and Path(str(source)).exists():
            raise BadInput("this is a pickled PyTorch file; loading it would run arbitrary code", path=source,
                           hint="name the model by reference (pkg.module:factory --weights FILE), "
                                "or pass --allow-pickle if you trust the file")
    if fmt is Format.HF:  # the folder's weights and code checked here, before any worker starts
        from .hf import folder

        ckpt = folder.read(source, opts.allow_unsafe)
        md.update(task=folder.task_of(ckpt, opts.task), allow_unsafe=opts.allow_unsafe,
                  input_ranges=folder.id_ranges(ckpt))
    elif opts.task:
        raise BadInput("--task applies to Hugging Face checkpoint folders only", path=source,
                       hint="drop --task, or pass a save_pretrained() folder")
    if fmt in (Format.KERAS, Format.KERAS_H5, Format.KERAS_JSON):
        md.update(weights=opts.weights, allow_unsafe=opts.allow_unsafe, custom_objects=opts.custom_objects)
    art = Artifact(str(source), fmt, None, HopRecord(**md).to_metadata())
    if fmt is not Format.TORCH:
        art.read_sidecar_metadata()
    return art


def data_specs(art: Artifact, data: str, dynamic: bool = True) -> tuple[InputSpec, ...]:
    """`--inputs DATA` alone is enough for a model that declares no inputs: names, shapes and dtypes of the
    data's first sample set (batch dynamic, token sequences too) fill what the command did not say."""
    from .inputs import load_inputs
    from .signature import specs_from_arrays

    specs = specs_from_arrays(load_inputs(data)[0])
    if art.format in (Format.TORCH, Format.TORCHSCRIPT):
        art.note(data_specs=specs)
    # the sizes of the data with the batch axis left dynamic (data may hold many rows of a batch-1 model)
    return tuple(replace(s, shape=("batch", *s.shape[1:]) if s.shape and dynamic else s.shape, dynamic_axes=())
                 for s in specs)


def check_output(out: Path, to: Format, source: str) -> None:
    """Refuse, before any work, an output path that would overwrite the source, replace a folder that is
    not a previous output, or cannot be written."""
    if Path(source).exists() and out.resolve() == Path(source).resolve():
        raise BadInput("the output would overwrite the source model", path=out,
                       hint="pass another -o (the source is never replaced)")
    if out.is_dir() and not to.is_dir:
        raise BadInput(f"-o names a folder, but a {to.value} model is a file", path=out,
                       hint=f"name the file, e.g. -o {out / ('model' + to.suffix)}")
    if out.is_dir() and any(out.iterdir()) and not _is_output_folder(out, to):
        raise BadInput(f"-o names a folder that is not a {to.value} output; portkit replaces only its own "
                       "outputs", path=out, hint="pass a new folder name")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise BadInput(f"cannot write the output: '{parent}' is a file, not a folder", path=out,
                       hint="pass an -o inside a folder")
    try:  # permissions, read-only mounts, /proc: only a real write tells
        with tempfile.TemporaryFile(dir=parent, prefix=".portkit-probe-"):
            pass
    except OSError as e:
        raise BadInput(f"cannot write the output in '{parent}' ({e.strerror or e})", path=out,
                       hint="pass an -o in a folder you can write to") from e


def _is_output_folder(folder: Path, to: Format) -> bool:
    markers = {Format.SAVEDMODEL: ("saved_model.pb", "saved_model.pbtxt"), Format.WEB: ("manifest.json",)}
    return any((folder / m).exists() for m in markers.get(to, ()))


def default_output(source: Artifact, target: Format) -> Path:
    loc = source.location
    stem = loc.rpartition(":")[2] if source.format is Format.TORCH and not Path(loc).exists() else Path(loc).name
    for suffix in (".ts.pt", ".weights.h5", ".keras", ".onnx", ".tflite", ".pt2", ".pte", ".pt", ".pth", ".h5",
                   ".json"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return Path(stem + target.suffix) if target.suffix else Path(f"{stem}_{target.value}")


def convert(source: str | Path, to: Format, output: str | Path | None = None,
            opts: ConvertOptions | None = None, *, validate: bool = True, via: Format | None = None,
            validate_opts: ValidateOptions | None = None, clean: bool = False,
            log: Log | None = None, eval_data: str | None = None, bundle: bool = False,
            gates: Any = None) -> ConversionResult:
    """Convert `source` to `to`; see portkit.api.convert. `eval_data` (labelled data for quantized
    accuracy deltas) and `bundle` (inputs + reference outputs saved for `portkit verify`) are handled by
    the validation engine. `gates` (portkit.gates.Gates) are the target --keep-float auto searches for."""
    opts = opts or ConvertOptions()
    log = log or (lambda _m: None)
    # one warm worker per framework for the whole command: a fallback route reuses the process (and the
    # framework it imported) of the route that failed before it, and the causal-LM probe's torch worker
    # is the one the torch hop then uses
    with command_pool() as pool:
        if _maybe_lm(source, to):
            lm = _convert_lm(source, to, output, opts, validate, validate_opts, log, pool)
            if lm is not None:
                return lm
        return _convert(source, to, output, opts, validate=validate, via=via, validate_opts=validate_opts,
                        clean=clean, log=log, eval_data=eval_data, bundle=bundle, pool=pool, gates=gates)


def _maybe_lm(source: str | Path, to: Format) -> bool:
    """A save_pretrained folder or a module:factory going to a target with a cache export: worth asking
    whether it is a causal LM (portkit.generative)."""
    from .formats import is_reference
    from .generative.detect import CACHE_TARGETS, hf_config

    return to.value in CACHE_TARGETS and (is_reference(str(source)) or hf_config(str(source)) is not None)


def _convert_lm(source: str | Path, to: Format, output: str | Path | None, opts: ConvertOptions, validate: bool,
                vopts: ValidateOptions | None, log: Log, pool: WorkerPool) -> ConversionResult | None:
    """A causal LM exported with its key/value cache and checked by generation (portkit.generative);
    None when the source is no causal LM (or --no-cache), so the one-pass routes take it."""
    from .generative.convert import causal_lm, convert_lm

    # the same source the one-pass routes get: a folder's weights and custom code checked before any worker
    src = source_artifact(source, opts)
    info = causal_lm(src.location, src.metadata, to, opts, pool, vopts, validate)
    if info is None:
        return None
    out = Path(output) if output else default_output(src, to)
    check_output(out, to, src.location)
    t0 = time.perf_counter()
    art, hop = convert_lm(src, info, to, out, opts, validate, vopts, log, pool)
    result = ConversionResult(src, art, [hop.edge], [hop])
    result.seconds = time.perf_counter() - t0
    _mark(result)
    if validate and not result.passed:
        raise ValidationFailed(f"converted model disagrees with its source: {hop.validation.summary()}",
                               path=result.output.location, result=result,
                               hint="output kept and marked as failed; inspect with `portkit validate`")
    return result


def _convert(source: str | Path, to: Format, output: str | Path | None, opts: ConvertOptions, *, validate: bool,
             via: Format | None, validate_opts: ValidateOptions | None, clean: bool, log: Log,
             eval_data: str | None, bundle: bool, pool: WorkerPool, gates: Any = None) -> ConversionResult:
    src = source_artifact(source, opts)
    if src.format is Format.ONNX:
        from .onnxutil import check_operators

        check_operators(src.location)  # a model no converter can take is exit 2 before any hop runs
    from .prep import check_options, same_format_output

    validate_opts = check_options(src.format, to, opts, validate_opts)
    if validate and not opts.dynamic and not (validate_opts and (validate_opts.inputs or validate_opts.batches)):
        # --static: the result takes one batch size. The default sweep's batch 2 is there to catch a dynamic
        # batch lost on the way; here nobody asked for one, so validate at the fixed batch only
        validate_opts = replace(validate_opts or ValidateOptions(input_specs=opts.input_specs),
                                batches=(static_batch(opts),))
    # unreadable or empty data files are exit 2 before any hop writes a file
    data = [validate_opts.inputs] if validate and validate_opts is not None and validate_opts.inputs else []
    for path in dict.fromkeys([*data, *([opts.calibration] if opts.calibration else [])]):
        from .inputs import load_inputs

        load_inputs(path)
    if opts.max_drop is not None and not eval_data:
        raise BadInput("--max-drop needs labelled data to measure the drop on",
                       hint="add --eval-data DATA.npz (the inputs plus a 'labels' array)")
    if eval_data:  # a labelled set that does not load fails now, not after the output was written
        from .inputs import load_inputs

        if not any("labels" in s for s in load_inputs(eval_data)):
            raise BadInput("eval data has no 'labels' array", path=eval_data,
                           hint="save it with numpy.savez(path, <input>=x, labels=y)")
    if validate and validate_opts is not None and validate_opts.inputs:
        sized = data_specs(src, validate_opts.inputs, opts.dynamic)
        if not opts.shapes:  # hops that trace or hint shapes (onnx2torch, onnx2tf) use the data's sizes
            opts = replace(opts, input_specs=merge_input_specs(opts.input_specs, sized))
    same = src.format is to and via is None
    out = Path(output) if output else (same_format_output(src, opts) if same else default_output(src, to))
    if same and out.resolve() == Path(src.location).resolve():
        raise BadInput("the output would overwrite the source model", path=out, hint="pass another -o")
    check_output(out, to, src.location)
    if same and not (opts.quantize or opts.optimize):
        raise BadInput(f"the model already is {to.value}", path=source,
                       hint="pick another --to, or add --quantize/--optimize")
    routes = plan(src.format, to, via, tool=opts.tool)
    return _first_route(src, routes, out, opts, validate, validate_opts, clean, log, eval_data, bundle, pool, to,
                        gates)


def _first_route(src: Artifact, routes: list[Route], out: Path, opts: ConvertOptions, validate: bool,
                 validate_opts: ValidateOptions | None, clean: bool, log: Log, eval_data: str | None,
                 bundle: bool, pool: WorkerPool, to: Format, gates: Any = None) -> ConversionResult:
    """Try the routes in order; the first that converts (and, validated, passes) is the result."""
    from .prep import finish

    t0 = time.perf_counter()
    failures: list[str] = []
    first: ConversionFailed | None = None  # the preferred route's error leads when every route fails
    done: dict[tuple[str, ...], Artifact] = {}  # finished route prefixes, reused by fallback routes
    # failed route prefixes (edge names up to the hop that failed): a later route through the same hops
    # would fail the same way, so it is skipped instead of running the same converter again
    failed: dict[tuple[str, ...], str] = {}
    # (hops before it, tool) of each failed hop: another edge of the same tool on the same input (onnx2tf
    # writing a Keras model instead of a SavedModel) meets the same unsupported pattern, so it is skipped
    failed_tools: dict[tuple[tuple[str, ...], str], str] = {}
    last: ConversionFailed | None = None
    disagrees: ValidationFailed | None = None
    disagreeing = 0  # results that converted but disagreed: after MAX_DISAGREEING the last one is the verdict
    disagreed = ""
    fixed = _fixed_shape_route(src, routes, opts, to)

    def skip_reason(route: Route) -> str | None:
        names = tuple(e.name for e in route)
        seen = next((p for p in failed if names[:len(p)] == p), None)
        if seen is not None:
            return f"its first hops ({' → '.join(seen)}) already failed or disagreed"
        for i, edge in enumerate(route):
            if (names[:i], edge.tool) in failed_tools:
                return f"{edge.tool} already failed on the same {edge.source.value} model"
        if disagreeing >= MAX_DISAGREEING:
            return f"{disagreeing} converted results already disagreed with the source"
        return None

    for n, route in enumerate(routes):
        names = tuple(e.name for e in route)
        why = skip_reason(route)
        if why is not None:
            line = f"route {route_text(route)} skipped: {why}"
            if not any(f.startswith(f"{route_text(route)}: ") for f in failures):  # two edges, one route text
                log(line)
            failures.append(f"{route_text(route)}: skipped, {why}")
            continue
        try:
            result = _convert_route(src, route, out, opts, validate, validate_opts, done, log, pool, gates,
                                    eval_data)
        except ConversionFailed as e:
            failures.append(f"{route_text(route)}: {e.one_line()}")
            prefix = getattr(e, "failed_prefix", names)
            failed[prefix] = e.one_line()
            if 0 < len(prefix) <= len(route):
                failed_tools[(prefix[:-1], route[len(prefix) - 1].tool)] = e.one_line()
            first, last = first or e, e
            nxt = next((r for r in routes[n + 1:] if skip_reason(r) is None), None)
            if nxt is not None:
                log(f"route {route_text(route)} failed ({e.message}); trying {route_text(nxt)}")
            continue
        result = finish(result, to, opts, log)  # mobile/web prep (portkit.prep): ORT config, sizes
        result.failed_routes = list(failures)
        result.seconds = time.perf_counter() - t0
        if clean:
            for hop in result.hops[:-1]:
                remove(Path(hop.output))
                remove(Artifact(hop.output, Format.ONNX).sidecar())
        _mark(result)
        if validate and not result.passed and not opts.quantize:
            # a converter whose result disagrees with the source is a failed route, like one that raised:
            # the next route through other converters may carry the model right (litert-torch off by 0.018
            # where onnx2tf's TFLite agrees to 1e-6). A quantized result's disagreement is the quantization's,
            # judged by its gate (--keep-float auto is the remedy), so it is the verdict at once
            disagrees, disagreed = _disagreement(result), route_text(route)
            failures.append(f"{disagreed}: {disagrees.message}")
            # like a hop that raised: routes through the same hops, or the same tool on the same input, skip
            prefix, disagreeing = _disagreeing_prefix(result, names), disagreeing + 1
            failed[prefix] = disagrees.message
            if 0 < len(prefix) <= len(route):
                failed_tools[(prefix[:-1], route[len(prefix) - 1].tool)] = disagrees.message
            nxt = next((r for r in routes[n + 1:] if skip_reason(r) is None), None)
            if nxt is not None:
                log(f"route {route_text(route)} disagrees with its source; trying {route_text(nxt)}")
            continue
        return _verdict(result, src, opts, validate, validate_opts, eval_data, bundle, log)
    if fixed is not None:
        retried = _fixed_shapes(src, fixed, out, opts, validate, validate_opts, failures, log, pool, gates,
                                eval_data)
        if retried is not None:
            retried = finish(retried, to, replace(opts, dynamic=False), log)
            retried.failed_routes, retried.seconds = failures, time.perf_counter() - t0
            _mark(retried)
            return _verdict(retried, src, opts, validate, validate_opts, eval_data, bundle, log)
    if disagrees is not None:  # the last result that converted is on disk, kept and marked as failed
        others = [f for f in failures if not f.startswith(f"{disagreed}: ")]
        if others:
            disagrees.message = f"{disagrees.message} (other routes: {fallback_text(others)})"
        raise disagrees
    if first is None or last is None:
        raise ConversionFailed("no route could be tried")  # plan() never returns an empty list
    if len(failures) > 1:
        first.message = f"{first.message} (fallbacks also failed: {fallback_text(failures[1:])})"
    first.hint = untried_hint(first.hint, routes)
    if first is last:
        raise first
    raise first from last


def _disagreeing_prefix(result: ConversionResult, names: tuple[str, ...]) -> tuple[str, ...]:
    """The route's edge names up to the first hop whose own check failed; the whole route when only the
    end-to-end check failed (error accumulated over hops that each passed)."""
    bad = next((i for i, h in enumerate(result.hops) if h.validation is not None and not h.validation), None)
    return names if bad is None else names[:bad + 1]


def _disagreement(result: ConversionResult, dropped: str | None = None) -> ValidationFailed:
    checks = [*(h.validation for h in result.hops), result.validation]
    worst = next(v for v in checks if v is not None and not v)
    return ValidationFailed(f"converted model disagrees with its source: {worst.summary()}"
                            + (f"; {dropped}" if dropped else ""),
                            path=result.output.location, result=result,
                            hint="output kept and marked as failed; inspect with `portkit validate`")


def _verdict(result: ConversionResult, src: Artifact, opts: ConvertOptions, validate: bool,
             validate_opts: ValidateOptions | None, eval_data: str | None, bundle: bool, log: Log
             ) -> ConversionResult:
    """The converted result judged: validation, then --max-drop on the accuracy delta (measured before the
    verdict: a result that fails validation reports its accuracy too); the verify bundle when it passes."""
    dropped = None
    if eval_data:
        result.accuracy = acc = _accuracy(result, eval_data, log, opts.max_drop)
        if opts.max_drop is not None and not acc["passed"]:
            dropped = (f"--max-drop {opts.max_drop:g}: top-1 accuracy on {Path(eval_data).name} fell from "
                       f"{acc['source_accuracy']:.4f} to {acc['result_accuracy']:.4f} ({acc['delta']:+.4f})")
    if validate and not result.passed:
        raise _disagreement(result, dropped)
    if dropped:
        raise ValidationFailed(dropped, path=result.output.location, result=result,
                               hint="output kept; with --quantize int8 try --keep-float auto")
    if bundle:
        from .bundle import write_bundle

        result.bundle = str(write_bundle(src, result.output, validate_opts, result.route))
        log(f"bundle for `portkit verify`: {result.bundle}")
    return result


# converted results that disagreed before a conversion gives up on its other routes: a model that loses
# precision on every route fails in a few conversions, not after the whole route list
MAX_DISAGREEING = 4

# litert-torch's refusal of a dynamic graph (converters/torch_to_tflite.py): the fixed-shape export is left
FIXED_REFUSAL = "litert-torch cannot keep the dynamic axes"
PYTORCH_SOURCES = (Format.TORCH, Format.HF, Format.PT2, Format.TORCHSCRIPT)


def _fixed_shape_route(src: Artifact, routes: list[Route], opts: ConvertOptions, to: Format) -> Route | None:
    """The last resort of a PyTorch source (module, checkpoint folder, .pt2) going to TFLite with dynamic axes:
    litert-torch at fixed shapes, for when litert-torch refused the dynamic graph and onnx2tf's routes fail or
    disagree with the source (Whisper's encoder and SegFormer: onnx2tf mixes up equal-sized axes). A
    TorchScript goes through TS2EPConverter's .pt2. None when
    --static already asked for it, or the user kept litert-torch out (--via, --tool)."""
    if to is not Format.TFLITE or not opts.dynamic or src.format not in PYTORCH_SOURCES:
        return None
    # a TorchScript takes torchscript → pt2 (TS2EPConverter) first: the one route ending on litert-torch
    return next((r for r in routes if r[-1].tool == "litert-torch" and
                 all(e.target is Format.PT2 for e in r[:-1])), None)


def _fixed_shapes(src: Artifact, route: Route, out: Path, opts: ConvertOptions, validate: bool,
                  vopts: ValidateOptions | None, failures: list[str], log: Log, pool: WorkerPool,
                  gates: Any, eval_data: str | None) -> ConversionResult | None:
    """`route` (litert-torch) with --static's options, validated at the batch it fixes (and at the sizes the
    result takes: validation follows a deliberately fixed candidate); None, the failure recorded, when
    litert-torch had refused for another reason than the dynamic axes, or fails here too."""
    text = route_text(route)
    tried = [f for f in failures if f.startswith(f"{text}: ")]
    # not tried yet: the routes before it (a TorchScript's through ONNX) disagreed with the source first
    if tried and not any(FIXED_REFUSAL in f for f in tried):
        return None
    static = replace(opts, dynamic=False)
    if validate and not (vopts and (vopts.inputs or vopts.batches)):
        vopts = replace(vopts or ValidateOptions(input_specs=opts.input_specs), batches=(static_batch(opts),))
    log(f"trying {text} at fixed shapes (as --static): the routes that keep the batch dynamic failed")
    try:
        result = _convert_route(src, route, out, static, validate, vopts, {}, log, pool, gates, eval_data)
    except ConversionFailed as e:
        failures.append(f"{text} (fixed shapes): {e.one_line()}")
        return None
    shapes = ", ".join(f"{s.name} {list(s.shape)}" for s in result.output.signature.inputs)
    log(f"  note: the TFLite takes fixed shapes ({shapes}); litert-torch kept no dynamic axis of this graph")
    result.route = [f"{text} (fixed shapes)"]
    return result


def fallback_text(failures: list[str]) -> str:
    """`route: reason` lines, routes that failed for the same reason grouped (each route named once),
    hints left out."""
    grouped: dict[str, list[str]] = {}
    for line in failures:
        route, _, reason = line.partition(": ")
        grouped.setdefault(reason.split(" — ")[0], []).append(route)
    return "; ".join(f"{', '.join(dict.fromkeys(routes))}: {reason}" for reason, routes in grouped.items())


def untried_hint(hint: str | None, routes: list[Route]) -> str | None:
    """The hint of a conversion every route of which failed, without `--via FORMAT` suggestions naming a
    format one of those routes went through (that route has just failed)."""
    if not hint or "--via" not in hint:
        return hint
    import re

    tried = {e.target.value for r in routes for e in r[:-1]}
    # "--via savedmodel (TFLiteConverter)" names the format too: the flag and its value decide
    kept = [p for p in re.split(r",\s*(?:or\s+)?|\s+or\s+", hint.split("try another route:")[-1])
            if p.strip() and not any(p.split()[:2] == ["--via", f] for f in tried)]
    if kept == [p for p in re.split(r",\s*(?:or\s+)?|\s+or\s+", hint.split("try another route:")[-1]) if p.strip()]:
        return hint
    return ("try another route: " + ", or ".join(p.strip() for p in kept)) if kept else \
        "every route failed; docs/troubleshooting.md lists what each tool cannot take"


def _accuracy(result: ConversionResult, eval_data: str, log: Log, max_drop: float | None) -> dict[str, Any]:
    from .runtimes import open_runner
    from .validation import accuracy_delta

    with open_runner(result.source) as ref, open_runner(result.output) as cand:
        acc = accuracy_delta(ref, cand, result.output, eval_data,
                             **({} if max_drop is None else {"max_drop": max_drop}))
    log(f"accuracy on {eval_data}: source {acc['source_accuracy']:.4f}, result {acc['result_accuracy']:.4f} "
        f"(Δ {acc['delta']:+.4f}{'' if acc['passed'] else ', more than ' + format(acc['max_drop'], 'g') + ' lost'})")
    return acc


def _mark(result: ConversionResult) -> None:
    art = result.output
    art.note(route=result.route, validation=("passed" if result.passed else "FAILED") if any(
        h.validation is not None for h in result.hops) else "skipped")
    art.write_sidecar()


def _convert_route(src: Artifact, route: Route, out: Path, opts: ConvertOptions, validate: bool,
                   vopts: ValidateOptions | None, done: dict[tuple[str, ...], Artifact],
                   log: Log, pool: WorkerPool, gates: Any = None, eval_data: str | None = None) -> ConversionResult:
    """Run the route's hops, then the post-route steps (--optimize/--quantize of an ONNX result,
    portkit.prep.steps.post_route_steps), one hop at a time through the hop executor (portkit.hops), each
    validated against its input, and the whole route end to end against the source."""
    from functools import partial

    from .prep.steps import hop_label, hop_tool, post_route_steps, quant_summary
    from .runtimes import open_runner, warm_imports

    steps = post_route_steps(route[-1].target if route else src.format, opts)
    hops_to_run: Route = (*route, *steps)
    paths = hop_paths(hops_to_run, out)
    vopts = vopts or ValidateOptions(input_specs=opts.input_specs)
    hops: list[HopResult] = []
    runners: dict[str, Any] = {}
    # the command's warm worker per framework: the hop that loaded torch (or TF) also runs the reference
    # side of its validation, instead of a second process importing the framework again
    open_runner = partial(open_runner, pool=pool)
    # validation runs ONNX in this process once the worker's hop returns: import onnxruntime meanwhile
    warming = warm(*warm_imports([src.format, *(e.target for e in hops_to_run)]), *VALIDATION_LIBRARIES) \
        if validate else None
    current = src
    key: tuple[str, ...] = ()
    warned: set[str] = set()

    def _log_warnings(check: ValidationResult) -> None:
        for w in check.warnings:  # each once per route: every hop sees the same reference
            if w not in warned:
                warned.add(w)
                log(f"  warning: {w}")

    try:
        for i, (edge, final) in enumerate(zip(hops_to_run, paths)):
            key = key + (edge.name,)
            last = i == len(hops_to_run) - 1
            if Path(src.location).exists() and final.resolve() == Path(src.location).resolve():
                raise BadInput(f"the route's {edge.target.value} file would overwrite the source model",
                               path=final, hint="pass an -o in another folder or with another name")
            label, tool = hop_label(edge, opts), hop_tool(edge, opts)
            t = time.perf_counter()
            if key in done and not last:
                nxt = done[key]
            else:
                log(f"{label} with {tool} → {final}")
                # the hop that quantizes: the ONNX quantize step, or a TFLite/ExecuTorch/ORT/web route's last
                quantizing = opts.keep_float and (edge.step == "quantize" or (
                    not edge.step and edge is route[-1] and not steps and edge.target is not Format.ONNX))
                nxt = _quantizing_hop(edge, current, final, opts, vopts, gates, pool, open_runner, log,
                                      eval_data) \
                    if quantizing else run_hop(edge, current, final, opts, pool)
                done[key] = nxt
                for note in nxt.record.input_notes:  # what the hop inferred (input dtypes)
                    log(f"  note: {note}")
            hop = HopResult(label, tool, nxt.location, time.perf_counter() - t)
            # the source's own sidecar map points at *its* origin, not at this route's source: start clean
            relative_to_source(current if i else without_maps(src), nxt, keeps_graph=bool(edge.step))
            if validate:
                hop.validation = validate_pair(current, hop_view(nxt), runners, vopts, open_runner)
                log(f"  validate {label}: {'ok' if hop.validation else 'FAILED'} — {quant_summary(hop.validation)}")
                _log_warnings(hop.validation)
            hops.append(hop)
            current = nxt
        if steps:  # what the size report compares the quantized/optimised result with
            current.note(float_model=hops[len(route) - 1].output if route else src.location)
            current.write_sidecar()
        e2e = None
        if validate and len(hops_to_run) > 1:
            e2e = validate_pair(src, current, runners, vopts, open_runner)
            log(f"  validate end to end: {'ok' if e2e else 'FAILED'} — {quant_summary(e2e)}")
            _log_warnings(e2e)
    except ConversionFailed as e:
        e.failed_prefix = key  # type: ignore[attr-defined]  # convert() skips routes through these hops
        raise
    finally:
        for r in runners.values():
            r.close()
        if warming is not None:
            warming.join()
    return ConversionResult(src, current, [route_text(hops_to_run)], hops, e2e)


def _quantizing_hop(edge: Any, current: Artifact, final: Path, opts: ConvertOptions, vopts: ValidateOptions,
                    gates: Any, pool: WorkerPool, open_runner: Callable[..., Any], log: Log,
                    eval_data: str | None = None) -> Artifact:
    """The quantizing hop with --keep-float: names as given, or the search for the fewest float layers
    that meet the gate (portkit.prep.keep_float)."""
    from .prep.keep_float import choose
    from .prep.steps import record_kept

    if opts.keep_float == ("auto",):
        nxt, record = choose(edge, current, final, opts, vopts, gates, pool, open_runner, log, eval_data)
    else:
        nxt, record = run_hop(edge, current, final, opts, pool), None
    record_kept(nxt, record, opts, log)
    return nxt
