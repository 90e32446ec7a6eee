"""Locate between two ONNX models whose tensors share names: the first node whose output diverges.

Both models get every node output added as a graph output and run in onnxruntime on the same inputs; the
intermediate tensors present in both (matched by name) are compared in the reference's topological order.
Memory stays bounded: tensors are fetched `chunk` at a time (onnxruntime computes only what a fetch
needs), compared, and dropped before the next chunk; the search stops at the first divergence.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..artifact import Artifact
from ..options import ValidateOptions

__all__ = ["DEFAULT_CHUNK", "locate_onnx_pair", "session"]

DEFAULT_CHUNK = 32  # intermediate tensors held per side at once


def _expose_all(model: Any, workdir: Path, tag: str) -> tuple[str, list[tuple[str, str, str]]]:
    """Save a copy of `model` with every node output as a graph output; return (path, [(node, op, out)])."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - shape inference is a nicety; untyped outputs work too
        inferred = model
    vi = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    present = {o.name for o in model.graph.output}
    order: list[tuple[str, str, str]] = []
    for i, node in enumerate(model.graph.node):
        for out in node.output:
            if not out:
                continue
            order.append((node.name or f"{node.op_type}_{i}", node.op_type, out))
            if out not in present:
                model.graph.output.append(vi[out] if out in vi else onnx.helper.make_empty_tensor_value_info(out))
                present.add(out)
    path = workdir / f"{tag}.onnx"
    large = model.ByteSize() > 1_800_000_000
    onnx.save(model, str(path), save_as_external_data=large, location=f"{tag}.data" if large else None)
    return str(path), order


def session(path: str) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    # no fusions: every exposed tensor is computed the way the graph says
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])


def _initializer_diffs(ref_model: Any, cand_model: Any, names: list[str]) -> list[dict[str, Any]]:
    from onnx import numpy_helper

    ri = {t.name: t for t in ref_model.graph.initializer}
    ci = {t.name: t for t in cand_model.graph.initializer}
    out = []
    for n in names:
        if n in ri and n in ci:
            a, b = numpy_helper.to_array(ri[n]), numpy_helper.to_array(ci[n])
            if a.shape != b.shape or not np.array_equal(a, b):
                d = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.shape == b.shape \
                    else float("inf")
                out.append({"initializer": n, "max_abs": d})
    return out


def locate_onnx_pair(reference: Artifact, candidate: Artifact, opts: ValidateOptions | None = None,
                     result: Any = None, *, chunk: int = DEFAULT_CHUNK) -> dict[str, Any]:
    """Compare the intermediate tensors of two ONNX models node by node; report the first divergence."""
    from .. import onnxutil
    from ..validation import (
        ValidationResult,
        candidate_feeds,
        case_ranges,
        compare_arrays,
        make_cases,
        plan_mapping,
        tolerance_for,
    )

    opts = opts or ValidateOptions()
    ref_model = onnxutil.load(reference.location, external=True)
    cand_model = onnxutil.load(candidate.location, external=True)
    rsig, csig = onnxutil.signature(ref_model), onnxutil.signature(cand_model)
    scratch = ValidationResult(reference.location, candidate.location)
    plan = plan_mapping(rsig, csig, candidate, scratch)
    cases = make_cases(rsig, opts, scratch, case_ranges(reference, candidate, plan, scratch))
    case = cases[0]
    if result is not None and result.worst() is not None:  # the case where the outputs disagreed most
        case = next((c for c in cases if c.label == result.worst().case), case)
    quantized = plan.quantized
    with tempfile.TemporaryDirectory(prefix="portkit-locate-") as tmp:
        ref_path, order = _expose_all(ref_model, Path(tmp), "reference")
        cand_path, cand_order = _expose_all(cand_model, Path(tmp), "candidate")
        cand_tensors = {out for _, _, out in cand_order}
        common = [t for t in order if t[2] in cand_tensors]
        report: dict[str, Any] = {"supported": True, "case": case.label, "nodes": len(ref_model.graph.node),
                                  "compared": 0, "unmatched": len(order) - len(common),
                                  "first_divergence": None, "last_match": None, "chunk": chunk,
                                  "method": "onnx names"}
        if not common:
            report["reason"] = "the models share no intermediate tensor names; nothing to compare node by node"
            return report
        rs, cs = session(ref_path), session(cand_path)
        feeds = case.feeds
        cfeeds = candidate_feeds(feeds, plan)
        nodes = {(n.name or f"{n.op_type}_{i}"): n for i, n in enumerate(ref_model.graph.node)}
        for start in range(0, len(common), chunk):
            part = common[start:start + chunk]
            names = [out for _, _, out in part]
            r_vals = dict(zip(names, rs.run(names, feeds)))
            c_vals = dict(zip(names, cs.run(names, cfeeds)))
            for node_name, op, out in part:
                r, c = np.asarray(r_vals.pop(out)), np.asarray(c_vals.pop(out))
                atol, rtol = tolerance_for(out, str(r.dtype), opts)
                rep = compare_arrays(out, r, c, atol, rtol, case.batch, case=case.label,
                                     quantized=quantized if r.dtype.kind == "f" else None)
                report["compared"] += 1
                if rep.passed:
                    report["last_match"] = {"node": node_name, "op_type": op, "output": out}
                    continue
                node = nodes.get(node_name)
                inputs = [i for i in (node.input if node is not None else []) if i]
                report["first_divergence"] = {
                    "node": node_name, "op_type": op, "output": out, "index": start + part.index((node_name, op,
                                                                                                   out)),
                    "max_abs": rep.max_abs, "mean_abs": rep.mean_abs, "cosine": rep.cosine,
                    "required_atol": rep.required_atol, "atol": atol, "rtol": rtol, "inputs": inputs,
                    "differing_initializers": _initializer_diffs(ref_model, cand_model, inputs),
                    "reason": rep.reason.strip(" ()"),
                }
                return report
            del r_vals, c_vals
        report["reason"] = ("every shared intermediate tensor matches; the difference comes from tensors "
                            "only one model has, or from the final outputs' mapping")
        return report
