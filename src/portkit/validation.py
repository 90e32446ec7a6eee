"""Compare two models on the same inputs: per-output metrics, dtype-aware tolerances, honest mapping.

The comparison itself is numpy only and runs in the parent; each side runs in its own runtime (framework
runtimes in worker processes). Inputs and outputs are matched by name, then by the layout/renaming
metadata converters record, then by position with a warning — never silently.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from .artifact import Artifact
from .errors import BadInput
from .inputs import load_inputs, make_inputs
from .options import ValidateOptions
from .runtimes import Runner, open_runner
from .signature import ModelSignature

__all__ = ["OutputReport", "ValidationResult", "compare_arrays", "validate", "validate_runners",
           "DEFAULT_TOLERANCES"]

# (atol, rtol): an element passes when |cand - ref| <= atol + rtol * |ref|
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-6, 1e-6),
    "float32": (1e-4, 1e-4),
    "float16": (1e-2, 1e-2),
    "bfloat16": (5e-2, 5e-2),
}
_EXACT = (0.0, 0.0)  # ints and bools must match exactly


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
    argmax_agreement: float | None = None  # classifier-like outputs (last dim > 1)
    nan_mismatch: int = 0
    required_atol: float = 0.0  # the smallest atol that would pass at this rtol
    p99_abs: float = 0.0
    reason: str = ""
    histogram: dict[str, list[float]] | None = None  # |diff| histogram for reports


@dataclass
class ValidationResult:
    reference: str
    candidate: str
    outputs: list[OutputReport] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)
    seed: int = 0
    warnings: list[str] = field(default_factory=list)
    input_source: str = "random"

    @property
    def passed(self) -> bool:
        return bool(self.outputs) and all(o.passed for o in self.outputs)

    def __bool__(self) -> bool:
        return self.passed

    def worst(self) -> OutputReport | None:
        failing = [o for o in self.outputs if not o.passed] or self.outputs
        return max(failing, key=lambda o: o.max_abs / max(o.atol + 1e-30, 1e-30), default=None)

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
            return f"equivalent: max abs {self.max_abs:.3g}, max rel {self.max_rel:.3g} " \
                   f"over {len(self.outputs)} comparisons (batches {self.batches})"
        return (f"output '{w.name}' differs at batch {w.batch}: max abs {w.max_abs:.3g} "
                f"(atol {w.atol:g}, rtol {w.rtol:g}; needs atol ≥ {w.required_atol:.3g}){w.reason}")

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "candidate": self.candidate, "passed": self.passed,
                "max_abs": self.max_abs, "max_rel": self.max_rel, "batches": self.batches,
                "seed": self.seed, "input_source": self.input_source, "warnings": self.warnings,
                "summary": self.summary(), "outputs": [asdict(o) for o in self.outputs]}


def tolerance_for(name: str, dtype: str, opts: ValidateOptions) -> tuple[float, float]:
    if name in opts.per_output:
        return opts.per_output[name]
    base = DEFAULT_TOLERANCES.get(dtype, _EXACT if dtype.startswith(("int", "uint", "bool")) else
                                  DEFAULT_TOLERANCES["float32"])
    return (opts.atol if opts.atol is not None else base[0], opts.rtol if opts.rtol is not None else base[1])


def compare_arrays(name: str, ref: np.ndarray, cand: np.ndarray, atol: float, rtol: float, batch: int = 1,
                   candidate_name: str | None = None) -> OutputReport:
    ref = np.asarray(ref)
    cand = np.asarray(cand)
    report = dict(name=name, candidate_name=candidate_name or name, batch=batch, shape=list(ref.shape),
                  dtype=str(ref.dtype), atol=atol, rtol=rtol)
    if ref.shape != cand.shape:
        if ref.size == cand.size and ref.squeeze().shape == cand.squeeze().shape:
            cand = cand.reshape(ref.shape)  # e.g. (N,) vs (N,1): same data, reported as equal shapes
        else:
            return OutputReport(**report, max_abs=float("inf"), mean_abs=float("inf"), max_rel=float("inf"),
                                cosine=0.0, passed=False, required_atol=float("inf"),
                                reason=f" (shape {list(cand.shape)} vs reference {list(ref.shape)})")
    r = ref.astype(np.float64)
    c = cand.astype(np.float64)
    nan_r, nan_c = ~np.isfinite(r), ~np.isfinite(c)
    nan_mismatch = int(np.sum(nan_r != nan_c))
    both = ~(nan_r | nan_c)
    diff = np.abs(r - c)[both] if both.any() else np.zeros(1)
    rb = np.abs(r[both]) if both.any() else np.zeros(1)
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = float(rb.max()) if rb.size else 0.0
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    excess = diff - rtol * rb
    required = float(max(excess.max(), 0.0)) if excess.size else 0.0
    rf, cf = r[both].ravel(), c[both].ravel()
    denom = np.linalg.norm(rf) * np.linalg.norm(cf)
    cosine = float(rf @ cf / denom) if denom > 0 else (1.0 if max_abs == 0 else 0.0)
    agreement = None
    if ref.ndim >= 2 and ref.shape[-1] > 1 and ref.dtype.kind == "f":
        agreement = float(np.mean(np.argmax(r, -1) == np.argmax(c, -1)))
    passed = nan_mismatch == 0 and bool(np.all(diff <= atol + rtol * rb))
    reason = "" if passed or not nan_mismatch else f" ({nan_mismatch} NaN/Inf mismatches)"
    hist = np.histogram(np.log10(diff + 1e-12), bins=20) if diff.size else None
    return OutputReport(**report, max_abs=max_abs, mean_abs=float(diff.mean()) if diff.size else 0.0,
                        max_rel=max_rel, cosine=cosine, passed=passed, argmax_agreement=agreement,
                        nan_mismatch=nan_mismatch, required_atol=required,
                        p99_abs=float(np.percentile(diff, 99)) if diff.size else 0.0, reason=reason,
                        histogram={"log10_edges": hist[1].tolist(), "counts": hist[0].tolist()}
                        if hist else None)


def _layout(candidate: Artifact, kind: str) -> dict[str, Any]:
    return (candidate.metadata.get("layout") or {}).get(kind) or {}


def _renamed(candidate: Artifact, kind: str) -> dict[str, str]:
    return (candidate.metadata.get("renamed") or {}).get(kind) or {}


def match_names(ref_names: list[str], cand_names: list[str], renamed: dict[str, str], kind: str,
                warnings: list[str]) -> dict[str, str]:
    """reference name -> candidate name: by metadata rename, then exact name, then position (warned)."""
    mapping: dict[str, str] = {}
    for i, n in enumerate(ref_names):
        if n in renamed and renamed[n] in cand_names:
            mapping[n] = renamed[n]
        elif n in cand_names:
            mapping[n] = n
        elif len(ref_names) == len(cand_names):
            mapping[n] = cand_names[i]
            warnings.append(f"{kind} '{n}' matched to '{cand_names[i]}' by position (names differ)")
        else:
            raise BadInput(f"cannot match {kind} '{n}' to any of {cand_names}",
                           hint="the models have different interfaces")
    return mapping


def _transpose(a: np.ndarray, perm: list[int] | None) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(a, perm)) if perm and a.ndim == len(perm) else a


def validate_runners(ref: Runner, cand: Runner, candidate: Artifact, opts: ValidateOptions,
                     ref_label: str = "reference", cand_label: str = "candidate",
                     on_batch: Callable[[int], None] | None = None) -> ValidationResult:
    """Run both runners on the same inputs for each batch size and compare every output."""
    result = ValidationResult(ref_label, cand_label, seed=opts.seed)
    rsig, csig = ref.signature, cand.signature
    in_map = match_names([s.name for s in rsig.inputs], [s.name for s in csig.inputs],
                         _renamed(candidate, "inputs"), "input", result.warnings)
    out_map = match_names([s.name for s in rsig.outputs], [s.name for s in csig.outputs],
                          _renamed(candidate, "outputs"), "output", result.warnings)
    in_layout, out_layout = _layout(candidate, "inputs"), _layout(candidate, "outputs")
    feed_sets = _feed_sets(rsig, opts, result)
    for batch, feeds in feed_sets:
        if on_batch:
            on_batch(batch)
        ref_out = ref.run(feeds)
        cand_feeds = {in_map[k]: _transpose(v, (in_layout.get(k) or {}).get("perm")) for k, v in feeds.items()}
        cand_out = cand.run(cand_feeds)
        for spec in rsig.outputs:
            cname = out_map[spec.name]
            perm = (out_layout.get(spec.name) or {}).get("perm")
            r = _transpose(ref_out[spec.name], perm)
            atol, rtol = tolerance_for(spec.name, str(np.asarray(ref_out[spec.name]).dtype), opts)
            result.outputs.append(compare_arrays(spec.name, r, cand_out[cname], atol, rtol, batch, cname))
        if batch not in result.batches:
            result.batches.append(batch)
    return result


def _feed_sets(sig: ModelSignature, opts: ValidateOptions,
               result: ValidationResult) -> list[tuple[int, dict[str, np.ndarray]]]:
    if opts.inputs:
        sets = load_inputs(opts.inputs)
        result.input_source = str(opts.inputs)
        names = {s.name for s in sig.inputs}
        for s in sets:
            missing = names - set(s)
            if missing:
                raise BadInput(f"input data has no array for input(s) {sorted(missing)}", path=opts.inputs,
                               hint=f"keys must be the model's input names: {sorted(names)}")
        return [(int(next(iter(s.values())).shape[0]) if s else 1, {k: s[k] for k in names}) for s in sets]
    dynamic = any(s.batch_dynamic for s in sig.inputs)
    batches = opts.batches or ((1, 2) if dynamic else (None,))
    out = []
    for i, b in enumerate(batches):
        for k in range(max(1, opts.samples)):
            feeds = make_inputs(sig, batch=b or 1, seed=opts.seed + 1000 * i + k, shapes=opts.input_shapes)
            actual = b if b else (int(next(iter(feeds.values())).shape[0]) if feeds else 1)
            out.append((actual, feeds))
    return out


def validate(reference: Artifact, candidate: Artifact, opts: ValidateOptions | None = None,
             **runner_options: Any) -> ValidationResult:
    """Load both models (framework runtimes in workers), compare them, close them."""
    opts = opts or ValidateOptions()
    with open_runner(reference, **runner_options) as ref, open_runner(candidate, **runner_options) as cand:
        return validate_runners(ref, cand, candidate, opts, reference.location, candidate.location)
