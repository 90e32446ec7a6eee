"""Compare two models on the same inputs: per-output metrics, dtype-aware tolerances, honest mapping.

The comparison itself is numpy only and runs in the parent; each side runs in its own runtime (framework
runtimes in worker processes). Inputs and outputs are matched by name, then by the layout/renaming
metadata converters record, then by position with a warning — never silently.

Two criteria modes: "tolerance" (every element within atol + rtol·|ref|, per-dtype defaults) and, for a
candidate whose metadata says it is quantized (`record.quantized` = "int8" / "dynamic" / "fp16"),
"quantized:<kind>" — judged by cosine similarity and argmax agreement, since atol means little there.
The JSON schema of `ValidationResult.to_dict()` is documented in docs/validation.md.

The package along its seams: `result` (OutputReport, ValidationResult), `compare` (tolerances, one
output pair's metrics, the dtype rule), `accuracy` (labelled top-1), and here the name/layout matching,
the cases and the validation run. Every public name stays importable from `portkit.validation`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..artifact import Artifact
from ..errors import BadInput, InternalError
from ..formats import Format
from ..inputs import check_shapes, concrete_shape, infer_ranges, load_inputs, make_inputs, sweep_dims
from ..options import ValidateOptions
from ..runtimes import Runner
from ..signature import InputSpec, ModelSignature, merge_input_specs

__all__ = [
    "DEFAULT_TOLERANCES",
    "LIBRARIES",
    "QUANTIZED_CRITERIA",
    "SCHEMA",
    "Case",
    "OutputReport",
    "ValidationResult",
    "accuracy",
    "accuracy_delta",
    "compare_arrays",
    "candidate_feeds",
    "case_ranges",
    "compare_case",
    "failed_case",
    "make_cases",
    "match_names",
    "narrowed_float",
    "plan_mapping",
    "tolerance_for",
    "validate",
    "validate_runners",
]
from .accuracy import accuracy, accuracy_delta
from .compare import (
    DEFAULT_TOLERANCES,
    QUANTIZED_CRITERIA,
    compare_arrays,
    less_precise,
    narrowed_float,
    tolerance_for,
)
from .mapping import (
    Case,
    Plan,
    candidate_feeds,
    fixed_by_candidate,
    match_names,
    plan_mapping,
    static_batch,
    transpose,
)
from .result import SCHEMA, OutputReport, ValidationResult

# the parts of numpy it loads on first use (random inputs, percentiles of the differences): imported on a
# thread while a worker converts or loads the reference (portkit.workers.warm)
LIBRARIES = ("numpy.random", "numpy.ma")


def compare_case(result: ValidationResult, rsig: ModelSignature, plan: Plan, opts: ValidateOptions,
                 case: Case, ref_out: dict[str, np.ndarray], cand_out: dict[str, np.ndarray]) -> None:
    for spec in rsig.outputs:
        cname = plan.out_map[spec.name]
        perm = (plan.out_layout.get(spec.name) or {}).get("perm")
        r = transpose(np.asarray(ref_out[spec.name]), perm)
        c = np.asarray(cand_out[cname])
        narrowed = None if plan.quantized else narrowed_float(str(r.dtype), str(c.dtype))
        # a candidate that narrowed a float on its own is judged at the reference's tolerance, and fails
        dtype = str(r.dtype) if narrowed else less_precise(str(r.dtype), str(c.dtype))
        atol, rtol = tolerance_for(spec.name, dtype, opts)
        quantized = plan.quantized if spec.name not in opts.per_output and r.dtype.kind == "f" else None
        rep = compare_arrays(spec.name, r, c, atol, rtol, case.batch, cname, case=case.label, quantized=quantized)
        if narrowed:
            rep.passed = False
            rep.reason += f" ({narrowed})"
        result.outputs.append(rep)


def _run_error(err: BaseException) -> str:
    """The telling part of a runtime's error: onnxruntime's status code prefix and C++ source location go."""
    import re

    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    text = re.sub(r"\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    text = re.sub(r"/onnxruntime_src/\S+:\d+ \S+?\([^)]*\) ", "", text)
    return text if len(text) <= 300 else text[:140] + " … " + text[-150:]


def failed_case(result: ValidationResult, rsig: ModelSignature, plan: Plan, case: Case, side: str,
                 err: Exception) -> None:
    text = _run_error(err)
    for spec in rsig.outputs:
        inf = float("inf")
        result.outputs.append(OutputReport(
            spec.name, plan.out_map.get(spec.name, spec.name), case.batch, [], spec.dtype, inf, inf, inf, 0.0,
            0.0, 0.0, False, required_atol=inf, required_rtol=inf, case=case.label,
            reason=f" ({side} failed to run: {type(err).__name__}: {text})",
            failed_to_run=f"{side} failed to run: {type(err).__name__}: {text}"))


def validate_runners(ref: Runner, cand: Runner, candidate: Artifact, opts: ValidateOptions,
                     ref_label: str = "reference", cand_label: str = "candidate",
                     on_batch: Callable[[int], None] | None = None, *,
                     reference: Artifact | None = None) -> ValidationResult:
    """Run both runners on the same inputs for each case (batch sizes, sequence lengths, user samples)
    and compare every output. A case where one side fails to run is a failed case, not a crash."""
    result = ValidationResult(ref_label, cand_label, seed=opts.seed)
    rsig = ref.signature
    plan = plan_mapping(rsig, cand.signature, candidate, result)
    ranges = case_ranges(reference, candidate, plan, result)
    # the user's data (or calibration set) may hold more rows than a fixed-batch model takes: run it in
    # chunks. Random inputs never are: their batch sweep is there to catch a lost dynamic batch.
    run = (lambda r, f, who: run_in_chunks(r, f, result.notes, who)) if opts.inputs else (lambda r, f, _: r.run(f))
    given = opts.shapes
    fixed = fixed_by_candidate(rsig, cand.signature, plan, candidate, given, result)
    if fixed != given:  # the sizes a deliberately fixed candidate takes join the command's specs
        opts = replace(opts, input_specs=merge_input_specs(
            opts.input_specs, tuple(InputSpec(k, v) for k, v in fixed.items() if k not in given)))
    cases = make_cases(rsig, opts, result, ranges)
    if not opts.inputs and reference is not None and reference.format is Format.HF and \
            all(s.batch_dynamic for s in rsig.inputs):
        # padded to the sequence the cases use (--input-shape's, or a fixed candidate's), not just the default
        sized = ModelSignature(tuple(s.with_shape(s.shape[:1] + concrete_shape(s, 1, opts.shapes, i)[1:])
                                     if opts.shapes.get(s.name) else s for i, s in enumerate(rsig.inputs)),
                               rsig.outputs)
        cases += checkpoint_cases(reference, sized, ranges, result, max(opts.batches) if opts.batches else None)
    for case in cases:
        if on_batch:
            on_batch(case.batch)
        try:
            ref_out = run(ref, case.feeds, ref_label)
        except InternalError:
            raise  # a bug in portkit is not a model that fails to run
        except Exception as e:  # noqa: BLE001 - runtimes raise their own types; reported as a failed case
            if case.swept:
                result.warnings.append(f"the reference does not run at {case.label} "
                                       f"({type(e).__name__}); that size was skipped")
                continue
            failed_case(result, rsig, plan, case, "reference", e)
            continue
        try:
            cand_out = run(cand, candidate_feeds(case.feeds, plan, result.notes), cand_label)
        except InternalError:
            raise
        except Exception as e:  # noqa: BLE001 - e.g. a hard-coded shape that breaks at batch 2
            failed_case(result, rsig, plan, case, "candidate", e)
            continue
        compare_case(result, rsig, plan, opts, case, ref_out, cand_out)
        if not opts.inputs:
            warn_insensitive(result, rsig, opts, case, ref_out)
    return result


def warn_insensitive(result: ValidationResult, rsig: ModelSignature, opts: ValidateOptions, case: Case,
                     ref_out: dict[str, np.ndarray]) -> None:
    """Warn (once per output) when the reference's float output hardly depends on its random inputs: every
    row within atol of the first. Then any candidate that computes roughly nothing passes too — an
    untrained model whose BatchNorm statistics shrink the signal to 1e-10, a softmax of ten ~0.1s. The
    verdict stands; the warning says what it is worth."""
    for spec in rsig.outputs:
        r = np.asarray(ref_out.get(spec.name))
        if r.dtype.kind == "f" and not np.isfinite(r).all():
            # a NaN matches a NaN: a reference that computes NaN (a model given a mask it reads another way)
            # passes any candidate that does too, with an error of 0
            bad = int(r.size - np.isfinite(r).sum())
            if not any(f"output '{spec.name}' of the reference holds" in w for w in result.warnings):
                result.warnings.append(
                    f"output '{spec.name}' of the reference holds {bad} of {r.size} NaN/inf values at "
                    f"{case.label}: those positions are compared only for being NaN/inf on both sides")
            continue
        if r.dtype.kind != "f" or r.ndim == 0 or r.shape[0] < 2:
            continue
        atol, _ = tolerance_for(spec.name, str(r.dtype), opts)
        spread = float(np.abs(r - r[:1]).max())
        result.output_spread[spec.name] = min(spread, result.output_spread.get(spec.name, spread))
        if spread <= atol and not any(f"output '{spec.name}' of the reference" in w for w in result.warnings):
            result.warnings.append(
                f"output '{spec.name}' of the reference hardly depends on its inputs (rows of different random "
                f"inputs differ by at most {spread:.2g} ≤ atol {atol:g}): this check cannot tell a wrong "
                "conversion from a right one — validate with real data (--inputs)")


def run_in_chunks(runner: Runner, feeds: dict[str, np.ndarray], notes: list[str] | None = None,
                  label: str = "model") -> dict[str, np.ndarray]:
    """`runner.run(feeds)`, except that data of N rows given to a model fixed to batch B (N a multiple of B)
    runs B rows at a time and the outputs are joined: user data and calibration sets have many rows, a
    mobile model often takes exactly one."""
    b = static_batch(runner.signature)
    rows = {int(a.shape[0]) for a in feeds.values() if np.ndim(a)}
    n = next(iter(rows)) if len(rows) == 1 else None
    if b is None or n is None or n == b or n % b:
        return runner.run(feeds)
    parts = [runner.run({k: v[i:i + b] for k, v in feeds.items()}) for i in range(0, n, b)]
    if notes is not None:
        note = f"the {label} takes a fixed batch of {b}: {n} data rows ran {b} at a time"
        if note not in notes:
            notes.append(note)
    return {k: np.concatenate([p[k] for p in parts]) if np.ndim(parts[0][k]) else parts[0][k] for k in parts[0]}


def case_ranges(reference: Artifact | None, candidate: Artifact, plan: Plan,
            result: ValidationResult) -> dict[str, tuple[float, float]]:
    """Integer input ranges (e.g. token ids < vocab size) from the reference, else the candidate."""
    ranges = infer_ranges(reference) if reference is not None else {}
    back = {v: k for k, v in plan.in_map.items()}
    for name, rng in infer_ranges(candidate).items():
        if back.get(name) and back[name] not in ranges:
            ranges[back[name]] = rng
    for name, (lo, hi) in ranges.items():
        result.notes.append(f"input '{name}': integers in [{lo:g}, {hi:g}) (from the model)")
    return ranges


def checkpoint_cases(reference: Artifact, sig: ModelSignature, ranges: dict[str, tuple[float, float]],
                     result: ValidationResult, rows: int | None = None) -> list[Case]:
    """A Hugging Face folder's own tokenizer / image processor make one more case of real inputs (at most
    `rows` of them: the largest batch the validation asks for)."""
    from ..hf.samples import sample_feeds

    feeds, what = sample_feeds(reference.location, sig)
    if feeds is not None and rows:
        feeds = {k: v[:rows] for k, v in feeds.items()}
    too_big = [k for k, (lo, hi) in ranges.items() if feeds is not None and k in feeds
               and (feeds[k].min() < lo or feeds[k].max() >= hi)]
    if feeds is None or too_big:
        result.notes.append(f"real inputs: {what if feeds is None else 'the tokenizer gives ids beyond the model'}")
        return []
    batch = int(next(iter(feeds.values())).shape[0])
    label = f"real inputs batch {batch}"
    result.notes.append(f"real inputs: {what}")
    result.cases.append(label)
    result.batches = sorted({*result.batches, batch})
    return [Case(label, batch, feeds)]


def make_cases(sig: ModelSignature, opts: ValidateOptions, result: ValidationResult | None = None,
               ranges: dict[str, tuple[float, float]] | None = None) -> list[Case]:
    """The input sets to compare on: the user's data, or random inputs for each batch size (and each
    swept sequence length when the model declares dynamic non-batch axes). Seeds are recorded."""
    result = result if result is not None else ValidationResult("", "")
    names = [s.name for s in sig.inputs]
    if opts.inputs:
        sets = load_inputs(opts.inputs)
        result.input_source = str(opts.inputs)
        cases = []
        for i, s in enumerate(sets):
            missing = set(names) - set(s)
            if missing:
                raise BadInput(f"input data has no array for input(s) {sorted(missing)}", path=opts.inputs,
                               hint=f"keys must be the model's input names: {sorted(names)}")
            feeds = {k: s[k] for k in names}
            check_data_shapes(sig, feeds, opts.inputs)
            batch = int(next(iter(feeds.values())).shape[0]) if feeds and next(iter(feeds.values())).ndim else 1
            cases.append(Case(f"sample {i}" if len(sets) > 1 else f"data batch {batch}", batch, feeds))
        result.cases = [c.label for c in cases]
        result.batches = sorted({c.batch for c in cases})
        return cases
    dynamic = any(s.batch_dynamic for s in sig.inputs)
    batches = opts.batches or ((1, 2) if dynamic else (None,))
    if not dynamic:
        batches = (None,)  # a static batch cannot be swept
    seq_sizes = sweep_dims(sig, opts.shapes)
    variants: list[tuple[int | None, dict[str, int]]] = [(b, {}) for b in batches]
    for dim, sizes in seq_sizes.items():
        variants += [(batches[0], {dim: n}) for n in sizes]
    cases = []
    for i, (b, dims) in enumerate(variants):
        for k in range(max(1, opts.samples)):
            seed = opts.seed + 1000 * i + k
            feeds = make_inputs(sig, batch=b or 1, seed=seed, shapes=opts.shapes, ranges=ranges, dims=dims)
            first = next(iter(feeds.values())) if feeds else np.zeros(1)
            actual = b if b else (int(first.shape[0]) if first.ndim else 1)
            label = f"batch {actual}" + "".join(f" · {d} {n}" for d, n in dims.items())
            if opts.samples > 1:
                label += f" · sample {k}"
            cases.append(Case(label, actual, feeds, seed, swept=bool(dims)))
            result.seeds[label] = seed
    result.cases = [c.label for c in cases]
    result.batches = sorted({c.batch for c in cases})
    return cases


def check_data_shapes(sig: ModelSignature, feeds: dict[str, np.ndarray], path: str | Path) -> None:
    """User data must fit the model: the rank, and every static size (a fixed batch may take a multiple of
    its rows: they run in chunks). Exit 2 naming the input, the expected and the given shape."""
    for spec in sig.inputs:
        a = np.asarray(feeds[spec.name])
        want = spec.shape
        bad = a.ndim != len(want) or any(
            isinstance(d, int) and d > 0 and a.shape[i] != d and not (i == 0 and a.shape[0] % d == 0)
            for i, d in enumerate(want))
        if bad:
            expected = "[" + ", ".join(str(d) if isinstance(d, int) else (d or "?") for d in want) + "]"
            raise BadInput(f"input data '{spec.name}' has shape {list(a.shape)}; the model expects {expected}",
                           path=path, hint=f"save '{spec.name}' with shape {expected} (names are dynamic axes)")


def validate(reference: Artifact, candidate: Artifact, opts: ValidateOptions | None = None,
             **runner_options: Any) -> ValidationResult:
    """Load both models (framework runtimes in workers), compare them, close them. (`--locate`, the search
    for the first diverging node of a failing pair, is portkit.locate's, run after this.)"""
    from ..runtimes import warm_imports
    from ..runtimes.borrow import open_borrowing
    from ..workers import command_pool, warm

    opts = opts or ValidateOptions()
    notes: list[str] = []  # a model declaring no inputs borrows the other's (a bare TorchScript file)
    # one worker per framework family (the command line's prestarted one, already importing torch); while
    # it loads the reference, this process imports what running the other side and comparing needs
    warming = warm(*warm_imports([reference.format, candidate.format]), *LIBRARIES)
    try:
        with command_pool() as pool, \
                open_borrowing(reference, [candidate], notes=notes, pool=pool, **runner_options) as ref, \
                open_borrowing(candidate, [reference], {reference.location: ref}, notes=notes, pool=pool,
                               **runner_options) as cand:
            check_shapes(ref.signature, opts.shapes, reference.location)  # the user's model: exit 2 early
            result = validate_runners(ref, cand, candidate, opts, reference.location, candidate.location,
                                      reference=reference)
    finally:
        warming.join()
    result.notes[:0] = notes
    return result
