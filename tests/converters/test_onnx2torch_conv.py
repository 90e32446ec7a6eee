"""What Keras models become in ONNX that onnx2torch refuses (issue 28), → TorchScript in one conversion validated
against onnxruntime by portkit: ConvTranspose with asymmetric pads (Keras' Conv2DTranspose with padding="same",
stride 2), auto_pad SAME_UPPER with output_padding, output_shape; ReverseSequence (the backward half of
Keras' Bidirectional GRU as tf2onnx writes it)."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import portkit

# find_spec, not importorskip: importing onnx2torch imports torch, and the pytest process imports no framework
pytestmark = pytest.mark.skipif(importlib.util.find_spec("onnx2torch") is None, reason="needs onnx2torch")

F = TensorProto.FLOAT


def _w(name, shape, seed):
    return numpy_helper.from_array(np.random.default_rng(seed).normal(0, 0.5, shape).astype(np.float32), name)


def conv_transposes():
    """Three transposed convolutions of one 3-channel map, each output its own, and the map reversed along
    its channels, each row's first Shape(x)[1] - 1 of them (ReverseSequence, batch axis 0, time axis 1;
    lengths computed from the shape as tf2onnx does)."""
    i64 = {k: numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in
           {"zero": [0], "one": [1], "two": [2]}.items()}
    nodes = [helper.make_node("ConvTranspose", ["x", "W", "B"], ["asym"], strides=[2, 2], pads=[0, 0, 1, 1]),
             helper.make_node("ConvTranspose", ["x", "W2"], ["same"], strides=[2, 2], auto_pad="SAME_UPPER",
                              output_padding=[1, 1], kernel_shape=[2, 2]),
             helper.make_node("ConvTranspose", ["x", "W", "B"], ["shaped"], strides=[2, 1], output_shape=[13, 7]),
             helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Slice", ["s", "zero", "one"], ["b"]),
             helper.make_node("Slice", ["s", "one", "two"], ["c"]), helper.make_node("Sub", ["c", "one"], ["n"]),
             helper.make_node("Expand", ["n", "b"], ["lens"]),
             helper.make_node("ReverseSequence", ["x", "lens"], ["reversed"], batch_axis=0, time_axis=1)]
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", F, ["batch", 3, 6, 7])],
        [helper.make_tensor_value_info("asym", F, ["batch", 4, 12, 14]),
         helper.make_tensor_value_info("same", F, ["batch", 4, 12, 14]),
         helper.make_tensor_value_info("shaped", F, ["batch", 4, 13, 7]),
         helper.make_tensor_value_info("reversed", F, ["batch", 3, 6, 7])],
        [_w("W", (3, 4, 3, 3), 0), _w("B", (4,), 1), _w("W2", (3, 4, 2, 2), 2), *i64.values()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def test_keras_spellings_to_torchscript(tmp_path):
    import onnx
    import onnxruntime as ort

    src = tmp_path / "ct.onnx"
    onnx.save(conv_transposes(), src)
    shapes = [o.shape for o in ort.InferenceSession(str(src)).run(None, {"x": np.ones((1, 3, 6, 7), np.float32)})]
    # what ONNX defines, onnxruntime computes
    assert shapes == [(1, 4, 12, 14), (1, 4, 12, 14), (1, 4, 13, 7), (1, 3, 6, 7)]
    res = portkit.convert(src, "torchscript", tmp_path / "ct.ts.pt")
    checks = [h.validation for h in res.hops if h.validation is not None]
    assert res.passed and checks, res.to_dict()
    assert max(v.max_abs for v in checks) < 1e-5
