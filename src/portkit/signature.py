"""Tensor and model signatures: what a model takes and returns, with symbolic dims kept symbolic."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Union

Dim = Union[int, str, None]  # int: static; str: named dynamic dim; None: unknown

__all__ = ["Dim", "ModelSignature", "TensorSpec", "parse_input_shapes", "parse_shape"]


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # numpy dtype name: float32, int64, bool, ...
    shape: tuple[Dim, ...]
    layout: str | None = None  # NCHW / NHWC when known

    @property
    def dynamic_dims(self) -> list[int]:
        return [i for i, d in enumerate(self.shape) if not isinstance(d, int)]

    @property
    def batch_dynamic(self) -> bool:
        return bool(self.shape) and not isinstance(self.shape[0], int)

    def shape_text(self) -> str:
        return "[" + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"

    def with_shape(self, shape: tuple[Dim, ...]) -> TensorSpec:
        return replace(self, shape=tuple(shape))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TensorSpec:
        return cls(d["name"], d["dtype"], tuple(d["shape"]), d.get("layout"))


@dataclass(frozen=True)
class ModelSignature:
    inputs: tuple[TensorSpec, ...] = field(default_factory=tuple)
    outputs: tuple[TensorSpec, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": [t.to_dict() for t in self.inputs], "outputs": [t.to_dict() for t in self.outputs]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSignature:
        return cls(tuple(TensorSpec.from_dict(t) for t in d.get("inputs", [])),
                   tuple(TensorSpec.from_dict(t) for t in d.get("outputs", [])))

    def input(self, name: str) -> TensorSpec:
        for t in self.inputs:
            if t.name == name:
                return t
        raise KeyError(name)


def parse_shape(text: str) -> tuple[Dim, ...]:
    """'1,3,224,224' -> (1, 3, 224, 224); '?'/'-1'/'N'/'batch' parts become named dynamic dims."""
    from .errors import BadInput

    dims: list[Dim] = []
    for i, part in enumerate(p.strip() for p in text.replace("x", ",").split(",") if p.strip()):
        if part.lstrip("-").isdigit():
            v = int(part)
            dims.append(v if v > 0 else ("batch" if i == 0 else f"d{i}"))
        elif part.isidentifier() or part == "?":
            dims.append("batch" if i == 0 and part == "?" else (part if part != "?" else f"d{i}"))
        else:
            raise BadInput(f"bad shape '{text}'", hint="write it like 1,3,224,224")
    if not dims:
        raise BadInput(f"empty shape '{text}'", hint="write it like 1,3,224,224")
    return tuple(dims)


def parse_input_shapes(values: list[str] | tuple[str, ...] | None) -> dict[str, tuple[Dim, ...]]:
    """['1,3,224,224'] -> {'': shape}; ['x=1,3,8,8', 'y=1,4'] -> per input name. '' means 'the only input'."""
    out: dict[str, tuple[Dim, ...]] = {}
    for v in values or []:
        for item in v.split(";"):
            if not item.strip():
                continue
            name, _, shape = item.rpartition("=")
            out[name.strip()] = parse_shape(shape)
    return out
