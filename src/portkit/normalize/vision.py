"""Vision-model spellings onnx2tf cannot take (TOOL: onnx2tf): resizes to sizes computed at run time, ReduceL2."""

from __future__ import annotations

from typing import Any

import numpy as np

from .helpers import constants, drop_unused, opset, replace_node, static_dims, unique

TOOL = "onnx2tf"


def resize_scales(model: Any) -> list[str]:
    """Resize to `sizes` computed at run time (the dynamo exporter's `interpolate(size=x.shape[-2:])`: a Concat
    of the batch read by Shape and constants) whose input and output spatial dims are static → Resize by
    constant `scales` (1 on batch and channels). onnx2tf builds `tf.image.resize` from the sizes tensor and,
    with the batch dynamic, cannot read the target size from it ("Exception encountered when calling layer
    tf.image.resize": timm GhostNetV2's attention map upsampled to its feature map). Whole ratios (28 → 56)
    become scales; other ones (3 → 7, whose float32 scale would give 6) of a nearest resize become a Gather
    per spatial axis at the indices onnxruntime's resize reads (floor(x / scale), asymmetric). So do constant
    sizes of such ratios: from opset 18 onnx2tf ignores the coordinate mode and resizes with half-pixel
    centres (a 3 → 7 nearest resize of the dynamo exporter was 0.07 off; at whole ratios the two agree)."""
    from onnx import numpy_helper

    dims = static_dims(model, data_prop=True)
    consts = constants(model)
    new = unique(model, "resize")
    n_done = 0
    replaced: list[tuple[Any, list[Any]]] = []
    for node in model.graph.node:
        if node.op_type != "Resize" or len(node.input) < 4 or not node.input[3]:
            continue
        computed = node.input[3] not in consts
        src, out = dims.get(node.input[0]), dims.get(node.output[0])
        if not src or not out or len(src) != len(out) or len(src) < 3:
            continue
        # batch and channels (may be dynamic) stay; every spatial dim must be known on both sides
        if any(d is None or d <= 0 for d in src[2:] + out[2:]) or (out[1] is not None and out[1] != src[1]):
            continue
        if any(a.name == "axes" for a in node.attribute):
            continue  # sizes for some axes only (opset 18): left alone
        whole = all(o % s == 0 for s, o in zip(src[2:], out[2:], strict=True))
        if whole and not computed:
            continue  # constant sizes of whole ratios: onnx2tf reads them, and every coordinate mode agrees
        if whole:
            name = new("scales")  # whole ratios: exact in float32, the same output size and coordinates
            scales = [1.0, 1.0] + [o // s for s, o in zip(src[2:], out[2:], strict=True)]
            model.graph.initializer.append(numpy_helper.from_array(np.asarray(scales, np.float32), name))
            node.input[2] = name
            del node.input[3]
            n_done += 1
        elif _nearest_floor(node):
            # 3 → 7: the float32 scale 7/3 would give a size of 6; a nearest resize is a gather per axis
            gathered = _gathers(model, node, src, out, new)
            if gathered:
                replaced.append((node, gathered))
                n_done += 1
    for node, nodes in replaced:
        replace_node(model.graph, node, nodes)
    if not n_done:
        return []
    drop_unused(model)
    return [f"resize_scales: {n_done} Resize(s) to sizes computed at run time → constant scales (or a Gather per axis)"]


def _attr(node: Any, name: str, default: str) -> str:
    for a in node.attribute:
        if a.name == name:
            return a.s.decode()
    return default


def _nearest_floor(node: Any) -> bool:
    return (_attr(node, "mode", "nearest"), _attr(node, "coordinate_transformation_mode", "half_pixel"),
            _attr(node, "nearest_mode", "round_prefer_floor")) == ("nearest", "asymmetric", "floor")


def _gathers(model: Any, node: Any, src: list[Any], out: list[Any], new: Any) -> list[Any]:
    from onnx import helper, numpy_helper

    nodes, value = [], node.input[0]
    for axis in range(2, len(src)):
        if src[axis] == out[axis]:
            continue
        scale = np.float32(out[axis]) / np.float32(src[axis])  # onnxruntime's float scale of a sizes resize
        index = np.minimum(np.floor(np.arange(out[axis], dtype=np.float32) / scale), src[axis] - 1).astype(np.int64)
        name = new("index")
        model.graph.initializer.append(numpy_helper.from_array(index, name))
        last = axis == max(a for a in range(2, len(src)) if src[a] != out[a])
        result = node.output[0] if last else new("gathered")
        nodes.append(helper.make_node("Gather", [value, name], [result], axis=axis, name=new("gather")))
        value = result
    return nodes


def decompose_reduce_l2(model: Any) -> list[str]:
    """ReduceL2 → Sqrt(ReduceSum(x · x)) over the same axes. onnx2tf writes ReduceL2 as `tf.norm`, which failed
    on EdgeNeXt's cross-covariance attention (`F.normalize(q, dim=-1)` of a 4-D [batch, heads, d, tokens]
    tensor: "Exception encountered when calling layer tf.norm"); the sum of squares is plain arithmetic and
    a ReduceSum onnx2tf maps axis by axis like any other."""
    from onnx import helper, numpy_helper

    if opset(model) < 13:  # ReduceSum takes its axes as an input from opset 13
        return []
    new = unique(model, "l2")
    n_done = 0
    for node in list(model.graph.node):
        if node.op_type != "ReduceL2":
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        ins = list(node.input)
        axes = ins[1] if len(ins) > 1 and ins[1] else ""
        if "axes" in attrs:  # opset < 18: axes as an attribute; ReduceSum (opset ≥ 13) takes them as an input
            axes = new("axes")
            model.graph.initializer.append(numpy_helper.from_array(np.asarray(attrs["axes"], np.int64), axes))
        square, total = new("square"), new("sum")
        extra = {k: attrs[k] for k in ("keepdims", "noop_with_empty_axes") if k in attrs}
        nodes = [helper.make_node("Mul", [ins[0], ins[0]], [square], name=new("mul")),
                 helper.make_node("ReduceSum", [square] + ([axes] if axes else []), [total],
                                  name=new("reducesum"), **extra),
                 helper.make_node("Sqrt", [total], list(node.output), name=new("sqrt"))]
        replace_node(model.graph, node, nodes)
        n_done += 1
    return [f"decompose_reduce_l2: {n_done} ReduceL2 → Sqrt(ReduceSum(x·x))"] if n_done else []
