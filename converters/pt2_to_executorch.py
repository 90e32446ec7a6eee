"""Eager PyTorch module or `.pt2` program → ExecuTorch `.pte` with the XNNPACK backend (fp32).

torch.export (dynamic axes bounded: ExecuTorch plans memory for the largest size, so the batch goes up
to MAX_BATCH and other dynamic axes to the range export infers, e.g. the position embeddings), then
`to_edge_transform_and_lower` with the XNNPACK partitioner and `to_executorch()`. Validated by running
the .pte with ExecuTorch's Python runtime.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from portkit.artifact import Artifact
from portkit.errors import BadInput, converting, require
from portkit.formats import Format
from portkit.options import ConvertOptions
from portkit.signature import ModelSignature

from ._torch_common import example_args

SOURCE = (Format.TORCH, Format.PT2)
TARGET = Format.EXECUTORCH
REQUIRES = ("torch", "executorch")
COST = 1.0
TOOL = "executorch (XNNPACK)"
MAX_BATCH = 64


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    torch = require("torch", "ExecuTorch export")
    require("executorch", "ExecuTorch export")
    if opts.quantize:
        raise BadInput(f"--quantize {opts.quantize} is not supported for ExecuTorch targets yet (fp32 only)",
                       hint="drop --quantize, or convert to tflite / onnx for a quantized model")
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    module, sig = _source(src)
    dynamic = opts.dynamic and src.metadata.get("dynamic", True)
    args = example_args(sig.inputs, batch=2 if dynamic else 1)
    with converting(f"{src.format.value}→executorch (XNNPACK)", alternative="--static, or --to tflite / onnx"):
        program = _leaf_tensors(torch.export.export(module, args, dynamic_shapes=_bounded(sig) if dynamic else None,
                                                    strict=False))
        lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()
        out.write_bytes(lowered.buffer)
    final = sig if dynamic else ModelSignature(
        tuple(s.with_shape(tuple(int(a.shape[i]) for i in range(a.dim()))) for s, a in zip(sig.inputs, args)),
        sig.outputs)
    from portkit.versions import versions

    keep = {k: v for k, v in src.metadata.items() if k in ("input_ranges",)}
    return Artifact(str(out), TARGET, final, {
        **keep, "producer": TOOL, "backend": "XnnpackBackend", "max_batch": MAX_BATCH if dynamic else None,
        "versions": versions("torch", "executorch")})


def _leaf_tensors(program: Any) -> Any:
    """Constants and weights as graph leaves: ExecuTorch deep-copies the program for each backend, and a
    tensor computed from another (a TorchScript-converted program's folded constants) cannot be copied
    ("Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol")."""
    for store in (program.state_dict, program.constants):
        for key, value in list(store.items()):
            if getattr(value, "grad_fn", None) is not None:
                store[key] = value.detach()
    return program


def _source(src: Artifact) -> tuple[Any, ModelSignature]:
    if src.format is Format.PT2:
        from portkit.runtimes.pt2 import Pt2Runner

        runner = Pt2Runner(src)
        return runner.module, runner.signature
    from ._torch_common import module_and_signature

    return module_and_signature(src)


def _bounded(sig: ModelSignature) -> tuple[dict[int, Any] | None, ...] | None:
    import torch

    dims: dict[str, Any] = {}
    per = []
    for s in sig.inputs:
        entry = {}
        for i in s.dynamic_dims:
            key = s.shape[i] if isinstance(s.shape[i], str) and s.shape[i] else f"{s.name}_{i}"
            if key not in dims:
                ident = "".join(c if c.isalnum() else "_" for c in key)
                ident = ident if ident[:1].isalpha() else f"d_{ident}"
                # other axes: export infers their range (a sequence up to the position embeddings);
                # ExecuTorch plans memory for the upper bound, so an unbounded axis fails the hop
                dims[key] = torch.export.Dim(ident, min=1, max=MAX_BATCH) if i == 0 else torch.export.Dim.AUTO
            entry[i] = dims[key]
        per.append(entry or None)
    return tuple(per) if any(per) else None
