"""Transformer-block spellings onnx2tf cannot take at a dynamic sequence (TOOL: onnx2tf): key/value heads
repeated for grouped-query attention through a 5-D tensor, feed-forward blocks computed on flattened rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from .helpers import constants, producers, readers, replace_node, rewritten, symbolic_dims, unique, use_counts

TOOL = "onnx2tf"


def repeated_heads(model: Any) -> list[str]:
    """Reshape(Expand(Unsqueeze(x, a)), merging axes a-1 and a) that repeats each of x's H heads n times in
    place — transformers' `repeat_kv` for grouped-query attention (`x[:, :, None].expand(b, H, n, S, d)
    .reshape(b, H·n, S, d)`) — → Gather(x, [0]·n + [1]·n + …, axis a-1), the same heads without the 5-D
    tensor. onnx2tf takes a 5-D tensor for channels-first (NCDHW) and, with the batch and sequence dynamic,
    broadcast the expanded keys on the wrong axes: Llama, Qwen2, Mistral and Gemma failed at q·kᵀ
    ("Dimensions must be equal"). Needs H static; every other dim is matched symbolically."""
    from onnx import helper, numpy_helper

    dims = symbolic_dims(model)
    if not dims:
        return []
    consts = constants(model)
    made = producers(model)
    uses = use_counts(model)
    outputs = {o.name for o in model.graph.output}
    n_done = 0
    for reshape in list(model.graph.node):
        expand = made.get(reshape.input[0]) if reshape.op_type == "Reshape" else None
        unsq = made.get(expand.input[0]) if expand is not None and expand.op_type == "Expand" else None
        if unsq is None or unsq.op_type != "Unsqueeze" or \
                any(uses.get(t, 0) != 1 or t in outputs for t in (unsq.output[0], expand.output[0])):
            continue
        axes = consts.get(unsq.input[1]) if len(unsq.input) > 1 else \
            next((np.asarray(helper.get_attribute_value(a)) for a in unsq.attribute if a.name == "axes"), None)
        x, y = dims.get(unsq.input[0]), dims.get(reshape.output[0])
        big = dims.get(expand.output[0])
        if axes is None or axes.size != 1 or not x or not y or not big or len(big) != len(x) + 1 or \
                len(y) != len(x):
            continue
        a = int(axes.ravel()[0]) % (len(x) + 1)
        heads, n = x[a - 1] if a >= 1 else None, big[a]
        # x's dims around the new axis kept (symbolically), the new axis expanded to n, then merged into
        # the heads' axis before it: [.., H, ..] → [.., H, n, ..] → [.., H·n, ..]
        if a < 1 or not isinstance(heads, int) or not isinstance(n, int) or n < 1 or None in x or \
                big[:a] != x[:a] or big[a + 1:] != x[a:] or y[:a - 1] != x[:a - 1] or y[a:] != x[a:] or \
                y[a - 1] != heads * n:
            continue
        new = unique(model, reshape.output[0])
        index = new("heads")
        model.graph.initializer.append(numpy_helper.from_array(np.repeat(np.arange(heads, dtype=np.int64), n),
                                                               index))
        replace_node(model.graph, reshape, [helper.make_node("Gather", [unsq.input[0], index],
                                                             [reshape.output[0]], axis=a - 1, name=new("n"))])
        n_done += 1
    return rewritten(model, n_done, "repeated_heads", "key/value heads repeated through a 5-D Expand → a Gather")


# row-wise ops: each output row depends on the same input row only (constants of rank ≤ 1 broadcast along
# the features), so they compute the same on [rows, K] and on [..., K]
_ROWWISE_UNARY = {"Relu", "Gelu", "Sigmoid", "Tanh", "Erf", "Exp", "Log", "Sqrt", "Neg", "Abs", "Identity",
                  "Softplus", "HardSigmoid", "HardSwish", "LeakyRelu", "Elu", "Selu", "Mish", "Reciprocal", "Cast"}
_ROWWISE_BINARY = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"}


def flattened_rows(model: Any) -> list[str]:
    """Reshape(x, [-1, K]) → row-wise ops (LayerNormalization of the last axis, Gemm / MatMul by a constant,
    activations, sums of such rows and of constants of rank ≤ 1) → Reshape back to x's leading dims: the same
    ops on x itself, the Gemms as MatMul + Add, the Reshapes dropped. OPT's feed-forward block flattens its
    input (`reshape(-1, hidden)`, the residual added on the 2-D rows) and restores the shape from Shape ops;
    onnx2tf lost the last dim there at a dynamic sequence ("tf.constant with unsupported shape" in the next
    LayerNormalization). unflatten_gemm is the one-Gemm case."""
    from onnx import helper, numpy_helper

    dims = symbolic_dims(model)
    if not dims:
        return []
    consts = constants(model)
    uses = use_counts(model)
    reading = readers(model)
    outputs = {o.name for o in model.graph.output}
    n_done = 0
    for flat in list(model.graph.node):
        target = consts.get(flat.input[1]) if flat.op_type == "Reshape" and len(flat.input) > 1 else None
        x = flat.input[0] if target is not None else ""
        lead = dims.get(x) or []
        if target is None or target.tolist()[:1] != [-1] or target.size != 2 or len(lead) < 3 or \
                None in lead or lead[-1] != int(target[1]):
            continue
        region, ops, ends, ok = {flat.output[0]}, [], [], True
        changed = True
        while changed and ok:  # until every reader of the region is classified (a sum waits for its operands)
            changed, waiting = False, False
            for t in list(region):
                if t in outputs or uses.get(t, 0) != len(reading.get(t, [])):
                    ok = False  # a graph output or a subgraph reader: left as written
                    break
                for node in reading.get(t, []):
                    if node in ops or node in ends:
                        continue
                    if _restores(node, lead, dims):
                        ends.append(node)
                    elif _rowwise(node, region, consts):
                        ops.append(node)
                        region.add(node.output[0])
                        changed = True
                    elif node.op_type in _ROWWISE_BINARY:
                        waiting = True
                    else:
                        ok = False
                        break
                if not ok:
                    break
        ok = ok and not waiting
        if not ok or not ends:
            continue
        new = unique(model, flat.output[0])
        for node in ops:  # the region's readers of the flat view read x itself
            for k, i in enumerate(node.input):
                if i == flat.output[0]:
                    node.input[k] = x
        for node in ops:
            if node.op_type == "Gemm":
                attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
                w = consts[node.input[1]]
                wname = new("w")
                model.graph.initializer.append(numpy_helper.from_array(
                    np.ascontiguousarray(w.T if attrs.get("transB", 0) else w), wname))
                bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
                mm = node.output[0] if bias is None else new("mm")
                replace_node(model.graph, node, [helper.make_node("MatMul", [node.input[0], wname], [mm],
                                                                  name=new("n"))]
                             + ([helper.make_node("Add", [mm, bias], [node.output[0]], name=new("n"))]
                                if bias else []))
            elif node.op_type == "LayerNormalization":
                for a in node.attribute:
                    if a.name == "axis":
                        a.i = -1
        for end in ends:
            replace_node(model.graph, end, [helper.make_node("Identity", [end.input[0]], [end.output[0]],
                                                             name=new("n"))])
        model.graph.node.remove(flat)
        n_done += 1
    return rewritten(model, n_done, "flattened_rows",
                     "row-wise block(s) on a [-1, K] view → on the unflattened tensor")


def _rowwise(node: Any, region: set[str], consts: dict[str, np.ndarray]) -> bool:
    from onnx import helper

    if node.domain not in ("", "ai.onnx") or not node.input or node.input[0] not in region and \
            node.op_type not in _ROWWISE_BINARY:
        return False
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type in _ROWWISE_UNARY:
        return len(node.input) == 1 or node.op_type == "Cast"
    if node.op_type in _ROWWISE_BINARY:
        return all(i in region or (i in consts and consts[i].ndim <= 1) for i in node.input) and \
            any(i in region for i in node.input)
    if node.op_type == "LayerNormalization":
        return attrs.get("axis", -1) in (-1, 1) and all(i in consts for i in node.input[1:] if i)
    if node.op_type == "Gemm":
        c = node.input[2] if len(node.input) > 2 and node.input[2] else None
        return node.input[1] in consts and not attrs.get("transA", 0) and attrs.get("alpha", 1.0) == 1.0 and \
            attrs.get("beta", 1.0) == 1.0 and (c is None or c in consts and consts[c].ndim <= 1)
    if node.op_type == "MatMul":
        return node.input[1] in consts and consts[node.input[1]].ndim == 2
    return False


def _restores(node: Any, lead: list[Any], dims: dict[str, list[Any]]) -> bool:
    """A Reshape back to the flattened tensor's leading dims (any last dim)."""
    out = dims.get(node.output[0]) or []
    return node.op_type == "Reshape" and len(out) == len(lead) and out[:-1] == lead[:-1]
