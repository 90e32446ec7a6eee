"""`--reduce DIR`: the smallest ONNX subgraph around the first divergence that still shows it, its input
tensors as .npz, and a one-line command that exits 1 on it — something to file upstream or work around.

The subgraph is cut from the reference ONNX (onnx.utils.Extractor) with the diverging node's activation
inputs as graph inputs and its outputs as outputs: first the node alone, then the nodes since the last
matching tensor. Its inputs are the values the reference computed there on the failing case. What shows
the divergence depends on the candidate:
- an ONNX candidate with the same tensor names: the same cut from it; the repro is `portkit validate`.
- a converted candidate (TFLite, TorchScript, Keras...): the subgraph converted again by the tool that
  produced the candidate (its sidecar's `producer`); the repro is that `portkit convert`, which validates.
  When the subgraph converts correctly, the divergence is not that tool's on this op alone (the artifact
  was changed after conversion, or the op needs its context): the report says so (`reproduces: false`).
"""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import numpy as np

from ..artifact import Artifact
from ..errors import ConversionFailed, PortkitError, ValidationFailed
from ..formats import Format
from ..options import ValidateOptions
from ..workers import WorkerPool

__all__ = ["reduce_divergence"]


def _node_index(model: Any, output: str) -> int | None:
    return next((i for i, n in enumerate(model.graph.node) if output in n.output), None)


def _activation_inputs(model: Any, nodes: list[Any]) -> list[str]:
    """Tensors the nodes read that neither they, a weight nor a constant computation produce."""
    const = {t.name for t in model.graph.initializer}
    for n in model.graph.node:  # constants and what is computed from them only (graph order)
        ins = [x for x in n.input if x]
        if n.op_type == "Constant" or (ins and all(x in const for x in ins)):
            const.update(o for o in n.output if o)
    made = {o for n in nodes for o in n.output}
    seen: list[str] = []
    for n in nodes:
        for x in n.input:
            if x and x not in const and x not in made and x not in seen:
                seen.append(x)
    return seen


def _cut(model: Any, inputs: list[str], outputs: list[str], path: Path) -> Any:
    import onnx
    from onnx.utils import Extractor

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - shapes are a nicety; the cut works on the plain graph too
        inferred = model
    sub = Extractor(inferred).extract_model(inputs, outputs)
    onnx.save(sub, str(path))
    return sub


def reduce_divergence(reference: Artifact, candidate: Artifact, loc: dict[str, Any], out_dir: str | Path,
                      opts: ValidateOptions, result: Any = None, pool: WorkerPool | None = None) -> dict[str, Any]:
    """Write the reduced repro of `loc`'s first divergence under `out_dir`; return what was written."""
    from .. import onnxutil
    from .cross import failing_case
    from .probes import onnx_probes

    first = (loc or {}).get("first_divergence")
    if not first:
        return {"written": False, "reason": "nothing diverged: no subgraph to cut"}
    if reference.format is not Format.ONNX or (loc.get("graph_side") not in (None, "reference")):
        return {"written": False, "reason": "--reduce cuts the reference's ONNX graph: compare against an ONNX "
                                            "reference (portkit convert REF --to onnx) to reduce"}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = onnxutil.load(reference.location, external=True)
    idx = _node_index(model, first["output"])
    if idx is None:
        return {"written": False, "reason": f"tensor '{first['output']}' is not in {reference.location}"}
    last = (loc.get("last_match") or {}).get("output")
    last_idx = _node_index(model, last) if last else None
    spans = [[idx]]
    if last_idx is not None and last_idx < idx - 1:
        spans.append(list(range(last_idx + 1, idx + 1)))
    with WorkerPool() if pool is None else _Keep(pool) as pool:
        _, feeds, _, _ = failing_case(reference, candidate, opts, result, pool)
        values = {p["name"]: p["array"] for p in onnx_probes(reference.location, feeds["reference"])}
        values.update(feeds["reference"])
        report: dict[str, Any] = {}
        for span in spans:
            nodes = [model.graph.node[i] for i in span]
            ins = _activation_inputs(model, nodes)
            outs = [o for o in model.graph.node[idx].output if o]
            sub_path = out / "subgraph.onnx"
            sub = _cut(model, ins, outs, sub_path)
            npz = out / "inputs.npz"
            np.savez(npz, **{i: values[i] for i in ins})
            report = {"written": True, "dir": str(out), "subgraph": str(sub_path), "inputs": str(npz),
                      "nodes": len(sub.graph.node), "original_nodes": len(model.graph.node),
                      "bytes": sub_path.stat().st_size, "original_bytes": Path(reference.location).stat().st_size}
            report.update(_reproduce(candidate, model, sub_path, npz, ins, outs, out))
            if report.get("reproduces"):
                break
    (out / "repro.sh").write_text(f"#!/bin/sh\n# {report.get('reason', '')}\n{report['command']}\n")
    return report


class _Keep:
    """A context manager that lends an existing pool without closing it."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool

    def __enter__(self) -> WorkerPool:
        return self.pool

    def __exit__(self, *exc: object) -> None:
        return None


def _reproduce(candidate: Artifact, model: Any, sub_path: Path, npz: Path, ins: list[str], outs: list[str],
               out: Path) -> dict[str, Any]:
    from .. import onnxutil
    from ..conversion import convert, source_artifact
    from ..options import ConvertOptions
    from ..validation import validate

    q = shlex.quote
    if candidate.format is Format.ONNX:
        cmodel = onnxutil.load(candidate.location, external=True)
        names = {x for n in cmodel.graph.node for x in list(n.input) + list(n.output)}
        if not all(x in names for x in ins + outs):
            return {"reproduces": False, "command": "",
                    "reason": "the candidate ONNX names its tensors differently: no matching cut from it"}
        cand_path = out / "candidate_subgraph.onnx"
        _cut(cmodel, ins, outs, cand_path)
        cmd = f"portkit validate {q(str(sub_path))} {q(str(cand_path))} --inputs {q(str(npz))}"
        try:
            vopts = ValidateOptions(inputs=str(npz), batches=(1,))
            res = validate(source_artifact(str(sub_path), ConvertOptions()),
                           source_artifact(str(cand_path), ConvertOptions()), vopts)
        except PortkitError as e:
            return {"reproduces": False, "command": cmd, "reason": f"the cut does not validate: {e}"}
        return {"reproduces": not res.passed, "command": cmd,
                "reason": "the two cuts disagree on the same inputs" if not res.passed else
                          "the two cuts agree: the divergence needs more of the graph"}
    producer = candidate.record.producer
    target = out / f"subgraph{candidate.format.info.suffix or '_' + candidate.format.value}"
    tool = f" --tool {q(str(producer))}" if producer else ""
    cmd = (f"portkit convert {q(str(sub_path))} --to {candidate.format.value}{tool} --inputs {q(str(npz))} "
           f"-o {q(str(target))}")
    try:
        convert(str(sub_path), candidate.format, target, ConvertOptions(tool=producer),
                validate_opts=ValidateOptions(inputs=str(npz)))
    except ValidationFailed:
        return {"reproduces": True, "command": cmd, "reason": f"{producer or 'the converter'} gets this subgraph "
                                                              f"wrong on its own"}
    except ConversionFailed as e:
        return {"reproduces": True, "command": cmd, "exit_code": 3,
                "reason": f"converting the subgraph alone fails: {str(e).splitlines()[0][:200]}"}
    except PortkitError as e:
        return {"reproduces": False, "command": cmd, "reason": f"the subgraph does not convert: {e}"}
    return {"reproduces": False, "command": cmd,
            "reason": f"{producer or 'the converter'} converts this subgraph correctly: the candidate was changed "
                      f"after conversion, or the divergence needs more context"}
