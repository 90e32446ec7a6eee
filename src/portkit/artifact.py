"""An Artifact is a model on disk (or an eager-model reference) plus what portkit knows about it."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .formats import Format
from .signature import ModelSignature

__all__ = ["Artifact"]


@dataclass
class Artifact:
    location: str  # path, or `module:factory` for an eager torch model
    format: Format
    signature: ModelSignature | None = None
    # layout changes ({"input": {"x": {"from": "NCHW", "to": "NHWC", "perm": [0,2,3,1]}}, "output": ...}),
    # renamed tensors ({"renamed": {"x": "x_1"}}), opset, producer, converter and versions, options used
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return Path(self.location)

    def size_bytes(self) -> int:
        p = self.path
        if not p.exists():
            return 0
        if p.is_dir():
            return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        size = p.stat().st_size
        if self.format is Format.ONNX:  # external data lives beside the model
            for loc in self.metadata.get("external_data", []):
                ext = p.parent / loc
                if ext.exists():
                    size += ext.stat().st_size
        return size

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "format": self.format.value,
            "signature": self.signature.to_dict() if self.signature else None,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Artifact:
        sig = ModelSignature.from_dict(d["signature"]) if d.get("signature") else None
        return cls(d["location"], Format(d["format"]), sig, dict(d.get("metadata") or {}))

    def sidecar(self) -> Path:
        """Where portkit records metadata beside a produced artifact (layout maps, route, versions)."""
        p = self.path
        return p.parent / (p.name + ".portkit.json")

    def write_sidecar(self) -> None:
        self.sidecar().write_text(json.dumps(self.to_dict(), indent=2, default=str))

    def read_sidecar_metadata(self) -> None:
        """Merge metadata recorded when portkit produced this file (e.g. onnx2tf's NCHW->NHWC map)."""
        sc = self.sidecar()
        if sc.is_file():
            try:
                saved = json.loads(sc.read_text())
            except json.JSONDecodeError:
                return
            for k, v in (saved.get("metadata") or {}).items():
                self.metadata.setdefault(k, v)
