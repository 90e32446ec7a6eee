"""The public Python API, one function per CLI command; the CLI is a thin layer over these functions.

Each returns a result object with `.to_dict()` (the `--json` schema of its command) and raises
PortkitError subclasses carrying the CLI's exit code. Gates (`gates={...}` or `portkit.Gates(...)`) on
convert, validate and bench are checked after the work; a failed gate raises `GateFailed` (exit 1) with
`.report` (the verdict table) and `.result`. Nothing here imports a framework at module load.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import BadInput
from .formats import Format
from .options import ConvertOptions, ValidateOptions, convert_options, user_path, validate_options
from .public import API_FUNCTIONS
from .signature import shapes_of, specs_from_keywords

if TYPE_CHECKING:
    from .benchmark import BenchResult
    from .conversion import ConversionResult
    from .gates import Gates
    from .generative.bench import GenBenchResult
    from .inspection import ModelInfo
    from .matrix import MatrixResult
    from .recipes import Recipe, RunResult
    from .serving import RunningServer, TritonExport
    from .validation import ValidationResult

__all__ = [*API_FUNCTIONS, "RouteTable"]  # the functions are listed once, in portkit.public

Log = Callable[[str], None]

def _format(value: Format | str) -> Format:
    return value if isinstance(value, Format) else Format.parse(value)


def _gates(gates: Any, kind: str) -> Gates:
    from .gates import Gates, require_measurable

    g = Gates.of(gates)
    require_measurable(g, kind)
    if g.baseline is not None:
        from .gates import load_baseline

        load_baseline(g.baseline)  # a bad baseline file is exit 2 before any work
    return g


def _gate(result: Any, report: Any) -> Any:
    result.gates = report  # every result type has its typed `gates` field
    report.raise_if_failed(result)
    return result


def _name_gates(e: Any, g: Gates) -> None:
    """A failed validation also names the accuracy gates that fail on it (the user's criteria)."""
    result = getattr(e, "result", None)
    if result is None or not (g.min_agreement is not None or g.max_error is not None):
        return
    from .gates import Gates, evaluate

    acc = Gates(max_error=g.max_error, min_agreement=g.min_agreement)
    failed = [v for v in evaluate(acc, validation=result.to_dict()).verdicts if not v.passed]
    if failed:
        e.message += "; gate " + ", ".join(f"{v.gate} {v.limit_text()} failed (measured {v.measured_text()})"
                                           for v in failed)


def _values(opts: Any) -> dict[str, Any]:
    """An options object's fields as keywords (to build it again with more of them)."""
    return {f.name: getattr(opts, f.name) for f in dataclasses.fields(opts)}


# ---------------------------------------------------------------- one function per command


def convert(
    source: str | Path,
    to: Format | str,
    output: str | Path | None = None,
    opts: ConvertOptions | None = None,
    *,
    validate: bool = True,
    via: Format | str | None = None,
    clean: bool = False,
    atol: float | None = None,
    rtol: float | None = None,
    inputs: str | None = None,
    eval_data: str | None = None,
    bundle: bool = False,
    gates: Gates | Mapping[str, Any] | None = None,
    log: Log | None = None,
    tokens: int = 32,
    **options: Any,
) -> ConversionResult:
    """Convert `source` (a path or `pkg.module:factory`) to format `to`, validated unless validate=False.

    `options` are ConvertOptions fields: opset, input_shapes (with input_dtypes {name: dtype} and
    dynamic_axes {name: {axis: symbol}}, folded into input_specs), dynamic, weights, model_args, allow_pickle,
    allow_unsafe, custom_objects, keep_layout, quantize, calibration, int8_io, optimize, tool (keep only routes
    using that tool for a hop, e.g. "tf2onnx" or "litert-torch"), reduce_range, web_model ("onnx" or "ort"),
    debug (converters' warnings on stderr; default: PORTKIT_DEBUG is set), cache (causal LMs: None exports with the
    key/value cache where the model has one, False as one pass). `tokens`: causal LMs are validated by greedy
    generation of this many tokens per prompt. `opts`: a built ConvertOptions (or a subclass of it);
    keyword options given beside it replace its fields.
    `gates` (max_error, min_agreement, max_size_mb, max_latency_ms — which benchmarks the result for a
    second —, baseline + max_regression) raise GateFailed after the conversion when one fails."""
    from .conversion import convert as _convert
    from .errors import ValidationFailed

    g = _gates(gates, "convert")
    copts = convert_options(**options) if opts is None else \
        convert_options(type(opts), **{**_values(opts), **options})
    vopts = ValidateOptions(atol=atol, rtol=rtol, inputs=user_path(inputs), input_specs=copts.input_specs,
                            tokens=tokens)
    try:
        result = _convert(
        str(source),
        _format(to),
        output,
        copts,
        validate=validate,
        via=_format(via) if via else None,
        validate_opts=vopts,
        clean=clean,
        log=log,
        eval_data=user_path(eval_data),
        bundle=bundle,
        gates=g,
        )
    except ValidationFailed as e:
        _name_gates(e, g)
        raise
    if not g.any:
        return result
    from .gates import evaluate

    measured = None
    if g.max_latency_ms is not None:
        from .benchmark import bench as _bench

        measured = _bench([result.output.location], duration=1.0, input_specs=copts.input_specs, log=log)
    out = result.output.location
    report = evaluate(
        g,
        validation=result.to_dict(),
        bench=measured,
        sizes=[(Path(out).name, out)],
        label=Path(out).name,
        kind="convert",
    )
    return _gate(result, report)


def inspect(
    model: str | Path,
    *,
    input_shapes: Any = None,
    weights: str | None = None,
    model_args: dict[str, Any] | None = None,
    allow_pickle: bool = False,
    input_dtypes: Any = None,
    dynamic_axes: Any = None,
    task: str | None = None,
    allow_unsafe: bool = False,
) -> ModelInfo:
    """Format, inputs/outputs (with dynamic dims), size and opset/producer of a model. `input_shapes`,
    `input_dtypes` and `dynamic_axes` describe the inputs of a model that declares none (bare TorchScript);
    `task` and `allow_unsafe` are a Hugging Face folder's (as for convert)."""
    from .inspection import inspect_model

    specs = specs_from_keywords(dict(input_shapes=input_shapes, input_dtypes=input_dtypes, dynamic_axes=dynamic_axes))
    return inspect_model(
        str(model),
        input_specs=specs,
        weights=user_path(weights),
        model_args=model_args,
        allow_pickle=allow_pickle or None,
        task=task,
        allow_unsafe=allow_unsafe or None,
    )


def validate(
    reference: str | Path,
    candidate: str | Path,
    *,
    reference_options: dict[str, Any] | None = None,
    locate: bool = False,
    reduce: str | Path | None = None,
    quantized: str | None = None,
    gates: Gates | Mapping[str, Any] | None = None,
    **options: Any,
) -> ValidationResult:
    """Run both models on the same inputs and compare every output. Truthy when equivalent.

    `options` are ValidateOptions fields (atol, rtol, per_output, batches — default 1, 2, 7 —, samples, seed,
    inputs, input_shapes, plus input_dtypes and dynamic_axes). `quantized` ("int8", "dynamic", "fp16")
    judges the candidate by cosine similarity and argmax agreement; `locate` searches a failing pair (ONNX,
    TFLite, TorchScript, PyTorch eager, Keras) for the first diverging layer; `reduce` (a folder, implies
    locate) writes the smallest ONNX subgraph around it, its inputs and a one-line repro command. `gates`
    (max_error, min_agreement, max_size_mb, baseline + max_regression) raise GateFailed when one fails."""
    from .conversion import source_artifact
    from .validation import QUANTIZED_CRITERIA
    from .validation import validate as _validate

    g = _gates(gates, "validate")
    options.setdefault("batches", (1, 2, 7))  # the CLI's sweep: a dynamic batch axis is tried at 1, 2 and 7
    vopts = validate_options(**options)
    if not quantized and not vopts.inputs:  # a causal LM against an artifact with a cache: by generation
        from .generative.convert import validate_lm

        by_generation = validate_lm(str(reference), str(candidate), vopts, reference_options)
        if by_generation is not None:
            return by_generation  # type: ignore[return-value]  # same summary/passed/to_dict surface
    ref = source_artifact(
        str(reference),
        convert_options(
            **(reference_options or {}),
            **({"input_specs": vopts.input_specs} if vopts.input_specs else {}),
        ),
    )
    cand = source_artifact(str(candidate), ConvertOptions(input_specs=vopts.input_specs))
    if vopts.inputs:
        from .conversion import data_specs

        for art in (ref, cand):
            data_specs(art, vopts.inputs)
    if quantized:
        if quantized not in QUANTIZED_CRITERIA:
            raise BadInput(
                f"unknown quantization kind '{quantized}'", hint=f"valid: {', '.join(QUANTIZED_CRITERIA)}"
            )
        cand.note(quantized=quantized)
    result = _validate(ref, cand, vopts)
    if (locate or reduce) and not result.passed:
        from .locate import locate_divergence

        result.locate = locate_divergence(ref, cand, vopts, result)
        if reduce:
            from .locate.reduce import reduce_divergence

            result.locate["reduce"] = reduce_divergence(ref, cand, result.locate, user_path(reduce), vopts, result)
    if not g.any:
        return result
    from .gates import check

    return _gate(result, check(result, g, kind="validate"))


def verify(artifact: str | Path, *, bundle: str | Path | None = None) -> ValidationResult:
    """Re-check a converted artifact against the inputs and reference outputs that `convert --bundle`
    saved beside it. Needs only the artifact's own runtime, not the source framework."""
    from .bundle import verify as _verify

    return _verify(str(artifact), bundle)


def bench(
    models: str | Path | Sequence[str | Path],
    *,
    providers: Sequence[str] | str = ("cpu",),
    batches: Sequence[int] | str | int = (1,),
    iterations: int | None = None,
    duration: float | None = None,
    warmup: int = 10,
    threads: int | None = None,
    io_binding: bool = False,
    strict: bool = False,
    seed: int = 0,
    input_shapes: Any = None,
    input_dtypes: Any = None,
    dynamic_axes: Any = None,
    weights: str | None = None,
    model_args: dict[str, Any] | None = None,
    allow_pickle: bool = False,
    report: str | Path | None = None,
    gates: Gates | Mapping[str, Any] | None = None,
    log: Log | None = None,
) -> BenchResult | GenBenchResult:
    """Latency (p50/p90/p99, bootstrap CI of the median) and throughput of one or more models side by side.
    Causal LMs (a folder) and artifacts exported with their cache get a generation bench instead
    (portkit.generative.bench: TTFT, prefill tokens/s at 32 and 128, decode tokens/s, peak memory).

    `report` writes a self-contained HTML page. `gates` (max_latency_ms — p50 or p99, decided from
    confidence intervals —, max_size_mb, baseline + max_regression) raise GateFailed when one fails."""
    from .benchmark import bench as _bench

    g = _gates(gates, "bench")
    names = [str(models)] if isinstance(models, (str, Path)) else [str(m) for m in models]
    if report is not None or g.any:
        from .generative.bench import generative_models

        if generative_models(names) is not None:
            raise BadInput(f"{'--report' if report is not None else 'gates'}: for latency benches, not generation "
                           "(TTFT, tokens/s)", hint="drop it; --json has every generation number")
    result = _bench(
        names,
        providers=providers,
        batches=batches,
        iterations=iterations,
        duration=duration,
        warmup=warmup,
        threads=threads,
        io_binding=io_binding,
        strict=strict,
        seed=seed,
        input_shapes=input_shapes,
        input_dtypes=input_dtypes,
        dynamic_axes=dynamic_axes,
        weights=user_path(weights),
        model_args=model_args,
        allow_pickle=allow_pickle,
        log=log,
    )
    if report is not None:
        from .report_bench import write_html

        write_html(result, report)
    if not g.any:
        return result
    from .gates import check

    return _gate(result, check(result, g, kind="bench"))


class RouteTable(list):
    """`portkit routes` as a list of dicts; `.to_dict()` is the `--json` output."""

    def to_dict(self) -> list[dict[str, Any]]:
        return list(self)


def routes(source: Format | str | None = None, target: Format | str | None = None) -> RouteTable:
    """Every conversion edge with its tool, cost and whether its libraries are installed; with `source`
    and `target`, the planned routes between them, best first."""
    from .graph import edges, plan, route_text

    if source is not None and target is not None:
        return RouteTable(
            {"route": route_text(r), "cost": round(sum(e.cost for e in r), 3), "tools": [e.tool for e in r]}
            for r in plan(_format(source), _format(target))
        )
    if source is not None or target is not None:
        raise BadInput(
            "give both a source and a target format to plan a route", hint="e.g. --from torch --to tflite"
        )
    return RouteTable(
        {
            "edge": str(e),
            "source": e.source.value,
            "target": e.target.value,
            "tool": e.tool,
            "module": e.name,
            "cost": e.cost,
            "available": e.available,
            "missing": e.missing,
        }
        for e in edges()
    )


def export_triton(
    model: str | Path,
    repo: str | Path,
    *,
    name: str | None = None,
    max_batch: int | None = None,
    max_delay_us: int = 2000,
    version: int = 1,
    instances: int = 1,
    gpu: bool = False,
) -> TritonExport:
    """Write a Triton model repository entry: REPO/NAME/VERSION/model.onnx + REPO/NAME/config.pbtxt."""
    from .serving import export_triton as _export

    return _export(
        model,
        repo,
        name=name,
        max_batch=max_batch,
        max_delay_us=max_delay_us,
        version=version,
        instances=instances,
        gpu=gpu,
    )


def serve(
    models: str | Sequence[str],
    *,
    block: bool = True,
    name: str | None = None,
    log: Log | None = None,
    **options: Any,
) -> RunningServer | None:
    """Serve models over the Open Inference Protocol (KServe v2). block=True runs until Ctrl+C/SIGTERM
    (the CLI); block=False starts it in a background thread and returns the running server (`.port`,
    `.stop()`, a context manager). `options` are ServeOptions fields (host, port, provider, max_batch,
    ...)."""
    from .serving import serve as _serve
    from .serving import start

    names = [models] if isinstance(models, str) else list(models)
    if not block:
        return start(names, name=name, **options)
    _serve(names, name=name, log=log, **options)
    return None


def matrix(
    model: str | Path,
    output: str | Path | None = None,
    *,
    targets: Sequence[Format | str] | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    inputs: str | None = None,
    log: Log | None = None,
    **options: Any,
) -> MatrixResult:
    """Convert one model to every other format by the best route and validate each (`portkit matrix`).
    `options` are ConvertOptions fields used for every target. Truthy when every route passed; never
    raises for one failing target (each row says what happened)."""
    from .matrix import matrix as _matrix

    return _matrix(
        str(model),
        output,
        targets=list(targets) if targets else None,
        atol=atol,
        rtol=rtol,
        inputs=inputs,
        log=log,
        **options,
    )


def ops(model: str | Path, target: str = "web") -> Any:
    """Which operators of an ONNX model (or a web bundle's model) `target` cannot run — web (onnxruntime-web
    WASM), ort (ORT format builds) or tflite — node by node (`portkit ops`). The report's `.ok` is False
    when some are unsupported (the CLI then exits 3)."""
    from .formats import sniff
    from .prep.op_report import check_ops

    path = Path(model)
    fmt = sniff(path)
    if fmt is Format.WEB:
        from .formats import model_file

        path = model_file(path)
        if path.suffix != ".onnx":
            raise BadInput("the bundle holds an ORT-format model; check its ONNX source instead", path=model)
    elif fmt is not Format.ONNX:
        raise BadInput(
            f"op checks read ONNX models, this is {fmt.value}",
            path=model,
            hint=f"convert it first: portkit convert {model} --to onnx",
        )
    return check_ops(path, target.lower())


def load_recipe(recipe: str | Path) -> Recipe:
    """Read and check a recipe (schema, key paths, files it names) without running anything; exit 2 on
    errors."""
    from .recipes import load_recipe as _load

    return _load(recipe)


def run(
    recipe: str | Path | Recipe,
    *,
    out: str | Path | None = None,
    jobs: int = 1,
    executor: str = "process",
    junit: str | Path | None = None,
    report: str | Path | None = None,
    log: Log | None = None,
) -> RunResult:
    """Run a recipe: every model's conversions, validations, benchmarks, gates and exports. The recipe is
    checked completely before anything runs. `jobs` > 1 runs models in parallel processes (spawn);
    executor="ray" runs them as Ray tasks. Writes OUT/manifest.json (and `junit` / HTML `report` when
    given); the result is truthy when every step and gate passed."""
    from .recipes import run_recipe

    return run_recipe(recipe, out=out, jobs=jobs, executor=executor, junit=junit, report=report, log=log)


def init(model: str | Path, output: str | Path = "recipe.yaml", *, force: bool = False,
         calibration: str | Path | None = None, input_shapes: Any = None) -> Path:
    """Write a commented starter recipe for `model` (`portkit init`) and return its path. The recipe runs
    as written: int8 targets are active only with `calibration` data (else commented out, saying why);
    `input_shapes` is written for models that do not declare theirs."""
    from .recipes import write_starter

    shapes = {k: list(v) for k, v in shapes_of(input_shapes).items()} or None
    return write_starter(str(model), Path(output), force=force, calibration=user_path(calibration),
                         input_shapes=shapes)
