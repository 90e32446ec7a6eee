"""ONNX graph normalisation: rewrite what a wrapped converter cannot take, before it runs.

Each rewrite is one small function that changes a ModelProto in place (or returns a new one) and returns a
note per change. `normalize` runs the rewrites a tool needs, then checks the rewritten model against the
original with onnxruntime on the same random inputs (dtype- and range-aware: token ids stay below the
vocabulary) and raises ConversionFailed when they differ. This is why portkit converts models the bare tools
stop on:

- alias_initializers: the TorchScript exporter deduplicates equal weights behind Identity nodes
  (`onnx::Conv_177 = Identity(layer1.0.conv1.weight)`); onnx2torch looks weights up as initializers
  and raises KeyError. Consumers are pointed at the initializer itself.
- decompose_gelu / decompose_layernorm: ops newer than the tool's opset that `onnx.version_converter`
  cannot lower are written out in older ops first.
- split_to_slices: Split of opset 18 (`num_outputs`) → Slices, which version_converter can lower.
- hide_unchanged_ops: ConstantOfShape (opset 20) and Pad (18) used as their older versions define them are
  passed through version_converter untouched (it has no adapter for them).
- lower_opset: onnx.version_converter to the tool's maximum opset (and the attribute it leaves behind).
- drop_reshape_allowzero: Reshape's allowzero=1 where the constant shape has no 0 (it cannot matter).
- bool_arithmetic: Mul/Add on bool tensors (attention masks) become And/Or.
- constant_reshape_shapes (onnx2tf only): Reshape targets computed from Shape ops → constants with 0s
  where symbolic shape inference proves each dim fixed or kept (onnx2tf mis-transposes computed ones).
- split_unsqueeze (onnx2tf only): multi-axis Unsqueeze of a tensor with ≥ 2 dynamic dims → one per axis.
- bool_expand (onnx2tf only): Expand of a bool tensor goes through int32 (onnx2tf multiplies bools).
- prepended_tokens (onnx2tf only): ViT's class token broadcast and concatenated before the patches → Pad +
  Add of a constant (onnx2tf transposed the (1, 1, D) token as if it were channels-first).
- flat_gathernd (onnx2tf only): GatherND by (row, col) index grids (transformers' padding masks under
  torch.export) → Gather of the flattened data (onnx2tf lost the grid's rank).
- static_shape_values (onnx2tf only): shape arithmetic every value of which the static dims fix (a fixed
  sequence length: position ids sliced to Shape(ids)[1]) → constants, and what then has only constant inputs
  folded (onnx2tf lost such dims when batch stays dynamic).
- partial_shape_inputs (onnx2tf only): an Expand / ConstantOfShape shape fixed in all dims but the dynamic
  ones (a mask broadcast to [batch, 1, S, S]) → Concat of constants and Slices; an Expand becomes an Add of
  zeros of that shape (TensorFlow then keeps the fixed dims).
- constant_expand (onnx2tf only): Expand of a constant buffer → Add of zeros (onnx2tf returned the buffer
  unexpanded).
- scalar_operands (onnx2tf only): 0-d constant operands of Add/Sub/Mul/Div → shape [1] (onnx2tf's
  re-check of an op with repeated dims took a 0-d constant for a layer).
- split_comparisons (onnx2torch only): GreaterOrEqual / LessOrEqual (opset 12, which onnx2torch has no
  converter for; transformers' attention masks use them) → Not(Less) / Not(Greater).

Needs only onnx (and onnxruntime for the check); imports no framework.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .errors import ConversionFailed

__all__ = [
    "alias_initializers",
    "bool_arithmetic",
    "bool_expand",
    "check_equivalent",
    "collapse_reshapes",
    "constant_expand",
    "constant_reshape_shapes",
    "decompose_gelu",
    "decompose_layernorm",
    "drop_reshape_allowzero",
    "flat_gathernd",
    "fold_constants",
    "hide_unchanged_ops",
    "index_grid_gather",
    "lower_opset",
    "normalize",
    "partial_shape_inputs",
    "prepended_tokens",
    "scalar_operands",
    "split_comparisons",
    "split_to_slices",
    "static_shape_values",
]

CHECK_RTOL = 1e-4  # the rewrites are exact up to float rounding (a decomposed Gelu rounds differently)
CHECK_ATOL = 1e-5
MAX_CHECK_BYTES = 1_500_000_000  # larger models cannot be handed to onnxruntime as one protobuf


# ---------------------------------------------------------------- helpers


def _graphs(graph: Any) -> Iterable[Any]:
    """A graph and every subgraph (If/Loop/Scan bodies) inside it."""
    yield graph
    for node in graph.node:
        for a in node.attribute:
            if a.type == a.GRAPH:
                yield from _graphs(a.g)
            for g in a.graphs:
                yield from _graphs(g)


def _rename_uses(graph: Any, old: str, new: str) -> None:
    for g in _graphs(graph):
        for node in g.node:
            for i, n in enumerate(node.input):
                if n == old:
                    node.input[i] = new


def _unique(model: Any, base: str) -> Callable[[str], str]:
    used = {n for g in _graphs(model.graph) for node in g.node for n in (*node.input, *node.output)}
    used |= {i.name for i in model.graph.initializer}
    count = [0]

    def make(suffix: str) -> str:
        while True:
            count[0] += 1
            name = f"{base}__portkit_{suffix}{count[0]}"
            if name not in used:
                used.add(name)
                return name

    return make


def _elem_types(model: Any) -> dict[str, int]:
    """ONNX element type of every tensor shape inference can type."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - best effort: untyped tensors are simply not rewritten
        inferred = model
    g = inferred.graph
    out = {v.name: v.type.tensor_type.elem_type for v in (*g.value_info, *g.input, *g.output)
           if v.type.HasField("tensor_type")}
    out.update({i.name: i.data_type for i in g.initializer})
    return out


def _static_dims(model: Any) -> dict[str, list[int | None]]:
    """Each tensor's dims as onnx's (static) shape inference knows them: ints, None where unknown; only what
    the model itself declares when inference fails."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - best effort: tensors without known dims are simply not rewritten
        inferred = model
    g = inferred.graph
    return {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
            for v in (*g.value_info, *g.input, *g.output) if v.type.tensor_type.HasField("shape")}


def _opset(model: Any) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _const(model: Any, name: str, value: float, elem: int) -> str:
    from onnx import helper, numpy_helper

    dtype = helper.tensor_dtype_to_np_dtype(elem) if elem else np.float32
    model.graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
    return name


def _replace_node(graph: Any, node: Any, new_nodes: list[Any]) -> None:
    idx = list(graph.node).index(node)
    graph.node.remove(node)
    for k, n in enumerate(new_nodes):
        graph.node.insert(idx + k, n)


# ---------------------------------------------------------------- rewrites


def alias_initializers(model: Any) -> list[str]:
    """Identity(initializer) → the initializer itself, for every consumer (graph outputs keep the node)."""
    inits = {i.name for i in model.graph.initializer}
    outputs = {o.name for o in model.graph.output}
    notes: list[str] = []
    changed = True
    while changed:  # Identity chains resolve one link per pass
        changed = False
        for node in list(model.graph.node):
            if node.op_type != "Identity" or node.input[0] not in inits or node.output[0] in outputs:
                continue
            _rename_uses(model.graph, node.output[0], node.input[0])
            model.graph.node.remove(node)
            notes.append(f"{node.output[0]}: Identity of initializer {node.input[0]} → the initializer")
            changed = True
    return [f"alias_initializers: {len(notes)} Identity-aliased initializer(s) resolved"] if notes else []


def decompose_gelu(model: Any, max_opset: int) -> list[str]:
    """Gelu (opset 20) → 0.5·x·(1 + erf(x/√2)), or the tanh form for approximate="tanh"."""
    from onnx import helper

    if max_opset >= 20:
        return []
    types = _elem_types(model)
    n_done = 0
    for node in list(model.graph.node):
        if node.op_type != "Gelu" or node.domain not in ("", "ai.onnx"):
            continue
        x, y = node.input[0], node.output[0]
        elem = types.get(x, 1)
        approx = next((a.s.decode() for a in node.attribute if a.name == "approximate"), "none")
        new = _unique(model, node.name or "gelu")
        half, one = _const(model, new("half"), 0.5, elem), _const(model, new("one"), 1.0, elem)
        t = [new("t") for _ in range(6)]
        if approx == "tanh":
            c, k = _const(model, new("c"), math.sqrt(2 / math.pi), elem), _const(model, new("k"), 0.044715, elem)
            three = _const(model, new("three"), 3.0, elem)
            nodes = [helper.make_node("Pow", [x, three], [t[0]]), helper.make_node("Mul", [t[0], k], [t[1]]),
                     helper.make_node("Add", [x, t[1]], [t[2]]), helper.make_node("Mul", [t[2], c], [t[3]]),
                     helper.make_node("Tanh", [t[3]], [t[4]])]
        else:
            s = _const(model, new("rsqrt2"), 1 / math.sqrt(2), elem)
            nodes = [helper.make_node("Mul", [x, s], [t[3]]), helper.make_node("Erf", [t[3]], [t[4]])]
        nodes += [helper.make_node("Add", [t[4], one], [t[5]]), helper.make_node("Mul", [x, t[5]], [t[0] + "m"]),
                  helper.make_node("Mul", [t[0] + "m", half], [y])]
        _replace_node(model.graph, node, nodes)
        n_done += 1
    return [f"decompose_gelu: {n_done} Gelu → Erf/Tanh arithmetic (opset ≤ {max_opset})"] if n_done else []


def decompose_layernorm(model: Any, max_opset: int) -> list[str]:
    """LayerNormalization (opset 17) → ReduceMean/Sub/Pow/Sqrt/Div/Mul/Add over the trailing axes."""
    from onnx import helper, numpy_helper

    if max_opset >= 17:
        return []
    types = _elem_types(model)
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
        new = _unique(model, node.name or "layernorm")
        axes = new("axes")
        model.graph.initializer.append(numpy_helper.from_array(np.arange(axis, 0, dtype=np.int64), axes))
        e, two = _const(model, new("eps"), eps, elem), _const(model, new("two"), 2.0, elem)
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
        _replace_node(model.graph, node, nodes)
        n_done += 1
    return [f"decompose_layernorm: {n_done} LayerNormalization → arithmetic"] if n_done else []


def split_to_slices(model: Any, max_opset: int) -> list[str]:
    """Split (opset 18: `num_outputs`, or a `split` input) → one Slice per output, where the sizes are known
    (a constant `split`, or `num_outputs` over an axis whose size shape inference knows). onnx's
    version_converter has no 18→17 adapter for Split; Slice did not change after opset 13."""
    from onnx import helper, numpy_helper

    if max_opset >= 18 or _opset(model) < 18:
        return []
    consts = _constants(model)
    dims = _static_dims(model)  # without shapes only constant `split` inputs are rewritten
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
        new = _unique(model, node.name or "split")
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
        _replace_node(model.graph, node, nodes)
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

    if _opset(model) <= max_opset:
        return []
    hidden: dict[str, int] = {}
    for g in _graphs(model.graph):
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
    for g in _graphs(model.graph):
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

    current = _opset(model)
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
    for g in _graphs(model.graph):
        for node in g.node:
            if node.op_type.startswith("Reduce") and node.op_type != "ReduceSum":
                for a in list(node.attribute):
                    if a.name == "noop_with_empty_axes" and a.i == 0:
                        node.attribute.remove(a)
    return model, [*notes, f"lower_opset: opset {current} → {max_opset}"]


def _constants(model: Any) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    consts[node.output[0]] = numpy_helper.to_array(a.t)
    return consts


_SHAPE_ARITH = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.floor_divide,
                "Max": np.maximum, "Min": np.minimum, "Equal": np.equal}
MAX_FOLD_ELEMENTS = 1 << 16  # constants folded from shape arithmetic stay small (no weights are copied)


def _shape_values(model: Any) -> dict[str, np.ndarray]:
    """Partial evaluation of shape arithmetic: for each integer tensor computed from Shape ops and constants,
    an object array of its values with None where a value depends on a dynamic dim. Shape dims come from
    onnx's static shape inference, so a dim fixed by the model's declared input shape is known."""
    from onnx import helper

    dims = _static_dims(model)
    vals: dict[str, np.ndarray] = {}
    for name, c in _constants(model).items():
        if c.dtype.kind in "iub" and c.size <= MAX_FOLD_ELEMENTS:
            vals[name] = c.astype(object)

    def attr(node: Any, name: str, default: Any) -> Any:
        a = next((a for a in node.attribute if a.name == name), None)
        return default if a is None else helper.get_attribute_value(a)

    def known(a: np.ndarray) -> bool:
        return all(v is not None for v in a.flat)

    for node in model.graph.node:
        op, ins = node.op_type, list(node.input)
        try:
            if op == "Shape" and ins[0] in dims:
                d = dims[ins[0]]
                start, end = attr(node, "start", 0), attr(node, "end", None)
                vals[node.output[0]] = np.array(d[start:end] if end is not None else d[start:], dtype=object)
            elif op in ("Identity", "Cast") and ins[0] in vals:
                to = attr(node, "to", 7)
                if op == "Identity" or helper.tensor_dtype_to_np_dtype(to).kind in "iu":
                    vals[node.output[0]] = vals[ins[0]]
            elif op == "Gather" and ins[0] in vals and ins[1] in vals and known(vals[ins[1]]):
                vals[node.output[0]] = np.asarray(np.take(vals[ins[0]], vals[ins[1]].astype(np.int64),
                                                         axis=attr(node, "axis", 0)), dtype=object)
            elif op == "Concat" and all(i in vals for i in ins):
                vals[node.output[0]] = np.concatenate([vals[i] for i in ins], axis=attr(node, "axis", 0))
            elif op in ("Unsqueeze", "Squeeze") and ins[0] in vals and vals[ins[0]].ndim <= 1:
                v = vals[ins[0]]
                vals[node.output[0]] = v.reshape(-1) if op == "Unsqueeze" else v.reshape(())
            elif op == "Slice" and ins[0] in vals and vals[ins[0]].ndim == 1 and \
                    all(i in vals and known(vals[i]) for i in ins[1:3]) and len(ins) < 4:
                start, end = int(vals[ins[1]][0]), int(vals[ins[2]][0])
                vals[node.output[0]] = vals[ins[0]][start:min(end, 1 << 30)]
            elif op == "Reshape" and ins[0] in vals and ins[1] in vals and known(vals[ins[1]]):
                vals[node.output[0]] = vals[ins[0]].reshape([int(d) for d in vals[ins[1]]])
            elif op == "Where" and all(i in vals for i in ins):
                c, a, b = np.broadcast_arrays(*(vals[i] for i in ins))
                vals[node.output[0]] = np.array([None if x is None else (y if x else z)
                                                 for x, y, z in zip(c.flat, a.flat, b.flat, strict=True)],
                                                dtype=object).reshape(c.shape)
            elif op in _SHAPE_ARITH and len(ins) == 2 and all(i in vals for i in ins):
                f = _SHAPE_ARITH[op]
                a, b = np.broadcast_arrays(vals[ins[0]], vals[ins[1]])
                vals[node.output[0]] = np.array([None if x is None or y is None else f(int(x), int(y))
                                                 for x, y in zip(a.flat, b.flat, strict=True)],
                                                dtype=object).reshape(a.shape)
        except (IndexError, ValueError, TypeError):
            continue
    return vals


def static_shape_values(model: Any) -> list[str]:
    """Shape arithmetic whose every value is fixed by the model's static dims (a fixed sequence length: the
    Shape → Gather → Slice of a position-ids buffer, a mask's Expand) → constants, and any node left with
    only constant inputs folded in turn. onnx2tf cannot follow a dim through shape arithmetic when other
    dims are dynamic (batch): it came out transposed or unknown ("tf.math.add: Dimensions must be equal",
    "'NoneType' object has no attribute 'shape'"). Dims that stay dynamic are not touched."""
    from onnx import numpy_helper

    vals = _shape_values(model)
    consts = _constants(model)
    types = _elem_types(model)
    n_done = 0
    for node in list(model.graph.node):
        if node.op_type == "Constant" or len(node.output) != 1:
            continue
        v = vals.get(node.output[0])
        if v is None or node.output[0] in consts or any(x is None for x in v.flat):
            continue
        from onnx import helper

        dtype = helper.tensor_dtype_to_np_dtype(types.get(node.output[0]) or 7)
        model.graph.initializer.append(numpy_helper.from_array(np.asarray(v.tolist(), dtype=dtype), node.output[0]))
        model.graph.node.remove(node)
        n_done += 1
    if not n_done:
        return []
    folded = fold_constants(model)
    _drop_unused(model)
    return [f"static_shape_values: {n_done} shape value(s) fixed by static dims → constants"
            + (f", {folded} node(s) folded after them" if folded else "")]


def fold_constants(model: Any) -> int:
    """Evaluate (with onnxruntime) every main-graph node whose inputs are all constants and
    whose outputs stay small; their outputs become initializers. Returns how many nodes were folded."""
    from onnx import helper, numpy_helper

    consts = _constants(model)
    done = 0
    for node in list(model.graph.node):
        if node.op_type in ("Constant", "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike") \
                or node.domain not in ("", "ai.onnx") or not node.input or \
                any(a.type in (a.GRAPH, a.GRAPHS) for a in node.attribute) or \
                not all(i in consts for i in node.input if i):
            continue
        if sum(consts[i].size for i in node.input if i) > 4 * MAX_FOLD_ELEMENTS:
            continue
        try:
            names = sorted({i for i in node.input if i})
            sub = helper.make_model(helper.make_graph(
                [node], "fold", [helper.make_tensor_value_info(
                    i, helper.np_dtype_to_tensor_dtype(consts[i].dtype), consts[i].shape) for i in names],
                [helper.make_empty_tensor_value_info(o) for o in node.output]), opset_imports=list(model.opset_import))
            outs = list(_run(sub, {i: consts[i] for i in names}).values())
        except Exception:  # noqa: BLE001, S112 - what cannot be evaluated here is left for the tool
            continue
        if any(np.asarray(o).size > MAX_FOLD_ELEMENTS for o in outs):
            continue
        for name, o in zip(node.output, outs, strict=True):
            model.graph.initializer.append(numpy_helper.from_array(np.asarray(o), name))
            consts[name] = np.asarray(o)
        model.graph.node.remove(node)
        done += 1
    return done


def drop_reshape_allowzero(model: Any) -> list[str]:
    """Reshape allowzero=1 → 0 where the flag cannot matter: a constant shape without zeros, or a shape
    computed at run time (torch exporters: Concat of Shape/Gather results and constants) whose constant
    parts hold no zero — its other entries are sizes of real tensors, so a 0 there means an empty tensor."""
    consts = _constants(model)
    producer = {o: n for n in model.graph.node for o in n.output}
    notes = []
    for node in model.graph.node:
        if node.op_type != "Reshape":
            continue
        for a in list(node.attribute):
            if a.name != "allowzero" or a.i != 1:
                continue
            shape = consts.get(node.input[1])
            if shape is not None:
                if np.any(shape == 0):
                    continue
                why = "constant shape has no 0"
            else:
                src = producer.get(node.input[1])
                parts = [consts[i] for i in src.input if i in consts] if src is not None and \
                    src.op_type == "Concat" else []
                if src is None or src.op_type not in ("Concat", "Shape", "Slice", "Gather", "Unsqueeze") or \
                        any(np.any(p == 0) for p in parts):
                    continue
                why = "shape computed from tensor sizes"
            node.attribute.remove(a)
            notes.append(f"drop_reshape_allowzero: Reshape {node.name} ({why})")
    return notes


def bool_arithmetic(model: Any) -> list[str]:
    """Mul / Add of two bool tensors (attention masks combined by exporters) → And / Or."""
    types = _elem_types(model)
    bool_t = 9
    n_done = 0
    for node in model.graph.node:
        if node.op_type in ("Mul", "Add") and len(node.input) == 2 and \
                all(types.get(i) == bool_t for i in node.input):
            node.op_type = "And" if node.op_type == "Mul" else "Or"
            n_done += 1
    return [f"bool_arithmetic: {n_done} bool Mul/Add → And/Or"] if n_done else []


def split_comparisons(model: Any) -> list[str]:
    """GreaterOrEqual(a, b) → Not(Less(a, b)) and LessOrEqual(a, b) → Not(Greater(a, b)) (equal for every
    non-NaN input; the check below compares the models on real inputs)."""
    from onnx import helper

    flip = {"GreaterOrEqual": "Less", "LessOrEqual": "Greater"}
    n_done = 0
    for g in _graphs(model.graph):
        for node in list(g.node):
            if node.op_type not in flip or node.domain not in ("", "ai.onnx"):
                continue
            new = _unique(model, node.name or node.op_type)
            mid = new("cmp")
            _replace_node(g, node, [helper.make_node(flip[node.op_type], list(node.input), [mid], name=new("n")),
                                    helper.make_node("Not", [mid], list(node.output), name=new("n"))])
            n_done += 1
    return [f"split_comparisons: {n_done} GreaterOrEqual/LessOrEqual → Not(Less/Greater)"] if n_done else []


def _symbolic_shape_inference() -> Any:
    """onnxruntime's SymbolicShapeInference without the `onnxruntime.tools` package's __init__, which imports
    torch when it is installed: the TensorFlow worker running onnx2tf must never do that."""
    import logging

    from . import onnxutil

    onnxutil.light_ort_tools()
    from onnxruntime.tools import symbolic_shape_infer

    logging.getLogger(symbolic_shape_infer.__name__).setLevel(logging.ERROR)  # "unsupported broadcast" warnings
    return symbolic_shape_infer.SymbolicShapeInference


def constant_reshape_shapes(model: Any) -> list[str]:
    """Reshape whose target shape is computed at run time (torch exporters: Concat of Shape/Gather results
    and constants, e.g. attention's split/merge of heads) → a constant target of ints and 0s ("copy this
    input dim"), where onnxruntime's symbolic shape inference proves every output dim is either a fixed
    size or the input's dim at the same axis — but one, which becomes -1 (Reshape infers it from the
    others: ViT's batch × heads). onnx2tf cannot follow computed shapes with dynamic dims: it
    guesses that a 4-D tensor of unknown dims is channels-last and transposes it before the Reshape
    (BERT's merge of heads came out permuted at a dynamic sequence); with 0s it reads each dim from the
    input. Shape arithmetic left unused is removed."""
    from onnx import numpy_helper

    from . import onnxutil

    try:
        SymbolicShapeInference = _symbolic_shape_inference()  # noqa: N806 - a class
    except Exception:  # noqa: BLE001 - onnxruntime or sympy missing: nothing is rewritten
        return []
    inferred = None
    # auto_merge (unify two symbols a broadcast meets) only where strict inference stops; what it assumes is
    # checked with onnxruntime after the rewrites, like every rewrite here
    for merge in (False, True):
        try:
            with onnxutil.scratch_cwd():
                inferred = SymbolicShapeInference.infer_shapes(model, auto_merge=merge)
            break
        except Exception:  # noqa: BLE001, S112 - best effort: without symbolic shapes nothing is rewritten
            continue
    if inferred is None:
        return []
    g = inferred.graph
    dims: dict[str, list[Any]] = {}
    for v in (*g.value_info, *g.input, *g.output):
        t = v.type.tensor_type
        if v.type.HasField("tensor_type") and t.HasField("shape"):
            dims[v.name] = [d.dim_param if d.HasField("dim_param") else
                            (int(d.dim_value) if d.HasField("dim_value") else None) for d in t.shape.dim]
    consts = _constants(model)
    new = _unique(model, "reshape")
    n_done = 0
    for node in model.graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2 or node.input[1] in consts or \
                any(a.name == "allowzero" and a.i == 1 for a in node.attribute):
            continue
        src, out = dims.get(node.input[0]), dims.get(node.output[0])
        if not src or not out:
            continue
        target = []
        for axis, d in enumerate(out):
            if isinstance(d, int) and d > 0:
                target.append(d)
            elif isinstance(d, str) and d and axis < len(src) and src[axis] == d:
                target.append(0)
            else:
                target.append(-1)  # a dim neither fixed nor kept (batch × heads): the one Reshape infers
        if target.count(-1) > 1 or all(d > 0 for d in target):
            continue
        name = new("shape")
        model.graph.initializer.append(numpy_helper.from_array(np.asarray(target, np.int64), name))
        node.input[1] = name
        n_done += 1
    if not n_done:
        return []
    _drop_unused(model)
    return [f"constant_reshape_shapes: {n_done} Reshape target(s) computed at run time → constant (0 = keep dim)"]


def split_unsqueeze(model: Any) -> list[str]:
    """Unsqueeze of several axes on a tensor with two or more dynamic dims → one Unsqueeze per axis. onnx2tf
    writes a multi-axis Unsqueeze as a Reshape with a -1 per dynamic dim, which TFLite rejects ("'tf.Reshape'
    op requires 'shape' to have at most one dynamic dimension": the dynamo exporter's `mask[:, None, None, :]`
    at a dynamic batch and sequence); single axes become expand_dims."""
    import onnx
    from onnx import helper, numpy_helper

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - best effort: unknown ranks are left alone
        return []
    g = inferred.graph
    ranks, dynamic = {}, {}
    for v in (*g.value_info, *g.input, *g.output):
        t = v.type.tensor_type
        if v.type.HasField("tensor_type") and t.HasField("shape"):
            ranks[v.name] = len(t.shape.dim)
            dynamic[v.name] = sum(not (d.HasField("dim_value") and d.dim_value > 0) for d in t.shape.dim)
    consts = _constants(model)
    n_done = 0
    for node in list(model.graph.node):
        if node.op_type != "Unsqueeze" or node.domain not in ("", "ai.onnx") or dynamic.get(node.input[0], 0) < 2:
            continue
        if len(node.input) > 1:
            axes = consts.get(node.input[1])
        else:
            axes = next((np.asarray(a.ints) for a in node.attribute if a.name == "axes"), None)
        if axes is None or axes.size < 2 or node.input[0] not in ranks:
            continue
        out_rank = ranks[node.input[0]] + int(axes.size)
        axes_list = sorted(int(a) % out_rank for a in axes.reshape(-1))
        new = _unique(model, node.name or "unsqueeze")
        nodes, cur = [], node.input[0]
        for k, axis in enumerate(axes_list):
            out = node.output[0] if k == len(axes_list) - 1 else new("t")
            if len(node.input) > 1:
                a = new("axis")
                model.graph.initializer.append(numpy_helper.from_array(np.asarray([axis], np.int64), a))
                nodes.append(helper.make_node("Unsqueeze", [cur, a], [out], name=new("n")))
            else:
                nodes.append(helper.make_node("Unsqueeze", [cur], [out], axes=[axis], name=new("n")))
            cur = out
        _replace_node(model.graph, node, nodes)
        n_done += 1
    return [f"split_unsqueeze: {n_done} multi-axis Unsqueeze → one per axis"] if n_done else []


def bool_expand(model: Any) -> list[str]:
    """Expand of a bool tensor → Cast to int32, Expand, Cast back. onnx2tf broadcasts Expand as `x * ones`
    and, where it re-checks the layout (shapes known at its trial run), multiplies bools, which TensorFlow
    refuses ("You are passing KerasTensor(... dtype=tf.bool ...)": ViT's attention mask)."""
    from onnx import TensorProto, helper, numpy_helper

    types = _elem_types(model)
    consts = _constants(model)
    n_done = 0
    for node in list(model.graph.node):
        if node.op_type != "Expand" or node.domain not in ("", "ai.onnx") or \
                types.get(node.input[0]) != TensorProto.BOOL:
            continue
        new = _unique(model, node.name or "expand")
        as_int, expanded = new("int"), new("expanded")
        if node.input[0] in consts:  # a constant is converted here: onnx2tf takes constants only as arrays
            model.graph.initializer.append(numpy_helper.from_array(consts[node.input[0]].astype(np.int32), as_int))
            cast = []
        else:
            cast = [helper.make_node("Cast", [node.input[0]], [as_int], to=TensorProto.INT32, name=new("n"))]
        _replace_node(model.graph, node, [
            *cast, helper.make_node("Expand", [as_int, node.input[1]], [expanded], name=new("n")),
            helper.make_node("Cast", [expanded], [node.output[0]], to=TensorProto.BOOL, name=new("n"))])
        n_done += 1
    return [f"bool_expand: {n_done} bool Expand → through int32"] if n_done else []


def constant_expand(model: Any) -> list[str]:
    """Expand(C, shape) of a constant C (a buffer broadcast to the batch: BERT's token-type ids under the
    TorchScript exporter) → Add(C, ConstantOfShape(shape, 0)), the same bidirectional broadcast. onnx2tf
    takes a constant Expand input as a numpy array and, with a shape computed at run time, returns that
    array unexpanded as if it were a layer ("Output tensors of a Functional model must be the output of a
    TensorFlow Layer")."""
    from onnx import helper, numpy_helper

    consts = _constants(model)
    n_done = 0
    for node in list(model.graph.node):
        if node.op_type != "Expand" or node.domain not in ("", "ai.onnx") or node.input[0] not in consts or \
                node.input[1] in consts or consts[node.input[0]].dtype.kind not in "iuf":
            continue
        c = consts[node.input[0]]
        new = _unique(model, node.name or "expand")
        zeros = new("zeros")
        fill = numpy_helper.from_array(np.zeros((1,), dtype=c.dtype))
        _replace_node(model.graph, node, [
            helper.make_node("ConstantOfShape", [node.input[1]], [zeros], value=fill, name=new("n")),
            helper.make_node("Add", [node.input[0], zeros], [node.output[0]], name=new("n"))])
        n_done += 1
    return [f"constant_expand: {n_done} Expand of a constant → Add of zeros of the shape"] if n_done else []


def scalar_operands(model: Any) -> list[str]:
    """A 0-d constant operand of Add/Sub/Mul/Div whose other operand has rank ≥ 1 → the same value of shape
    [1] (the broadcast result is the same). onnx2tf re-checks such ops against onnxruntime when the output
    repeats a dim (a fixed sequence: scores of shape [N, H, 16, 16]) and takes a 0-d constant for a
    layer there ("Output tensors of a Functional model must be the output of a TensorFlow Layer. Found:
    0.25": attention's 1/sqrt(d) under the TorchScript exporter)."""
    from onnx import numpy_helper

    consts = _constants(model)
    dims = _static_dims(model)
    new_names: dict[str, str] = {}
    n_done = 0
    for node in model.graph.node:
        if node.op_type not in ("Add", "Sub", "Mul", "Div") or node.domain not in ("", "ai.onnx") or \
                len(node.input) != 2:
            continue
        for k in (0, 1):
            c, other = node.input[k], node.input[1 - k]
            if c not in consts or consts[c].ndim != 0 or other in consts or not dims.get(other):
                continue
            if c not in new_names:
                new_names[c] = _unique(model, c)("vec")
                model.graph.initializer.append(numpy_helper.from_array(consts[c].reshape(1), new_names[c]))
            node.input[k] = new_names[c]
            n_done += 1
    if n_done:
        _drop_unused(model)
    return [f"scalar_operands: {n_done} 0-d constant operand(s) → shape [1]"] if n_done else []


def partial_shape_inputs(model: Any) -> list[str]:
    """The shape input of Expand / ConstantOfShape computed at run time but fixed in all dims but some
    (a mask broadcast to [batch, 1, S, S] at a fixed sequence S: Where(Equal(shape, -1), 1, shape)) →
    Concat of the fixed values and a Slice of each dynamic one. TensorFlow then knows the fixed dims of the
    result; without them onnx2tf mistook the mask for channels-first and transposed what it is added to."""
    from onnx import helper, numpy_helper

    vals = _shape_values(model)
    consts = _constants(model)
    types = _elem_types(model)
    n_done = 0
    for node in list(model.graph.node):
        if node.op_type not in ("Expand", "ConstantOfShape") or node.domain not in ("", "ai.onnx"):
            continue
        k = 1 if node.op_type == "Expand" else 0
        shape = node.input[k]
        v = vals.get(shape)
        if shape in consts or v is None or v.ndim != 1 or all(x is None for x in v) or \
                all(x is not None for x in v):
            continue
        new = _unique(model, node.name or "shape")
        pieces, nodes = [], []
        for axis, x in enumerate(v):
            if x is not None:
                name = new("dim")
                model.graph.initializer.append(numpy_helper.from_array(np.asarray([int(x)], np.int64), name))
            else:
                start, end, name = new("start"), new("end"), new("dim")
                model.graph.initializer.append(numpy_helper.from_array(np.asarray([axis], np.int64), start))
                model.graph.initializer.append(numpy_helper.from_array(np.asarray([axis + 1], np.int64), end))
                nodes.append(helper.make_node("Slice", [shape, start, end], [name], name=new("n")))
            pieces.append(name)
        joined = new("shape")
        nodes.append(helper.make_node("Concat", pieces, [joined], axis=0, name=new("n")))
        elem = types.get(node.input[0]) if node.op_type == "Expand" else None
        if elem and helper.tensor_dtype_to_np_dtype(elem).kind in "iuf":
            # Expand as Add of zeros: onnx2tf's Expand permutes a computed shape (tf.gather) when it
            # takes the input for channels-first, and TensorFlow loses the fixed dims through that
            zeros, fill = new("zeros"), numpy_helper.from_array(np.zeros((1,), helper.tensor_dtype_to_np_dtype(elem)))
            nodes += [helper.make_node("ConstantOfShape", [joined], [zeros], value=fill, name=new("n")),
                      helper.make_node("Add", [node.input[0], zeros], [node.output[0]], name=new("n"))]
            _replace_node(model.graph, node, nodes)
        else:
            idx = list(model.graph.node).index(node)
            for j, n in enumerate(nodes):
                model.graph.node.insert(idx + j, n)
            node.input[k] = joined
        n_done += 1
    return [f"partial_shape_inputs: {n_done} shape input(s) with fixed dims → Concat of constants and the "
            "dynamic dims"] if n_done else []


def _shape_only(model: Any, name: str) -> bool:
    """Whether tensor `name` depends on the graph inputs only through their shapes (Shape/Size ops)."""
    producer = {o: n for n in model.graph.node for o in n.output}
    inputs = {i.name for i in model.graph.input}
    seen: set[str] = set()
    todo = [name]
    while todo:
        t = todo.pop()
        if t in seen or not t:
            continue
        seen.add(t)
        if t in inputs:
            return False
        node = producer.get(t)
        if node is None or node.op_type in ("Shape", "Size"):
            continue
        if node.op_type.startswith("Random") or any(a.type in (a.GRAPH, a.GRAPHS) for a in node.attribute):
            return False
        todo.extend(node.input)
    return True


def index_grid_gather(model: Any, shapes: dict[str, tuple[Any, ...]] | None = None,
                      ranges: dict[str, tuple[float, float]] | None = None) -> list[str]:
    """Gather(data, idx, axis 0) whose indices are computed from shapes alone and enumerate data's rows in
    order (0, 1, …, n-1 laid out in idx's shape: transformers' padding mask `mask.flatten()[b·S + k]` with
    b, k index grids, as the TorchScript exporter writes it) → Reshape of data to idx's shape. Decided by
    evaluating idx with onnxruntime at two batch sizes, so it holds whatever arithmetic spelled the grid;
    onnx2tf computed the 5-D grid with its batch and key axes swapped (a [2, 16, 16, 16] mask)."""
    import onnx
    from onnx import helper, numpy_helper

    from . import onnxutil
    from .inputs import make_inputs

    consts = _constants(model)
    candidates = [n for n in model.graph.node if n.op_type == "Gather" and n.domain in ("", "ai.onnx")
                  and not any(a.name == "axis" and a.i != 0 for a in n.attribute)
                  and n.input[1] not in consts and n.input[0] not in consts and _shape_only(model, n.input[1])]
    if not candidates:
        return []
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    types = _elem_types(model)
    for n in candidates:
        probe.graph.output.append(helper.make_tensor_value_info(n.input[1], types.get(n.input[1]) or 7, None))
        probe.graph.output.append(helper.make_tensor_value_info(n.input[0], types.get(n.input[0]) or 1, None))
    sig = onnxutil.signature(model)
    runs = []
    try:
        for batch in (2, 3):
            runs.append(_run(probe, make_inputs(sig, batch=batch, seed=batch, shapes=shapes, ranges=ranges)))
    except Exception:  # noqa: BLE001 - cannot be evaluated here: left to the tool
        return []
    n_done = 0
    for node in candidates:
        ok = True
        for got in runs:
            idx, data = got.get(node.input[1]), got.get(node.input[0])
            if idx is None or data is None or idx.size != data.shape[0] or idx.size < 2 or \
                    not np.array_equal(idx.reshape(-1), np.arange(idx.size)):
                ok = False
        if not ok:
            continue
        new = _unique(model, node.name or "gather")
        s_idx, s_data, tail, target, one = (new(x) for x in ("idx_shape", "data_shape", "tail", "target", "one"))
        model.graph.initializer.append(numpy_helper.from_array(np.asarray([1], np.int64), one))
        _replace_node(model.graph, node, [
            helper.make_node("Shape", [node.input[1]], [s_idx], name=new("n")),
            helper.make_node("Shape", [node.input[0]], [s_data], name=new("n")),
            helper.make_node("Slice", [s_data, one, new("big_end")], [tail], name=new("n")),
            helper.make_node("Concat", [s_idx, tail], [target], axis=0, name=new("n")),
            helper.make_node("Reshape", [node.input[0], target], [node.output[0]], name=new("n"))])
        big_end = [n for n in model.graph.node if n.output and n.output[0] == tail][0].input[2]
        model.graph.initializer.append(numpy_helper.from_array(np.asarray([2**62], np.int64), big_end))
        n_done += 1
    if n_done:
        _drop_unused(model)
    return [f"index_grid_gather: {n_done} Gather by an index grid enumerating the rows in order → Reshape"] \
        if n_done else []


_RESHAPES = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")


def collapse_reshapes(model: Any) -> list[str]:
    """Reshape(R(x), target) where R is itself a reshape (Reshape/Flatten/Squeeze/Unsqueeze) used nowhere
    else and the target is a constant without 0s (nothing copied from R's output) → Reshape(x, target):
    the elements keep their order either way. onnx2tf guesses a layout for every intermediate tensor of
    rank 3 to 5 whose dims it cannot see, and transposed the 5-D one a padding mask passes through on its
    way from [batch·S, 1] to [batch, 1, 1, S]."""
    consts = _constants(model)
    producer = {o: n for n in model.graph.node for o in n.output}
    uses: dict[str, int] = {}
    for g in _graphs(model.graph):
        for node in g.node:
            for i in node.input:
                uses[i] = uses.get(i, 0) + 1
    outputs = {o.name for o in model.graph.output}
    n_done = 0
    for node in model.graph.node:
        if node.op_type != "Reshape" or node.domain not in ("", "ai.onnx") or len(node.input) < 2:
            continue
        target = consts.get(node.input[1])
        if target is None or 0 in target.reshape(-1).tolist():
            continue
        while True:
            inner = producer.get(node.input[0])
            if inner is None or inner.op_type not in _RESHAPES or inner.domain not in ("", "ai.onnx") or \
                    uses.get(node.input[0], 0) != 1 or node.input[0] in outputs:
                break
            uses[inner.input[0]] = uses.get(inner.input[0], 0) + 1
            node.input[0] = inner.input[0]
            n_done += 1
    if n_done:
        _drop_unused(model)
    return [f"collapse_reshapes: {n_done} reshape(s) into the constant Reshape after them"] if n_done else []


def prepended_tokens(model: Any) -> list[str]:
    """Concat([Expand(C1, …), …, X], axis=1) — learned tokens (ViT's class token, DeiT's distillation
    token) of shape (1, k, D) broadcast to the batch and put before a (B, N, D) sequence with N and D known
    → Add(Pad(X, K zero rows in front), T), T a (1, K + N, D) constant holding the tokens and zeros: the
    same numbers (x + 0 and 0 + c are exact). onnx2tf takes a 3-D constant for channels-first and
    transposes it before the Expand, so the concatenation came out (B, 80, 64) instead of (B, 17, 64)."""
    from onnx import helper, numpy_helper

    consts = _constants(model)
    producer = {o: n for n in model.graph.node for o in n.output}
    dims = _static_dims(model)  # a sequence of unknown length is not rewritten
    n_done = 0
    for node in list(model.graph.node):
        if node.op_type != "Concat" or node.domain not in ("", "ai.onnx") or len(node.input) < 2:
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        *heads, x = node.input
        expands = [producer.get(h) for h in heads]
        if not all(e is not None and e.op_type == "Expand" and e.input[0] in consts for e in expands):
            continue
        tokens = [consts[e.input[0]] for e in expands]  # type: ignore[union-attr]
        shape = dims.get(x) or []
        if len(shape) != 3 or axis not in (1, -2) or shape[1] is None or shape[2] is None or \
                any(t.ndim != 3 or t.shape[0] != 1 or t.shape[2] != shape[2] or t.dtype.kind != "f" for t in tokens):
            continue
        k = sum(t.shape[1] for t in tokens)
        table = np.zeros((1, k + shape[1], shape[2]), tokens[0].dtype)
        table[:, :k] = np.concatenate(tokens, axis=1)
        new = _unique(model, node.name or "tokens")
        t_name, pads, padded = new("tokens"), new("pads"), new("padded")
        model.graph.initializer.append(numpy_helper.from_array(table, t_name))
        model.graph.initializer.append(numpy_helper.from_array(np.array([0, k, 0, 0, 0, 0], np.int64), pads))
        _replace_node(model.graph, node, [helper.make_node("Pad", [x, pads], [padded], name=new("n")),
                                          helper.make_node("Add", [padded, t_name], [node.output[0]], name=new("n"))])
        n_done += 1
    if not n_done:
        return []
    _drop_unused(model)
    return [f"prepended_tokens: {n_done} token Concat → Pad + Add of a constant"]


def flat_gathernd(model: Any) -> list[str]:
    """GatherND(data (R, C), Concat([Unsqueeze(rows, -1), Unsqueeze(cols, -1)], -1)) → Gather(data flattened,
    rows·C + cols): element look-ups by (row, col) index grids, as torch.export writes transformers' padding
    masks (`mask[batch_idx, kv_idx]`). onnx2tf took the 5-D index grid for channels-first, concatenated it
    on the wrong axis and lost its rank ("Cannot take the length of shape with unknown rank")."""
    import onnx
    from onnx import helper, numpy_helper

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - best effort: unknown ranks are left alone
        return []
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in (*inferred.graph.value_info, *inferred.graph.input)
             if v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape")}
    producer = {o: n for n in model.graph.node for o in n.output}
    consts = _constants(model)

    def last_axis_unsqueeze(name: str) -> str | None:
        u = producer.get(name)
        if u is None or u.op_type != "Unsqueeze" or name not in ranks:
            return None
        axes = consts.get(u.input[1]) if len(u.input) > 1 else \
            next((np.asarray(a.ints) for a in u.attribute if a.name == "axes"), None)
        ok = axes is not None and axes.size == 1 and int(axes.reshape(-1)[0]) in (-1, ranks[name] - 1)
        return u.input[0] if ok else None

    n_done = 0
    for node in list(model.graph.node):
        if node.op_type != "GatherND" or node.domain not in ("", "ai.onnx") or \
                any(a.name == "batch_dims" and a.i for a in node.attribute) or ranks.get(node.input[0]) != 2:
            continue
        cat = producer.get(node.input[1])
        axis = next((a.i for a in cat.attribute if a.name == "axis"), None) if cat is not None else None
        if cat is None or cat.op_type != "Concat" or len(cat.input) != 2 or \
                axis not in (-1, ranks.get(cat.output[0], 0) - 1):
            continue
        rows, cols = (last_axis_unsqueeze(i) for i in cat.input)
        if rows is None or cols is None:
            continue
        new = _unique(model, node.name or "gathernd")
        width, flat, minus1, base, index = (new(s) for s in ("width", "flat", "m1", "base", "index"))
        model.graph.initializer.append(numpy_helper.from_array(np.asarray([-1], np.int64), minus1))
        _replace_node(model.graph, node, [
            helper.make_node("Shape", [node.input[0]], [width], start=1, end=2, name=new("n")),
            helper.make_node("Reshape", [node.input[0], minus1], [flat], name=new("n")),
            helper.make_node("Mul", [rows, width], [base], name=new("n")),
            helper.make_node("Add", [base, cols], [index], name=new("n")),
            helper.make_node("Gather", [flat, index], [node.output[0]], axis=0, name=new("n"))])
        n_done += 1
    if n_done:
        _drop_unused(model)
    return [f"flat_gathernd: {n_done} GatherND of (row, col) index grids → Gather of the flattened data"] \
        if n_done else []


def unflatten_gemm(model: Any) -> list[str]:
    """Reshape(x, [-1, K]) → Gemm(·, W) → Reshape(back to x's leading dims + [N]) → MatMul(x, W) (+ bias),
    where symbolic shape inference proves the last Reshape restores x's leading dims (GPT-2's Conv1D:
    `addmm` on a view). onnx2tf sees the restored 3-D tensor with all dims unknown, takes it for
    channels-first and splits q/k/v on the wrong axis."""
    from onnx import helper, numpy_helper

    from . import onnxutil

    try:
        with onnxutil.scratch_cwd():
            inferred = _symbolic_shape_inference().infer_shapes(model, auto_merge=True)
    except Exception:  # noqa: BLE001 - best effort: nothing is rewritten
        return []
    dims = {v.name: [d.dim_param if d.HasField("dim_param") else (int(d.dim_value) if d.HasField("dim_value")
                                                                   else None) for d in v.type.tensor_type.shape.dim]
            for v in (*inferred.graph.value_info, *inferred.graph.input)
            if v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape")}
    consts = _constants(model)
    producer = {o: n for n in model.graph.node for o in n.output}
    uses: dict[str, int] = {}
    for node in model.graph.node:
        for i in node.input:
            uses[i] = uses.get(i, 0) + 1
    outputs = {o.name for o in model.graph.output}
    n_done = 0
    for last in list(model.graph.node):
        gemm = producer.get(last.input[0]) if last.op_type == "Reshape" else None
        flat = producer.get(gemm.input[0]) if gemm is not None and gemm.op_type == "Gemm" else None
        if flat is None or flat.op_type != "Reshape" or gemm.input[1] not in consts:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in gemm.attribute}
        if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
            continue
        target = consts.get(flat.input[1])
        x, y = flat.input[0], last.output[0]
        if target is None or target.tolist()[:1] != [-1] or len(target) != 2 or \
                any(uses.get(t, 0) != 1 or t in outputs for t in (flat.output[0], gemm.output[0])):
            continue
        w = consts[gemm.input[1]]
        w = w.T if attrs.get("transB", 0) else w
        src, out = dims.get(x), dims.get(y)
        if not src or not out or len(src) != len(out) or src[:-1] != out[:-1] or None in src[:-1] or \
                src[-1] != w.shape[0] or out[-1] != w.shape[1]:
            continue
        new = _unique(model, gemm.name or "gemm")
        wname = new("w")
        model.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(w), wname))
        bias = gemm.input[2] if len(gemm.input) > 2 and gemm.input[2] else None
        mm = y if bias is None else new("mm")
        nodes = [helper.make_node("MatMul", [x, wname], [mm], name=new("n"))]
        if bias is not None:
            nodes.append(helper.make_node("Add", [mm, bias], [y], name=new("n")))
        _replace_node(model.graph, last, nodes)
        n_done += 1
    if n_done:
        _drop_unused(model)
    return [f"unflatten_gemm: {n_done} Reshape → Gemm → Reshape → MatMul on the unflattened tensor"] if n_done else []


def _drop_unused(model: Any) -> None:
    """Remove nodes (of the main graph) none of whose outputs is used, until none is left."""
    keep = {o.name for o in model.graph.output}
    while True:
        used = keep | {n for g in _graphs(model.graph) for node in g.node for n in node.input}
        dead = [n for n in model.graph.node if not any(o in used for o in n.output)]
        if not dead:
            return
        for n in dead:
            model.graph.node.remove(n)


# ---------------------------------------------------------------- the pass and its check


def normalize(model: Any, *, max_opset: int | None = None, hop: str = "normalize",
              shapes: dict[str, tuple[Any, ...]] | None = None,
              ranges: dict[str, tuple[float, float]] | None = None, check: bool = True,
              tool: str = "") -> tuple[Any, list[str]]:
    """Run every rewrite (opset lowering only when `max_opset` is given; tool-specific ones for `tool`) on a
    copy of `model`; check the result against the original with onnxruntime when anything changed.
    Returns (model, notes)."""
    import onnx

    original = model
    model = onnx.ModelProto()
    model.CopyFrom(original)
    notes = alias_initializers(model)
    if max_opset is not None:
        model, lowered = lower_opset(model, max_opset)
        notes += lowered
    notes += drop_reshape_allowzero(model)
    notes += bool_arithmetic(model)
    if tool == "onnx2torch":
        notes += split_comparisons(model)
    if tool == "onnx2tf":
        notes += static_shape_values(model)
        notes += index_grid_gather(model, shapes, ranges)
        notes += flat_gathernd(model)
        notes += prepended_tokens(model)
        notes += unflatten_gemm(model)
        notes += constant_reshape_shapes(model)
        notes += collapse_reshapes(model)
        notes += split_unsqueeze(model)
        notes += bool_expand(model)
        notes += partial_shape_inputs(model)
        notes += constant_expand(model)
        notes += scalar_operands(model)
    if notes and check:
        notes += check_equivalent(original, model, hop=hop, shapes=shapes, ranges=ranges)
    return model, notes


def check_equivalent(original: Any, rewritten: Any, *, hop: str = "normalize",
                     shapes: dict[str, tuple[Any, ...]] | None = None,
                     ranges: dict[str, tuple[float, float]] | None = None, batch: int = 2,
                     seed: int = 0) -> list[str]:
    """Run both models with onnxruntime on the same random inputs; raise ConversionFailed if any output
    differs by more than float rounding. Returns a note on what was checked (or why it could not be)."""
    from . import onnxutil
    from .inputs import make_inputs

    if original.ByteSize() > MAX_CHECK_BYTES:
        return ["normalize check skipped: model too large to hand to onnxruntime in memory"]
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return ["normalize check skipped: onnxruntime is not installed"]
    feeds = make_inputs(onnxutil.signature(original), batch=batch, seed=seed, shapes=shapes, ranges=ranges)
    try:
        ref = _run(original, feeds)
    except Exception as e:  # noqa: BLE001 - the tool may still take what onnxruntime cannot run
        return [f"normalize check skipped: onnxruntime cannot run the original ({type(e).__name__})"]
    try:
        got = _run(rewritten, feeds)
    except Exception as e:
        raise ConversionFailed(f"{hop}: graph normalisation produced a model onnxruntime cannot run: "
                               f"{str(e).splitlines()[0][:300]}", hint="report this as a portkit bug") from e
    for name, r in ref.items():
        c = got.get(name)
        if c is None or c.shape != r.shape or not _close(r, c):
            err = float(np.max(np.abs(r.astype(np.float64) - c.astype(np.float64)))) \
                if c is not None and c.shape == r.shape else float("inf")
            raise ConversionFailed(f"{hop}: graph normalisation changed output '{name}' (max abs {err:.3g})",
                                   hint="report this as a portkit bug; --debug shows the rewrites")
    return [f"normalize check: {len(ref)} output(s) equal within rtol {CHECK_RTOL:g} at batch {batch}"]


def _run(model: Any, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    wanted = {i.name for i in sess.get_inputs()}
    return dict(zip(names, (np.asarray(v) for v in sess.run(names, {k: v for k, v in feeds.items()
                                                                      if k in wanted})), strict=True))


def _close(r: np.ndarray, c: np.ndarray) -> bool:
    if r.dtype.kind not in "fc":
        return bool(np.array_equal(r, c))
    r64, c64 = r.astype(np.float64), c.astype(np.float64)
    if not np.array_equal(np.isnan(r64), np.isnan(c64)):
        return False
    fin = np.isfinite(r64) & np.isfinite(c64)
    if not np.array_equal(r64[~fin & ~np.isnan(r64)], c64[~fin & ~np.isnan(r64)]):
        return False
    scale = float(np.max(np.abs(r64[fin]))) if fin.any() else 0.0
    return bool(np.all(np.abs(r64[fin] - c64[fin]) <= CHECK_ATOL * max(scale, 1.0) + CHECK_RTOL * np.abs(r64[fin])))
