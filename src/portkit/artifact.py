"""An Artifact is a model on disk (or an eager-model reference) plus what portkit knows about it."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .formats import Format
from .signature import InputSpec, ModelSignature
from .tensormap import TensorMap

__all__ = ["CARRIED_KEYS", "Artifact", "HopRecord", "record_fields"]

# what a step that keeps the graph's meaning (optimise, quantize, ONNX → ORT / web bundle) carries over from
# its source: the layout/renames relative to the route's original, integer input ranges, the dynamic request
CARRIED_KEYS = ("layout", "renamed", "input_ranges", "dynamic")


@dataclass(frozen=True)
class HopRecord:
    """What portkit knows about an artifact, typed: the one reader and writer of `Artifact.metadata`
    (`artifact.record` reads, `artifact.note(field=value)` writes). The dict stays the storage (and the
    `.portkit.json` sidecar its JSON), so files written by earlier versions read unchanged; keys this record
    does not name are kept in `extra` and written back as they were."""

    # what the hop that produced it recorded
    producer: str | None = None  # the tool (and version) that wrote the file: onnx2tf, litert-torch, tf2onnx ...
    versions: dict[str, Any] = field(default_factory=dict)  # package versions the hop ran with
    tensors: TensorMap = field(default_factory=TensorMap)  # layout changes / renames relative to the source
    hop_tensors: TensorMap | None = None  # those of this hop alone (routes: the sidecar's "hop")
    quantized: str | None = None  # int8 | dynamic | fp16: validation judges by agreement, not atol
    int8_io: bool = False
    dynamic: bool | None = None  # whether a dynamic batch was asked for
    dynamic_axes: str | None = None  # what the tool kept ("dynamic", "none (static)", ...)
    layout_kept: str | None = None  # the source layout a converter kept (litert-torch: NCHW)
    opset: int | None = None
    normalised: tuple[str, ...] = ()  # graph rewrites portkit made before the converter (portkit.normalize)
    external_data: tuple[str, ...] = ()  # ONNX external-data files beside the model
    input_ranges: dict[str, Any] = field(default_factory=dict)  # valid [low, high) of integer inputs
    input_notes: tuple[str, ...] = ()  # what a hop inferred about the inputs (TorchScript int dtypes)
    channels_last_inputs: tuple[str, ...] = ()  # inputs tf2onnx kept NHWC (a later onnx2tf leaves them)
    keras_flavour: str | None = None  # the Keras a TF-side hop loaded the model with (keras 3, tf_keras)
    converted_from: str | None = None  # the format a .pt2 was exported from (torchscript) when not eager
    max_batch: int | None = None  # the largest batch an ExecuTorch program's memory plan takes (dynamic)
    route: Any = None  # the route that produced it (conversion results)
    validation: str | None = None  # "passed" / "FAILED" of the conversion's validation
    # what the command said about the model (loading options and inputs: portkit.conversion.source_artifact)
    input_specs: tuple[InputSpec, ...] = ()  # --input-shape/--input-dtype/--dynamic-axis, or borrowed
    data_specs: tuple[InputSpec, ...] = ()  # taken from --inputs DATA, for models declaring no inputs
    weights: str | None = None
    model_args: dict[str, Any] = field(default_factory=dict)
    allow_pickle: bool = False
    allow_unsafe: bool = False
    task: str | None = None  # Hugging Face folders: the head exported
    custom_objects: str | None = None
    # what the mobile/web steps recorded (portkit.prep)
    float_model: str | None = None  # the float model a quantized one came from (size comparison)
    size: dict[str, Any] | None = None  # {before_bytes, after_bytes, ratio, ...} of a quantize/optimise step
    quantization: dict[str, Any] | None = None  # how a quantize step quantized ({mode, weights, ...})
    optimized: dict[str, Any] | None = None  # an optimise step's {steps, nodes_before, nodes_after}
    keep_float: dict[str, Any] | None = None  # --keep-float: the layers kept float, sensitivity, costs
    sensitivity: dict[str, Any] | None = None  # a quantizing hop's per-layer ranking (--keep-float auto)
    operator_config: str | None = None  # the ORT operator config written beside an .ort model
    ops: dict[str, Any] | None = None  # an ORT/web conversion's operator report
    generative: dict[str, Any] | None = None  # a causal LM exported with its key/value cache
    source: dict[str, Any] | None = None  # its source {location, weights, model_args} (generation bench, validate)
    extra: dict[str, Any] = field(default_factory=dict)

    _SPECS = ("input_specs", "data_specs")
    _LISTS = ("normalised", "external_data", "input_notes", "channels_last_inputs")
    _DICTS = ("versions", "input_ranges", "model_args")

    @classmethod
    def from_metadata(cls, md: dict[str, Any] | None) -> HopRecord:
        md = dict(md or {})
        hop = md.pop("hop", None)
        values: dict[str, Any] = {
            "tensors": TensorMap.from_metadata({k: md.pop(k) for k in ("layout", "renamed") if k in md}),
            "hop_tensors": TensorMap.from_metadata(hop) if isinstance(hop, dict) else None}
        for f in fields(cls):
            if f.name in values or f.name == "extra" or f.name not in md:
                continue
            v = md.pop(f.name)
            if f.name in cls._SPECS:
                v = tuple(s if isinstance(s, InputSpec) else InputSpec.from_dict(dict(s)) for s in v or ())
            elif f.name in cls._LISTS:
                v = tuple(v or ())
            elif f.name in cls._DICTS:  # a user's --model-args may be any JSON: its loader says what is wrong
                v = dict(v) if isinstance(v, dict) else (v or {})
            elif f.default is False:
                v = bool(v)
            values[f.name] = v
        return cls(extra=md, **values)

    def to_metadata(self) -> dict[str, Any]:
        """The dict form (sidecar JSON); only fields that differ from their default are written."""
        md: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("extra", "tensors", "hop_tensors") or v is None or (v is False and f.default is False) or (
                    isinstance(v, (tuple, list, dict)) and not v):
                continue
            if f.name in self._SPECS:
                v = [s.to_dict() for s in v]
            elif f.name in self._LISTS:
                v = list(v)
            elif f.name in self._DICTS and isinstance(v, dict):
                v = dict(v)
            md[f.name] = v
        md.update({k: v for k, v in self.tensors.to_metadata().items() if v})
        if self.hop_tensors is not None:
            md["hop"] = self.hop_tensors.to_metadata()
        return {**self.extra, **md}


def record_fields() -> set[str]:
    """The metadata keys HopRecord names (the rest stay in `extra`)."""
    return {f.name for f in fields(HopRecord)} - {"extra", "tensors", "hop_tensors"} | {"layout", "renamed", "hop"}


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
        """The typed view of `metadata`: every reader goes through it."""
        return HopRecord.from_metadata(self.metadata)

    def note(self, **changes: Any) -> None:
        """Record typed fields (HopRecord's names; an unknown one is a TypeError): every writer goes through
        it, so what is stored is what the record reads back."""
        updated = replace(self.record, **changes)
        self.metadata.clear()
        self.metadata.update(updated.to_metadata())

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
            for loc in self.record.external_data:
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
            self.merge(saved.get("metadata") or {}, keep_own=True)

    def merge(self, metadata: dict[str, Any], keep_own: bool = False) -> None:
        """Take the keys of another record's dict form (a sidecar's, a bundle manifest's); where both say
        something, this artifact's own value stays when `keep_own`."""
        merged = {**metadata, **self.metadata} if keep_own else {**self.metadata, **metadata}
        self.metadata.clear()
        self.metadata.update(HopRecord.from_metadata(merged).to_metadata())
