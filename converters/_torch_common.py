"""Helpers shared by the torch edges (one loader, one naming scheme, one way to finish an ONNX file)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from portkit.artifact import Artifact
from portkit.formats import Format
from portkit.inputs import make_inputs
from portkit.signature import ModelSignature, TensorSpec


def module_and_signature(src: Artifact) -> tuple[Any, ModelSignature]:
    """The eval-mode module and its signature (inputs from shapes/stored signature, outputs by probing)."""
    from portkit.runtimes.torch import TorchRunner

    runner = TorchRunner(src)
    return runner.module, runner.signature


def ranges_metadata(module: Any, sig: ModelSignature) -> dict[str, Any]:
    """{"input_ranges": {...}} when the module tells valid integer ranges (token ids < vocab), else {}."""
    from portkit.runtimes.torch import module_ranges

    ranges = module_ranges(module, sig.inputs)
    return {"input_ranges": ranges} if ranges else {}


def example_args(specs: tuple[TensorSpec, ...], batch: int = 2) -> tuple[Any, ...]:
    """Example tensors for tracing/export: batch 2 and other dynamic axes at the default size, so exporters
    do not specialise them to 0/1; token ids in a small range, masks with padding."""
    import torch

    feeds = make_inputs(ModelSignature(specs), batch=batch)
    return tuple(torch.from_numpy(np.ascontiguousarray(feeds[s.name])) for s in specs)


def dynamic_axes(specs: tuple[TensorSpec, ...]) -> dict[str, dict[int, str]]:
    """input name -> {axis: symbol} for every non-static axis (the legacy exporter's dynamic_axes)."""
    out = {}
    for s in specs:
        axes = {i: (d if isinstance(d, str) and d else ("batch" if i == 0 else f"{s.name}_{i}"))
                for i, d in enumerate(s.shape) if not isinstance(d, int)}
        if axes:
            out[s.name] = axes
    return out


def dynamic_shapes(torch: Any, specs: tuple[TensorSpec, ...]) -> tuple[Any, ...] | None:
    """torch.export dynamic_shapes: one named Dim per symbol, shared by every input axis with that name
    (input_ids and attention_mask share `sequence`), so the graph keeps `batch` / `sequence` as names."""
    axes = dynamic_axes(specs)
    if not axes:
        return None
    dims: dict[str, Any] = {}
    for symbol in sorted({sym for a in axes.values() for sym in a.values()}):
        dims[symbol] = torch.export.Dim(symbol if symbol.isidentifier() else f"d_{len(dims)}", min=1)
    return tuple({i: dims[sym] for i, sym in axes[s.name].items()} if s.name in axes else None for s in specs)


def finish_onnx(out: Path, tool: str, **metadata: Any) -> Artifact:
    """The Artifact of an exported ONNX file: its own signature (read back), opset, producer, versions."""
    from portkit import onnxutil
    from portkit.versions import versions

    model = onnxutil.load(out)
    sig = onnxutil.signature(model)
    md = {"producer": tool, "opset": onnxutil.opset(model), "versions": versions("torch", "onnx"),
          **metadata}
    return Artifact(str(out), Format.ONNX, sig, md)


def save_script(script: Any, out: Path, signature: ModelSignature,
                ranges: dict[str, Any] | None = None) -> None:
    """Save TorchScript with its signature (and valid integer input ranges, e.g. token ids < vocab) inside."""
    import torch

    from portkit.runtimes.torch import SIGNATURE_FILE

    stored = {**signature.to_dict(), **({"input_ranges": ranges} if ranges else {})}
    torch.jit.save(script, str(out), _extra_files={SIGNATURE_FILE: json.dumps(stored)})
