"""An Artifact is a model on disk (or an eager-model reference) plus what portkit knows about it."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .formats import Format
from .signature import ModelSignature
from .tensormap import TensorMap

__all__ = ["CARRIED_KEYS", "Artifact", "HopRecord"]

# what a step that keeps the graph's meaning (optimise, quantize, ONNX → ORT / web bundle) carries over from
# its source: the layout/renames relative to the route's original, integer input ranges, the dynamic request
CARRIED_KEYS = ("layout", "renamed", "input_ranges", "dynamic")


@dataclass(frozen=True)
class HopRecord:
    """What a hop produced, typed: the one view of `Artifact.metadata` that readers use. The dict stays the
    storage (and the `.portkit.json` sidecar its JSON), so files written by earlier versions read unchanged;
    keys this record does not name are kept in `extra` and written back as they were."""

    producer: str | None = None  # the tool (and version) that wrote the file: onnx2tf, litert-torch, tf2onnx ...
    versions: dict[str, Any] = field(default_factory=dict)  # package versions the hop ran with
    tensors: TensorMap = field(default_factory=TensorMap)  # layout changes / renames relative to the source
    hop_tensors: TensorMap | None = None  # those of this hop alone (routes: metadata["hop"])
    quantized: str | None = None  # int8 | dynamic | fp16: validation judges by agreement, not atol
    int8_io: bool = False
    dynamic: bool | None = None  # whether a dynamic batch was asked for
    dynamic_axes: str | None = None  # what the tool kept ("dynamic", "none (static)", ...)
    layout_kept: str | None = None  # the source layout a converter kept (litert-torch: NCHW)
    opset: int | None = None
    normalised: tuple[str, ...] = ()  # graph rewrites portkit made before the converter (portkit.normalize)
    external_data: tuple[str, ...] = ()  # ONNX external-data files beside the model
    input_ranges: dict[str, Any] = field(default_factory=dict)  # valid [low, high) of integer inputs
    route: Any = None  # the route that produced it (conversion results)
    validation: str | None = None  # "passed" / "FAILED" of the conversion's validation
    extra: dict[str, Any] = field(default_factory=dict)

    _SCALARS = ("producer", "quantized", "dynamic", "dynamic_axes", "layout_kept", "opset", "route", "validation")

    @classmethod
    def from_metadata(cls, md: dict[str, Any] | None) -> HopRecord:
        md = dict(md or {})
        known = {k: md.pop(k) for k in cls._SCALARS if k in md}
        hop = md.pop("hop", None)
        tensors = TensorMap.from_metadata({k: md.pop(k) for k in ("layout", "renamed") if k in md})
        return cls(
            versions=dict(md.pop("versions", None) or {}),
            tensors=tensors,
            hop_tensors=TensorMap.from_metadata(hop) if isinstance(hop, dict) else None,
            int8_io=bool(md.pop("int8_io", False)),
            normalised=tuple(md.pop("normalised", None) or ()),
            external_data=tuple(md.pop("external_data", None) or ()),
            input_ranges=dict(md.pop("input_ranges", None) or {}),
            extra=md,
            **{k: v for k, v in known.items()},
        )

    def to_metadata(self) -> dict[str, Any]:
        """The dict form (sidecar JSON); only keys that carry something are written."""
        md: dict[str, Any] = {k: getattr(self, k) for k in self._SCALARS if getattr(self, k) is not None}
        md.update({k: v for k, v in self.tensors.to_metadata().items() if v})
        if self.hop_tensors is not None:
            md["hop"] = self.hop_tensors.to_metadata()
        for key in ("versions", "input_ranges"):
            if getattr(self, key):
                md[key] = dict(getattr(self, key))
        for key in ("normalised", "external_data"):
            if getattr(self, key):
                md[key] = list(getattr(self, key))
        if self.int8_io:
            md["int8_io"] = True
        return {**self.extra, **md}


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

    @property
    def record(self) -> HopRecord:
        """The typed view of `metadata` (what the hop that produced this artifact recorded)."""
        return HopRecord.from_metadata(self.metadata)

    def carried(self) -> dict[str, Any]:
        """The metadata a graph-preserving step keeps from this artifact (CARRIED_KEYS)."""
        return {k: v for k, v in self.metadata.items() if k in CARRIED_KEYS}

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
