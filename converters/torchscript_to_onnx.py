"""TorchScript → ONNX with the legacy (TorchScript-based) exporter.

The dynamo exporter cannot export a loaded ScriptModule, so this edge uses `dynamo=False`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from portkit.artifact import Artifact
from portkit.errors import converting, require
from portkit.formats import Format
from portkit.options import ConvertOptions

from ._torch_common import dynamic_axes, example_args, finish_onnx, module_and_signature, ranges_metadata

SOURCE = Format.TORCHSCRIPT
TARGET = Format.ONNX
REQUIRES = ("torch",)
COST = 1.0
TOOL = "torch.onnx (legacy TorchScript exporter)"
DEFAULT_OPSET = 17


def _register_ranked_unflatten(torch: Any) -> None:
    """The legacy exporter's `aten::unflatten` gives its Reshape an unknown rank when the sizes are not
    constants (a dynamic axis), and a later negative-dim transpose then fails ("transpose for tensor of
    unknown rank"): every nn.MultiheadAttention self-attention does `proj.unflatten(-1, (3, E))
    .unsqueeze(0).transpose(0, -2)` (torchvision's ViT, any TransformerEncoderLayer). The rank is known:
    the input's plus the number of sizes minus one. Registered in the worker process only (one per hop)."""
    try:
        from torch.onnx._internal.torchscript_exporter import symbolic_helper as helper
        from torch.onnx._internal.torchscript_exporter import symbolic_opset13 as opset13
    except ImportError:  # another torch layout: keep the stock symbolic
        return

    def unflatten(g: Any, input: Any, dim: Any, sizes: Any) -> Any:
        out = opset13.unflatten(g, input, dim, sizes)
        rank = helper._get_tensor_rank(input)
        if helper._is_packed_list(sizes):
            count = len(helper._unpack_list(sizes))
        else:
            count = helper._get_tensor_dim_size(sizes, 0) if helper._get_tensor_rank(sizes) == 1 else None
        if rank is not None and count is not None and out.type().dim() is None:
            out.setType(input.type().with_sizes([None] * (rank + count - 1)))
        return out

    torch.onnx.register_custom_op_symbolic("aten::unflatten", unflatten, 13)


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    torch = require("torch", "TorchScript export")
    module, sig = module_and_signature(src)
    in_names = [s.name for s in sig.inputs]
    out_names = [o.name for o in sig.outputs]
    axes: dict[str, dict[int, str]] = dict(dynamic_axes(sig.inputs))  # every dynamic axis, named
    if any(s.batch_dynamic for s in sig.inputs):
        axes.update({o: {0: "batch"} for o in out_names})
    # output axes the probe tied to an input axis keep its name (`sequence`), not the exporter's
    # `LayerNormalizationoutput_dim_1`
    in_symbols = {d for s in sig.inputs for d in s.shape if isinstance(d, str) and d}
    for o in sig.outputs:
        named = {i: d for i, d in enumerate(o.shape) if isinstance(d, str) and d in in_symbols}
        if named:
            axes[o.name] = {**axes.get(o.name, {}), **named}
    _register_ranked_unflatten(torch)
    with converting("torchscript→onnx (legacy exporter)", alternative="export the eager module instead"):
        torch.onnx.export(module, example_args(sig.inputs), str(out), dynamo=False,
                          input_names=in_names, output_names=out_names, dynamic_axes=axes or None,
                          opset_version=opts.opset or DEFAULT_OPSET, do_constant_folding=True)
    notes = {"input_notes": src.metadata["input_notes"]} if src.metadata.get("input_notes") else {}
    return finish_onnx(out, TOOL, **ranges_metadata(module, sig), **notes)
