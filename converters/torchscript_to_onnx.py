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


def _register_native_mha(torch: Any) -> None:
    """`aten::_native_multi_head_attention` — the fused attention nn.MultiheadAttention runs in eval mode
    without grad (a user's `torch.jit.trace` of torchvision's ViT records it) — has no ONNX symbolic. It is
    written out here as the attention it computes: one input projection split in three, heads split,
    softmax(q·kᵀ/√d + mask)·v, heads merged, output projection. Reshapes copy the batch (0) and infer the
    sequence (-1), so both stay dynamic. Only the batch-first form the fast path takes is written; a call
    asking for the attention weights keeps the stock error."""
    try:
        from torch.onnx._internal.torchscript_exporter import symbolic_helper as helper
    except ImportError:  # another torch layout: nothing is registered
        return

    def const(g: Any, values: Any, dtype: Any = None) -> Any:
        return g.op("Constant", value_t=torch.tensor(values, dtype=dtype or torch.int64))

    def mha(g: Any, query: Any, key: Any, value: Any, embed_dim: Any, num_head: Any, qkv_weight: Any,
            qkv_bias: Any, proj_weight: Any, proj_bias: Any, mask: Any = None, need_weights: Any = None,
            average_attn_weights: Any = None, mask_type: Any = None) -> Any:
        e, h = helper._get_const(embed_dim, "i", "embed_dim"), helper._get_const(num_head, "i", "num_head")
        if need_weights is not None and not helper._is_none(need_weights) and \
                helper._maybe_get_const(need_weights, "b"):
            return helper._unimplemented("_native_multi_head_attention", "need_weights=True")
        d = e // h
        w_q, w_k, w_v = g.op("Split", qkv_weight, const(g, [e, e, e]), axis_i=0, outputs=3)
        b_q, b_k, b_v = g.op("Split", qkv_bias, const(g, [e, e, e]), axis_i=0, outputs=3)

        def project(x: Any, w: Any, b: Any) -> Any:
            y = g.op("Add", g.op("MatMul", x, g.op("Transpose", w, perm_i=[1, 0])), b)
            return g.op("Transpose", g.op("Reshape", y, const(g, [0, -1, h, d])), perm_i=[0, 2, 1, 3])

        q, k, v = project(query, w_q, b_q), project(key, w_k, b_k), project(value, w_v, b_v)
        scale = g.op("Constant", value_t=torch.tensor(1.0 / (d ** 0.5), dtype=torch.float32))
        scores = g.op("Mul", g.op("MatMul", q, g.op("Transpose", k, perm_i=[0, 1, 3, 2])), scale)
        if mask is not None and not helper._is_none(mask):
            m = mask
            if (mask.type().scalarType() or "") == "Bool":  # True = masked out
                m = g.op("Where", mask, g.op("Constant", value_t=torch.tensor(float("-inf"))),
                         g.op("Constant", value_t=torch.tensor(0.0)))
            if (helper._get_tensor_rank(m) or 0) == 2:  # (N, S) key padding: broadcast over heads and queries
                m = g.op("Unsqueeze", m, const(g, [1, 2]))
            scores = g.op("Add", scores, m)
        ctx = g.op("MatMul", g.op("Softmax", scores, axis_i=-1), v)
        merged = g.op("Reshape", g.op("Transpose", ctx, perm_i=[0, 2, 1, 3]), const(g, [0, -1, e]))
        out = g.op("Add", g.op("MatMul", merged, g.op("Transpose", proj_weight, perm_i=[1, 0])), proj_bias)
        return out, g.op("Constant", value_t=torch.zeros(0))

    torch.onnx.register_custom_op_symbolic("aten::_native_multi_head_attention", mha, 13)


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
    _register_native_mha(torch)
    with converting("torchscript→onnx (legacy exporter)", alternative="export the eager module instead"):
        torch.onnx.export(module, example_args(sig.inputs), str(out), dynamo=False,
                          input_names=in_names, output_names=out_names, dynamic_axes=axes or None,
                          opset_version=opts.opset or DEFAULT_OPSET, do_constant_folding=True)
    notes = {"input_notes": list(src.record.input_notes)} if src.record.input_notes else {}
    return finish_onnx(out, TOOL, **ranges_metadata(module, sig), **notes)
