"""Routes into TFLite that keep dynamic axes (issue 15's acceptance: a traced BERT with int64 ids + mask
converts to TFLite without --static and passes validation, masks included).

The cause of the old ~0.045 error at a dynamic sequence: onnx2tf cannot follow a Reshape whose target is
computed from Shape ops (attention's split/merge of heads); a 4-D tensor of unknown dims is taken for
channels-last and transposed before the Reshape. portkit.normalize.constant_reshape_shapes writes those
targets as constants (0 = keep the input's dim) where symbolic shape inference proves it exact."""
from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from portkit.normalize import (
    bool_expand,
    check_equivalent,
    constant_reshape_shapes,
    flat_gathernd,
    normalize,
    split_unsqueeze,
    unflatten_gemm,
)

from ..conftest import run_cli

pytest.importorskip("onnxruntime")


def _heads_graph() -> onnx.ModelProto:
    """x (N, S, 8) → split into 2 heads of 4 with a computed target → transpose → back → merge (computed),
    plus a Reshape to (N*S, 8) that no constant of 0s can express."""
    i64 = lambda name, v: numpy_helper.from_array(np.asarray(v, np.int64), name)  # noqa: E731
    inits = [i64("i0", [0]), i64("i1", [1]), i64("heads", [2, 4]), i64("width", [8]), i64("m1", [-1]),
             numpy_helper.from_array(np.random.default_rng(0).normal(size=(8, 8)).astype(np.float32), "w")]
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"]),
        helper.make_node("Shape", ["h"], ["shp"]),
        helper.make_node("Gather", ["shp", "i0"], ["n"], axis=0),
        helper.make_node("Gather", ["shp", "i1"], ["s"], axis=0),
        helper.make_node("Concat", ["n", "s", "heads"], ["split_to"], axis=0),
        helper.make_node("Reshape", ["h", "split_to"], ["split"]),
        helper.make_node("Transpose", ["split"], ["t"], perm=[0, 2, 1, 3]),
        helper.make_node("Transpose", ["t"], ["t2"], perm=[0, 2, 1, 3]),
        helper.make_node("Concat", ["n", "s", "width"], ["merge_to"], axis=0),
        helper.make_node("Reshape", ["t2", "merge_to"], ["y"]),
        helper.make_node("Concat", ["m1", "width"], ["flat_to"], axis=0),
        helper.make_node("Reshape", ["y", "flat_to"], ["flat"]),
    ]
    g = helper.make_graph(nodes, "heads", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "S", 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("flat", TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def test_computed_reshape_targets_become_constants():
    original = _heads_graph()
    m = onnx.ModelProto()
    m.CopyFrom(original)
    notes = constant_reshape_shapes(m)
    assert notes and "3 Reshape" in notes[0]
    consts = {i.name: numpy_helper.to_array(i).tolist() for i in m.graph.initializer}
    targets = {n.output[0]: consts.get(n.input[1]) for n in m.graph.node if n.op_type == "Reshape"}
    assert targets["split"] == [0, 0, 2, 4] and targets["y"] == [0, 0, 8]
    assert targets["flat"] == [-1, 8]  # (N*S, 8): N*S neither fixed nor kept, the one dim Reshape infers
    assert "Concat" not in [n.op_type for n in m.graph.node]
    # equal at shapes other than the check's own
    for shape in ((3, 5), (1, 1), (2, 9)):
        check_equivalent(original, m, shapes={"x": (*shape, 8)})


def test_unused_shape_arithmetic_is_removed():
    m = _heads_graph()
    del m.graph.node[-2:]  # no flat output
    del m.graph.output[1]
    constant_reshape_shapes(m)
    assert [n.op_type for n in m.graph.node] == ["MatMul", "Reshape", "Transpose", "Transpose", "Reshape"]


def test_only_the_onnx2tf_pass_rewrites_reshapes():
    m = _heads_graph()
    _, notes = normalize(m, tool="onnx2torch")
    assert not any("constant_reshape_shapes" in n for n in notes)
    _, notes = normalize(m, tool="onnx2tf")
    assert any("constant_reshape_shapes" in n for n in notes) and any("normalize check" in n for n in notes)


def test_multi_axis_unsqueeze_of_a_dynamic_mask_is_split():
    """mask[:, None, None, :] as the dynamo exporter writes it (one Unsqueeze, axes [1, 2]); onnx2tf would
    write a Reshape to [-1, 1, 1, -1], which TFLite rejects."""
    nodes = [helper.make_node("Unsqueeze", ["mask", "axes"], ["m4"]),
             helper.make_node("Cast", ["m4"], ["y"], to=TensorProto.FLOAT),
             helper.make_node("Unsqueeze", ["v", "axes"], ["v3"])]  # one dynamic dim: left alone
    g = helper.make_graph(nodes, "u", [helper.make_tensor_value_info("mask", TensorProto.INT64, ["N", "S"]),
                                       helper.make_tensor_value_info("v", TensorProto.FLOAT, ["N"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("v3", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(np.asarray([2, 1], np.int64), "axes")])
    original = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    original.ir_version = 8
    m = onnx.ModelProto()
    m.CopyFrom(original)
    assert split_unsqueeze(m) == ["split_unsqueeze: 1 multi-axis Unsqueeze → one per axis"]
    assert [n.op_type for n in m.graph.node] == ["Unsqueeze", "Unsqueeze", "Cast", "Unsqueeze"]
    for shape in ((3, 5), (1, 7)):
        check_equivalent(original, m, shapes={"mask": shape, "v": shape[:1]})


def test_bool_expand_goes_through_int32():
    nodes = [helper.make_node("Cast", ["x"], ["b"], to=TensorProto.BOOL),
             helper.make_node("Expand", ["b", "shape"], ["y"]),
             helper.make_node("Expand", ["x", "shape"], ["z"])]  # not bool: left alone
    g = helper.make_graph(nodes, "e", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.BOOL, None),
                           helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(np.asarray([3, 4], np.int64), "shape")])
    original = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    original.ir_version = 8
    m = onnx.ModelProto()
    m.CopyFrom(original)
    assert bool_expand(m) == ["bool_expand: 1 bool Expand → through int32"]
    assert [n.op_type for n in m.graph.node] == ["Cast", "Cast", "Expand", "Cast", "Expand"]
    check_equivalent(original, m)
    # a constant bool is converted to an int32 initializer (onnx2tf takes constants only as arrays)
    const = onnx.ModelProto()
    const.CopyFrom(original)
    del const.graph.node[0]
    const.graph.initializer.append(numpy_helper.from_array(np.asarray([[True], [False], [True]]), "b"))
    bool_expand(const)
    assert [n.op_type for n in const.graph.node] == ["Expand", "Cast", "Expand"]


def test_gathernd_of_index_grids_becomes_a_flat_gather():
    """mask[batch_idx, kv_idx] as torch.export writes transformers' padding mask: GatherND over a Concat of
    two index grids; onnx2tf lost the grid's rank. Equal at other batch/sequence sizes."""
    i64 = lambda name, v: numpy_helper.from_array(np.asarray(v, np.int64), name)  # noqa: E731
    nodes = [
        helper.make_node("Cast", ["mask"], ["b"], to=TensorProto.BOOL),
        helper.make_node("Shape", ["mask"], ["n"], start=0, end=1),
        helper.make_node("Shape", ["mask"], ["s"], start=1, end=2),
        helper.make_node("Squeeze", ["n"], ["n0"]), helper.make_node("Squeeze", ["s"], ["s0"]),
        helper.make_node("Range", ["zero", "n0", "one"], ["rn"]),
        helper.make_node("Range", ["zero", "s0", "one"], ["rs"]),
        helper.make_node("Unsqueeze", ["rn", "ax1"], ["rn2"]),  # (N, 1)
        helper.make_node("Unsqueeze", ["rs", "ax0"], ["rs2"]),  # (1, S)
        helper.make_node("Add", ["rn2", "rs2"], ["grid"]),  # (N, S) broadcast shape
        helper.make_node("Mul", ["grid", "zero"], ["z"]),
        helper.make_node("Add", ["z", "rn2"], ["rows"]), helper.make_node("Add", ["z", "rs2"], ["cols"]),
        helper.make_node("Unsqueeze", ["rows", "axm1"], ["r3"]),
        helper.make_node("Unsqueeze", ["cols", "axm1"], ["c3"]),
        helper.make_node("Concat", ["r3", "c3"], ["idx"], axis=-1),
        helper.make_node("GatherND", ["b", "idx"], ["y"]),
    ]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("mask", TensorProto.INT64, ["N", "S"])],
                          [helper.make_tensor_value_info("y", TensorProto.BOOL, None)],
                          [i64("zero", 0), i64("one", 1), i64("ax0", [0]), i64("ax1", [1]), i64("axm1", [-1])])
    original = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    original.ir_version = 8
    m = onnx.ModelProto()
    m.CopyFrom(original)
    assert flat_gathernd(m) == ["flat_gathernd: 1 GatherND of (row, col) index grids → Gather of the flattened data"]
    ops = [n.op_type for n in m.graph.node]
    assert "GatherND" not in ops and "Concat" not in ops and "Gather" in ops
    for shape in ((2, 5), (3, 1), (1, 9)):
        check_equivalent(original, m, shapes={"mask": shape}, ranges={"mask": (0, 2)})
    # normalize runs index_grid_gather next: the flat index enumerates the rows in order, so a Reshape (the
    # dynamo exporter's CLIP / BART padding mask: onnx2tf broadcast the Gather's mask to [?, 16, 16, 16])
    from portkit.normalize import index_grid_gather

    assert index_grid_gather(m, ranges={"mask": (0, 2)})
    assert "Gather" not in [n.op_type for n in m.graph.node]
    for shape in ((2, 5), (3, 1), (1, 9)):
        check_equivalent(original, m, shapes={"mask": shape}, ranges={"mask": (0, 2)})


def test_gemm_on_a_flattened_view_becomes_a_matmul():
    """GPT-2's Conv1D: view(-1, K) → addmm → view(N, S, 3K) becomes MatMul + Add on the 3-D tensor."""
    rng = np.random.default_rng(0)
    i64 = lambda name, v: numpy_helper.from_array(np.asarray(v, np.int64), name)  # noqa: E731
    f32 = lambda name, shape: numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)  # noqa: E731
    nodes = [helper.make_node("Reshape", ["x", "flat_to"], ["flat"]),
             helper.make_node("Gemm", ["flat", "w", "b"], ["g"]),
             helper.make_node("Shape", ["x"], ["ns"], start=0, end=2),
             helper.make_node("Concat", ["ns", "width"], ["back_to"], axis=0),
             helper.make_node("Reshape", ["g", "back_to"], ["y"])]
    g = helper.make_graph(nodes, "c1d", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "S", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [i64("flat_to", [-1, 4]), i64("width", [12]), f32("w", (4, 12)), f32("b", (12,))])
    original = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    original.ir_version = 8
    m = onnx.ModelProto()
    m.CopyFrom(original)
    assert unflatten_gemm(m) == ["unflatten_gemm: 1 Reshape → Gemm → Reshape → MatMul on the unflattened tensor"]
    assert [n.op_type for n in m.graph.node] == ["MatMul", "Add"]
    for shape in ((2, 5, 4), (1, 1, 4), (3, 7, 4)):
        check_equivalent(original, m, shapes={"x": shape})


def test_traced_bert_to_tflite_keeps_dynamic_batch_and_sequence(tmp_path):
    """The acceptance command, without --static: validation at the data (one row padded) passes, and the
    .tflite takes another batch and sequence."""
    pytest.importorskip("transformers")
    from portkit.workers import call_in_worker

    pt, feeds, out = tmp_path / "bert.pt", tmp_path / "feeds.npz", tmp_path / "bert.tflite"
    np.savez(feeds, **call_in_worker("trace bert", "examples.hf_models", "save_traced", "bert", str(pt)))
    proc = run_cli("convert", str(pt), "--to", "tflite", "--inputs", str(feeds), "-o", str(out), timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "validate end to end: ok" in proc.stderr
    rng = np.random.default_rng(3)
    mask = np.ones((3, 24), np.int64)
    mask[-1, -7:] = 0
    other = tmp_path / "b3s24.npz"
    np.savez(other, input_ids=rng.integers(0, 1000, (3, 24)).astype(np.int64), attention_mask=mask)
    proc = run_cli("validate", str(pt), str(out), "--inputs", str(other), timeout=600)
    assert proc.returncode == 0, proc.stderr


def build_rnn(out: str) -> str:
    """A Keras 3 model with a Bidirectional GRU and an LSTM (worker side: imports keras)."""
    import keras

    keras.utils.set_random_seed(0)
    layers = keras.layers
    model = keras.Sequential([keras.Input((12, 6)), layers.Bidirectional(layers.GRU(8, return_sequences=True)),
                              layers.LSTM(8), layers.Dense(3)])
    model.save(out)
    return out


@pytest.mark.parametrize("tool", [
    "TFLiteConverter",
    # ~40 s, the same unrolling before another tool (the suite's time budget)
    pytest.param("keras export (litert)", marks=pytest.mark.skipif(
        os.environ.get("PORTKIT_ARCH_ALL") != "1", reason="opt in with PORTKIT_ARCH_ALL=1 (the suite's time budget)")),
])
def test_keras_rnn_to_tflite_keeps_a_dynamic_batch(tmp_path, tool):
    """TFLiteConverter cannot lower Keras 3's RNN loop (TensorList ops) at a dynamic batch: the layers are
    unrolled over their 12 static time steps and converted again; validated at batches 1 and 2."""
    import json

    from portkit.workers import call_in_worker

    src = call_in_worker("build rnn", __name__, "build_rnn", str(tmp_path / "rnn.keras"))
    out = tmp_path / "rnn.tflite"
    proc = run_cli("convert", src, "--to", "tflite", "--tool", tool, "-o", str(out), "--json", timeout=900)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["passed"], doc
    assert sum("unrolled over 12 time steps" in n for n in doc["metadata"]["rnn_unrolled"]) == 3
    assert doc["signature"]["inputs"][0]["shape"] == ["batch", 12, 6]
    v = doc["hops"][-1]["validation"]
    assert v["passed"] and v["batches"] == [1, 2], v


def test_trial_batch_avoids_sizes_the_graph_has():
    """onnx2tf maps axes partly by size: a trial batch equal to a fixed dim (mobilenet_v3_small's 2×2 head
    at 64²) let its ReduceMean average over batch and height. The trial batch is a size no tensor has."""
    from portkit.converters._onnx2tf_common import TRIAL_BATCH, shape_hints, trial_batch

    from portkit.options import ConvertOptions

    def graph(hw: int) -> onnx.ModelProto:
        g = helper.make_graph([helper.make_node("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=1)], "r",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6, hw, hw])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

    assert trial_batch(graph(8)) == TRIAL_BATCH == 2
    assert trial_batch(graph(2)) == 3  # 2 (height, width) and 1 (kept dims) are taken
    assert shape_hints(graph(2), ConvertOptions()) == ["x:3,6,2,2"]
