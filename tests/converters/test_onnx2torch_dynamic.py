"""ONNX → TorchScript keeps dynamic dims: shape arithmetic (Shape → Gather/Concat → Reshape, Expand,
ConstantOfShape, Range, Tile, GatherND, Flatten) written as transformers' exporters write it, on small
hand-built graphs, converted by portkit (onnx2torch with portkit's trace-friendly converters, then
torch.jit.trace) and validated at batch 1 and 2 and other sequence lengths than the traced one.

Graphs are built with onnx.helper in the test process; the conversion runs in portkit's workers."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import portkit

# find_spec, not importorskip: importing onnx2torch imports torch, and the pytest process imports no framework
pytestmark = pytest.mark.skipif(importlib.util.find_spec("onnx2torch") is None, reason="needs onnx2torch")


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _c(name, values, dtype=np.int64):
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def heads_graph():
    """x [batch, sequence, 8]: split into 2 heads of 4 by a Reshape whose target is computed from Shape,
    a position term from Range(0, sequence), a bias Expanded and a zero tensor ConstantOfShape'd to x's
    shape, heads merged back by a Reshape to -1 (shape inference cannot tell the width the LayerNormalization
    after it normalizes), and a Tile whose repeats come from the batch size."""
    f = TensorProto.FLOAT
    nodes = [
        helper.make_node("Shape", ["x"], ["shp"]),
        helper.make_node("Gather", ["shp", "i0"], ["b"], axis=0),
        helper.make_node("Gather", ["shp", "i1"], ["s"], axis=0),
        helper.make_node("Unsqueeze", ["b", "ax0"], ["b1"]),
        helper.make_node("Unsqueeze", ["s", "ax0"], ["s1"]),
        helper.make_node("Concat", ["b1", "s1", "heads"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["xh"]),
        helper.make_node("Transpose", ["xh"], ["xt"], perm=[0, 2, 1, 3]),
        helper.make_node("Transpose", ["xt"], ["xb"], perm=[0, 2, 1, 3]),
        helper.make_node("Concat", ["b1", "s1", "width"], ["target2"], axis=0),
        helper.make_node("Reshape", ["xb", "target2"], ["merged0"]),
        helper.make_node("LayerNormalization", ["merged0", "gamma", "beta"], ["merged"], axis=-1),
        helper.make_node("Range", ["zero", "s", "one"], ["pos"]),
        helper.make_node("Cast", ["pos"], ["posf"], to=f),
        helper.make_node("Unsqueeze", ["posf", "ax01"], ["pos3"]),
        helper.make_node("Expand", ["bias", "shp"], ["bias_x"]),
        helper.make_node("ConstantOfShape", ["shp"], ["zeros"], value=helper.make_tensor("v", f, [1], [0.5])),
        helper.make_node("Add", ["merged", "pos3"], ["a1"]),
        helper.make_node("Add", ["a1", "bias_x"], ["a2"]),
        helper.make_node("Add", ["a2", "zeros"], ["y"]),
        helper.make_node("Concat", ["one1", "b1"], ["reps"], axis=0),
        helper.make_node("Tile", ["table", "reps"], ["tiled"]),
    ]
    inits = [_c("i0", 0), _c("i1", 1), _c("ax0", [0]), _c("ax01", [0, 2]), _c("heads", [2, 4]),
             _c("width", [-1]),
             _c("gamma", np.linspace(0.5, 1.5, 8), np.float32), _c("beta", np.linspace(-0.1, 0.1, 8), np.float32),
             _c("zero", 0), _c("one", 1), _c("one1", [1]),
             _c("bias", np.linspace(-1, 1, 8).reshape(1, 1, 8), np.float32),
             _c("table", np.arange(6).reshape(2, 3), np.float32)]
    return _model(nodes, [helper.make_tensor_value_info("x", f, ["batch", "sequence", 8])],
                  [helper.make_tensor_value_info("y", f, ["batch", "sequence", 8]),
                   helper.make_tensor_value_info("tiled", f, [2, "tiles"])], inits)


def mask_graph():
    """mask [batch, sequence] int64: Flatten at axis 2 (onnx2torch's own fails there), a GatherND whose
    indices' shape depends on both dims, and RoBERTa's CumSum of the mask without a `reverse` attribute
    (onnx2torch's own reads it as reverse=1), Clip by the mask's mean, and an int64 Clip whose result
    indexes GatherElements."""
    nodes = [helper.make_node("Cast", ["mask"], ["m"], to=TensorProto.FLOAT),
             helper.make_node("Flatten", ["m"], ["flat"], axis=2),
             helper.make_node("Flatten", ["m"], ["row"], axis=0),
             helper.make_node("Shape", ["mask"], ["shp"]),
             helper.make_node("ConstantOfShape", ["shp"], ["z"],
                              value=helper.make_tensor("v", TensorProto.INT64, [1], [0])),
             helper.make_node("Unsqueeze", ["z", "ax"], ["idx0"]),
             helper.make_node("Concat", ["idx0", "idx0"], ["idx"], axis=-1),
             helper.make_node("GatherND", ["m", "idx"], ["picked"]),
             helper.make_node("CumSum", ["mask", "one"], ["positions"]),
             # Clip with bounds computed at run time (EdgeNeXt; onnx2torch's own takes constants only)
             helper.make_node("ReduceMean", ["m"], ["mean"], keepdims=0),
             helper.make_node("Clip", ["m", "mean"], ["low"]),
             helper.make_node("Clip", ["m", "", "mean"], ["high"]),
             # an int64 Clip by constant bounds feeding GatherElements' indices (DeBERTa-v2's clamped relative
             # positions: onnx2torch's own read the bounds as floats and the indices came out float32)
             helper.make_node("Sub", ["positions", "one"], ["back"]),
             helper.make_node("Clip", ["back", "zero", "two"], ["clamped"]),
             helper.make_node("GatherElements", ["m", "clamped"], ["gathered"], axis=1)]
    i64, f = TensorProto.INT64, TensorProto.FLOAT
    return _model(nodes, [helper.make_tensor_value_info("mask", i64, ["batch", "sequence"])],
                  [helper.make_tensor_value_info("flat", f, ["bs", 1]),
                   helper.make_tensor_value_info("row", f, [1, "n"]),
                   helper.make_tensor_value_info("picked", f, ["batch", "sequence"]),
                   helper.make_tensor_value_info("positions", i64, ["batch", "sequence"]),
                   helper.make_tensor_value_info("low", f, ["batch", "sequence"]),
                   helper.make_tensor_value_info("high", f, ["batch", "sequence"]),
                   helper.make_tensor_value_info("gathered", f, ["batch", "sequence"])],
                  [_c("ax", [-1]), _c("one", 1), _c("zero", 0), _c("two", 2)])


@pytest.mark.parametrize("graph", [heads_graph, mask_graph])
def test_traced_torchscript_keeps_dynamic_dims(graph, tmp_path):
    import onnx

    src = tmp_path / "m.onnx"
    onnx.save(graph(), src)
    res = portkit.convert(src, "torchscript", tmp_path / "m.ts.pt")
    checks = [h.validation for h in res.hops if h.validation is not None]
    assert res.passed and checks, res.to_dict()
    cases = " ".join(c for v in checks for c in v.cases)
    assert "batch 1" in cases and "batch 2" in cases and "sequence" in cases, cases
    assert max(v.max_abs for v in checks) < 1e-5
