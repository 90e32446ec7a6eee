"""Compare two models on the same inputs: per-output metrics, dtype-aware tolerances, honest mapping.

The comparison itself is numpy only and runs in the parent; each side runs in its own runtime (framework
runtimes in worker processes). Inputs and outputs are matched by name, then by the layout/renaming
metadata converters record, then by position with a warning — never silently.

Two criteria modes: "tolerance" (every element within atol + rtol·|ref|, per-dtype defaults) and, for a
candidate whose metadata says it is quantized (`metadata["quantized"]` = "int8" / "dynamic" / "fp16"),
"quantized:<kind>" — judged by cosine similarity and argmax agreement, since atol means little there.
The JSON schema of `ValidationResult.to_dict()` is documented in docs/validation.md.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .artifact import Artifact
from .formats import Format
from .errors import BadInput, InternalError
from .gate_report import GateReport
from .inputs import check_shapes, infer_ranges, load_inputs, make_inputs, sweep_dims
from .options import ValidateOptions
from .runtimes import Runner
from .signature import ModelSignature

__all__ = [
    "DEFAULT_TOLERANCES",
    "QUANTIZED_CRITERIA",
    "SCHEMA",
    "Case",
    "OutputReport",
    "ValidationResult",
    "accuracy",
    "accuracy_delta",
    "compare_arrays",
    "make_cases",
    "validate",
    "validate_runners",
]

SCHEMA = "portkit.validation/1"

# (atol, rtol): an element passes when |cand - ref| <= atol + rtol * |ref|
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-6, 1e-6),
    "float32": (1e-4, 1e-4),
    "float16": (1e-2, 1e-2),
    "bfloat16": (5e-2, 5e-2),
}
_EXACT = (0.0, 0.0)  # ints and bools must match exactly
_PRECISION = ["float64", "float32", "bfloat16", "float16"]  # the less precise side decides the tolerance

# quantized kind -> (minimum cosine similarity, minimum argmax agreement for classifier-like outputs)
QUANTIZED_CRITERIA: dict[str, tuple[float, float]] = {
    "fp16": (0.9999, 0.99),
    "dynamic": (0.99, 0.9),
    "int8": (0.98, 0.9),
}
PERCENTILES = (50, 90, 95, 99, 99.9)
HIST_EDGES = [float(x) for x in np.arange(-10.0, 4.01, 0.5)]  # log10 |diff|, fixed so cases can be merged
TOP_K = 5


@dataclass
class OutputReport:
    name: str
    candidate_name: str
    batch: int
    shape: list[int]
    dtype: str
    max_abs: float
    mean_abs: float
    max_rel: float  # max |diff| / max |ref|: relative to the output's scale
    cosine: float
    atol: float
    rtol: float
    passed: bool
    argmax_agreement: float | None = None  # classifier-like outputs (float, last dim > 1)
    nan_mismatch: int = 0  # elements finite on one side and NaN/Inf on the other
    required_atol: float = 0.0  # the smallest atol that would pass at this rtol
    p99_abs: float = 0.0
    reason: str = ""
    histogram: dict[str, list[float]] | None = None  # |diff| histogram (log10 edges) for reports
    case: str = ""  # "batch 2", "batch 1 · seq 7", "sample 3"
    required_rtol: float = 0.0  # the smallest rtol that would pass at this atol
    percentiles: dict[str, float] = field(default_factory=dict)  # |diff| quantiles: "p50" .. "p99.9"
    top_k_agreement: float | None = None  # mean overlap of the top-k classes (k = min(5, classes))
    criteria: str = "tolerance"  # or "quantized:int8" / "quantized:dynamic" / "quantized:fp16"
    min_cosine: float | None = None  # quantized criteria thresholds
    min_agreement: float | None = None
    candidate_dtype: str = ""
    failed_to_run: str = ""  # "candidate failed to run: <reason>" when a side raised instead of answering

    @property
    def severity(self) -> float:
        """How far from passing (>1 fails); used to pick the worst output."""
        if not np.isfinite(self.max_abs) or self.nan_mismatch:
            return float("inf")
        if self.min_cosine is not None:
            return (1.0 - self.cosine) / max(1.0 - self.min_cosine, 1e-12)
        return self.required_atol / max(self.atol, 1e-30) if self.required_atol else 0.0

    def to_dict(self) -> dict[str, Any]:
        return _finite(asdict(self))


@dataclass
class ValidationResult:
    reference: str
    candidate: str
    outputs: list[OutputReport] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)
    seed: int = 0
    warnings: list[str] = field(default_factory=list)
    input_source: str = "random"
    cases: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # mappings applied from metadata, casts
    mapping: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # kind -> ref -> {to, by}
    criteria: str = "tolerance"
    seeds: dict[str, int] = field(default_factory=dict)  # case -> seed of its random inputs
    locate: dict[str, Any] | None = None  # first diverging node (see portkit.locate)
    gates: GateReport | None = None  # the gates checked on this result (portkit.gates), when any were set
    # per float output: how far the reference's rows of different random inputs lie apart (max |row - row 0|,
    # the smallest over cases): near 0, the output hardly depends on the input and the check proves little
    output_spread: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.outputs) and all(o.passed for o in self.outputs)

    def __bool__(self) -> bool:
        return self.passed

    def worst(self) -> OutputReport | None:
        failing = [o for o in self.outputs if not o.passed] or self.outputs
        return max(failing, key=lambda o: o.severity, default=None)

    def failing_outputs(self) -> list[str]:
        return sorted({o.name for o in self.outputs if not o.passed})

    def passing_outputs(self) -> list[str]:
        bad = set(self.failing_outputs())
        return sorted({o.name for o in self.outputs} - bad)

    @property
    def max_abs(self) -> float:
        return max((o.max_abs for o in self.outputs), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((o.max_rel for o in self.outputs), default=0.0)

    def summary(self) -> str:
        w = self.worst()
        if w is None:
            return "no outputs compared"
        if self.passed:
            return (f"equivalent: max abs {self.max_abs:.3g}, max rel {self.max_rel:.3g} "
                    f"over {len(self.outputs)} comparisons ({', '.join(self.cases) or 'one case'})")
        where = w.case or f"batch {w.batch}"
        if w.failed_to_run:  # there is nothing to compare: the reason is the whole story
            side, _, why = w.failed_to_run.partition(" failed to run: ")
            return f"{side} failed to run at {where}: {why}"
        if w.min_cosine is not None:
            text = (f"output '{w.name}' differs at {where}: cosine {w.cosine:.6f} (needs ≥ {w.min_cosine}), "
                    f"argmax agreement {_fmt(w.argmax_agreement)}, max abs {w.max_abs:.3g}, "
                    f"max rel {w.max_rel:.3g}{w.reason}")
        else:
            text = (f"output '{w.name}' differs at {where}: max abs {w.max_abs:.3g} "
                    f"(atol {w.atol:g}, rtol {w.rtol:g}; needs atol ≥ {w.required_atol:.3g} "
                    f"or rtol ≥ {w.required_rtol:.3g}){w.reason}")
        others = [n for n in self.failing_outputs() if n != w.name]
        if others:
            text += f"; also failing: {', '.join(others)}"
        ok = self.passing_outputs()
        if ok:
            text += f"; passing: {', '.join(ok)}"
        if self.locate and self.locate.get("first_divergence"):
            d = self.locate["first_divergence"]
            text += f"; first diverging node: '{d['node']}' ({d['op_type']})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "reference": self.reference, "candidate": self.candidate,
                "passed": self.passed, "criteria": self.criteria, "max_abs": _finite(self.max_abs),
                "max_rel": _finite(self.max_rel), "batches": self.batches, "cases": self.cases, "seed": self.seed,
                "seeds": self.seeds, "input_source": self.input_source, "warnings": self.warnings,
                "notes": self.notes, "mapping": self.mapping, "summary": self.summary(),
                "failing_outputs": self.failing_outputs(), "passing_outputs": self.passing_outputs(),
                "outputs": [o.to_dict() for o in self.outputs], "locate": _finite(self.locate),
                "output_spread": self.output_spread,
                **({"gates": self.gates.to_dict()} if self.gates is not None else {})}


def _finite(v: Any) -> Any:
    """Non-finite floats become the strings "inf" / "-inf" / "nan" so the JSON stays standard."""
    if isinstance(v, float) and not np.isfinite(v):
        return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    return v


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _less_precise(a: str, b: str) -> str:
    ranks = [_PRECISION.index(d) for d in (a, b) if d in _PRECISION]
    return _PRECISION[max(ranks)] if ranks else a


def tolerance_for(name: str, dtype: str, opts: ValidateOptions) -> tuple[float, float]:
    if name in opts.per_output:
        return opts.per_output[name]
    base = DEFAULT_TOLERANCES.get(dtype, _EXACT if dtype.startswith(("int", "uint", "bool")) else
                                  DEFAULT_TOLERANCES["float32"])
    return (opts.atol if opts.atol is not None else base[0], opts.rtol if opts.rtol is not None else base[1])


def compare_arrays(name: str, ref: np.ndarray, cand: np.ndarray, atol: float, rtol: float, batch: int = 1,
                   candidate_name: str | None = None, *, case: str = "",
                   quantized: str | None = None) -> OutputReport:
    """Every metric for one output pair. `quantized` switches to cosine/agreement criteria."""
    ref = np.asarray(ref)
    cand = np.asarray(cand)
    crit: dict[str, Any] = {"criteria": "tolerance"}
    if quantized:
        min_cos, min_agree = QUANTIZED_CRITERIA.get(quantized, QUANTIZED_CRITERIA["int8"])
        crit = {"criteria": f"quantized:{quantized}", "min_cosine": min_cos, "min_agreement": min_agree}
    report = dict(name=name, candidate_name=candidate_name or name, batch=batch, shape=list(ref.shape),
                  dtype=str(ref.dtype), atol=atol, rtol=rtol, case=case or f"batch {batch}",
                  candidate_dtype=str(cand.dtype), **crit)
    if ref.shape != cand.shape:
        if ref.size == cand.size and ref.squeeze().shape == cand.squeeze().shape:
            cand = cand.reshape(ref.shape)  # e.g. (N,) vs (N,1): same data, reported as equal shapes
        else:
            inf = float("inf")
            return OutputReport(**report, max_abs=inf, mean_abs=inf, max_rel=inf, cosine=0.0, passed=False,
                                required_atol=inf, required_rtol=inf,
                                reason=f" (shape {list(cand.shape)} vs reference {list(ref.shape)})")
    r = ref.astype(np.float64)
    c = cand.astype(np.float64)
    bad_r, bad_c = ~np.isfinite(r), ~np.isfinite(c)
    # NaN vs NaN and +Inf vs +Inf agree; anything else non-finite is a mismatch
    same_bad = bad_r & bad_c & ((np.isnan(r) & np.isnan(c)) | (r == c))
    nan_mismatch = int(np.sum((bad_r | bad_c) & ~same_bad))
    both = ~(bad_r | bad_c)
    diff = np.abs(r[both] - c[both])
    rb = np.abs(r[both])
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = float(rb.max()) if rb.size else 0.0
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    required_atol = float(max((diff - rtol * rb).max(), 0.0)) if diff.size else 0.0
    over = diff - atol
    if diff.size and (over > 0).any():
        with np.errstate(divide="ignore", invalid="ignore"):
            req = np.where(over > 0, over / rb, 0.0)
        required_rtol = float(np.nanmax(req))
    else:
        required_rtol = 0.0
    rf, cf = r[both].ravel(), c[both].ravel()
    denom = float(np.linalg.norm(rf) * np.linalg.norm(cf))
    cosine = float(rf @ cf / denom) if denom > 0 else (1.0 if max_abs == 0 else 0.0)
    agreement = top_k = None
    if ref.ndim >= 2 and ref.shape[-1] > 1 and ref.dtype.kind == "f" and both.all():
        agreement = float(np.mean(np.argmax(r, -1) == np.argmax(c, -1)))
        k = min(TOP_K, ref.shape[-1] - 1)
        if k >= 2:
            tr = np.argsort(-r, axis=-1)[..., :k].reshape(-1, k)
            tc = np.argsort(-c, axis=-1)[..., :k].reshape(-1, k)
            top_k = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(tr, tc)]))
    if quantized:
        passed = nan_mismatch == 0 and cosine >= crit["min_cosine"] and (
            agreement is None or agreement >= crit["min_agreement"])
    else:
        passed = nan_mismatch == 0 and bool(np.all(diff <= atol + rtol * rb))
    reason = f" ({nan_mismatch} NaN/Inf mismatches)" if nan_mismatch else ""
    pct = {f"p{p:g}": float(np.percentile(diff, p)) for p in PERCENTILES} if diff.size else {}
    hist = None
    if diff.size:
        logd = np.clip(np.log10(diff + 1e-30), HIST_EDGES[0], HIST_EDGES[-1])
        counts, _ = np.histogram(logd, bins=HIST_EDGES)
        hist = {"log10_edges": HIST_EDGES, "counts": [int(x) for x in counts]}
    return OutputReport(**report, max_abs=max_abs, mean_abs=float(diff.mean()) if diff.size else 0.0,
                        max_rel=max_rel, cosine=cosine, passed=passed, argmax_agreement=agreement,
                        top_k_agreement=top_k, nan_mismatch=nan_mismatch, required_atol=required_atol,
                        required_rtol=required_rtol, p99_abs=pct.get("p99", 0.0), percentiles=pct,
                        reason=reason, histogram=hist)


# ---------------------------------------------------------------------------------------------- mapping

def _layout(candidate: Artifact, kind: str) -> dict[str, Any]:
    changes = candidate.record.tensors.layout.get(kind, {})
    return {name: change.to_dict() for name, change in changes.items()}


def _renamed(candidate: Artifact, kind: str) -> dict[str, str]:
    return candidate.record.tensors.renamed.get(kind, {})


def match_names(ref_names: list[str], cand_names: list[str], renamed: dict[str, str], kind: str,
                warnings: list[str], how: dict[str, dict[str, str]] | None = None) -> dict[str, str]:
    """reference name -> candidate name: by name, then rename metadata, then position (warned)."""
    mapping: dict[str, str] = {}
    how = how if how is not None else {}
    for n in ref_names:
        if n in renamed and renamed[n] in cand_names:
            mapping[n] = renamed[n]
            how[n] = {"to": renamed[n], "by": "metadata"}
        elif n in cand_names:
            mapping[n] = n
            how[n] = {"to": n, "by": "name"}
    free = [c for c in cand_names if c not in mapping.values()]
    left = [n for n in ref_names if n not in mapping]
    if left and len(ref_names) == len(cand_names):
        for n in left:
            i = ref_names.index(n)
            # the candidate at the same position, if still free; otherwise the next free one in order
            c = cand_names[i] if cand_names[i] in free else free[0]
            free.remove(c)
            mapping[n] = c
            how[n] = {"to": c, "by": "position"}
            warnings.append(f"{kind} '{n}' matched to '{c}' by position (names differ, no rename metadata)")
    elif left:
        raise BadInput(f"cannot match {kind} '{left[0]}' to any of {cand_names}",
                       hint="the models have different interfaces")
    return mapping


def _transpose(a: np.ndarray, perm: list[int] | None) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(a, perm)) if perm and a.ndim == len(perm) else a


@dataclass
class Case:
    label: str
    batch: int
    feeds: dict[str, np.ndarray]
    seed: int | None = None
    swept: bool = False  # a non-batch axis at a swept size (a reference failing there is only a warning)


@dataclass
class _Plan:
    in_map: dict[str, str]
    out_map: dict[str, str]
    in_layout: dict[str, Any]
    out_layout: dict[str, Any]
    cand_dtypes: dict[str, str]
    quantized: str | None


def plan_mapping(rsig: ModelSignature, csig: ModelSignature, candidate: Artifact,
                 result: ValidationResult) -> _Plan:
    """Match inputs/outputs and collect the layout changes to apply, recording how in `result`."""
    in_how: dict[str, dict[str, str]] = {}
    out_how: dict[str, dict[str, str]] = {}
    in_map = match_names([s.name for s in rsig.inputs], [s.name for s in csig.inputs],
                         _renamed(candidate, "inputs"), "input", result.warnings, in_how)
    out_map = match_names([s.name for s in rsig.outputs], [s.name for s in csig.outputs],
                          _renamed(candidate, "outputs"), "output", result.warnings, out_how)
    in_layout, out_layout = _layout(candidate, "inputs"), _layout(candidate, "outputs")
    for kind, lay, how in (("input", in_layout, in_how), ("output", out_layout, out_how)):
        for name, change in lay.items():
            if isinstance(change, dict) and change.get("perm") and name in how:
                how[name]["layout"] = f"{change.get('from', '?')}→{change.get('to', '?')} perm {change['perm']}"
                result.notes.append(f"{kind} '{name}': layout {change.get('from', '?')}→{change.get('to', '?')} "
                                    f"applied from the candidate's metadata (perm {change['perm']})")
    result.mapping = {"inputs": in_how, "outputs": out_how}
    quantized = candidate.record.quantized or None
    if quantized:
        result.criteria = f"quantized:{quantized}"
    return _Plan(in_map, out_map, in_layout, out_layout, {s.name: s.dtype for s in csig.inputs}, quantized)


def candidate_feeds(feeds: dict[str, np.ndarray], plan: _Plan,
                    notes: list[str] | None = None) -> dict[str, np.ndarray]:
    out = {}
    for k, v in feeds.items():
        cname = plan.in_map[k]
        v = _transpose(v, (plan.in_layout.get(k) or {}).get("perm"))
        want = plan.cand_dtypes.get(cname, "")
        if want and want != str(v.dtype) and np.dtype(v.dtype).kind in "iub" and want.startswith(("int", "uint")):
            if notes is not None and not any(n.startswith(f"input '{k}' cast") for n in notes):
                notes.append(f"input '{k}' cast {v.dtype}→{want} for the candidate")
            v = v.astype(want)
        out[cname] = v
    return out


def compare_case(result: ValidationResult, rsig: ModelSignature, plan: _Plan, opts: ValidateOptions,
                 case: Case, ref_out: dict[str, np.ndarray], cand_out: dict[str, np.ndarray]) -> None:
    for spec in rsig.outputs:
        cname = plan.out_map[spec.name]
        perm = (plan.out_layout.get(spec.name) or {}).get("perm")
        r = _transpose(np.asarray(ref_out[spec.name]), perm)
        c = np.asarray(cand_out[cname])
        narrowed = None if plan.quantized else narrowed_float(str(r.dtype), str(c.dtype))
        # a candidate that narrowed a float on its own is judged at the reference's tolerance, and fails
        dtype = str(r.dtype) if narrowed else _less_precise(str(r.dtype), str(c.dtype))
        atol, rtol = tolerance_for(spec.name, dtype, opts)
        quantized = plan.quantized if spec.name not in opts.per_output and r.dtype.kind == "f" else None
        rep = compare_arrays(spec.name, r, c, atol, rtol, case.batch, cname, case=case.label, quantized=quantized)
        if narrowed:
            rep.passed = False
            rep.reason += f" ({narrowed})"
        result.outputs.append(rep)


def narrowed_float(ref: str, cand: str) -> str | None:
    """Why a candidate's float output is a failure by its dtype alone: it is narrower than 32 bits and than
    the reference's (float32 → float16 / bfloat16) without the pair being judged as quantized."""
    if ref not in _PRECISION or cand not in _PRECISION or ref == cand:
        return None
    if _PRECISION.index(cand) > _PRECISION.index(ref) and cand in ("float16", "bfloat16"):
        return (f"the candidate returns {cand} where the reference returns {ref}: a conversion that was not asked "
                f"to quantize; if {cand} is intended, validate with --quantized fp16")
    return None


def _run_error(err: BaseException) -> str:
    """The telling part of a runtime's error: onnxruntime's status code prefix and C++ source location go."""
    import re

    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    text = re.sub(r"\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    text = re.sub(r"/onnxruntime_src/\S+:\d+ \S+?\([^)]*\) ", "", text)
    return text if len(text) <= 300 else text[:140] + " … " + text[-150:]


def failed_case(result: ValidationResult, rsig: ModelSignature, plan: _Plan, case: Case, side: str,
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
    cases = make_cases(rsig, opts, result, ranges)
    if not opts.inputs and reference is not None and reference.format is Format.HF and \
            all(s.batch_dynamic for s in rsig.inputs):
        cases += checkpoint_cases(reference, rsig, ranges, result)
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
        if r.dtype.kind != "f" or r.ndim == 0 or r.shape[0] < 2 or not np.isfinite(r).all():
            continue
        atol, _ = tolerance_for(spec.name, str(r.dtype), opts)
        spread = float(np.abs(r - r[:1]).max())
        result.output_spread[spec.name] = min(spread, result.output_spread.get(spec.name, spread))
        if spread <= atol and not any(f"output '{spec.name}' of the reference" in w for w in result.warnings):
            result.warnings.append(
                f"output '{spec.name}' of the reference hardly depends on its inputs (rows of different random "
                f"inputs differ by at most {spread:.2g} ≤ atol {atol:g}): this check cannot tell a wrong "
                "conversion from a right one — validate with real data (--inputs)")


def static_batch(sig: ModelSignature) -> int | None:
    """The batch every input is fixed to (first dims all the same int), else None."""
    firsts = {s.shape[0] for s in sig.inputs if s.shape}
    if len(firsts) == 1 and all(s.shape for s in sig.inputs):
        first = next(iter(firsts))
        return first if isinstance(first, int) and first > 0 else None
    return None


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


def case_ranges(reference: Artifact | None, candidate: Artifact, plan: _Plan,
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
                     result: ValidationResult) -> list[Case]:
    """A Hugging Face folder's own tokenizer / image processor make one more case of real inputs."""
    from .hf.samples import sample_feeds

    feeds, what = sample_feeds(reference.location, sig)
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
    seq_sizes = sweep_dims(sig, opts.input_shapes)
    variants: list[tuple[int | None, dict[str, int]]] = [(b, {}) for b in batches]
    for dim, sizes in seq_sizes.items():
        variants += [(batches[0], {dim: n}) for n in sizes]
    cases = []
    for i, (b, dims) in enumerate(variants):
        for k in range(max(1, opts.samples)):
            seed = opts.seed + 1000 * i + k
            feeds = make_inputs(sig, batch=b or 1, seed=seed, shapes=opts.input_shapes, ranges=ranges, dims=dims)
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
    from .runtimes.borrow import open_borrowing

    opts = opts or ValidateOptions()
    notes: list[str] = []  # a model declaring no inputs borrows the other's (a bare TorchScript file)
    with open_borrowing(reference, [candidate], notes=notes, **runner_options) as ref, \
            open_borrowing(candidate, [reference], {reference.location: ref}, notes=notes,
                           **runner_options) as cand:
        check_shapes(ref.signature, opts.input_shapes, reference.location)  # the user's model: exit 2 early
        result = validate_runners(ref, cand, candidate, opts, reference.location, candidate.location,
                                  reference=reference)
    result.notes[:0] = notes
    return result


# ------------------------------------------------------------------------------ task metric (accuracy)

def _predictions(out: np.ndarray) -> np.ndarray:
    out = np.asarray(out)
    flat = out.reshape(out.shape[0], -1) if out.ndim else out.reshape(1, 1)
    if flat.shape[1] > 1:
        return np.argmax(flat, axis=-1)
    return (flat[:, 0] > (0.5 if flat.min() >= 0 else 0.0)).astype(np.int64)  # one logit / probability


def accuracy(runner: Runner, data: str | Path | dict[str, np.ndarray], *, candidate: Artifact | None = None,
             reference_signature: ModelSignature | None = None, output: str | None = None,
             batch_size: int = 64) -> tuple[float, int]:
    """Top-1 accuracy of `runner` on labelled data (.npz with the inputs + a 'labels' array).

    `candidate` (with `reference_signature`) maps the data's input names and layouts to this runner the
    way validation does (e.g. NCHW data fed to an onnx2tf NHWC model). Returns (accuracy, samples)."""
    arrays = _load_labelled(data)
    labels = np.asarray(arrays.pop("labels")).reshape(-1)
    sig = runner.signature
    if candidate is not None and reference_signature is not None:
        scratch = ValidationResult("", "")
        plan = plan_mapping(reference_signature, sig, candidate, scratch)
        ref_inputs = [s.name for s in reference_signature.inputs]
        out_name = plan.out_map[output or reference_signature.outputs[0].name]
        out_perm = (plan.out_layout.get(output or reference_signature.outputs[0].name) or {}).get("perm")
    else:
        plan = None
        ref_inputs = [s.name for s in sig.inputs]
        out_name = output or sig.outputs[0].name
        out_perm = None
    if len(ref_inputs) == 1 and ref_inputs[0] not in arrays and len(arrays) == 1:
        arrays = {ref_inputs[0]: next(iter(arrays.values()))}
    missing = [n for n in ref_inputs if n not in arrays]
    if missing:
        raise BadInput(f"eval data has no array for input(s) {missing}", path=str(data),
                       hint="keys must be the model's input names plus 'labels'")
    n = len(labels)
    step = 1 if static_batch(sig) == 1 else batch_size
    correct = 0
    for i in range(0, n, step):
        feeds = {k: np.asarray(arrays[k][i:i + step]) for k in ref_inputs}
        if plan is not None:
            feeds = candidate_feeds(feeds, plan)
        out = runner.run(feeds)[out_name]
        if out_perm:  # candidate layout back to the reference's
            out = np.transpose(out, np.argsort(out_perm))
        correct += int(np.sum(_predictions(out) == labels[i:i + step]))
    return (correct / n if n else 0.0), n


def _load_labelled(data: str | Path | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if isinstance(data, dict):
        arrays = dict(data)
    else:
        p = Path(data)
        if not p.is_file():
            raise BadInput("eval data not found", path=p, hint="pass an .npz with the inputs and 'labels'")
        try:
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (ValueError, OSError) as e:
            raise BadInput(f"eval data does not load ({e})", path=p, hint="save it with numpy.savez") from e
    if "labels" not in arrays:
        raise BadInput("eval data has no 'labels' array", path=str(data) if not isinstance(data, dict) else None,
                       hint="save it with numpy.savez(path, <input>=x, labels=y)")
    return arrays


def accuracy_delta(ref: Runner, cand: Runner, candidate: Artifact, data: str | Path,
                   max_drop: float = 0.01) -> dict[str, Any]:
    """Accuracy of source and result on labelled data, and the change (result − source)."""
    ref_acc, n = accuracy(ref, data)
    cand_acc, _ = accuracy(cand, data, candidate=candidate, reference_signature=ref.signature)
    delta = cand_acc - ref_acc
    return {"data": str(data), "samples": n, "source_accuracy": ref_acc, "result_accuracy": cand_acc,
            "delta": delta, "max_drop": max_drop, "passed": delta >= -max_drop}
