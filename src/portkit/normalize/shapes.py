"""Shapes onnx2tf cannot follow (TOOL: onnx2tf): shape arithmetic fixed by static dims folded to constants,
partially fixed shapes spelled out, computed Reshape targets made constant, index grids that enumerate rows
in order as reshapes, reshape chains collapsed, multi-axis Unsqueeze split, Slice bounds beyond int32."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .check import run
from .helpers import (
    constants,
    drop_unused,
    elem_types,
    producers,
    replace_node,
    rewritten,
    static_dims,
    symbolic_dims,
    unique,
    use_counts,
)

TOOL = "onnx2tf"


def _div(a: Any, b: Any) -> Any:
    """ONNX Div: integers truncate toward zero, floats divide (an integer may be numpy's: np.add of two ints
    gives np.int64, and (48 + 1) / 2 came out 24.5, not 24 — EdgeNeXt's split sizes)."""
    integral = (int, np.integer)
    return int(a / b) if isinstance(a, integral) and isinstance(b, integral) else a / b


_SHAPE_ARITH = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": _div,
                "Max": np.maximum, "Min": np.minimum, "Equal": np.equal}
_SHAPE_UNARY = {"Floor": math.floor, "Ceil": math.ceil, "Sqrt": math.sqrt, "Neg": lambda x: -x}
MAX_FLOAT_SEED = 64  # small float constants (the 2.0 of `x.shape[-1] // 2` written as float division)


def _scalar(v: Any, kind: str) -> Any:
    """A value as the Python number of a numpy dtype kind (Cast's semantics: float → int truncates)."""
    if v is None:
        return None
    return float(v) if kind == "f" else bool(v) if kind == "b" else int(v)


MAX_FOLD_ELEMENTS = 1 << 16  # constants folded from shape arithmetic stay small (no weights are copied)


def _shape_values(model: Any) -> dict[str, np.ndarray]:
    """Partial evaluation of shape arithmetic: for each integer tensor computed from Shape ops and constants,
    an object array of its values with None where a value depends on a dynamic dim. Shape dims come from
    onnx's static shape inference, so a dim fixed by the model's declared input shape is known."""
    from onnx import helper

    dims = static_dims(model, data_prop=True)
    vals: dict[str, np.ndarray] = {}
    for name, c in constants(model).items():
        small = c.size <= (MAX_FLOAT_SEED if c.dtype.kind == "f" else MAX_FOLD_ELEMENTS)
        if c.dtype.kind in "iubf" and small:
            vals[name] = np.array([_scalar(v, c.dtype.kind) for v in c.reshape(-1).tolist()],
                                  dtype=object).reshape(c.shape)

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
            elif op == "Identity" and ins[0] in vals:
                vals[node.output[0]] = vals[ins[0]]
            elif op == "Cast" and ins[0] in vals:
                kind = helper.tensor_dtype_to_np_dtype(attr(node, "to", 7)).kind
                kind = "i" if kind == "u" else kind
                v = vals[ins[0]]
                vals[node.output[0]] = np.array([_scalar(x, kind) for x in v.reshape(-1).tolist()],
                                                dtype=object).reshape(v.shape)
            elif op in _SHAPE_UNARY and ins[0] in vals:
                v, f = vals[ins[0]], _SHAPE_UNARY[op]
                vals[node.output[0]] = np.array([None if x is None else f(x) for x in v.reshape(-1).tolist()],
                                                dtype=object).reshape(v.shape)
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
                vals[node.output[0]] = np.array([None if x is None or y is None else f(x, y)
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
    consts = constants(model)
    types = elem_types(model)
    n_done = 0
    for node in list(model.graph.node):
        if node.op_type == "Constant" or len(node.output) != 1:
            continue
        v = vals.get(node.output[0])
        if v is None or node.output[0] in consts or any(x is None for x in v.flat):
            continue
        from onnx import helper

        elem = types.get(node.output[0])
        if not elem:  # untyped by inference: the values say (a float from float division stays float)
            elem = 1 if any(isinstance(x, float) for x in v.flat) else 9 if v.size and all(
                isinstance(x, bool) for x in v.flat) else 7
        dtype = helper.tensor_dtype_to_np_dtype(elem)
        model.graph.initializer.append(numpy_helper.from_array(np.asarray(v.tolist(), dtype=dtype), node.output[0]))
        model.graph.node.remove(node)
        n_done += 1
    if not n_done:
        return []
    folded = fold_constants(model)
    drop_unused(model)
    return [f"static_shape_values: {n_done} shape value(s) fixed by static dims → constants"
            + (f", {folded} node(s) folded after them" if folded else "")]


def fold_constants(model: Any) -> int:
    """Evaluate (with onnxruntime) every main-graph node whose inputs are all constants and
    whose outputs stay small; their outputs become initializers. Returns how many nodes were folded."""
    from onnx import helper, numpy_helper

    consts = constants(model)
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
            outs = list(run(sub, {i: consts[i] for i in names}).values())
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

    dims = symbolic_dims(model)
    if not dims:
        return []
    consts = constants(model)
    new = unique(model, "reshape")
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
    drop_unused(model)
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
    consts = constants(model)
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
        new = unique(model, node.name or "unsqueeze")
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
        replace_node(model.graph, node, nodes)
        n_done += 1
    return [f"split_unsqueeze: {n_done} multi-axis Unsqueeze → one per axis"] if n_done else []


def partial_shape_inputs(model: Any) -> list[str]:
    """The shape input of Expand / ConstantOfShape computed at run time but fixed in all dims but some
    (a mask broadcast to [batch, 1, S, S] at a fixed sequence S: Where(Equal(shape, -1), 1, shape)) →
    Concat of the fixed values and a Slice of each dynamic one. TensorFlow then knows the fixed dims of the
    result; without them onnx2tf mistook the mask for channels-first and transposed what it is added to."""
    from onnx import helper, numpy_helper

    vals = _shape_values(model)
    consts = constants(model)
    types = elem_types(model)
    sym: dict[str, list[Any]] | None = None
    n_done = n_kept = 0
    for node in list(model.graph.node):
        if node.op_type not in ("Expand", "ConstantOfShape") or node.domain not in ("", "ai.onnx"):
            continue
        k = 1 if node.op_type == "Expand" else 0
        shape = node.input[k]
        v = vals.get(shape)
        if shape in consts or v is None or v.ndim != 1 or all(x is None for x in v) or \
                all(x is not None for x in v):
            continue
        if node.op_type == "Expand":
            sym = symbolic_dims(model) if sym is None else sym
            v = _kept_dims(v, sym.get(node.input[0]), sym.get(node.output[0]))
            if all(x is not None for x in v):  # every dynamic dim kept from the input: a constant shape
                name = unique(model, node.name or "expand")("shape")
                model.graph.initializer.append(numpy_helper.from_array(np.asarray(v.tolist(), np.int64), name))
                node.input[1] = name
                n_kept += 1
                continue
        new = unique(model, node.name or "shape")
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
            replace_node(model.graph, node, nodes)
        else:
            idx = list(model.graph.node).index(node)
            for j, n in enumerate(nodes):
                model.graph.node.insert(idx + j, n)
            node.input[k] = joined
        n_done += 1
    if n_kept:
        drop_unused(model)
    return ([f"partial_shape_inputs: {n_done} shape input(s) with fixed dims → Concat of constants and the "
             "dynamic dims"] if n_done else []) + \
        ([f"partial_shape_inputs: {n_kept} Expand shape(s) whose dynamic dims the input keeps → constant (1 there)"]
         if n_kept else [])


def _kept_dims(v: np.ndarray, src: list[Any] | None, out: list[Any] | None) -> np.ndarray:
    """An Expand's shape values `v` with 1 at each unknown entry where symbolic inference proves the output
    dim is the input's own (broadcasting by 1 keeps it): the batch of GQA's repeat_kv or of a mask."""
    if not src or not out or len(out) != len(v):
        return v
    v = v.copy()
    lead = len(out) - len(src)
    for axis, x in enumerate(v):
        d = out[axis]
        if x is None and axis >= lead and isinstance(d, str) and d and src[axis - lead] == d:
            v[axis] = 1
    return v


def _shape_only(model: Any, name: str) -> bool:
    """Whether tensor `name` depends on the graph inputs only through their shapes (Shape/Size ops)."""
    producer = producers(model)
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

    from .. import onnxutil
    from ..inputs import make_inputs

    consts = constants(model)
    candidates = [n for n in model.graph.node if n.op_type == "Gather" and n.domain in ("", "ai.onnx")
                  and not any(a.name == "axis" and a.i != 0 for a in n.attribute)
                  and n.input[1] not in consts and n.input[0] not in consts and _shape_only(model, n.input[1])]
    if not candidates:
        return []
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    types = elem_types(model)
    for n in candidates:
        probe.graph.output.append(helper.make_tensor_value_info(n.input[1], types.get(n.input[1]) or 7, None))
        probe.graph.output.append(helper.make_tensor_value_info(n.input[0], types.get(n.input[0]) or 1, None))
    sig = onnxutil.signature(model)
    runs = []
    try:
        for batch in (2, 3):
            runs.append(run(probe, make_inputs(sig, batch=batch, seed=batch, shapes=shapes, ranges=ranges)))
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
        new = unique(model, node.name or "gather")
        s_idx, s_data, tail, target, one = (new(x) for x in ("idx_shape", "data_shape", "tail", "target", "one"))
        model.graph.initializer.append(numpy_helper.from_array(np.asarray([1], np.int64), one))
        replace_node(model.graph, node, [
            helper.make_node("Shape", [node.input[1]], [s_idx], name=new("n")),
            helper.make_node("Shape", [node.input[0]], [s_data], name=new("n")),
            helper.make_node("Slice", [s_data, one, new("big_end")], [tail], name=new("n")),
            helper.make_node("Concat", [s_idx, tail], [target], axis=0, name=new("n")),
            helper.make_node("Reshape", [node.input[0], target], [node.output[0]], name=new("n"))])
        big_end = [n for n in model.graph.node if n.output and n.output[0] == tail][0].input[2]
        model.graph.initializer.append(numpy_helper.from_array(np.asarray([2**62], np.int64), big_end))
        n_done += 1
    return rewritten(model, n_done, "index_grid_gather",
                     "Gather by an index grid enumerating the rows in order → Reshape")


_RESHAPES = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")


def collapse_reshapes(model: Any) -> list[str]:
    """Reshape(R(x), target) where R is itself a reshape (Reshape/Flatten/Squeeze/Unsqueeze) used nowhere
    else and the target is a constant without 0s (nothing copied from R's output) → Reshape(x, target):
    the elements keep their order either way. onnx2tf guesses a layout for every intermediate tensor of
    rank 3 to 5 whose dims it cannot see, and transposed the 5-D one a padding mask passes through on its
    way from [batch·S, 1] to [batch, 1, 1, S]."""
    consts = constants(model)
    producer = producers(model)
    uses = use_counts(model)
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
    return rewritten(model, n_done, "collapse_reshapes", "reshape(s) into the constant Reshape after them")



_INT32 = np.iinfo(np.int32)


def int32_slice_bounds(model: Any) -> list[str]:
    """Constant Slice starts / ends beyond int32 on an axis of unknown size (`ids[:, 1:]` at a dynamic
    sequence: ends = INT64_MAX, "to the end") → clipped to int32, the same slice. onnx2tf replaces INT64_MAX
    by the axis size only where it knows the size; TFLite stores the bounds as int32 and INT64_MAX became -1:
    MobileBERT's trigram shift at a dynamic sequence lost its last token ("Given shapes, [1,31,32] and
    [1,32,32], are not broadcastable")."""
    from onnx import numpy_helper

    consts = constants(model)
    dims = static_dims(model)
    new = unique(model, "slice")
    n_done = 0
    for node in model.graph.node:
        if node.op_type != "Slice" or node.domain not in ("", "ai.onnx") or len(node.input) < 3:
            continue
        shape = dims.get(node.input[0])
        bounds = [consts.get(i) for i in node.input[1:3]]
        axes = consts.get(node.input[3]) if len(node.input) > 3 and node.input[3] else \
            (np.arange(bounds[0].size) if bounds[0] is not None else None)
        if not shape or axes is None or any(b is None or b.shape != axes.shape for b in bounds):
            continue
        unknown = np.asarray([shape[int(a)] is None for a in axes.reshape(-1)]).reshape(axes.shape)
        for k, b in enumerate(bounds, start=1):
            out = (b < _INT32.min) | (b > _INT32.max)
            if not (out & unknown).any():
                continue
            clipped = np.where(unknown, np.clip(b, _INT32.min, _INT32.max), b).astype(b.dtype)
            name = new("bound")
            model.graph.initializer.append(numpy_helper.from_array(clipped, name))
            node.input[k] = name
            n_done += 1
    return rewritten(model, n_done, "int32_slice_bounds", "Slice bound(s) beyond int32 on unknown axes → clipped")
