"""Array comparison: per-dtype tolerances, every metric of one output pair, and the dtype rule (a float
output the candidate narrowed on its own is a failure)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..options import ValidateOptions
from .result import OutputReport

__all__ = ["DEFAULT_TOLERANCES", "QUANTIZED_CRITERIA", "compare_arrays", "less_precise", "narrowed_float",
           "tolerance_for"]

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
    "int4": (0.95, 0.8),  # 4-bit weights (causal LMs only: portkit.generative.quantize)
}
PERCENTILES = (50, 90, 95, 99, 99.9)
HIST_EDGES = [float(x) for x in np.arange(-10.0, 4.01, 0.5)]  # log10 |diff|, fixed so cases can be merged
TOP_K = 5


def less_precise(a: str, b: str) -> str:
    ranks = [_PRECISION.index(d) for d in (a, b) if d in _PRECISION]
    return _PRECISION[max(ranks)] if ranks else a


def narrowed_float(ref: str, cand: str) -> str | None:
    """Why a candidate's float output is a failure by its dtype alone: it is narrower than 32 bits and than
    the reference's (float32 → float16 / bfloat16) without the pair being judged as quantized."""
    if ref not in _PRECISION or cand not in _PRECISION or ref == cand:
        return None
    if _PRECISION.index(cand) > _PRECISION.index(ref) and cand in ("float16", "bfloat16"):
        return (f"the candidate returns {cand} where the reference returns {ref}: a conversion that was not asked "
                f"to quantize; if {cand} is intended, validate with --quantized fp16")
    return None


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
