"""Reaching a tool's maximum opset (TOOL: onnx2torch, the tool with a `max_opset`): ops newer than it
written out in older ones, then onnx.version_converter, with what it has no adapter for passed through."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConversionFailed
from .helpers import const, constants, elem_types, graphs, opset, replace_node, static_dims, unique

TOOL = "onnx2torch"


def decompose_gelu(model: Any, max_opset: int) -> list[str]:
    """Gelu (opset 20) → 0.5·x·(1 + erf(x/√2)), or the tanh form for approximate="tanh"."""
    from onnx import helper

    if max_opset >= 20:
        return []
    types = elem_types(model)
    n_done = 0
    for node in list(model.graph.node):
        if node.op_type != "Gelu" or node.domain not in ("", "ai.onnx"):
            continue
        x, y = node.input[0], node.output[0]
        elem = types.get(x, 1)
        approx = next((a.s.decode() for a in node.attribute if a.name == "approximate"), "none")
        new = unique(model, node.name or "gelu")
        half, one = const(model, new("half"), 0.5, elem), const(model, new("one"), 1.0, elem)
        t = [new("t") for _ in range(6)]
        if approx == "tanh":
            c, k = const(model, new("c"), math.sqrt(2 / math.pi), elem), const(model, new("k"), 0.044715, elem)
            three = const(model, new("three"), 3.0, elem)
            nodes = [helper.make_node("Pow", [x, three], [t[0]]), helper.make_node("Mul", [t[0], k], [t[1]]),
                     helper.make_node("Add", [x, t[1]], [t[2]]), helper.make_node("Mul", [t[2], c], [t[3]]),
                     helper.make_node("Tanh", [t[3]], [t[4]])]
        else:
            s = const(model, new("rsqrt2"), 1 / math.sqrt(2), elem)
            nodes = [helper.make_node("Mul", [x, s], [t[3]]), helper.make_node("Erf", [t[3]], [t[4]])]
        nodes += [helper.make_node("Add", [t[4], one], [t[5]]), helper.make_node("Mul", [x, t[5]], [t[0] + "m"]),
                  helper.make_node("Mul", [t[0] + "m", half], [y])]
        replace_node(model.graph, node, nodes)
        n_done += 1
    return [f"decompose_gelu: {n_done} Gelu → Erf/Tanh arithmetic (opset ≤ {max_opset})"] if n_done else []


def decompose_layernorm(model: Any, max_opset: int) -> list[str]:
    """LayerNormalization (opset 17) → ReduceMean/Sub/Pow/Sqrt/Div/Mul/Add over the trailing axes."""
    from onnx import helper, numpy_helper

    if max_opset >= 17:
        return []
    types = elem_types(model)
    n_done = 0
    for node in list(model.graph.node):
        if node.op_type != "LayerNormalization" or node.domain not in ("", "ai.onnx") or len(node.output) > 1 \
                and any(node.output[1:]):
            continue
        x, y = node.input[0], node.output[0]
        elem = types.get(x, 1)
        axis = next((a.i for a in node.attribute if a.name == "axis"), -1)
        eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
        if axis >= 0:
            continue  # needs the rank; torch exporters always write a negative axis
        new = unique(model, node.name or "layernorm")
        axes = new("axes")
        model.graph.initializer.append(numpy_helper.from_array(np.arange(axis, 0, dtype=np.int64), axes))
        e, two = const(model, new("eps"), eps, elem), const(model, new("two"), 2.0, elem)
        mean, d, sq, var, ve, sd, norm = (new(s) for s in ("mean", "d", "sq", "var", "ve", "sd", "norm"))

        def reduce(i: str, o: str, axes: str = axes, axis: int = axis) -> Any:
            if max_opset >= 18:
                return helper.make_node("ReduceMean", [i, axes], [o], keepdims=1)
            return helper.make_node("ReduceMean", [i], [o], axes=list(range(axis, 0)), keepdims=1)

        nodes = [reduce(x, mean), helper.make_node("Sub", [x, mean], [d]), helper.make_node("Pow", [d, two], [sq]),
                 reduce(sq, var), helper.make_node("Add", [var, e], [ve]), helper.make_node("Sqrt", [ve], [sd]),
                 helper.make_node("Div", [d, sd], [norm])]
        scaled = norm
        if len(node.input) > 1 and node.input[1]:
            scaled = new("scaled")
            nodes.append(helper.make_node("Mul", [norm, node.input[1]], [scaled]))
        if len(node.input) > 2 and node.input[2]:
            nodes.append(helper.make_node("Add", [scaled, node.input[2]], [y]))
        else:
            nodes.append(helper.make_node("Identity", [scaled], [y]))
        replace_node(model.graph, node, nodes)
        n_done += 1
    return [f"decompose_layernorm: {n_done} LayerNormalization → arithmetic"] if n_done else []


def split_to_slices(model: Any, max_opset: int) -> list[str]:
    """Split (opset 18: `num_outputs`, or a `split` input) → one Slice per output, where the sizes are known
    (a constant `split`, or `num_outputs` over an axis whose size shape inference knows). onnx's
    version_converter has no 18→17 adapter for Split; Slice did not change after opset 13."""
    from onnx import helper, numpy_helper

    if max_opset >= 18 or opset(model) < 18:
        return []
    consts = constants(model)
    dims = static_dims(model)  # without shapes only constant `split` inputs are rewritten
    dims.update({k: list(v.shape) for k, v in consts.items()})
    n_done = 0
    for node in list(model.graph.node):
        if node.op_type != "Split" or node.domain not in ("", "ai.onnx"):
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        count = next((a.i for a in node.attribute if a.name == "num_outputs"), len(node.output))
        if len(node.input) > 1 and node.input[1]:
            if node.input[1] not in consts:
                continue
            sizes = [int(v) for v in consts[node.input[1]].reshape(-1)]
        else:
            shape = dims.get(node.input[0])
            if not shape or not -len(shape) <= axis < len(shape) or shape[axis] is None:
                continue
            total = int(shape[axis])
            chunk = -(-total // count)  # opset 18: equal chunks, the last one smaller
            sizes = [min(chunk, total - i * chunk) for i in range(count)]
        if len(sizes) != len(node.output) or any(v < 0 for v in sizes):
            continue
        new = unique(model, node.name or "split")
        ax = new("axes")
        model.graph.initializer.append(numpy_helper.from_array(np.array([axis], np.int64), ax))
        nodes, start = [], 0
        for out, size in zip(node.output, sizes, strict=True):
            st, en = new("start"), new("end")
            model.graph.initializer.append(numpy_helper.from_array(np.array([start], np.int64), st))
            model.graph.initializer.append(numpy_helper.from_array(np.array([start + size], np.int64), en))
            if out:
                nodes.append(helper.make_node("Slice", [node.input[0], st, en, ax], [out]))
            start += size
        replace_node(model.graph, node, nodes)
        n_done += 1
    return [f"split_to_slices: {n_done} Split → Slice (no 18→17 adapter for Split)"] if n_done else []


_KEPT = "portkit.unchanged"  # a domain version_converter passes through untouched


def _unchanged_at(node: Any, max_opset: int) -> bool:
    """Whether `node` uses nothing its op gained after `max_opset`, so it means the same there, but
    onnx's version_converter has no adapter to take it down: ConstantOfShape (20/21 only added types),
    Pad without the `axes` input (18) and without `wrap` (19). torch's dynamo exporter writes opset 20+;
    Swin's attention masks and padding have both."""
    from onnx import helper

    if node.domain not in ("", "ai.onnx"):
        return False
    if node.op_type == "ConstantOfShape" and max_opset >= 9:
        value = next((a.t for a in node.attribute if a.name == "value"), None)
        return value is None or helper.tensor_dtype_to_np_dtype(value.data_type) in _OPSET9_CONSTANT_TYPES
    if node.op_type == "Pad" and max_opset >= 13:
        mode = next((a.s for a in node.attribute if a.name == "mode"), b"constant")
        return (len(node.input) < 4 or not node.input[3]) and mode != b"wrap"
    return False


_OPSET9_CONSTANT_TYPES = {np.dtype(t) for t in (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32,
                                                np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.bool_)}


def hide_unchanged_ops(model: Any, max_opset: int) -> list[str]:
    """Move the nodes `_unchanged_at` `max_opset` to a private domain for onnx.version_converter (it has
    no adapter for them) — `restore_hidden_ops` moves them back after it ran."""
    from onnx import helper

    if opset(model) <= max_opset:
        return []
    hidden: dict[str, int] = {}
    for g in graphs(model.graph):
        for node in g.node:
            if _unchanged_at(node, max_opset):
                node.domain = _KEPT
                hidden[node.op_type] = hidden.get(node.op_type, 0) + 1
    if not hidden:
        return []
    model.opset_import.append(helper.make_opsetid(_KEPT, 1))
    ops = ", ".join(f"{n} {op}" for op, n in sorted(hidden.items()))
    return [f"hide_unchanged_ops: {ops} kept as they are (their use means the same at opset {max_opset}; "
            "version_converter has no adapter)"]


def restore_hidden_ops(model: Any) -> None:
    for g in graphs(model.graph):
        for node in g.node:
            if node.domain == _KEPT:
                node.domain = ""
    for o in [o for o in model.opset_import if o.domain == _KEPT]:
        model.opset_import.remove(o)


def lower_opset(model: Any, max_opset: int) -> tuple[Any, list[str]]:
    """onnx.version_converter down to `max_opset` after the decompositions above. The 18→17 adapters keep
    `noop_with_empty_axes` on Reduce* ops, which opset 17 knows only for ReduceSum; its default (0) is
    opset 17's behaviour, so it is dropped."""
    from onnx import version_converter

    current = opset(model)
    if current <= max_opset:
        return model, []
    notes = decompose_gelu(model, max_opset) + decompose_layernorm(model, max_opset) + \
        split_to_slices(model, max_opset) + hide_unchanged_ops(model, max_opset)
    try:
        lowered = version_converter.convert_version(model, max_opset)
    except Exception as e:
        raise ConversionFailed(f"cannot lower ONNX opset {current} to {max_opset}: {str(e).splitlines()[0]}",
                               hint=f"re-export the model with --opset {max_opset}") from e
    finally:
        restore_hidden_ops(model)  # the caller's model, converted or not, is left as it was
    model = lowered
    restore_hidden_ops(model)
    for g in graphs(model.graph):
        for node in g.node:
            if node.op_type.startswith("Reduce") and node.op_type != "ReduceSum":
                for a in list(node.attribute):
                    if a.name == "noop_with_empty_axes" and a.i == 0:
                        node.attribute.remove(a)
    return model, [*notes, f"lower_opset: opset {current} → {max_opset}"]

