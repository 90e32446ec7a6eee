"""Tools that write into the working directory run in a scratch one: onnxruntime's symbolic shape inference
dumps sym_shape_infer_temp.onnx (+ uuid-named .data files) into the cwd when it cannot infer every shape."""
from __future__ import annotations

import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from portkit.normalize import constant_reshape_shapes


def _uninferable():
    """A graph symbolic inference cannot finish (a custom-domain op), with a weight big enough for .data."""
    w = numpy_helper.from_array(np.ones((64, 4), np.float32), "w")
    nodes = [helper.make_node("Custom", ["x"], ["t"], domain="com.example"),
             helper.make_node("MatMul", ["t", "w"], ["u"]),
             helper.make_node("Reshape", ["u", "shape"], ["y"])]
    shape = numpy_helper.from_array(np.array([-1, 4], np.int64), "shape")
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, shape])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])


def test_symbolic_shape_inference_leaves_nothing_in_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    constant_reshape_shapes(_uninferable())
    assert os.listdir(tmp_path) == []
    assert os.getcwd() == str(tmp_path)
