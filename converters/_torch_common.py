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


def example_args(specs: tuple[TensorSpec, ...], batch: int = 2, module: Any = None,
                 shapes: dict[str, tuple[Any, ...]] | None = None) -> tuple[Any, ...]:
    """Example tensors for tracing/export: batch 2 and other dynamic axes at the default size (or the sizes
    `shapes`, the user's --input-shape, gives them: a fixed-shape export takes those), so exporters do not
    specialise them to 0/1; token ids in a small range (below the ranges `module` declares: a checkpoint's
    token_type_ids < 2), masks with padding."""
    import torch

    from portkit.runtimes.torch import module_ranges

    ranges = {k: (v[0], v[1]) for k, v in module_ranges(module, specs).items()} if module is not None else None
    feeds = make_inputs(ModelSignature(specs), batch=batch, ranges=ranges, shapes=shapes or None)
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


def adaptive_pools_as_means(torch: Any, program: Any) -> int:
    """`aten.adaptive_avg_pool2d` → plain means, the same numbers: to 1×1 one `mean` over H and W (any
    input size); to other sizes, where the input's H and W are fixed, one mean per output row and column
    over the rows/columns PyTorch's bins cover, concatenated. PyTorch's own decomposition, which the ONNX
    exporter runs, ends in an `as_strided` when x is channels-last (ConvNeXt's and Swin's heads, after their
    NHWC permutes) or in index gathers and selects for other sizes (VGG's 7×7 pool of a small image); the
    exporter writes those as Range/Gather/Where that onnx2tf cannot build or TFLite cannot legalize.
    Returns how many were replaced."""
    from torch._guards import detect_fake_mode

    graph = program.graph_module.graph
    count = 0
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target is not torch.ops.aten.adaptive_avg_pool2d.default:
            continue
        x, out = node.args[0], [int(v) for v in node.args[1]]
        if out == [1, 1]:
            node.target, node.args, node.kwargs = torch.ops.aten.mean.dim, (x, [-1, -2], True), {}
            count += 1
            continue
        val = x.meta.get("val")
        fake = detect_fake_mode([val]) if val is not None else None
        sizes = list(val.shape[-2:]) if val is not None else []
        if fake is None or not all(isinstance(d, int) for d in sizes):
            continue  # a dynamic H or W: bins depend on it, left to PyTorch's decomposition

        def call(target: Any, *args: Any, mode: Any = fake) -> Any:
            def fake_of(a: Any) -> Any:
                return [fake_of(v) for v in a] if isinstance(a, list) else a.meta["val"] if hasattr(a, "meta") else a

            made = graph.call_function(target, args)
            with mode:  # the exporter reads every node's shape and dtype from meta["val"]
                made.meta["val"] = target(*[fake_of(a) for a in args])
            return made

        y = x
        with graph.inserting_before(node):
            for axis, (size, n_out) in zip((-2, -1), zip(sizes, out, strict=True), strict=True):
                parts = [call(torch.ops.aten.mean.dim,
                              call(torch.ops.aten.slice.Tensor, y, axis, (i * size) // n_out,
                                   -((-(i + 1) * size) // n_out)), [axis], True)
                         for i in range(n_out)]
                y = parts[0] if n_out == 1 else call(torch.ops.aten.cat.default, parts, axis)
        node.replace_all_uses_with(y)
        graph.erase_node(node)
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
