"""Helpers shared by the torch.export edges: dynamic shapes from input specs, export, save with signature."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from portkit.artifact import Artifact
from portkit.formats import Format
from portkit.signature import ModelSignature, TensorSpec


def dynamic_shapes(specs: tuple[TensorSpec, ...]) -> tuple[dict[int, Any] | None, ...] | None:
    """`torch.export.Dim`s for the dynamic axes of the input specs: a named Dim per symbolic name (inputs
    sharing a sequence length share it), batch from 1. None when every axis is static."""
    import torch

    dims: dict[str, Any] = {}

    def dim(name: str, axis: int) -> Any:
        key = name if name else f"d{axis}"
        if key not in dims:
            ident = "".join(c if c.isalnum() else "_" for c in key)
            ident = ident if ident[:1].isalpha() else f"d_{ident}"
            # batch from 1 (a named Dim keeps the axis symbolic); other axes from 2: an example size of 1
            # there would be specialised by export's 0/1 rule
            dims[key] = torch.export.Dim(ident, min=1) if axis == 0 else torch.export.Dim(ident, min=2)
        return dims[key]

    out = tuple({i: dim(str(s.shape[i] or ""), i) for i in s.dynamic_dims} or None for s in specs)
    return out if any(o for o in out) else None


def export_program(module: Any, specs: tuple[TensorSpec, ...], args: tuple[Any, ...]) -> Any:
    import torch

    return torch.export.export(module, args, dynamic_shapes=dynamic_shapes(specs), strict=False)


def finish_pt2(program: Any, out: Path, sig: ModelSignature, tool: str, src: Artifact, **metadata: Any) -> Artifact:
    """Save the program with portkit's signature inside; the Artifact keeps the source's input ranges."""
    from portkit.runtimes.pt2 import program_signature, save_program
    from portkit.versions import versions

    derived = program_signature(program)
    # the source's names and dim names where they fit the program, else what the program says
    fits = len(sig.inputs) == len(derived.inputs) and len(sig.outputs) == len(derived.outputs)
    final = sig if fits else derived
    save_program(program, str(out), final)
    keep = {k: v for k, v in src.metadata.items() if k in ("input_ranges",)}
    return Artifact(str(out), Format.PT2, final,
                    {**keep, "producer": tool, "versions": versions("torch"), **metadata})
