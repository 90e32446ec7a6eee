"""Offline ONNX graph optimisation: onnxslim (when installed), then onnxruntime's basic-level optimiser.

Basic level only (constant folding, redundant node elimination, semantics-preserving fusions that every
execution provider supports), so the result stays portable: extended/layout levels would write
CPU-specific fused ops (e.g. NCHWc) that mobile, web or GPU runtimes cannot load.
"""
from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import Any

from ..errors import converting, require

__all__ = ["optimize"]


def optimize(src: str | Path, out: str | Path) -> dict[str, Any]:
    import onnx

    steps: list[str] = []
    before = len(onnx.load(str(src), load_external_data=False).graph.node)
    with tempfile.TemporaryDirectory(prefix="portkit-opt-") as tmp:
        current = Path(src)
        if importlib.util.find_spec("onnxslim") is not None:
            slim = Path(tmp) / "slim.onnx"
            with converting("onnxslim"):
                import onnxslim

                model = onnxslim.slim(str(current))
                onnx.save(model, str(slim))
            current = slim
            steps.append("onnxslim")
        ort = require("onnxruntime", "ONNX graph optimisation")
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.optimized_model_filepath = str(Path(tmp) / "ort.onnx")
        so.log_severity_level = 3
        with converting("onnxruntime offline optimisation (basic level)"):
            ort.InferenceSession(str(current), sess_options=so, providers=["CPUExecutionProvider"])
        steps.append("onnxruntime basic")
        model = onnx.load(so.optimized_model_filepath)
        _drop_unused_domains(model)
        onnx.save(model, str(out))
    after = len(model.graph.node)
    return {"optimized": {"steps": steps, "nodes_before": before, "nodes_after": after}}


def _drop_unused_domains(model: Any) -> None:
    """onnxruntime writes an opset import for every domain it knows; keep those the graph uses."""
    used = {n.domain or "" for n in model.graph.node} | {""}
    keep = [o for o in model.opset_import if (o.domain or "") in used]
    del model.opset_import[:]
    model.opset_import.extend(keep)
