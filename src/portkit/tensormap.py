"""TensorMap: how a converted model's tensors relate to its source's — layout permutations and renames.

A converter records what its own hop changed (onnx2tf: NCHW→NHWC, renamed tensors); the route composes
those maps so every artifact maps to the route's original model; validation and bench apply them to feed
the same data to both sides. This is the one typed form of that record. On disk (Artifact.metadata and
the sidecar JSON) it stays the dicts portkit has always written, so older sidecars read unchanged:

    "layout"  = {"inputs"|"outputs": {source name: {"from": "NCHW", "to": "NHWC", "perm": [...]}}}
    "renamed" = {"inputs"|"outputs": {source name: candidate name}}   (or a flat {name: name})

`perm` is the candidate tensor in terms of the source one: candidate = np.transpose(source, perm).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CHANNELS_LAST", "KINDS", "LAYOUT_NAMES", "Change", "TensorMap", "channels_last"]

KINDS = ("inputs", "outputs")
# channels-first → channels-last by rank: the one definition of the NCHW→NHWC permutation
CHANNELS_LAST: dict[int, tuple[int, ...]] = {3: (0, 2, 1), 4: (0, 2, 3, 1), 5: (0, 2, 3, 4, 1)}
LAYOUT_NAMES: dict[int, tuple[str, str]] = {3: ("NCW", "NWC"), 4: ("NCHW", "NHWC"), 5: ("NCDHW", "NDHWC")}


def channels_last(rank: int) -> tuple[int, ...] | None:
    """The channels-first → channels-last permutation of a tensor of `rank`, or None (no such layout)."""
    return CHANNELS_LAST.get(rank)


@dataclass(frozen=True)
class Change:
    """One tensor's layout change: candidate = transpose(source, perm); `from_`/`to` name the layouts."""

    perm: tuple[int, ...]
    from_: str | None = None
    to: str | None = None

    def apply(self, arr: np.ndarray) -> np.ndarray:
        """A source-layout array in the candidate's layout (arrays of another rank pass unchanged)."""
        return np.transpose(arr, self.perm) if arr.ndim == len(self.perm) else arr

    def invert(self, arr: np.ndarray) -> np.ndarray:
        """A candidate-layout array back in the source's layout."""
        return np.transpose(arr, np.argsort(self.perm)) if arr.ndim == len(self.perm) else arr

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"perm": list(self.perm)}
        if self.from_ is not None:
            d["from"] = self.from_
        if self.to is not None:
            d["to"] = self.to
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Change | None:
        perm = d.get("perm")
        return cls(tuple(int(p) for p in perm), d.get("from"), d.get("to")) if perm else None


@dataclass(frozen=True)
class TensorMap:
    """Layout changes and renames, per kind ("inputs"/"outputs"), keyed by the source tensor's name."""

    layout: dict[str, dict[str, Change]] = field(default_factory=dict)
    renamed: dict[str, dict[str, str]] = field(default_factory=dict)

    # ---------------------------------------------------------------- reading and writing metadata

    @classmethod
    def from_metadata(cls, md: dict[str, Any] | None) -> TensorMap:
        md = md or {}
        layout: dict[str, dict[str, Change]] = {}
        for kind, entries in (md.get("layout") or {}).items():
            for name, d in (entries or {}).items():
                change = Change.from_dict(d or {})
                if change is not None:
                    layout.setdefault(kind, {})[name] = change
        raw = md.get("renamed") or {}
        renamed: dict[str, dict[str, str]] = {}
        for kind in KINDS:
            if isinstance(raw.get(kind), dict):
                renamed[kind] = dict(raw[kind])
        flat = {k: v for k, v in raw.items() if isinstance(v, str)}  # the older flat {"x": "x_1"} form
        if flat:
            for kind in KINDS:
                renamed.setdefault(kind, {}).update(flat)
        return cls(layout, renamed)

    def to_metadata(self) -> dict[str, Any]:
        """{"layout": ..., "renamed": ...} in the sidecar's JSON form."""
        return {"layout": {k: {n: c.to_dict() for n, c in v.items()} for k, v in self.layout.items() if v},
                "renamed": {k: dict(v) for k, v in self.renamed.items() if v}}

    # ---------------------------------------------------------------- queries

    def change(self, kind: str, name: str) -> Change | None:
        return self.layout.get(kind, {}).get(name)

    def perm(self, kind: str, name: str) -> tuple[int, ...] | None:
        c = self.change(kind, name)
        return c.perm if c else None

    def name(self, kind: str, name: str) -> str:
        """The candidate's name of the source tensor `name`."""
        return self.renamed.get(kind, {}).get(name, name)

    def shapes(self, kind: str, shapes: dict[str, tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
        """Source tensors' shapes ({name: dims}, '' = the only one) in the candidate's terms: its names, its
        layout (onnx2tf's NHWC input of an NCHW source)."""
        out: dict[str, tuple[Any, ...]] = {}
        changed = list(self.layout.get(kind, {}))
        for name, dims in shapes.items():
            key = changed[0] if name == "" and len(changed) == 1 else name
            perm = self.perm(kind, key)
            dims = tuple(dims)
            out[self.name(kind, name) if name else ""] = \
                tuple(dims[p] for p in perm) if perm and len(perm) == len(dims) else dims
        return out

    def __bool__(self) -> bool:
        return any(self.layout.values()) or any(self.renamed.values())

    # ---------------------------------------------------------------- composition

    def then(self, later: TensorMap) -> TensorMap:
        """The map of two hops in a row: `self` (source → middle), then `later` (middle → candidate).

        transpose(transpose(x, a), b) == transpose(x, a[b]); renames chain through the middle name; an
        identity result (sorted perm, same name) is dropped."""
        layout: dict[str, dict[str, Change]] = {}
        renamed: dict[str, dict[str, str]] = {}
        for kind in KINDS:
            a_lay, a_ren = self.layout.get(kind, {}), self.renamed.get(kind, {})
            b_lay, b_ren = later.layout.get(kind, {}), later.renamed.get(kind, {})
            names = set(a_lay) | set(a_ren) | (set(b_lay) | set(b_ren)) - set(a_ren.values())
            for name in names:
                mid = a_ren.get(name, name)  # the tensor's name between the two hops
                first, second = a_lay.get(name), b_lay.get(mid)
                if first and second:
                    perm = tuple(first.perm[q] for q in second.perm)
                else:
                    perm = (first or second).perm if (first or second) else None
                if perm and list(perm) != sorted(perm):
                    base = second or first
                    layout.setdefault(kind, {})[name] = Change(perm, base.from_, base.to)
                final = b_ren.get(mid, mid)
                if final != name:
                    renamed.setdefault(kind, {})[name] = final
        return TensorMap(layout, renamed)
