"""Op spellings onnx2tf takes wrongly (TOOL: onnx2tf): bool and constant Expand, 0-d constant operands,
prepended class tokens, GatherND by index grids, Gemm on flattened tensors."""

from __future__ import annotations

from typing import Any

import numpy as np

from .helpers import (
    constants,
    drop_unused,
    elem_types,
    ends_from_shape,
    producers,
    readers,
    replace_node,
    rewritten,
    static_dims,
    symbolic_dims,
    symbolic_shape_inference,
    unique,
    use_counts,
)

TOOL = "onnx2tf"


def bool_expand(model: Any) -> list[str]:
    """Expand of a bool tensor → Cast to int32, Expand, Cast back. onnx2tf broadcasts Expand as `x * ones`
    and, where it re-checks the layout (shapes known at its trial run), multiplies bools, which TensorFlow
    refuses ("You are passing KerasTensor(... dtype=tf.bool ...)": ViT's attention mask)."""
    from onnx import TensorProto, helper, numpy_helper

    types = elem_types(model)
    consts = constants(model)
    n_done = 0
    for node in list(model.graph.node):
        if node.op_type != "Expand" or node.domain not in ("", "ai.onnx") or \
                types.get(node.input[0]) != TensorProto.BOOL:
            continue
        new = unique(model, node.name or "expand")
        as_int, expanded = new("int"), new("expanded")
        if node.input[0] in consts:  # a constant is converted here: onnx2tf takes constants only as arrays
            model.graph.initializer.append(numpy_helper.from_array(consts[node.input[0]].astype(np.int32), as_int))
            cast = []
        else:
            cast = [helper.make_node("Cast", [node.input[0]], [as_int], to=TensorProto.INT32, name=new("n"))]
        replace_node(model.graph, node, [
            *cast, helper.make_node("Expand", [as_int, node.input[1]], [expanded], name=new("n")),
            helper.make_node("Cast", [expanded], [node.output[0]], to=TensorProto.BOOL, name=new("n"))])
        n_done += 1
    return [f"bool_expand: {n_done} bool Expand → through int32"] if n_done else []


def constant_lookup(model: Any) -> list[str]:
    """Gather(table, ConstantOfShape(shape, k) or Expand(k, shape)) along axis 0 — an embedding looked up by
    ids that are all k (MobileBERT's token types: `torch.zeros(input_shape)`) → Expand(table[k], shape + row
    shape): the row, broadcast. Where every use absorbs the broadcast (the Add into the other embeddings),
    absorbed_expand then drops the Expand. onnx2tf lost the lookup's dims behind the computed shape and added a [batch,
    hidden, seq] tensor to the embeddings ("Dimensions must be equal, but are 16 and 32")."""
    from onnx import helper, numpy_helper

    consts = constants(model)
    # ids that are all k: ConstantOfShape(shape, k), or Expand(k, shape) of a one-element k (the dynamo
    # exporter's `torch.zeros(input_shape, dtype=long)`)
    made = {n.output[0]: n for n in model.graph.node if n.domain in ("", "ai.onnx") and (
        n.op_type == "ConstantOfShape" or n.op_type == "Expand" and n.input[0] in consts
        and consts[n.input[0]].size == 1 and consts[n.input[0]].ndim <= 1)}
    n_done = 0
    for node in list(model.graph.node):
        fill = made.get(node.input[1]) if node.op_type == "Gather" and len(node.input) == 2 else None
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        if fill is None or axis != 0 or node.input[0] not in consts or node.domain not in ("", "ai.onnx"):
            continue
        value = consts[fill.input[0]] if fill.op_type == "Expand" else \
            next((numpy_helper.to_array(a.t) for a in fill.attribute if a.name == "value"), np.zeros(1, np.float32))
        table = consts[node.input[0]]
        if value.dtype.kind not in "iu" or value.size != 1 or not -len(table) <= int(value.ravel()[0]) < len(table):
            continue
        row = table[int(value.ravel()[0])]
        new = unique(model, node.name or "lookup")
        row_name, tail, shape = new("row"), new("row_shape"), new("shape")
        model.graph.initializer.extend([numpy_helper.from_array(row, row_name),
                                        numpy_helper.from_array(np.asarray(row.shape, np.int64), tail)])
        replace_node(model.graph, node, [
            helper.make_node("Concat", [fill.input[-1], tail], [shape], axis=0, name=new("n")),
            helper.make_node("Expand", [row_name, shape], [node.output[0]], name=new("n"))])
        n_done += 1
    return rewritten(model, n_done, "constant_lookup", "Gather of constant ids → the table row, expanded")


def lookup_shifts(model: Any) -> list[str]:
    """Pad(Slice(Gather(table, ids))) along the token axes — an embedding lookup shifted by a token and
    padded with a constant row (MobileBERT's trigram input: `pad(embeds[:, 1:])`, `pad(embeds[:, :-1])`) →
    the same Slice and Pad on the ids, the pad index being a row of that constant appended to the table.
    The ids are 2-D; onnx2tf takes every 3-D tensor for channels-first and, where the sequence equals the
    embedding size (16 and 16, 128 and 128), cannot tell its axes apart: it sliced the embedding axis."""
    from onnx import helper, numpy_helper

    consts = constants(model)
    dims = static_dims(model)
    made = producers(model)
    extended: dict[tuple[str, float], str] = {}
    n_done = 0
    for node in list(model.graph.node):
        if node.op_type != "Pad" or node.domain not in ("", "ai.onnx") or len(node.input) not in (2, 3) or \
                any(a.name == "mode" and a.s not in (b"", b"constant") for a in node.attribute):
            continue
        slices, src = [], made.get(node.input[0])
        while src is not None and src.op_type == "Slice" and all(i in consts for i in src.input[1:] if i):
            slices.append(src)
            src = made.get(src.input[0])
        if src is None or src.op_type != "Gather" or any(a.name == "axis" and a.i != 0 for a in src.attribute):
            continue
        table, ids = consts.get(src.input[0]), src.input[1]
        r = len(dims.get(ids) or ())
        pads = consts.get(node.input[1])
        value = consts.get(node.input[2]) if len(node.input) == 3 and node.input[2] else np.zeros(())
        if table is None or table.ndim != 2 or not r or pads is None or pads.size != 2 * (r + 1) or \
                pads[r] or pads[-1] or value is None or value.size != 1:
            continue
        axes_ok = True
        for sl in slices:
            axes = consts[sl.input[3]] if len(sl.input) > 3 and sl.input[3] else \
                np.arange(consts[sl.input[1]].size)
            axes_ok &= all(-(r + 1) <= int(a) < r + 1 and int(a) % (r + 1) < r for a in axes)
        if not axes_ok:
            continue
        new = unique(model, node.output[0])  # tensor names are unique; node names may be empty
        key = (src.input[0], float(value.ravel()[0]))
        if key not in extended:
            extended[key] = new("table")
            row = np.full((1, table.shape[1]), value.ravel()[0], table.dtype)
            model.graph.initializer.append(numpy_helper.from_array(np.concatenate([table, row]), extended[key]))
        nodes, cur, fresh = [], ids, {}
        dynamic = {k for k, d in enumerate(dims.get(ids) or ()) if d is None}
        for sl in reversed(slices):  # nearest the Gather first
            ins = list(sl.input)
            if len(ins) > 3 and ins[3]:  # axes of the (r+1)-D data, written for the r-D ids
                ax = new("axes")
                fresh[ax] = consts[ins[3]].astype(np.int64) % (r + 1)
                model.graph.initializer.append(numpy_helper.from_array(fresh[ax], ax))
                ins[3] = ax
            made_ends, ends = ends_from_shape(model, cur, ins[1:4], {**consts, **fresh}, dynamic, new)
            nodes += made_ends
            ins[2] = ends or ins[2]
            nodes.append(helper.make_node("Slice", [cur, *ins[1:]], [new("ids")], name=new("n")))
            cur = nodes[-1].output[0]
        ids_pads, fill = new("pads"), new("fill")
        model.graph.initializer.extend([
            numpy_helper.from_array(np.concatenate([pads[:r], pads[r + 1:2 * r + 1]]).astype(np.int64), ids_pads),
            numpy_helper.from_array(np.asarray(len(table), dtype=consts.get(ids, np.zeros((), np.int64)).dtype
                                               if ids in consts else np.int64), fill)])
        padded = new("ids")
        nodes += [helper.make_node("Pad", [cur, ids_pads, fill], [padded], name=new("n")),
                  helper.make_node("Gather", [extended[key], padded], [node.output[0]], axis=0, name=new("n"))]
        replace_node(model.graph, node, nodes)
        n_done += 1
    return rewritten(model, n_done, "lookup_shifts",
                     "shifted, padded embedding lookup(s) → the shift and pad on the ids")


def split_concat_matmul(model: Any) -> list[str]:
    """MatMul(Concat(x1, ..., xk, last axis), W) of a constant W → Σ MatMul(xi, W's rows for xi): features
    concatenated, then projected (MobileBERT's trigram embeddings). onnx2tf takes a 3-D tensor whose dims
    after the batch are all equal (sequence 16, embedding 16) for channels-first unless a MatMul made it,
    and concatenated along the sequence; the MatMuls need no axis."""
    from onnx import helper, numpy_helper

    consts = constants(model)
    dims = static_dims(model)
    users = readers(model)
    outputs = {o.name for o in model.graph.output}
    n_done = 0
    for cat in list(model.graph.node):
        if cat.op_type != "Concat" or cat.domain not in ("", "ai.onnx") or cat.output[0] in outputs:
            continue
        use = users.get(cat.output[0], [])
        mm = use[0] if len(use) == 1 else None
        parts = [dims.get(i) for i in cat.input]
        if mm is None or mm.op_type != "MatMul" or mm.input[0] != cat.output[0] or mm.input[1] not in consts or \
                any(not p or p[-1] is None for p in parts):
            continue
        rank, axis = len(parts[0]), next((a.i for a in cat.attribute if a.name == "axis"), 0)
        w = consts[mm.input[1]]
        widths = [int(p[-1]) for p in parts]
        if rank < 2 or axis % rank != rank - 1 or w.ndim != 2 or sum(widths) != w.shape[0]:
            continue
        new = unique(model, mm.output[0])
        nodes, acc, off = [], None, 0
        for x, width in zip(cat.input, widths, strict=True):
            wi, yi = new("w"), new("part")
            model.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(w[off:off + width]), wi))
            off += width
            nodes.append(helper.make_node("MatMul", [x, wi], [yi], name=new("n")))
            if acc is not None:
                nodes.append(helper.make_node("Add", [acc, yi], [new("sum")], name=new("n")))
                yi = nodes[-1].output[0]
            acc = yi
        nodes[-1].output[0] = mm.output[0]
        replace_node(model.graph, mm, nodes)
        model.graph.node.remove(cat)
        n_done += 1
    return [f"split_concat_matmul: {n_done} MatMul of a last-axis Concat → a sum of MatMuls"] if n_done else []


def integer_abs(model: Any) -> list[str]:
    """Abs of a 64-bit integer tensor (MPNet's and T5's relative position buckets, computed at run time when
    the sequence is dynamic) → Max(x, Neg(x)), the same for every value but the type's minimum. TFLite's
    builtin ABS takes no int64: it became a Select TF op (FlexAbs) the LiteRT interpreter cannot run."""
    from onnx import TensorProto, helper

    types = elem_types(model)
    n_done = 0
    for node in list(model.graph.node):
        if node.op_type != "Abs" or node.domain not in ("", "ai.onnx") or \
                types.get(node.input[0]) != TensorProto.INT64:
            continue
        new = unique(model, node.output[0])
        neg = new("neg")
        replace_node(model.graph, node, [helper.make_node("Neg", [node.input[0]], [neg], name=new("n")),
                                         helper.make_node("Max", [node.input[0], neg], [node.output[0]],
                                                          name=new("n"))])
        n_done += 1
    return [f"integer_abs: {n_done} int64 Abs → Max(x, -x)"] if n_done else []


def bias_after_reshape(model: Any) -> list[str]:
    """Reshape(Add(MatMul(x, W), b)) splitting the last axis (a projection into heads: [batch, S, H·d] →
    [batch, S, H, d]) → Add(Reshape(MatMul(x, W)), b as [H, d]), where S = H·d. onnx2tf takes a 3-D tensor
    whose dims after the batch are all equal for channels-first unless a MatMul made it: Qwen2's key
    projection with its bias ([batch, 16, 16] at sequence 16, one key head of 16) was transposed before the
    Reshape, silently."""
    from onnx import helper, numpy_helper

    consts = constants(model)
    dims = static_dims(model)
    made = producers(model)
    users = use_counts(model)
    outputs = {o.name for o in model.graph.output}
    n_done = 0
    for node in list(model.graph.node):
        add = made.get(node.input[0]) if node.op_type == "Reshape" else None
        if add is None or add.op_type != "Add" or users.get(add.output[0]) != 1 or add.output[0] in outputs:
            continue
        mm = next((made.get(i) for i in add.input if i not in consts), None)
        bias = next((consts[i] for i in add.input if i in consts), None)
        src, out = dims.get(add.output[0]), dims.get(node.output[0])
        if mm is None or mm.op_type != "MatMul" or bias is None or not src or not out or \
                any(d is None for d in src[1:] + out[1:]) or len(out) <= len(src) or \
                out[:len(src) - 1][1:] != src[1:-1]:
            continue
        tail = out[len(src) - 1:]
        # only where onnx2tf misjudges the layout: every dim after the batch equal (other graphs stay as written)
        if len(set(src[1:])) != 1 or bias.size != src[-1] or bias.shape[-1] != src[-1] or \
                int(np.prod(tail)) != src[-1]:
            continue
        new = unique(model, node.output[0])
        b, moved = new("bias"), new("split")
        model.graph.initializer.append(numpy_helper.from_array(bias.reshape(tail), b))
        final = node.output[0]
        node.input[0] = next(i for i in add.input if i not in consts)
        node.output[0] = moved
        model.graph.node.insert(list(model.graph.node).index(node) + 1,
                                helper.make_node("Add", [moved, b], [final], name=new("n")))
        model.graph.node.remove(add)
        n_done += 1
    return [f"bias_after_reshape: {n_done} projection bias(es) added after the split into heads"] if n_done else []


def square_reshape_inputs(model: Any) -> list[str]:
    """Reshape of a float 3-D tensor [N, a, a] that no MatMul made (DeBERTa's attention scores summed from
    content and position terms, [batch·heads, S, S] with S = 16 = the head width) → Reshape(MatMul(x, I)),
    I the a×a identity: exact for finite values. onnx2tf takes a 3-D tensor whose dims after the batch are
    all equal for channels-first unless a MatMul made it, and transposed the scores before the Reshape
    (DeBERTa-v2 at sequence 16: 3e-3 off in the attention probabilities)."""
    from onnx import TensorProto, helper, numpy_helper

    dims = static_dims(model)
    types = elem_types(model)
    made = producers(model)
    eyes: dict[int, str] = {}
    n_done = 0
    for node in list(model.graph.node):
        if node.op_type != "Reshape" or node.domain not in ("", "ai.onnx"):
            continue
        x, src = node.input[0], made.get(node.input[0])
        d = dims.get(x) or []
        if len(d) != 3 or d[1] is None or d[1] != d[2] or d[1] < 2 or types.get(x) != TensorProto.FLOAT or \
                src is None or src.op_type not in ("Add", "Sub", "Mul", "Div"):
            continue
        new = unique(model, x)
        if d[1] not in eyes:
            eyes[d[1]] = new("eye")
            model.graph.initializer.append(numpy_helper.from_array(np.eye(d[1], dtype=np.float32), eyes[d[1]]))
        made_by_matmul = new("mm")
        model.graph.node.insert(list(model.graph.node).index(node),
                                helper.make_node("MatMul", [x, eyes[d[1]]], [made_by_matmul], name=new("n")))
        node.input[0] = made_by_matmul
        n_done += 1
    return [f"square_reshape_inputs: {n_done} Reshape(s) of a [N, a, a] sum → through an identity MatMul"] \
        if n_done else []


def constant_expand(model: Any) -> list[str]:
    """Expand(C, shape) of a constant C (a buffer broadcast to the batch: BERT's token-type ids under the
    TorchScript exporter) → Add(C, ConstantOfShape(shape, 0)), the same bidirectional broadcast. onnx2tf
    takes a constant Expand input as a numpy array and, with a shape computed at run time, returns that
    array unexpanded as if it were a layer ("Output tensors of a Functional model must be the output of a
    TensorFlow Layer")."""
    from onnx import helper, numpy_helper

    consts = constants(model)
    n_done = 0
    for node in list(model.graph.node):
        if node.op_type != "Expand" or node.domain not in ("", "ai.onnx") or node.input[0] not in consts or \
                node.input[1] in consts or consts[node.input[0]].dtype.kind not in "iuf":
            continue
        c = consts[node.input[0]]
        new = unique(model, node.name or "expand")
        zeros = new("zeros")
        fill = numpy_helper.from_array(np.zeros((1,), dtype=c.dtype))
        replace_node(model.graph, node, [
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

    consts = constants(model)
    dims = static_dims(model)
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
                new_names[c] = unique(model, c)("vec")
                model.graph.initializer.append(numpy_helper.from_array(consts[c].reshape(1), new_names[c]))
            node.input[k] = new_names[c]
            n_done += 1
    return rewritten(model, n_done, "scalar_operands", "0-d constant operand(s) → shape [1]")


def prepended_tokens(model: Any) -> list[str]:
    """Concat([Expand(C1, …), …, X], axis=1) — learned tokens (ViT's class token, DeiT's distillation
    token) of shape (1, k, D) broadcast to the batch and put before a (B, N, D) sequence with N and D known
    → Add(Pad(X, K zero rows in front), T), T a (1, K + N, D) constant holding the tokens and zeros: the
    same numbers (x + 0 and 0 + c are exact). onnx2tf takes a 3-D constant for channels-first and
    transposes it before the Expand, so the concatenation came out (B, 80, 64) instead of (B, 17, 64)."""
    from onnx import helper, numpy_helper

    consts = constants(model)
    producer = producers(model)
    dims = static_dims(model)  # a sequence of unknown length is not rewritten
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
        new = unique(model, node.name or "tokens")
        t_name, pads, padded = new("tokens"), new("pads"), new("padded")
        model.graph.initializer.append(numpy_helper.from_array(table, t_name))
        model.graph.initializer.append(numpy_helper.from_array(np.array([0, k, 0, 0, 0, 0], np.int64), pads))
        replace_node(model.graph, node, [helper.make_node("Pad", [x, pads], [padded], name=new("n")),
                                          helper.make_node("Add", [padded, t_name], [node.output[0]], name=new("n"))])
        n_done += 1
    if not n_done:
        return []
    drop_unused(model)
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
    producer = producers(model)
    consts = constants(model)

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
        new = unique(model, node.name or "gathernd")
        width, flat, minus1, base, index = (new(s) for s in ("width", "flat", "m1", "base", "index"))
        model.graph.initializer.append(numpy_helper.from_array(np.asarray([-1], np.int64), minus1))
        replace_node(model.graph, node, [
            helper.make_node("Shape", [node.input[0]], [width], start=1, end=2, name=new("n")),
            helper.make_node("Reshape", [node.input[0], minus1], [flat], name=new("n")),
            helper.make_node("Mul", [rows, width], [base], name=new("n")),
            helper.make_node("Add", [base, cols], [index], name=new("n")),
            helper.make_node("Gather", [flat, index], [node.output[0]], axis=0, name=new("n"))])
        n_done += 1
    return rewritten(model, n_done, "flat_gathernd",
                     "GatherND of (row, col) index grids → Gather of the flattened data")


def unflatten_gemm(model: Any) -> list[str]:
    """Reshape(x, [-1, K]) → Gemm(·, W) → Reshape(back to x's leading dims + [N]) → MatMul(x, W) (+ bias),
    where symbolic shape inference proves the last Reshape restores x's leading dims (GPT-2's Conv1D:
    `addmm` on a view). onnx2tf sees the restored 3-D tensor with all dims unknown, takes it for
    channels-first and splits q/k/v on the wrong axis."""
    from onnx import helper, numpy_helper

    from .. import onnxutil

    try:
        with onnxutil.scratch_cwd():
            inferred = symbolic_shape_inference().infer_shapes(model, auto_merge=True)
    except Exception:  # noqa: BLE001 - best effort: nothing is rewritten
        return []
    dims = {v.name: [d.dim_param if d.HasField("dim_param") else (int(d.dim_value) if d.HasField("dim_value")
                                                                   else None) for d in v.type.tensor_type.shape.dim]
            for v in (*inferred.graph.value_info, *inferred.graph.input)
            if v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape")}
    consts = constants(model)
    producer = producers(model)
    uses = use_counts(model)
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
        new = unique(model, gemm.name or "gemm")
        wname = new("w")
        model.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(w), wname))
        bias = gemm.input[2] if len(gemm.input) > 2 and gemm.input[2] else None
        mm = y if bias is None else new("mm")
        nodes = [helper.make_node("MatMul", [x, wname], [mm], name=new("n"))]
        if bias is not None:
            nodes.append(helper.make_node("Add", [mm, bias], [y], name=new("n")))
        replace_node(model.graph, last, nodes)
        n_done += 1
    return rewritten(model, n_done, "unflatten_gemm", "Reshape → Gemm → Reshape → MatMul on the unflattened tensor")



_UNARY = {"Cast", "Not", "Neg", "Abs", "Identity", "Exp", "Log", "Sqrt", "Reciprocal", "Sign", "Floor", "Ceil",
          "Relu", "Sigmoid", "Tanh", "Erf", "IsNaN", "IsInf"}
_BROADCAST = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Where", "And", "Or", "Xor", "Equal", "Less",
              "Greater", "LessOrEqual", "GreaterOrEqual"}


def _broadcast(*shapes: list[Any]) -> list[Any] | None:
    """The numpy broadcast of symbolic shapes (ints and symbol names), None where it is not provable."""
    rank = max(len(s) for s in shapes)
    out = []
    for axis in range(rank):
        dims = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0} - {1}
        if len(dims) > 1 or None in dims:
            return None
        out.append(dims.pop() if dims else 1)
    return out


def absorbed_expand(model: Any) -> list[str]:
    """Expand by a shape computed at run time whose broadcast every use absorbs anyway (a causal mask
    [1, 1, S, S] expanded to [batch, 1, S, S], then turned into 0/-inf by Cast/Where and added to scores of
    [batch, heads, S, S]) → its input itself. Follows the expanded tensor through elementwise ops until a
    broadcasting op whose output shape (symbolic inference) is already that of its operands without the
    Expand; any other use keeps the Expand. onnx2tf lost the fixed dims of the expanded mask behind the
    computed shape (BART's decoder under the dynamo exporter: "Dimensions must be equal, but are 2 and 16")."""
    consts = constants(model)
    sym: dict[str, list[Any]] | None = None
    outputs = {o.name for o in model.graph.output}
    users = readers(model)
    n_done = 0
    for node in list(model.graph.node):
        if node.op_type != "Expand" or node.domain not in ("", "ai.onnx") or node.input[1] in consts:
            continue
        if sym is None:  # symbolic inference leaves constants out: their shapes are known
            sym = {**symbolic_dims(model), **{k: list(c.shape) for k, c in consts.items()}}
        src = sym.get(node.input[0])
        if src is None or not _absorbed(node.output[0], src, sym, users, outputs):
            continue
        for user in users.get(node.output[0], []):
            for k, i in enumerate(user.input):
                if i == node.output[0]:
                    user.input[k] = node.input[0]
                    users.setdefault(node.input[0], []).append(user)
        model.graph.node.remove(node)
        n_done += 1
    if not n_done:
        return []
    from .shapes import fold_constants

    fold_constants(model)
    drop_unused(model)
    return [f"absorbed_expand: {n_done} Expand(s) whose broadcast every use absorbs → the input itself"]


def _absorbed(name: str, src: list[Any], sym: dict[str, list[Any]], users: dict[str, list[Any]],
              outputs: set[str], depth: int = 0) -> bool:
    """Whether every use of `name` (an expanded tensor that would be `src`-shaped without the Expand) ends
    in a broadcast that gives the same shape without it."""
    if name in outputs or depth > 8 or not users.get(name):
        return False
    for user in users[name]:
        out = sym.get(user.output[0]) if user.output else None
        if user.domain not in ("", "ai.onnx") or out is None or len(user.output) != 1:
            return False
        if user.op_type in _UNARY:
            if not _absorbed(user.output[0], src, sym, users, outputs, depth + 1):
                return False
            continue
        if user.op_type not in _BROADCAST:
            return False
        others = [sym.get(i) for i in user.input if i and i != name]
        if any(o is None for o in others):
            return False
        without = _broadcast(src, *others)
        if without is None:
            return False
        if without != out and not _absorbed(user.output[0], without, sym, users, outputs, depth + 1):
            return False
    return True
