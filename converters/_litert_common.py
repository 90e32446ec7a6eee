"""Helpers of the litert-torch edges: the module to convert (eager or a .pt2 program), named inputs and
outputs in the .tflite signature, dynamic axes, and PT2E / ai-edge-quantizer quantization."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from portkit.artifact import Artifact
from portkit.errors import BadInput, ConversionFailed, require
from portkit.formats import Format
from portkit.options import QUANTIZE_KINDS, ConvertOptions
from portkit.runtimes.torch import flatten_outputs
from portkit.signature import ModelSignature, TensorSpec

QUANT_MODES = QUANTIZE_KINDS
VIA_ONNX = "--via onnx (onnx2tf)"


def check_quantize(opts: ConvertOptions) -> str | None:
    """The quantization litert-torch is asked for; bad combinations fail before any work."""
    mode = (opts.quantize or "").lower() or None
    if mode is None:
        if opts.int8_io:
            raise BadInput("--int8-io needs --quantize int8", hint="add --quantize int8 --calibration DATA")
        return None
    if mode not in QUANT_MODES:
        raise BadInput(f"unknown --quantize '{opts.quantize}' for TFLite", hint=f"valid: {', '.join(QUANT_MODES)}")
    if mode == "int8" and not opts.calibration:
        raise BadInput("int8 quantization needs calibration data",
                       hint="pass --calibration data.npz (or a folder of .npy), or use --quantize dynamic / fp16")
    if mode == "int8" and not opts.int8_io:
        # PT2E static int8 through litert-torch makes the model's inputs/outputs int8 too; float I/O with
        # int8 inside is what onnx2tf writes: fail this hop so the planner takes that route.
        raise ConversionFailed("litert-torch's int8 (PT2E static) quantizes the inputs/outputs as well",
                               hint=f"add --int8-io for integer I/O, or use {VIA_ONNX} for float I/O")
    if opts.int8_io and mode != "int8":
        raise BadInput("--int8-io needs --quantize int8", hint="add --quantize int8 --calibration DATA")
    return mode


def source_module(src: Artifact) -> tuple[Any, ModelSignature]:
    """(module, signature) of an eager model or a .pt2 program (its `.module()`)."""
    if src.format is Format.PT2:
        from portkit.runtimes.pt2 import Pt2Runner

        runner = Pt2Runner(src)
        return runner.module, runner.signature
    from ._torch_common import module_and_signature

    return module_and_signature(src)


def named_module(module: Any, sig: ModelSignature) -> Any:
    """A wrapper whose forward takes the inputs by their names and returns {output name: tensor}, so the
    .tflite's serving signature carries portkit's names (litert-torch writes args_0 / output_0 else)."""
    import torch

    in_names = [s.name for s in sig.inputs]
    out_names = [o.name for o in sig.outputs]
    if not all(n.isidentifier() for n in in_names) or len(set(in_names)) != len(in_names):
        return None

    class Named(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def call(self, *args: Any) -> dict[str, Any]:
            outs = flatten_outputs(self.inner(*args))
            names = out_names if len(out_names) == len(outs) else (
                ["output"] if len(outs) == 1 else [f"output_{i}" for i in range(len(outs))])
            return dict(zip(names, outs))

    params = ", ".join(in_names)
    namespace: dict[str, Any] = {}
    # forward(self, x, mask): torch.export reads the parameter names, litert-torch names the inputs after them
    exec(f"def forward(self, {params}):\n    return self.call({params})\n", namespace)  # noqa: S102
    Named.forward = namespace["forward"]
    return Named(module)


def dynamic_shapes(sig: ModelSignature, by_name: bool, batch_only: bool = False) -> Any:
    import torch

    dims: dict[str, Any] = {}

    def dim(spec: TensorSpec, axis: int) -> Any:
        d = spec.shape[axis]
        key = d if isinstance(d, str) and d else f"{spec.name}_{axis}"
        if key not in dims:
            ident = "".join(c if c.isalnum() else "_" for c in key)
            dims[key] = torch.export.Dim(ident if ident[:1].isalpha() else f"d_{ident}", min=1) if axis == 0 \
                else torch.export.Dim.AUTO
        return dims[key]

    per = [{i: dim(s, i) for i in s.dynamic_dims if i == 0 or not batch_only} or None for s in sig.inputs]
    if not any(per):
        return None
    return {s.name: p for s, p in zip(sig.inputs, per)} if by_name else tuple(per)


def quant_config(mode: str | None, module: Any, args: tuple[Any, ...], sig: ModelSignature,
                 opts: ConvertOptions) -> tuple[Any, Any]:
    """(module to convert, quant_config) for --quantize: fp16 with ai-edge-quantizer's recipe, dynamic
    and int8 with litert-torch's PT2E quantizer (int8 calibrated on the user's data)."""
    if mode is None:
        return module, None
    if mode == "fp16":
        from litert_torch.generative.quantize import quant_recipes

        return module, quant_recipes.full_fp16_recipe()
    import torch
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = PT2EQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=True, is_dynamic=mode == "dynamic"))
    captured = torch.export.export(module, args, dynamic_shapes=dynamic_shapes(sig, False, batch_only=True),
                                   strict=False).module()
    prepared = prepare_pt2e(captured, quantizer)
    if mode == "int8":
        from portkit.prep.calibration import calibration_batches

        for feeds in calibration_batches(str(opts.calibration), sig):
            prepared(*[torch.from_numpy(feeds[s.name]) for s in sig.inputs])
    else:
        prepared(*args)
    return convert_pt2e(prepared, fold_quantize=False), QuantConfig(pt2e_quantizer=quantizer)


def tflite_artifact(out: Path, tool: str, src: Artifact, mode: str | None, sig: ModelSignature,
                    **metadata: Any) -> Artifact:
    from portkit.runtimes.tflite import TFLiteRunner
    from portkit.versions import versions

    out_sig = TFLiteRunner(str(out)).signature
    renamed: dict[str, dict[str, str]] = {}
    for kind, ours, theirs in (("inputs", sig.inputs, out_sig.inputs), ("outputs", sig.outputs, out_sig.outputs)):
        if len(ours) == len(theirs):
            pairs = {a.name: b.name for a, b in zip(ours, theirs) if a.name != b.name}
            if pairs:
                renamed[kind] = pairs
    layouts = sorted({s.layout or ("NCHW" if len(s.shape) == 4 else "") for s in sig.inputs} - {""})
    md = {"producer": tool, "layout": {}, "renamed": renamed,
          "layout_kept": ", ".join(layouts) or "source", "quantized": mode,
          "versions": versions("torch", "litert-torch", "litert-converter", "ai-edge-litert"), **metadata}
    if mode == "int8":
        md["int8_io"] = True
    keep = {"input_ranges": src.record.input_ranges} if src.record.input_ranges else {}
    return Artifact(str(out), Format.TFLITE, out_sig, {**keep, **md})


def require_litert() -> Any:
    return require("litert_torch", "PyTorch → TFLite with litert-torch")


def missing_ok(path: Path) -> None:
    if not path.is_file():
        raise ConversionFailed("litert-torch wrote no .tflite file", hint=f"use {VIA_ONNX}")


_RESHAPES = ("aten.view", "aten.reshape", "aten.flatten", "aten.unflatten", "aten._unsafe_view", "aten.view_copy")


def symbolic_reshape(module: Any, args: tuple[Any, ...], sig: ModelSignature) -> str | None:
    """Why litert-torch cannot keep this graph's dynamic axes, found before converting, or None.

    litert-torch 0.10 lowers reshape/view through its JAX bridge, which takes concrete sizes only: a
    reshape whose result has a symbolic axis (a CNN's flatten head, attention's head split) fails the
    lowering after torch.export and three decomposition passes have run (15-25 s on mobilenet_v3_small).
    A .pt2 program's module carries its shapes; an eager module is exported once to see them (`args`:
    the dynamic example). Runs before litert-torch is imported (4-7 s), and steps aside for another
    litert-torch version, or when something in this process took view off the JAX bridge (a registered
    decomposition or lowering)."""
    import sys
    from importlib.metadata import PackageNotFoundError, version

    import torch

    try:
        if not version("litert-torch").startswith("0.10."):
            return None  # another version: let the conversion tell
    except PackageNotFoundError:
        return None  # require_litert names the extra
    if "litert_torch" in sys.modules:
        try:
            from litert_torch import fx_infra
            from litert_torch.backend.lowerings import registry

            lowering = registry.lookup(torch.ops.aten.view.default)
            if torch.ops.aten.view.default in fx_infra.decomp.pre_lower_decomp() or \
                    getattr(lowering, "__name__", "") != "_jax_lowering":
                return None
        except (ImportError, AttributeError):
            return None
    graph = getattr(module, "graph", None)
    if graph is None:
        try:
            graph = torch.export.export(module, args, dynamic_shapes=dynamic_shapes(sig, False),
                                        strict=False).graph
        except Exception:  # noqa: BLE001 - the conversion's own export reports it
            return None
    for node in graph.nodes:
        val = node.meta.get("val") if node.op == "call_function" else None
        if str(node.target).startswith(_RESHAPES) and val is not None and \
                any(not isinstance(d, int) for d in getattr(val, "shape", ())):
            shape = ", ".join(str(d) for d in val.shape)
            return f"litert-torch 0.10 reshapes with concrete sizes only: {node.target} gives [{shape}]"
    return None
