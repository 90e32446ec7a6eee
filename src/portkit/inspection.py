"""`portkit inspect`: format, inputs/outputs, size, opset/producer. ONNX is read with `onnx` alone;
other formats load in their runtime's worker, so inspecting never imports a framework into the caller."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .artifact import Artifact, HopRecord
from .formats import Format, sniff
from .signature import ModelSignature

__all__ = ["ModelInfo", "inspect_model"]


@dataclass
class ModelInfo:
    path: str
    format: Format
    signature: ModelSignature
    size_bytes: int
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format.value, "size_bytes": self.size_bytes,
                **self.signature.to_dict(), "details": self.details}


def inspect_model(model: str, **loading: Any) -> ModelInfo:
    """`loading`: HopRecord fields that load the model (input_specs, weights, model_args, task, ...)."""
    fmt = sniff(model)
    art = Artifact(model, fmt, None, HopRecord(**{k: v for k, v in loading.items() if v is not None}).to_metadata())
    art.read_sidecar_metadata()
    details: dict[str, Any] = {}
    if fmt is Format.ONNX:
        from . import onnxutil

        m = onnxutil.load(model)
        onnxutil.check_external_data(model, m)
        sig = onnxutil.signature(m)
        details = {"opset": onnxutil.opset(m), "producer": f"{m.producer_name} {m.producer_version}".strip(),
                   "ir_version": m.ir_version, "nodes": len(m.graph.node),
                   "external_data": onnxutil.external_data_files(m)}
        art.note(external_data=tuple(details["external_data"]))
    else:
        from .runtimes import open_runner

        if fmt is Format.HF:  # the folder checked (weights, custom code) before a worker loads it
            from .hf import folder

            ckpt = folder.read(model, art.record.allow_unsafe)
            art.note(task=folder.task_of(ckpt, art.record.task))
        with open_runner(art) as r:
            sig = r.signature
            details = {"runtime": r.name}
        if fmt is Format.HF:
            details.update(folder.details(ckpt, art.record.task))
    recorded = art.record.to_metadata()
    for key in ("layout", "renamed", "route", "validation", "producer"):
        if key in recorded:
            details.setdefault(key, recorded[key])
    return ModelInfo(model, fmt, sig, art.size_bytes(), details)
