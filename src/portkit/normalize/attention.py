"""Attention spellings onnx2tf cannot take at a dynamic sequence (TOOL: onnx2tf): key/value heads repeated
for grouped-query attention through a 5-D tensor."""

from __future__ import annotations

from typing import Any

import numpy as np

from .helpers import constants, replace_node, rewritten, symbolic_dims, unique, use_counts

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
    made = {o: n for n in model.graph.node for o in n.output}
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
