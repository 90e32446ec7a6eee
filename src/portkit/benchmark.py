"""Latency and throughput: one table for several models, runtimes, providers and batch sizes.

Honest numbers first (USER-NEEDS 10): warm-up excluded, every timed call kept (outliers are counted, not
dropped), percentiles interpolated between order statistics (numpy's "linear", Hyndman–Fan type 7 — not
onnxruntime_perf_test's element q×N, whose P999 at 1000 runs is the maximum), a bootstrap 95 % interval
of the median, and the machine, threads and library versions recorded with every result.

The timing loop runs in the process that holds the model (`Runner.time_calls`; framework runners live in
worker processes and time themselves there), so no pipe is ever inside a timed interval. A CUDA run's
node placement is read from onnxruntime's profile and the run is labelled by what really ran
(`cuda`, `cuda+cpu`, `cpu`), never by what was asked for (USER-NEEDS 7).

This module is `portkit.benchmark` (not `bench`) so that `portkit.bench`, the API function, is not
shadowed by a submodule of the same name.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from .environment import environment
from .errors import BadInput, RuntimeUnavailable
from .gate_report import GateReport
from .options import BenchOptions
from .signature import spec_shapes, specs_from_keywords
from .stats import bootstrap_median_ci, percentile
from .tensormap import channels_last

__all__ = [
    "SCHEMA",
    "BenchOptions",
    "BenchResult",
    "LatencyStats",
    "Measurement",
    "bench",
    "bootstrap_median_ci",
    "environment",
    "percentile",
    "summarize",
]

SCHEMA = "portkit.bench/1"
PERCENTILES = (50, 90, 95, 99)


@dataclass
class LatencyStats:
    """Per-call latency of one series, in milliseconds; throughput in items (batch rows) per second."""

    count: int
    mean: float
    std: float
    min: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    median_ci95: tuple[float, float]
    throughput: float
    outliers: int  # beyond Tukey's fences (1.5 IQR); kept in every statistic above
    total_s: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["median_ci95"] = list(self.median_ci95)
        return d


def summarize(times_ns: Sequence[int] | np.ndarray, batch: int = 1, seed: int = 0) -> LatencyStats:
    """Statistics of timed calls (nanoseconds each; warm-up already excluded by the caller)."""
    t = np.asarray(times_ns, dtype=np.float64) / 1e6  # ms
    if t.size == 0:
        raise BadInput("no timed calls to summarise", hint="raise --iterations or --duration")
    q1, q3 = np.percentile(t, [25, 75])
    iqr = q3 - q1
    outliers = int(np.count_nonzero((t < q1 - 1.5 * iqr) | (t > q3 + 1.5 * iqr)))
    p = {q: percentile(t, q) for q in PERCENTILES}
    total_s = float(t.sum()) / 1e3
    return LatencyStats(
        count=int(t.size), mean=float(t.mean()), std=float(t.std(ddof=1)) if t.size > 1 else 0.0,
        min=float(t.min()), p50=p[50], p90=p[90], p95=p[95], p99=p[99], max=float(t.max()),
        median_ci95=bootstrap_median_ci(t, seed=seed),
        throughput=batch * t.size / total_s if total_s > 0 else math.inf,
        outliers=outliers, total_s=total_s)


# ---------------------------------------------------------------- options and results

@dataclass
class Measurement:
    model: str
    format: str
    runtime: str
    provider: str  # what really ran: cpu, cuda, cuda+cpu (partial fallback), ...
    requested_provider: str
    batch: int
    stats: LatencyStats
    io_binding: bool = False
    placement: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    ratio: float | None = None  # p50 / p50 of the first model at the same batch and provider
    samples_ns: list[int] | None = None

    @property
    def label(self) -> str:
        return f"{os.path.basename(self.model)} [{self.runtime}/{self.provider}]"

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "format": self.format, "runtime": self.runtime,
                "provider": self.provider, "requested_provider": self.requested_provider,
                "io_binding": self.io_binding, "batch": self.batch,
                "iterations": self.stats.count, "latency_ms": {
                    k: getattr(self.stats, k) for k in ("mean", "std", "min", "p50", "p90", "p95", "p99", "max")},
                "median_ci95_ms": list(self.stats.median_ci95), "throughput": self.stats.throughput,
                "outliers": self.stats.outliers, "ratio": self.ratio, "placement": self.placement,
                "notes": self.notes}


@dataclass
class BenchResult:
    measurements: list[Measurement]
    environment: dict[str, Any]
    options: BenchOptions
    notes: list[str] = field(default_factory=list)
    gates: GateReport | None = None  # the gates checked on this result (portkit.gates), when any were set

    @property
    def fell_back(self) -> list[Measurement]:
        return [m for m in self.measurements if m.provider != m.requested_provider]

    def to_dict(self) -> dict[str, Any]:
        opts = asdict(self.options)
        opts.pop("keep_samples", None)
        opts["input_specs"] = [s.to_dict() for s in self.options.input_specs]
        return {"schema": SCHEMA, "environment": self.environment, "options": opts,
                "results": [m.to_dict() for m in self.measurements], "notes": self.notes,
                **({"gates": self.gates.to_dict()} if self.gates is not None else {})}

    def table_rows(self) -> list[list[str]]:
        rows = []
        for m in self.measurements:
            s = m.stats
            rows.append([os.path.basename(m.model), m.runtime, m.provider + (" (iobind)" if m.io_binding else ""),
                         str(m.batch), f"{s.p50:.3f}", f"[{s.median_ci95[0]:.3f}, {s.median_ci95[1]:.3f}]",
                         f"{s.p90:.3f}", f"{s.p99:.3f}", f"{s.mean:.3f}±{s.std:.3f}", f"{s.throughput:,.0f}",
                         str(s.count), str(s.outliers), "-" if m.ratio is None else f"{m.ratio:.3g}×"])
        return rows

    TABLE_COLUMNS = ("model", "runtime", "provider", "batch", "p50 ms", "p50 95% CI", "p90 ms", "p99 ms",
                     "mean±std ms", "items/s", "n", "outliers", "vs first")

    def to_markdown(self) -> str:
        cols = list(self.TABLE_COLUMNS)
        out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        out += ["| " + " | ".join(r) + " |" for r in self.table_rows()]
        env = self.environment
        out.append("")
        out.append(f"CPU: {env.get('cpu')} ({env.get('usable_cores')} usable cores), threads: {env.get('threads')}; "
                   + ", ".join(f"{k} {v}" for k, v in (env.get("versions") or {}).items() if v))
        if env.get("gpus"):
            out.append(f"GPU: {'; '.join(env['gpus'])}")
        for note in self.notes + [f"{m.label} batch {m.batch}: {n}" for m in self.measurements for n in m.notes]:
            out.append(f"- {note}")
        return "\n".join(out) + "\n"


# ---------------------------------------------------------------- the engine

def _batches_for(signature: Any, wanted: Sequence[int]) -> tuple[list[int], str | None]:
    """Batch sizes a model allows: all wanted ones for a dynamic batch axis, else its own static batch."""
    first = signature.inputs[0] if signature.inputs else None
    if first is None or not first.shape:
        return [1], "no batch axis: batch 1 only"
    if first.batch_dynamic:
        return list(wanted), None
    static = int(first.shape[0])
    others = [b for b in wanted if b != static]
    note = f"static batch {static}: only batch {static} measured" + (
        f" (asked for {', '.join(map(str, others))})" if others else "")
    return [static], note


def shared_feeds(reference: dict[str, np.ndarray] | None, signature: Any, artifact: Any,
                  batch: int, opts: BenchOptions) -> tuple[dict[str, np.ndarray], str | None]:
    """The same input data for every model when shapes allow (by position, with a recorded layout
    transpose applied); otherwise this model's own random inputs, and a note saying so."""
    from .inputs import check_shapes, make_inputs

    if reference is None:  # --input-shape is said for the first model (later ones may be NHWC)
        check_shapes(signature, spec_shapes(opts.input_specs), getattr(artifact, "location", None))
    own = make_inputs(signature, batch=batch, seed=opts.seed, shapes=spec_shapes(opts.input_specs) or None)
    if reference is None:
        return own, None
    tensors = artifact.record.tensors
    ref_items = list(reference.items())
    out: dict[str, np.ndarray] = {}
    note = None
    for i, (name, arr) in enumerate(own.items()):
        if i >= len(ref_items):
            return own, "inputs differ from the first model's: own random inputs used"
        ref_name, ref_arr = ref_items[i]
        perm = tensors.perm("inputs", ref_name) or tensors.perm("inputs", name)
        cand = np.transpose(ref_arr, perm) if perm and ref_arr.ndim == len(perm) else ref_arr
        to_last = channels_last(ref_arr.ndim) if ref_arr.ndim == 4 else None
        if cand.shape != arr.shape and not perm and to_last and ref_arr.transpose(to_last).shape == arr.shape:
            # no layout recorded (e.g. lost along a multi-hop route), but the shapes say NCHW -> NHWC
            cand = ref_arr.transpose(to_last)
            note = "same inputs transposed NCHW→NHWC (inferred from the shapes: no layout recorded)"
        if cand.shape != arr.shape or cand.dtype != arr.dtype:
            return own, "input shapes differ from the first model's: own random inputs used"
        out[name] = np.ascontiguousarray(cand)
    return out, note


def _series(runner: Any, artifact: Any, provider: str, batches: list[int], opts: BenchOptions,
            reference: dict[int, dict[str, np.ndarray]], log: Callable[[str], None],
            batch_note: str | None) -> list[Measurement]:
    from .runtimes import runtime_name

    out = []
    for b in batches:
        feeds, feed_note = shared_feeds(reference.get(b), runner.signature, artifact, b, opts)
        reference.setdefault(b, feeds)
        placement = None
        if provider != "cpu" and hasattr(runner, "placement"):
            placement = runner.placement(feeds)
        log(f"bench: {os.path.basename(artifact.location)} {runtime_name(artifact.format)}/{provider} batch {b}")
        times = runner.time_calls(feeds, io_binding=opts.io_binding, **opts.loop_options())
        real = placement["provider"] if placement else provider
        notes = [n for n in (batch_note, feed_note) if n]
        if placement and placement.get("cpu_nodes"):
            ops = ", ".join(f"{op}×{n}" for op, n in sorted(placement["cpu_ops"].items()))
            notes.append(f"{len(placement['cpu_nodes'])} of {placement['nodes']} nodes ran on the CPU, not "
                         f"{provider}: {ops}")
            if opts.strict:
                raise RuntimeUnavailable(
                    f"{artifact.location}: {len(placement['cpu_nodes'])} of {placement['nodes']} nodes fell "
                    f"back from {provider} to the CPU ({ops})", path=artifact.location,
                    hint="drop --strict to measure anyway (the run is then labelled "
                         f"'{real}', not '{provider}')")
        out.append(Measurement(
            model=artifact.location, format=artifact.format.value, runtime=runtime_name(artifact.format),
            provider=real, requested_provider=provider, batch=b, stats=summarize(times, b, seed=opts.seed),
            io_binding=opts.io_binding and artifact.format.value == "onnx", placement=placement, notes=notes,
            samples_ns=list(times) if opts.keep_samples else None))
    return out


def run_bench(artifacts: Sequence[Any], opts: BenchOptions,
              log: Callable[[str], None] | None = None) -> BenchResult:
    """Benchmark each artifact (one runner at a time, kept warm for all its batches and providers)."""
    from .formats import Format
    from .runtimes.borrow import open_borrowing

    log = log or (lambda _m: None)
    if not artifacts:
        raise BadInput("no model to benchmark", hint="portkit bench MODEL [MODEL...]")
    measurements: list[Measurement] = []
    notes: list[str] = []
    reference: dict[int, dict[str, np.ndarray]] = {}
    for art in artifacts:
        is_onnx = art.format is Format.ONNX
        providers = opts.providers if is_onnx else ("cpu",)
        if not is_onnx and any(p != "cpu" for p in opts.providers):
            notes.append(f"{os.path.basename(art.location)}: {art.format.value} runs on the CPU "
                         "(--provider applies to ONNX models)")
        for provider in providers:
            kwargs: dict[str, Any] = {"threads": opts.threads}
            if is_onnx:
                kwargs["providers"] = (provider,)
            # a model declaring no inputs (bare TorchScript) borrows those of another model benchmarked here
            with open_borrowing(art, artifacts, notes=notes, **kwargs) as runner:
                batches, batch_note = _batches_for(runner.signature, opts.batches)
                measurements += _series(runner, art, provider, batches, opts, reference, log, batch_note)
    _ratios(measurements)
    return BenchResult(measurements, environment(opts.threads), opts, notes)


def _ratios(measurements: list[Measurement]) -> None:
    """p50 ratio against the first series of the first model at the same batch (its first provider)."""
    if not measurements:
        return
    first = measurements[0].model
    base: dict[int, float] = {}
    for m in measurements:
        if m.model == first:
            base.setdefault(m.batch, m.stats.p50)
    for m in measurements:
        ref = base.get(m.batch)
        m.ratio = m.stats.p50 / ref if ref else None


def bench(models: str | Sequence[str], *, providers: Sequence[str] | str = ("cpu",),
          batches: Sequence[int] | str | int = (1,), log: Callable[[str], None] | None = None,
          weights: str | None = None, model_args: dict[str, Any] | None = None, allow_pickle: bool = False,
          **options: Any) -> Any:
    """Benchmark one or more models side by side; `result.to_dict()` is the `portkit bench --json` schema.
    Generative models (causal LMs with their cache) get portkit.generative.bench's GenBenchResult.

    options: BenchOptions fields (iterations, duration, warmup, threads, io_binding, strict, seed,
    keep_samples), the input keywords (portkit.signature.INPUT_KEYWORDS) and the ConvertOptions that load a
    model (allow_unsafe, custom_objects, ...).
    """
    from .conversion import source_artifact
    from .options import convert_options

    if isinstance(models, str):
        models = [models]
    if isinstance(providers, str):
        providers = [p.strip() for p in providers.split(",") if p.strip()]
    batches = parse_int_list(batches)
    specs = specs_from_keywords(options)
    from .generative.bench import generative_models

    if generative_models([str(m) for m in models]) is not None:  # causal LMs with their cache: generation speed
        return _bench_generative([str(m) for m in models], providers, batches, options, log)
    # the rest of **options loads the models (ConvertOptions: allow_unsafe, custom_objects, ...)
    mine = {f.name for f in fields(BenchOptions)}
    loading = {k: options.pop(k) for k in list(options) if k not in mine}
    opts = BenchOptions(providers=tuple(p.lower() for p in providers), batches=tuple(batches),
                        input_specs=specs, **options)
    copts = convert_options(input_specs=specs, weights=weights, model_args=model_args or {},
                            allow_pickle=allow_pickle, **loading)
    artifacts = [source_artifact(str(m), copts) for m in models]
    return run_bench(artifacts, opts, log)


def _bench_generative(models: list[str], providers: Sequence[str], batches: list[int], options: dict[str, Any],
                      log: Callable[[str], None] | None) -> Any:
    """TTFT, prefill and decode tokens/s, peak memory (portkit.generative.bench); batch 1 on the CPU."""
    from .generative.bench import bench_generative

    if [p.lower() for p in providers] != ["cpu"] or list(batches) != [1]:
        raise BadInput("a generation bench runs batch 1 on the CPU", hint="drop --provider / --batch")
    for name in ("duration", "io_binding", "strict"):
        if options.get(name):
            raise BadInput(f"--{name.replace('_', '-')} is for latency benches, not generation",
                           hint=f"drop --{name.replace('_', '-')}")
    return bench_generative(models, threads=options.get("threads"), repeats=options.get("iterations"),
                            seed=options.get("seed") or 0, log=log)


def parse_int_list(value: Sequence[int] | str | int) -> list[int]:
    if isinstance(value, int):
        return [value]
    if isinstance(value, str):
        value = [v for v in value.replace(" ", "").split(",") if v]
    try:
        return [int(v) for v in value]
    except (TypeError, ValueError) as e:
        raise BadInput(f"bad batch list '{value}'", hint="write it like 1,8,32") from e


