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


def global_pools_as_means(torch: Any, program: Any) -> int:
    """`aten.adaptive_avg_pool2d(x, 1)` → `aten.mean(x, [-1, -2], keepdim=True)`, the same numbers. PyTorch's
    own decomposition of it (run by the ONNX exporter) ends in an `as_strided` when x is channels-last
    (ConvNeXt's and Swin's heads, after their NHWC permutes), which the exporter writes as Range/Gather over
    the flattened tensor: onnx2tf cannot build that on a dynamic batch, and every runtime pays for it.
    Returns how many were replaced."""
    count = 0
    for node in program.graph_module.graph.nodes:
        if node.op != "call_function" or node.target is not torch.ops.aten.adaptive_avg_pool2d.default:
            continue
        if [int(v) if isinstance(v, int) else v for v in node.args[1]] != [1, 1]:
            continue
        node.target, node.args, node.kwargs = torch.ops.aten.mean.dim, (node.args[0], [-1, -2], True), {}
        count += 1
    if count:
        program.graph_module.recompile()
    return count


def name_dims(path: Path, sig: ModelSignature) -> None:
    """Replace the exporter's symbol names (s77) with the signature's dim names where they line up."""
    import onnx

    model = onnx.load(str(path))
    rename: dict[str, str] = {}
    for vi, spec in zip(model.graph.input, sig.inputs):
        for d, want in zip(vi.type.tensor_type.shape.dim, spec.shape):
            if d.dim_param and isinstance(want, str) and want:
                rename.setdefault(d.dim_param, want)
    if not rename or all(k == v for k, v in rename.items()):
        return
    for vi in (*model.graph.input, *model.graph.output, *model.graph.value_info):
        for d in vi.type.tensor_type.shape.dim:
            if d.dim_param in rename:
                d.dim_param = rename[d.dim_param]
    onnx.save(model, str(path))


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
