"""Locate across formats: each side's intermediates (portkit.locate.probes, framework sides in their
worker), run on the same inputs as the failed validation's worst case, matched and compared in the graph
side's order (portkit.locate.align)."""
from __future__ import annotations

import contextlib
import time
from typing import Any

import numpy as np

from ..artifact import Artifact
from ..formats import Format
from ..options import ValidateOptions
from ..workers import WorkerPool

__all__ = ["GRAPH_PREFERENCE", "failing_case", "locate_across"]

# whose names the report uses: ONNX node names (what users file upstream), Keras layer names, then the rest
GRAPH_PREFERENCE = (Format.ONNX, Format.KERAS, Format.KERAS_H5, Format.KERAS_JSON, Format.PT2, Format.TORCHSCRIPT,
                    Format.TORCH, Format.TFLITE)
SUPPORTED = set(GRAPH_PREFERENCE)


def _rank(fmt: Format) -> int:
    return GRAPH_PREFERENCE.index(fmt) if fmt in GRAPH_PREFERENCE else len(GRAPH_PREFERENCE)


def failing_case(reference: Artifact, candidate: Artifact, opts: ValidateOptions, result: Any,
                 pool: WorkerPool) -> tuple[Any, dict[str, dict[str, np.ndarray]], Any, list[str]]:
    """The validation case to search (where the outputs disagreed most, else the first) and its inputs for
    each side (the candidate's with the layout map applied): (case, {side: feeds}, plan, notes)."""
    from ..runtimes.borrow import open_borrowing
    from ..validation import ValidationResult, candidate_feeds, case_ranges, make_cases, plan_mapping

    notes: list[str] = []
    with open_borrowing(reference, [candidate], pool=pool, notes=notes) as ref, \
            open_borrowing(candidate, [reference], {reference.location: ref}, pool=pool, notes=notes) as cand:
        rsig, csig = ref.signature, cand.signature
    scratch = ValidationResult(reference.location, candidate.location)
    plan = plan_mapping(rsig, csig, candidate, scratch)
    cases = make_cases(rsig, opts, scratch, case_ranges(reference, candidate, plan, scratch))
    case = cases[0]
    if result is not None and result.worst() is not None:  # where the outputs disagreed most
        case = next((c for c in cases if c.label == result.worst().case), case)
    return case, {"reference": case.feeds, "candidate": candidate_feeds(case.feeds, plan)}, plan, notes


def locate_across(reference: Artifact, candidate: Artifact, opts: ValidateOptions, result: Any = None,
                  pool: WorkerPool | None = None) -> dict[str, Any]:
    from ..validation import tolerance_for
    from .align import align
    from .probes import probe

    t0 = time.perf_counter()
    for art in (reference, candidate):
        if art.format not in SUPPORTED:
            return {"supported": False, "first_divergence": None,
                    "reason": f"locate cannot read the intermediate tensors of {art.format.value} "
                              f"({art.location}); convert it to ONNX and compare that"}
    for art in (reference, candidate):
        if art.path.exists():
            art.read_sidecar_metadata()  # the layout map portkit recorded when it wrote the file
    with contextlib.nullcontext(pool) if pool is not None else WorkerPool() as pool:
        case, feeds, plan, notes = failing_case(reference, candidate, opts, result, pool)
        probes: dict[str, list[dict[str, Any]]] = {}
        for side, art in (("reference", reference), ("candidate", candidate)):
            if art.format is Format.ONNX:
                probes[side] = probe(art, feeds[side])
            else:
                family = art.format.info.family or "torch"
                probes[side] = pool.get(family).call_as(f"locate: {side} intermediates", "portkit.locate.probes",
                                                        "probe", art, feeds[side])
    graph_side = "reference" if _rank(reference.format) <= _rank(candidate.format) else "candidate"
    other_side = "candidate" if graph_side == "reference" else "reference"
    atol, rtol = tolerance_for("", "float32", opts)
    rep = align(probes[graph_side], probes[other_side], atol, rtol, plan.quantized,
                graph_is_reference=graph_side == "reference")
    rep.update({"supported": True, "case": case.label, "method": "cross-format",
                "graph_side": graph_side, "formats": [reference.format.value, candidate.format.value],
                "seconds": round(time.perf_counter() - t0, 3)})
    if notes:
        rep["notes"] = notes
    if rep["first_divergence"] is None:
        rep["reason"] = ("no intermediate tensor with a counterpart diverges: the difference comes from tensors "
                         "only one model has, or from the outputs' mapping" if rep["compared"] else
                         "no intermediate tensor of one model has a counterpart in the other")
    for t in rep["tensors"]:  # JSON-friendly numbers
        for k in ("max_abs", "max_rel", "scale"):
            if k in t and t[k] is not None:
                t[k] = float(np.float64(t[k]))
    return rep
