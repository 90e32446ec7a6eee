"""portkit.locate.align on hand-made probe lists (numpy only, no framework): which `miss` tensors the
first-divergence search passes over (fused away: a stand-in counterpart) and which it reports (compared
with its own counterpart, even where the difference fades downstream, as a scaled attention key does in a
tiny BERT)."""
from __future__ import annotations

import numpy as np

from portkit.locate.align import align

RNG = np.random.default_rng(0)


def _p(name, arr, inputs=()):
    return {"name": name, "node": f"node_{name}", "op": "Op", "inputs": list(inputs), "array": arr}


def test_a_fault_that_fades_downstream_is_still_the_first_divergence():
    x, far = RNG.normal(size=(4, 8)), RNG.normal(size=(4, 8))
    key = RNG.normal(size=(4, 8))
    ref_tail, bad_tail = RNG.normal(size=(4, 8)), None
    bad_tail = ref_tail + 1e-5  # the fault's effect, faded below tolerance
    graph = [_p("x", x), _p("key", key * 1.5, ["x"]), _p("mid", key * 3.0, ["key"]), _p("tail", bad_tail, ["mid"]),
             _p("later", far, ["tail"])]
    other = [_p("x", x), _p("key", key), _p("tail", ref_tail), _p("later", far)]
    rep = align(graph, other, atol=1e-4, rtol=1e-3)
    assert rep["first_divergence"]["node"] == "node_key", rep["tensors"]


def test_a_tensor_fused_away_is_passed_over():
    x = RNG.normal(size=(4, 8))
    pre = RNG.normal(size=(4, 8))
    relu = np.maximum(pre, 0)
    graph = [_p("x", x), _p("conv", pre, ["x"]), _p("relu", relu, ["conv"]), _p("out", relu * 2, ["relu"])]
    other = [_p("x", x), _p("fused", relu), _p("out", relu * 2)]  # TFLite fused the ReLU into the conv
    rep = align(graph, other, atol=1e-4, rtol=1e-3)
    assert rep["first_divergence"] is None, rep["tensors"]
    bad = [_p("x", x), _p("fused", relu), _p("out", relu * 3)]
    assert align(graph, bad, atol=1e-4, rtol=1e-3)["first_divergence"]["node"] == "node_out"


def test_a_layout_transposition_applies_to_any_weights():
    from portkit.locate.inject import swapped

    m = np.arange(15.0).reshape(3, 5)  # a fully connected [in, out] matrix: read as [out, in]
    assert swapped(m, "fc").shape == m.shape and not np.array_equal(swapped(m, "fc"), m)
    one = np.arange(8.0).reshape(4, 2, 1, 1)  # a 1x1 filter: its channels swapped
    assert not np.array_equal(swapped(one, "pw"), one)
    k = np.arange(18.0).reshape(1, 2, 3, 3)  # square spatial axes: those
    assert np.array_equal(swapped(k, "conv"), k.transpose(0, 1, 3, 2))
    import pytest

    with pytest.raises(ValueError, match="no two axes"):
        swapped(np.ones((1, 4)), "vector")


def test_an_onnx_softmax_axis_fault_is_located(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from portkit.artifact import Artifact
    from portkit.formats import Format
    from portkit.locate import locate_divergence
    from portkit.locate.inject import inject

    w = numpy_helper.from_array(RNG.normal(size=(4, 4)).astype(np.float32), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["h"], name="fc"),
                           helper.make_node("Softmax", ["h"], ["p"], name="attn", axis=-1),
                           helper.make_node("MatMul", ["p", "w"], ["y"], name="out")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])], [w])
    src, bad = tmp_path / "m.onnx", tmp_path / "bad.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), src)
    assert inject(str(src), str(bad), "attribute", 0)["layer"] == "attn"
    rep = locate_divergence(Artifact(str(src), Format.ONNX), Artifact(str(bad), Format.ONNX))
    assert rep["first_divergence"]["node"] == "attn"


def test_weights_are_recognised_across_layouts_and_ranks():
    from portkit.locate.inject import same_weights

    k = RNG.normal(size=(3, 4, 5))  # Keras Conv1D [k, in, out]
    assert same_weights(k, k.transpose(2, 0, 1)[:, None])  # TFLite CONV_2D [out, 1, k, in]
    assert not same_weights(k, RNG.normal(size=(5, 1, 3, 4)))
