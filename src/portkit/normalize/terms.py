"""Terms computed from the input's shape alone (TOOL: onnx2tf): a positional encoding built from
`zeros(batch, H, W)`, equal for every sample, folded to one constant row the data broadcasts against."""

from __future__ import annotations

from typing import Any

import numpy as np

from .helpers import constants, drop_unused, graphs, readers, rename_uses, symbolic_dims, unique

TOOL = "onnx2tf"

# elementwise ops that broadcast every operand against the others: a [1, ...] operand in place of a
# [batch, ...] one whose rows are all equal gives the same output
_BROADCAST = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mod", "Where", "And", "Or", "Xor",
              "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "PRelu"}
# ops whose outputs differ run to run: never folded
_RANDOM = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli",
           "Dropout"}
MAX_TERM_ELEMENTS = 4_000_000  # a folded row is stored as an initializer: 16 MB of float32 at most
CHECK_BATCHES = (2, 3)


def shape_only_terms(model: Any, shapes: dict[str, tuple[Any, ...]] | None = None,
                     ranges: dict[str, tuple[float, float]] | None = None) -> list[str]:
    """A tensor that depends on the graph's inputs only through their shapes (Shape ops of tensors whose
    dims symbolic inference derives from the inputs' own), with a dynamic first axis and static other
    dims, broadcast into the data by an elementwise op (Add, Mul, ...) whose output keeps that first axis →
    its first row, computed once with onnxruntime, as a [1, ...] constant; the subgraph that built it is
    dropped. Applied only where every row is equal (run at batch 2 and 3, all rows against the first and
    both first rows against each other): EdgeNeXt's Fourier positional encoding, built from
    `~zeros(B, H, W)` by cumulative sums, sines and a 1×1 conv, then reshaped with B and added to the
    tokens. onnx2tf built that encoding from the batch read at run time and sliced `cumsum[:, :, -1:]` of
    the square [B, 32, 32] tensor along the wrong axis: the TFLite could not be prepared at any batch."""
    from onnx import numpy_helper

    found = _candidates(model)
    if not found:
        return []
    rows = _first_rows(model, sorted({t for t, _ in found}), shapes, ranges)
    new = unique(model, "term")
    names: dict[str, str] = {}
    n_done = 0
    for tensor, node in found:
        row = rows.get(tensor)
        if row is None:
            continue
        if tensor not in names:
            names[tensor] = new("row")
            model.graph.initializer.append(numpy_helper.from_array(row, names[tensor]))
        for k, i in enumerate(node.input):
            if i == tensor:
                node.input[k] = names[tensor]
        n_done += 1
    if not n_done:
        return []
    drop_unused(model)
    return [f"shape_only_terms: {len(names)} term(s) computed from the input's shape alone, equal along the "
            f"batch → one constant row each"]


def _shape_only(model: Any, dims: dict[str, list[Any]]) -> tuple[set[str], set[str]]:
    """Tensors computed from the graph inputs' shapes (and constants) alone, none of their values read; and
    those computed from their values."""
    consts = constants(model)
    inputs = {i.name for i in model.graph.input} - set(consts)
    symbols = {d.dim_param for i in model.graph.input for d in i.type.tensor_type.shape.dim if d.dim_param}
    data, shaped = set(inputs), set()
    for node in model.graph.node:
        ins = [i for i in node.input if i]
        if node.op_type == "Constant" or not ins and node.op_type not in _RANDOM:
            continue
        if node.op_type in ("Shape", "Size") and node.domain in ("", "ai.onnx"):
            d = dims.get(ins[0])
            # the shape of a tensor whose dims are fixed or the inputs' own symbols: never of data values
            clean = d is not None and all(isinstance(x, int) and x >= 0 or x in symbols for x in d)
            (shaped if clean else data).update(node.output)
            continue
        if node.domain not in ("", "ai.onnx") or node.op_type in _RANDOM or \
                any(a.type in (a.GRAPH, a.GRAPHS) for a in node.attribute):
            if any(i in data or i in shaped for i in ins) or not ins:
                data.update(node.output)
            continue
        if any(i in data for i in ins):
            data.update(node.output)
        elif any(i in shaped for i in ins):
            shaped.update(node.output)
    return shaped, data


def _candidates(model: Any) -> list[tuple[str, Any]]:
    """(tensor, reader) pairs: a shape-only tensor with a dynamic first axis and static other dims, read by
    a broadcasting elementwise op of data whose output has the same rank and first axis."""
    if any(g is not model.graph for g in graphs(model.graph)):
        return []  # a subgraph may read a tensor by name from the outer scope: left alone
    if not any(n.op_type in ("Shape", "Size") for n in model.graph.node):
        return []
    dims = symbolic_dims(model)
    shaped, data = _shape_only(model, dims)
    if not shaped:
        return []
    found = []
    for tensor, nodes in readers(model).items():
        if tensor not in shaped:
            continue
        d = dims.get(tensor)
        if not d or len(d) < 2 or not isinstance(d[0], str) or \
                not all(isinstance(x, int) and x > 0 for x in d[1:]) or int(np.prod(d[1:])) > MAX_TERM_ELEMENTS:
            continue
        for node in nodes:
            out = dims.get(node.output[0]) if node.output else None
            if node.op_type not in _BROADCAST or node.domain not in ("", "ai.onnx") or out is None or \
                    len(out) != len(d) or out[0] != d[0] or not any(i in data for i in node.input):
                continue
            found.append((tensor, node))
    return found


def _first_rows(model: Any, tensors: list[str], shapes: dict[str, tuple[Any, ...]] | None,
                ranges: dict[str, tuple[float, float]] | None) -> dict[str, np.ndarray]:
    """Each tensor's first row ([1, ...]) where onnxruntime finds every row equal at batch 2 and 3."""
    import onnx
    from onnx import helper

    from .. import onnxutil
    from ..inputs import make_inputs
    from .check import close, run

    sub = onnx.ModelProto()
    sub.CopyFrom(model)
    del sub.graph.output[:]
    sub.graph.output.extend(helper.make_empty_tensor_value_info(t) for t in tensors)
    drop_unused(sub)
    results = []
    try:
        for b in CHECK_BATCHES:
            feeds = make_inputs(onnxutil.signature(model), batch=b, shapes=shapes, ranges=ranges)
            results.append(run(sub, feeds))
    except Exception:  # noqa: BLE001 - what onnxruntime cannot run here is left for the tool
        return {}
    rows = {}
    for t in tensors:
        values = [np.asarray(r[t]) for r in results]
        first = [v[:1] for v in values]
        if any(v.shape[0] < 2 for v in values) or any(not close(np.broadcast_to(f, v.shape), v)
                                                      for f, v in zip(first, values, strict=True)):
            continue  # rows differ (arange(batch), ...): the term depends on the sample's position
        if first[0].shape != first[1].shape or not close(first[0], first[1]):
            continue
        rows[t] = np.ascontiguousarray(first[0])
    return rows


def generated_constants(model: Any) -> list[str]:
    """A tensor computed from small constants alone (what static_shape_values left of shape arithmetic once
    the static dims became constants), too large for its fold (over MAX_FOLD_ELEMENTS), read by a node of
    the data → its value, computed once with onnxruntime, as an initializer. swin_t's shifted-window attention
    mask under the TorchScript exporter: window ids laid out from H and W, `ids.unsqueeze(1) - ids.unsqueeze(2)`
    of [64, 49, 49], compared with 0; onnx2tf failed on that Sub of two constants ("'NoneType' object has no
    attribute 'shape'") where the dynamo exporter's ONNX holds the mask as one constant. Chains that read a
    large initializer (a weight transposed or cast) are left as they are: only generated tensors fold."""
    from onnx import helper, numpy_helper

    from .check import run
    from .shapes import MAX_FOLD_ELEMENTS

    if any(g is not model.graph for g in graphs(model.graph)):
        return []  # a subgraph may read a tensor by name from the outer scope: left alone
    consts = constants(model)
    small = {k for k, v in consts.items() if v.size <= MAX_FOLD_ELEMENTS}
    made: set[str] = set()  # computed from small constants alone
    for node in model.graph.node:
        ins = [i for i in node.input if i]
        if ins and node.domain in ("", "ai.onnx") and node.op_type not in _RANDOM and \
                all(i in small or i in made for i in ins) and not any(o in consts for o in node.output):
            made.update(node.output)
    outputs = {o.name for o in model.graph.output}
    frontier = sorted({i for node in model.graph.node for i in node.input if i in made and i not in outputs
                       and not all(j in small or j in made for j in node.input if j)})
    if not frontier:
        return []
    sub = helper.make_model(helper.make_graph(
        [n for n in model.graph.node if any(o in made for o in n.output)], "generated", [],
        [helper.make_empty_tensor_value_info(t) for t in frontier],
        [numpy_helper.from_array(consts[k], k) for k in sorted(small)]), opset_imports=list(model.opset_import))
    sub.ir_version = model.ir_version
    try:
        values = run(sub, {})
    except Exception:  # noqa: BLE001 - what onnxruntime cannot run here is left for the tool
        return []
    values = {t: np.asarray(v) for t, v in values.items()
              if MAX_FOLD_ELEMENTS < np.asarray(v).size <= MAX_TERM_ELEMENTS}
    if not values:
        return []
    new = unique(model, "generated")
    names = {t: new("const") for t in values}
    for t, v in values.items():
        model.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(v), names[t]))
        rename_uses(model.graph, t, names[t])
    drop_unused(model)
    return [f"generated_constants: {len(values)} tensor(s) computed from small constants alone → initializers"]
