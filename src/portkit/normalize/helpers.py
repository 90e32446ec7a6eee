"""Helpers the rewrites share: walking (sub)graphs, fresh names, constants, shapes and dtypes as onnx's
shape inference (or onnxruntime's symbolic one) knows them, replacing and dropping nodes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np


def graphs(graph: Any) -> Iterable[Any]:
    """A graph and every subgraph (If/Loop/Scan bodies) inside it."""
    yield graph
    for node in graph.node:
        for a in node.attribute:
            if a.type == a.GRAPH:
                yield from graphs(a.g)
            for g in a.graphs:
                yield from graphs(g)


def rename_uses(graph: Any, old: str, new: str) -> None:
    for g in graphs(graph):
        for node in g.node:
            for i, n in enumerate(node.input):
                if n == old:
                    node.input[i] = new


def unique(model: Any, base: str) -> Callable[[str], str]:
    used = {n for g in graphs(model.graph) for node in g.node for n in (*node.input, *node.output)}
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


def elem_types(model: Any) -> dict[str, int]:
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


def static_dims(model: Any, data_prop: bool = False) -> dict[str, list[int | None]]:
    """Each tensor's dims as onnx's (static) shape inference knows them: ints, None where unknown; only what
    the model itself declares when inference fails. `data_prop`: with onnx's propagation of shape values
    (a Reshape to Concat(batch, 16, 2, 16) has known dims 16, 2, 16)."""
    import onnx

    inferred = model
    for prop in ((True, False) if data_prop else (False,)):
        try:
            inferred = onnx.shape_inference.infer_shapes(model, data_prop=prop)
            break
        except Exception:  # noqa: BLE001, S112 - best effort: tensors without known dims are not rewritten
            continue
    g = inferred.graph
    return {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
            for v in (*g.value_info, *g.input, *g.output) if v.type.tensor_type.HasField("shape")}


def opset(model: Any) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def const(model: Any, name: str, value: float, elem: int) -> str:
    from onnx import helper, numpy_helper

    dtype = helper.tensor_dtype_to_np_dtype(elem) if elem else np.float32
    model.graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
    return name


def replace_node(graph: Any, node: Any, new_nodes: list[Any]) -> None:
    idx = list(graph.node).index(node)
    graph.node.remove(node)
    for k, n in enumerate(new_nodes):
        graph.node.insert(idx + k, n)


def constants(model: Any) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    consts[node.output[0]] = numpy_helper.to_array(a.t)
    return consts


def rewritten(model: Any, n_done: int, name: str, what: str) -> list[str]:
    """A pass's ending: what it rewrote leaves tensors nothing reads (dropped), and the log line
    "NAME: N WHAT" when it rewrote anything, nothing otherwise."""
    if not n_done:
        return []
    drop_unused(model)
    return [f"{name}: {n_done} {what}"]


def use_counts(model: Any) -> dict[str, int]:
    """How many node inputs read each tensor, subgraphs included (a rewrite may fold a tensor into its one
    reader only when nothing else, a Loop or If body either, reads it)."""
    uses: dict[str, int] = {}
    for g in graphs(model.graph):
        for node in g.node:
            for i in node.input:
                uses[i] = uses.get(i, 0) + 1
    return uses


def producers(model: Any) -> dict[str, Any]:
    """The main graph's node writing each tensor (a pass walks a chain of producers back from a node)."""
    return {o: n for n in model.graph.node for o in n.output}


def readers(model: Any) -> dict[str, list[Any]]:
    """The main graph's nodes reading each tensor, in graph order (a pass follows a tensor to its readers;
    use_counts says whether a subgraph reads it too)."""
    out: dict[str, list[Any]] = {}
    for node in model.graph.node:
        for i in node.input:
            out.setdefault(i, []).append(node)
    return out


def symbolic_shape_inference() -> Any:
    """onnxruntime's SymbolicShapeInference without the `onnxruntime.tools` package's __init__, which imports
    torch when it is installed: the TensorFlow worker running onnx2tf must never do that."""
    import logging

    from .. import onnxutil

    onnxutil.light_ort_tools()
    from onnxruntime.tools import symbolic_shape_infer

    logging.getLogger(symbolic_shape_infer.__name__).setLevel(logging.ERROR)  # "unsupported broadcast" warnings
    return symbolic_shape_infer.SymbolicShapeInference


def symbolic_dims(model: Any) -> dict[str, list[Any]]:
    """Each tensor's dims by onnxruntime's symbolic shape inference: ints, symbol names (equal names are equal
    sizes), None where unknown; {} when inference fails."""
    from .. import onnxutil

    try:
        SymbolicShapeInference = symbolic_shape_inference()  # noqa: N806 - a class
    except Exception:  # noqa: BLE001 - onnxruntime or sympy missing: nothing is rewritten
        return {}
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
        return {}
    g = inferred.graph
    dims: dict[str, list[Any]] = {}
    for v in (*g.value_info, *g.input, *g.output):
        t = v.type.tensor_type
        if v.type.HasField("tensor_type") and t.HasField("shape"):
            dims[v.name] = [d.dim_param if d.HasField("dim_param") else
                            (int(d.dim_value) if d.HasField("dim_value") else None) for d in t.shape.dim]
    return dims


def drop_unused(model: Any) -> None:
    """Remove nodes (of the main graph) none of whose outputs is used, until none is left."""
    keep = {o.name for o in model.graph.output}
    while True:
        used = keep | {n for g in graphs(model.graph) for node in g.node for n in node.input}
        dead = [n for n in model.graph.node if not any(o in used for o in n.output)]
        if not dead:
            return
        for n in dead:
            model.graph.node.remove(n)



def ends_from_shape(model: Any, data: str, slice_inputs: list[str], consts: dict[str, np.ndarray],
                    dynamic: set[int], new: Callable[[str], str]) -> tuple[list[Any], str | None]:
    """Nodes computing a Slice's negative constant `ends` (inputs starts, ends, axes) on dynamic axes of `data`
    as Shape(data)[axis] + end (every axis given and dynamic, every end negative), and the computed ends' name;
    ([], None) otherwise. onnx2tf sliced MobileBERT's ids `[:, :-1]` at a dynamic sequence to the whole length
    (its trial run: 33 tokens where 31 + the pad make 32)."""
    from onnx import helper, numpy_helper

    _, ends, axes = (list(slice_inputs) + ["", "", ""])[:3]
    end, ax = consts.get(ends), consts.get(axes) if axes else None
    if end is None or ax is None or end.size != ax.size or not (end < 0).all() or \
            not all(int(a) in dynamic for a in ax.reshape(-1)):
        return [], None
    shape, picked, out, ax_name, end_name = new("shape"), new("dims"), new("ends"), new("axes"), new("neg")
    model.graph.initializer.extend([numpy_helper.from_array(ax.astype(np.int64).reshape(-1), ax_name),
                                    numpy_helper.from_array(end.astype(np.int64).reshape(-1), end_name)])
    return [helper.make_node("Shape", [data], [shape], name=new("n")),
            helper.make_node("Gather", [shape, ax_name], [picked], axis=0, name=new("n")),
            helper.make_node("Add", [picked, end_name], [out], name=new("n"))], out
