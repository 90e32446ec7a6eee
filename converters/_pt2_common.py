"""Helpers shared by the torch.export edges: dynamic shapes from input specs, export, save with signature."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from portkit.artifact import Artifact
from portkit.formats import Format
from portkit.signature import ModelSignature, TensorSpec


def dynamic_shapes(specs: tuple[TensorSpec, ...]) -> tuple[dict[int, Any] | None, ...] | None:
    """`torch.export.Dim`s for the dynamic axes of the input specs: the batch as a named Dim from 1 (export
    fails rather than silently fixing it), other axes `Dim.AUTO` (export infers their range, e.g. a
    sequence up to the model's position embeddings, and which inputs share it). None when all static."""
    import torch

    dims: dict[str, Any] = {}

    def dim(name: str, axis: int) -> Any:
        key = name if name else f"d{axis}"
        if key not in dims:
            ident = "".join(c if c.isalnum() else "_" for c in key)
            ident = ident if ident[:1].isalpha() else f"d_{ident}"
            # batch from 1 (a named Dim keeps the axis symbolic); other axes from 2: an example size of 1
            # there would be specialised by export's 0/1 rule
            dims[key] = torch.export.Dim(ident, min=1) if axis == 0 else torch.export.Dim.AUTO
        return dims[key]

    out = tuple({i: dim(str(s.shape[i] or ""), i) for i in s.dynamic_dims} or None for s in specs)
    return out if any(o for o in out) else None


def export_program(module: Any, specs: tuple[TensorSpec, ...], args: tuple[Any, ...], dynamic: bool = True) -> Any:
    """torch.export with the specs' dynamic axes, or every axis fixed at the example's size (--static)."""
    import torch

    return torch.export.export(module, args, dynamic_shapes=dynamic_shapes(specs) if dynamic else None,
                               strict=False)


def static_signature(sig: ModelSignature, args: tuple[Any, ...], program: Any) -> ModelSignature:
    """--static: the inputs at the example's sizes, the outputs as the program computes them."""
    from portkit.runtimes.pt2 import program_signature

    derived = program_signature(program)
    inputs = tuple(s.with_shape(tuple(int(d) for d in a.shape)) for s, a in zip(sig.inputs, args))
    outputs = tuple(o.with_shape(p.shape) for o, p in zip(sig.outputs, derived.outputs)) \
        if len(sig.outputs) == len(derived.outputs) else derived.outputs
    return ModelSignature(inputs, outputs)


def finish_pt2(program: Any, out: Path, sig: ModelSignature, tool: str, src: Artifact, module: Any = None,
               **metadata: Any) -> Artifact:
    """Save the program with portkit's signature inside; the Artifact keeps the source's input ranges."""
    from portkit.runtimes.pt2 import program_signature, save_program
    from portkit.versions import versions

    derived = program_signature(program)
    # the source's names and dim names where they fit the program, else what the program says
    fits = len(sig.inputs) == len(derived.inputs) and len(sig.outputs) == len(derived.outputs)
    final = sig if fits else derived
    save_program(program, str(out), final)
    keep: dict[str, Any] = {"input_ranges": src.record.input_ranges, "input_notes": list(src.record.input_notes)}
    keep = {k: v for k, v in keep.items() if v}
    ranges = getattr(module, "input_ranges", None) if module is not None else None
    if isinstance(ranges, dict) and ranges:  # the module tells its valid integer ranges (token ids < vocab)
        keep.setdefault("input_ranges", {k: list(v) for k, v in ranges.items()})
    return Artifact(str(out), Format.PT2, final,
                    {**keep, "producer": tool, "versions": versions("torch"), **metadata})
