"""Name and layout matching: which candidate input/output is which reference one (by name, the rename
metadata converters record, then position with a warning), the layout permutations to apply, and the
validation cases' type."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..artifact import Artifact
from ..errors import BadInput
from ..signature import ModelSignature
from .result import ValidationResult

__all__ = ["Case", "Plan", "candidate_feeds", "fixed_by_candidate", "match_names", "plan_mapping", "static_batch",
           "transpose"]


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


def transpose(a: np.ndarray, perm: list[int] | None) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(a, perm)) if perm and a.ndim == len(perm) else a


@dataclass
class Case:
    label: str
    batch: int
    feeds: dict[str, np.ndarray]
    seed: int | None = None
    swept: bool = False  # a non-batch axis at a swept size (a reference failing there is only a warning)


@dataclass
class Plan:
    in_map: dict[str, str]
    out_map: dict[str, str]
    in_layout: dict[str, Any]
    out_layout: dict[str, Any]
    cand_dtypes: dict[str, str]
    quantized: str | None


def plan_mapping(rsig: ModelSignature, csig: ModelSignature, candidate: Artifact,
                 result: ValidationResult) -> Plan:
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
    return Plan(in_map, out_map, in_layout, out_layout, {s.name: s.dtype for s in csig.inputs}, quantized)


def fixed_by_candidate(rsig: ModelSignature, csig: ModelSignature, plan: Plan, candidate: Artifact,
                       shapes: dict[str, tuple[Any, ...]], result: ValidationResult) -> dict[str, tuple[Any, ...]]:
    """`shapes` plus, for a candidate exported at fixed shapes on purpose (--static, or portkit's fixed-shape
    litert-torch fallback: its record says "none (static)"), the sizes it fixed where the reference's axes are
    dynamic (a checkpoint's sequence): those are validated at the candidate's size instead of swept. Any
    other candidate that lost a dynamic axis still meets the sweep, which is what catches the loss. The batch
    axis stays symbolic (a fixed batch is handled by the batch sweep itself)."""
    if not (candidate.record.dynamic is False or str(candidate.record.dynamic_axes or "").startswith("none")):
        return shapes
    out = dict(shapes)
    cands = {s.name: s for s in csig.inputs}
    for i, spec in enumerate(rsig.inputs):
        c = cands.get(plan.in_map.get(spec.name, spec.name))
        if spec.name in out or (i == 0 and "" in out) or c is None or len(c.shape) != len(spec.shape):
            continue
        perm = (plan.in_layout.get(spec.name) or {}).get("perm") or list(range(len(spec.shape)))
        dims = list(spec.shape)
        for j, d in enumerate(c.shape):
            axis = perm[j]
            if axis and not isinstance(dims[axis], int) and isinstance(d, int) and d > 0:
                dims[axis] = d
        if dims != list(spec.shape):
            out[spec.name] = tuple(dims)
            result.notes.append(f"input '{spec.name}': validated at the candidate's fixed shape {tuple(dims)} "
                                "(exported at fixed shapes)")
    return out


def candidate_feeds(feeds: dict[str, np.ndarray], plan: Plan,
                    notes: list[str] | None = None) -> dict[str, np.ndarray]:
    out = {}
    for k, v in feeds.items():
        cname = plan.in_map[k]
        v = transpose(v, (plan.in_layout.get(k) or {}).get("perm"))
        want = plan.cand_dtypes.get(cname, "")
        if want and want != str(v.dtype) and np.dtype(v.dtype).kind in "iub" and want.startswith(("int", "uint")):
            if notes is not None and not any(n.startswith(f"input '{k}' cast") for n in notes):
                notes.append(f"input '{k}' cast {v.dtype}→{want} for the candidate")
            v = v.astype(want)
        out[cname] = v
    return out


def static_batch(sig: ModelSignature) -> int | None:
    """The batch every input is fixed to (first dims all the same int), else None."""
    firsts = {s.shape[0] for s in sig.inputs if s.shape}
    if len(firsts) == 1 and all(s.shape for s in sig.inputs):
        first = next(iter(firsts))
        return first if isinstance(first, int) and first > 0 else None
    return None
