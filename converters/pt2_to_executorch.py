"""Eager PyTorch module or `.pt2` program → ExecuTorch `.pte` with the XNNPACK backend (fp32, or int8).

torch.export (dynamic axes bounded: ExecuTorch plans memory for the largest size, so the batch goes up
to MAX_BATCH and other dynamic axes to the range export infers, e.g. the position embeddings), then
`to_edge_transform_and_lower` with the XNNPACK partitioner and `to_executorch()`. Validated by running
the .pte with ExecuTorch's Python runtime.

`--quantize int8` (static, calibrated on `--calibration`) and `--quantize dynamic` (int8 weights, activations
quantized at run time) use ExecuTorch's XNNPACKQuantizer through PT2E (torchao's prepare/convert) before the
export; the inputs/outputs stay float and validation judges the result as a quantized model. fp16 is not
an XNNPACK quantizer mode: refused in one line.
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

SOURCE = (Format.TORCH, Format.HF, Format.PT2)
TARGET = Format.EXECUTORCH
REQUIRES = ("torch", "executorch")
COST = 1.0
TOOL = "executorch (XNNPACK)"
MAX_BATCH = 64


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    torch = require("torch", "ExecuTorch export")
    require("executorch", "ExecuTorch export")
    mode = _check_quantize(opts)
    from executorch.exir import to_edge_transform_and_lower

    module, sig = _source(src)
    dynamic = opts.dynamic and src.record.dynamic is not False
    args = example_args(sig.inputs, batch=2 if dynamic else 1, module=module)
    with converting(f"{src.format.value}→executorch (XNNPACK)", alternative="--static, or --to tflite / onnx"):
        shapes = _bounded(sig) if dynamic else None
        kept: dict[str, Any] = {}
        if mode is not None:
            module, kept = _quantized(module, args, shapes, sig, mode, opts, Path(src.location).name)
        program = _leaf_tensors(torch.export.export(module, args, dynamic_shapes=shapes, strict=False))
        lowered = to_edge_transform_and_lower(program, partitioner=[xnnpack_partitioner()]).to_executorch()
        out.write_bytes(lowered.buffer)
    final = sig if dynamic else ModelSignature(
        tuple(s.with_shape(tuple(int(a.shape[i]) for i in range(a.dim()))) for s, a in zip(sig.inputs, args)),
        sig.outputs)
    from portkit.versions import versions

    keep = {"input_ranges": src.record.input_ranges} if src.record.input_ranges else {}
    quant = {"quantized": mode, "quantization": {"tool": "XNNPACKQuantizer (PT2E)", "mode": mode,
                                                 "per_channel": True}} if mode else {}
    return Artifact(str(out), TARGET, final, {
        **keep, "producer": TOOL, "backend": "XnnpackBackend",
        "max_batch": _planned_batch(lowered) if dynamic else None,
        **quant, **kept, "versions": versions("torch", "executorch", "torchao")})


def xnnpack_partitioner(**kwargs: Any) -> Any:
    """XNNPACK's partitioner, less the GELUs it would compute wrongly. ExecuTorch's XNNPACK backend up to 1.5
    ignores GELU's `approximate` argument: a tanh-approximate GELU (transformers' `gelu_pytorch_tanh`:
    Gemma, Starcoder2) runs as the exact one, up to ~5e-4 off per activation (pytorch/executorch#22851,
    fixed after 1.5 with an XNNApproxGelu node). Where the installed backend has no such node, those GELUs
    stay out of the delegate: ExecuTorch's own kernels (or the tanh ops they decompose into) honour it."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.backends.xnnpack.serialization import xnnpack_graph_schema

    if hasattr(xnnpack_graph_schema, "XNNApproxGelu"):
        return XnnpackPartitioner(**kwargs)
    from executorch.backends.xnnpack.partition.config import ALL_PARTITIONER_CONFIGS
    from executorch.backends.xnnpack.partition.config.generic_node_configs import GeluConfig

    class ExactGelu(GeluConfig):
        def check_constraints(self, node: Any, ep: Any) -> bool:
            approximate = node.kwargs.get("approximate", node.args[1] if len(node.args) > 1 else "none")
            return approximate == "none" and super().check_constraints(node, ep)

    configs = [ExactGelu if c is GeluConfig else c for c in ALL_PARTITIONER_CONFIGS]
    return XnnpackPartitioner(configs=configs, **kwargs)


def _planned_batch(lowered: Any) -> int | None:
    """The batch rows the program's memory was planned for (its first input's upper bound): ExecuTorch 1.5
    may plan fewer than the export's Dim max (the digits CNN: 15 of 64); portkit's runner runs larger
    batches in parts of this size."""
    plan = lowered.executorch_program.execution_plan[0]
    sizes = plan.values[plan.inputs[0]].val.sizes if plan.inputs else []
    return int(sizes[0]) if len(sizes) else None


def _check_quantize(opts: ConvertOptions) -> str | None:
    """The quantization asked for; bad combinations fail before any work."""
    mode = (opts.quantize or "").lower() or None
    if mode == "fp16":
        raise BadInput("--quantize fp16 is not an XNNPACK quantizer mode for ExecuTorch targets",
                       hint="use --quantize int8 (with --calibration) or dynamic, or --to tflite --quantize fp16")
    if mode == "int8" and not opts.calibration:
        raise BadInput("int8 quantization needs calibration data",
                       hint="pass --calibration data.npz (or a folder of .npy), or use --quantize dynamic")
    if opts.int8_io:
        raise BadInput("--int8-io is a TFLite option", hint="ExecuTorch int8 models keep float inputs/outputs")
    return mode


def _quantized(module: Any, args: tuple[Any, ...], shapes: Any, sig: ModelSignature, mode: str,
               opts: ConvertOptions, where: str) -> tuple[Any, dict[str, Any]]:
    """PT2E with ExecuTorch's XNNPACKQuantizer: static int8 calibrated on the user's data, or dynamic.
    --keep-float leaves the named nodes float (or, for "auto", ranks the quantized layers: see
    _executorch_keep_float); returns the converted module and what to record."""
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=True, is_dynamic=mode == "dynamic"))
    graph_module = torch.export.export(module, args, dynamic_shapes=shapes, strict=False).module()
    auto = opts.keep_float == ("auto",)
    if mode == "int8" and opts.keep_float and not auto:
        from ._executorch_keep_float import filter_layers

        filter_layers(quantizer, graph_module, opts.keep_float, where)
    prepared = prepare_pt2e(graph_module, quantizer)
    batches: list[tuple[Any, ...]] = []
    if mode == "int8":
        from portkit.prep.calibration import calibration_batches

        batches = [tuple(torch.from_numpy(feeds[s.name]) for s in sig.inputs)
                   for feeds in calibration_batches(str(opts.calibration), sig)]
        for b in batches:
            prepared(*b)
    else:
        prepared(*args)
    converted = convert_pt2e(prepared)
    if mode != "int8" or not opts.keep_float:
        return converted, {}
    if auto:
        from ._executorch_keep_float import sensitivity

        return converted, {"sensitivity": sensitivity(converted, batches), "keep_float_nodes": []}
    return converted, {"keep_float_nodes": list(opts.keep_float)}


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
