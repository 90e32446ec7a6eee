"""portkit.normalize: each rewrite on a small hand-built ONNX graph, checked with onnxruntime, plus the
issue's real case (resnet18 traced, exported by the TorchScript exporter, then ONNX → TorchScript).

Graphs are built with onnx.helper in the test process (onnx + onnxruntime only, no framework)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import portkit
from portkit.errors import ConversionFailed
from portkit.normalize import (
    alias_initializers,
    bool_arithmetic,
    check_equivalent,
    decompose_gelu,
    drop_reshape_allowzero,
    hide_unchanged_ops,
    lower_opset,
    normalize,
    prepended_tokens,
    split_comparisons,
    split_to_slices,
)

from ..conftest import build

pytest.importorskip("onnxruntime")


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8 if opset <= 17 else 10
    return m


def _f(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def _ops(model) -> list[str]:
    return [n.op_type for n in model.graph.node]


def aliased_conv():
    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32), "conv.w")
    nodes = [helper.make_node("Identity", ["conv.w"], ["onnx::Conv_177"]),
             helper.make_node("Identity", ["onnx::Conv_177"], ["onnx::Conv_178"]),
             helper.make_node("Conv", ["x", "onnx::Conv_177"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["a", "onnx::Conv_178"], ["y"], pads=[1, 1, 1, 1])]
    w2 = numpy_helper.from_array(np.random.default_rng(1).normal(size=(4, 4, 3, 3)).astype(np.float32), "conv.w")
    m = _model(nodes, [_f("x", ["N", 3, 8, 8])], [_f("y", ["N", 4, 8, 8])], [w])
    # the second Conv needs 4 input channels: give it its own (aliased) weight
    m.graph.initializer.append(w2)
    m.graph.initializer[1].name = "conv.w2"
    m.graph.node[1].input[0] = "conv.w2"
    return m


def test_alias_initializers_points_consumers_at_the_initializer():
    m = aliased_conv()
    notes = alias_initializers(m)
    assert notes and "Identity" not in _ops(m)
    inits = {i.name for i in m.graph.initializer}
    assert all(n.input[1] in inits for n in m.graph.node if n.op_type == "Conv")
    out, notes = normalize(aliased_conv())
    assert any("equal" in n for n in notes), notes  # checked numerically


def test_identity_feeding_a_graph_output_is_kept():
    w = numpy_helper.from_array(np.ones((2,), np.float32), "w")
    m = _model([helper.make_node("Identity", ["w"], ["y"]), helper.make_node("Add", ["x", "w"], ["z"])],
               [_f("x", [2])], [_f("y", [2]), _f("z", [2])], [w])
    assert alias_initializers(m) == []


@pytest.mark.parametrize("approx", ["none", "tanh"])
def test_gelu_is_decomposed_to_reach_opset_17(approx):
    m = _model([helper.make_node("Gelu", ["x"], ["y"], approximate=approx)], [_f("x", ["N", 16])],
               [_f("y", ["N", 16])], opset=20)
    out, notes = normalize(m, max_opset=17)
    assert "Gelu" not in _ops(out)
    assert next(o.version for o in out.opset_import if o.domain == "") == 17
    assert any("decompose_gelu" in n for n in notes) and any("equal" in n for n in notes), notes


def test_gelu_untouched_when_the_tool_takes_it():
    m = _model([helper.make_node("Gelu", ["x"], ["y"])], [_f("x", [4])], [_f("y", [4])], opset=20)
    assert decompose_gelu(m, 20) == []


def test_layernorm_is_decomposed_below_opset_17():
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(8,)).astype(np.float32), "g"),
             numpy_helper.from_array(rng.normal(size=(8,)).astype(np.float32), "b")]
    m = _model([helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1, epsilon=1e-5)],
               [_f("x", ["N", 5, 8])], [_f("y", ["N", 5, 8])], inits, opset=17)
    out, notes = normalize(m, max_opset=16)
    assert "LayerNormalization" not in _ops(out)
    assert any("equal" in n for n in notes), notes


def test_reduce_attribute_left_by_the_version_converter_is_dropped():
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    m = _model([helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=1, noop_with_empty_axes=0)],
               [_f("x", ["N", 4])], [_f("y", ["N", 1])], [axes], opset=18)
    out, notes = lower_opset(m, 17)
    assert notes and not any(a.name == "noop_with_empty_axes" for n in out.graph.node for a in n.attribute)


def test_reshape_allowzero_dropped_only_without_zeros():
    shape = numpy_helper.from_array(np.array([-1, 8], np.int64), "s")
    m = _model([helper.make_node("Reshape", ["x", "s"], ["y"], allowzero=1)], [_f("x", ["N", 2, 4])],
               [_f("y", ["N", 8])], [shape], opset=17)
    assert drop_reshape_allowzero(m)
    assert not m.graph.node[0].attribute
    zero = numpy_helper.from_array(np.array([0, 8], np.int64), "s")
    m = _model([helper.make_node("Reshape", ["x", "s"], ["y"], allowzero=1)], [_f("x", [1, 2, 4])],
               [_f("y", [1, 8])], [zero], opset=17)
    assert drop_reshape_allowzero(m) == []


def test_reshape_allowzero_dropped_for_a_shape_computed_from_sizes():
    inits = [numpy_helper.from_array(np.array([v], np.int64), n) for v, n in ((0, "s0"), (1, "s1"), (-1, "m1"))]
    nodes = [helper.make_node("Shape", ["x"], ["shp"]), helper.make_node("Slice", ["shp", "s0", "s1"], ["n"]),
             helper.make_node("Concat", ["n", "m1"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"], allowzero=1)]
    m = _model(nodes, [_f("x", ["N", 2, 4])], [_f("y", ["N", 8])], inits)
    out, notes = normalize(m)
    assert any("computed from tensor sizes" in n for n in notes) and any("equal" in n for n in notes), notes


def test_bool_mul_becomes_and():
    m = _model([helper.make_node("Expand", ["m", "shape"], ["e"]), helper.make_node("Mul", ["e", "k"], ["y"])],
               [_f("m", ["N", 1, 6], TensorProto.BOOL), _f("k", ["N", 6, 6], TensorProto.BOOL)],
               [_f("y", ["N", 6, 6], TensorProto.BOOL)],
               [numpy_helper.from_array(np.array([1, 6, 6], np.int64), "shape")])
    assert bool_arithmetic(m)
    assert _ops(m) == ["Expand", "And"]


def test_greater_or_equal_becomes_not_less_for_onnx2torch():
    m = _model([helper.make_node("GreaterOrEqual", ["x", "t"], ["y"])],
               [_f("x", ["N", 4], TensorProto.INT64), _f("t", ["N", 4], TensorProto.INT64)],
               [_f("y", ["N", 4], TensorProto.BOOL)])
    out, notes = normalize(m, tool="onnx2torch")
    assert _ops(out) == ["Less", "Not"]
    assert any("equal" in n for n in notes), notes
    assert split_comparisons(m) and _ops(m) == ["Less", "Not"]
    untouched, _ = normalize(_model([helper.make_node("LessOrEqual", ["x", "x"], ["y"])], [_f("x", [2])],
                                    [_f("y", [2], TensorProto.BOOL)]))
    assert _ops(untouched) == ["LessOrEqual"]  # onnx2tf takes it: only onnx2torch gets the rewrite


@pytest.mark.parametrize("channels, count", [(12, 3), (10, 3)])
def test_opset18_split_becomes_slices_to_reach_opset_17(channels, count):
    """Split with `num_outputs` (opset 18; uneven: the last chunk smaller) has no 18→17 adapter."""
    chunk = -(-channels // count)
    sizes = [min(chunk, channels - i * chunk) for i in range(count)]
    outs = [f"y{i}" for i in range(count)]
    m = _model([helper.make_node("Split", ["x"], outs, axis=1, num_outputs=count)], [_f("x", ["N", channels, 4])],
               [_f(o, ["N", s, 4]) for o, s in zip(outs, sizes, strict=True)], opset=18)
    out, notes = normalize(m, max_opset=17)
    assert "Split" not in _ops(out) and _ops(out).count("Slice") == count
    assert any("split_to_slices" in n for n in notes) and any("equal" in n for n in notes), notes


def test_split_with_constant_sizes_and_unknown_axis_size():
    sizes = numpy_helper.from_array(np.array([1, 3], np.int64), "sizes")
    m = _model([helper.make_node("Split", ["x", "sizes"], ["a", "b"], axis=-1)], [_f("x", ["N", "S"])],
               [_f("a", ["N", 1]), _f("b", ["N", 3])], [sizes], opset=18)
    assert split_to_slices(m, 17) and _ops(m) == ["Slice", "Slice"]
    unknown = _model([helper.make_node("Split", ["x"], ["a", "b"], axis=1, num_outputs=2)], [_f("x", ["N", "S"])],
                     [_f("a", ["N", "A"]), _f("b", ["N", "B"])], opset=18)
    assert split_to_slices(unknown, 17) == [] and split_to_slices(m, 18) == []


def test_a_wrong_rewrite_is_caught():
    m = _model([helper.make_node("Relu", ["x"], ["y"])], [_f("x", ["N", 4])], [_f("y", ["N", 4])])
    bad = _model([helper.make_node("Sigmoid", ["x"], ["y"])], [_f("x", ["N", 4])], [_f("y", ["N", 4])])
    with pytest.raises(ConversionFailed, match="changed output 'y'"):
        check_equivalent(m, bad)


def test_int_inputs_respect_ranges():
    """An embedding lookup: ids drawn from [0, vocab) so both models run (out of range ids would fail)."""
    table = numpy_helper.from_array(np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32), "emb")
    m = _model([helper.make_node("Gather", ["emb", "ids"], ["y"])], [_f("ids", ["N", 4], TensorProto.INT64)],
               [_f("y", ["N", 4, 3])], [table])
    assert check_equivalent(m, m, ranges={"ids": (0, 5)})


@pytest.mark.slow
def test_torchscript_exported_resnet18_converts_to_torchscript(tmp_path):
    """The issue's case: resnet18 traced → ONNX (TorchScript exporter) → TorchScript via onnx2torch."""
    ts = build("torchvision_torchscript", "resnet18", str(tmp_path), 32, "layer1.0.bn1,layer1.0.bn2")
    onnx_file = tmp_path / "resnet18.onnx"
    assert portkit.convert(ts, "onnx", onnx_file, input_shapes={"x": (1, 3, 32, 32)}).passed
    res = portkit.convert(onnx_file, "torchscript", tmp_path / "back.ts.pt")
    assert res.passed, res.to_dict()
    assert any("alias_initializers" in n for n in res.output.record.normalised)
    assert Path(res.output.location).is_file()


def test_constant_of_shape_and_pad_lowered_from_opset_20():
    """torch's dynamo exporter writes opset 20+; onnx's version_converter has no adapter taking
    ConstantOfShape below 20 or Pad below 18 (swin_tiny → TorchScript failed there). Used as opset 17 defines
    them, they pass through unchanged; the result is checked numerically."""
    value = helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5])
    pads = numpy_helper.from_array(np.array([0, 1, 0, 2], np.int64), "pads")
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("ConstantOfShape", ["s"], ["c"], value=value),
             helper.make_node("Add", ["x", "c"], ["a"]),
             helper.make_node("Pad", ["a", "pads"], ["y"], mode="reflect")]
    m = _model(nodes, [_f("x", ["N", 3])], [_f("y", ["N", 6])], [pads], opset=20)
    out, notes = normalize(m, max_opset=17)
    assert _ops(out) == ["Shape", "ConstantOfShape", "Add", "Pad"] and {n.domain for n in out.graph.node} == {""}
    assert [(o.domain, o.version) for o in out.opset_import] == [("", 17)]
    assert any("1 ConstantOfShape, 1 Pad" in n for n in notes) and any("equal" in n for n in notes), notes
    assert hide_unchanged_ops(m, 20) == []  # nothing to do at the model's own opset
    # Pad with `axes` (opset 18) is not the opset-17 Pad: left to version_converter, which says so
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    p2 = numpy_helper.from_array(np.array([1, 2], np.int64), "p2")
    with_axes = _model([helper.make_node("Pad", ["x", "p2", "", "axes"], ["y"])], [_f("x", ["N", 3])],
                       [_f("y", ["N", 6])], [p2, axes], opset=20)
    with pytest.raises(ConversionFailed, match="cannot lower ONNX opset 20 to 17"):
        lower_opset(with_axes, 17)
    assert {n.domain for n in with_axes.graph.node} == {""}  # the caller's model is left as it was


def test_prepended_class_token_becomes_pad_and_add():
    """ViT: cls = Expand(token (1, 1, D), [B, 1, 1]); Concat([cls, patches], 1) → Pad + Add of a constant
    (onnx2tf transposed the 3-D token as if channels-first)."""
    token = numpy_helper.from_array(np.random.default_rng(0).normal(size=(1, 1, 8)).astype(np.float32), "token")
    one = numpy_helper.from_array(np.array([1], np.int64), "one")
    nodes = [helper.make_node("Shape", ["x"], ["b"], start=0, end=1),
             helper.make_node("Concat", ["b", "one", "one"], ["s"], axis=0),
             helper.make_node("Expand", ["token", "s"], ["cls"]),
             helper.make_node("Concat", ["cls", "x"], ["y"], axis=1)]
    m = _model(nodes, [_f("x", ["N", 4, 8])], [_f("y", ["N", 5, 8])], [token, one], opset=18)
    out, notes = normalize(m, tool="onnx2tf")
    assert "Expand" not in _ops(out) and {"Pad", "Add"} <= set(_ops(out)), _ops(out)
    assert any("prepended_tokens" in n for n in notes) and any("equal" in n for n in notes), notes
    # a sequence of unknown length is left alone (the constant needs N)
    m2 = _model(nodes, [_f("x", ["N", "S", 8])], [_f("y", ["N", "S1", 8])], [token, one], opset=18)
    assert prepended_tokens(m2) == []


def test_reshape_target_with_one_merged_dim_becomes_constant():
    """Attention's merge of batch and heads: the target [B*H, S, D] is computed from Shape ops; B*H is
    neither fixed nor an input dim, so it becomes the one -1 (S and D are known)."""
    nodes = [helper.make_node("Shape", ["x"], ["shp"]),
             helper.make_node("Slice", ["shp", "two", "four"], ["tail"]),
             helper.make_node("Concat", ["minus1", "tail"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"])]
    inits = [numpy_helper.from_array(np.array([v], np.int64), n) for n, v in (("two", 2), ("four", 4), ("minus1", -1))]
    m = _model(nodes, [_f("x", ["N", 2, 4, 8])], [_f("y", ["M", 4, 8])], inits)
    out, notes = normalize(m, tool="onnx2tf")
    reshape = next(n for n in out.graph.node if n.op_type == "Reshape")
    target = next(numpy_helper.to_array(i) for i in out.graph.initializer if i.name == reshape.input[1])
    assert target.tolist() == [-1, 4, 8] and "Shape" not in _ops(out), notes


# ---------------------------------------------------------------- a fixed sequence length (issue 28)


def _positions_at_fixed_sequence():
    """BERT's embeddings as the TorchScript exporter writes them: positions = position_ids[:, :Shape(ids)[1]],
    looked up and added; ids of shape [batch, 16] (batch dynamic, sequence fixed)."""
    pos = numpy_helper.from_array(np.arange(32, dtype=np.int64).reshape(1, 32), "position_ids")
    table = numpy_helper.from_array(np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32), "table")
    c = {k: numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in
         {"one": 1, "zero1": [0], "one1": [1], "axes0": [0]}.items()}
    nodes = [helper.make_node("Shape", ["ids"], ["shape"]),
             helper.make_node("Gather", ["shape", "one"], ["seq"], axis=0),
             helper.make_node("Unsqueeze", ["seq", "axes0"], ["seq1"]),
             helper.make_node("Slice", ["position_ids", "zero1", "seq1", "one1", "one1"], ["positions"]),
             helper.make_node("Gather", ["table", "positions"], ["pe"], axis=0),
             helper.make_node("Cast", ["ids"], ["idf"], to=TensorProto.FLOAT),
             helper.make_node("Unsqueeze", ["idf", "axes_last"], ["idf3"]),
             helper.make_node("Add", ["idf3", "pe"], ["y"])]
    axes_last = numpy_helper.from_array(np.asarray([2], np.int64), "axes_last")
    return _model(nodes, [_f("ids", ["batch", 16], TensorProto.INT64)], [_f("y", ["batch", 16, 4])],
                  [pos, table, axes_last, *c.values()])


def test_shape_values_fixed_by_a_static_sequence_become_constants():
    from portkit.normalize import static_shape_values

    m = _positions_at_fixed_sequence()
    notes = static_shape_values(m)
    assert notes and not {"Shape", "Slice"} & set(_ops(m)), _ops(m)  # the positions are a constant now
    out, notes = normalize(_positions_at_fixed_sequence(), tool="onnx2tf", ranges={"ids": (0, 32)})
    assert any("equal" in n for n in notes), notes


def test_shape_values_of_a_dynamic_dim_are_left_alone():
    from portkit.normalize import static_shape_values

    m = _positions_at_fixed_sequence()
    m.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "sequence"
    assert static_shape_values(m) == []


def test_expand_of_a_constant_becomes_add_of_zeros():
    from portkit.normalize import constant_expand

    buf = numpy_helper.from_array(np.zeros((1, 16), np.int64), "token_type_ids")
    nodes = [helper.make_node("Shape", ["ids"], ["shape"]),
             helper.make_node("Expand", ["token_type_ids", "shape"], ["types"]),
             helper.make_node("Add", ["ids", "types"], ["y"])]
    build_m = lambda: _model(nodes, [_f("ids", ["batch", 16], TensorProto.INT64)],  # noqa: E731
                             [_f("y", ["batch", 16], TensorProto.INT64)], [buf])
    m = build_m()
    assert constant_expand(m) and "Expand" not in _ops(m)
    assert any("equal" in n for n in check_equivalent(build_m(), m, ranges={"ids": (0, 10)}))


def test_scalar_constant_operand_becomes_a_vector_and_partial_shape_is_spelled_out():
    from portkit.normalize import partial_shape_inputs, scalar_operands

    scale = numpy_helper.from_array(np.asarray(0.25, np.float32), "scale")
    minus1 = numpy_helper.from_array(np.asarray([-1, -1, -1], np.int64), "minus1")
    ones = numpy_helper.from_array(np.asarray([1, 1, 1], np.int64), "ones")
    fixed = numpy_helper.from_array(np.asarray([1, 8], np.int64), "fixed")
    nodes = [helper.make_node("Mul", ["x", "scale"], ["xs"]),
             # the mask's broadcast shape, written as torch's expand(-1 → keep) arithmetic
             helper.make_node("Shape", ["x"], ["sx"], start=0, end=1),
             helper.make_node("Concat", ["sx", "fixed"], ["target"], axis=0),
             helper.make_node("Equal", ["target", "minus1"], ["is_m1"]),
             helper.make_node("Where", ["is_m1", "ones", "target"], ["shape"]),
             helper.make_node("Expand", ["m", "shape"], ["mb"]),
             helper.make_node("Add", ["xs", "mb"], ["y"])]
    make = lambda: _model(nodes, [_f("x", ["N", 1, 8]), _f("m", [1, 1, 8])], [_f("y", ["N", 1, 8])],  # noqa: E731
                          [scale, minus1, ones, fixed])
    m = make()
    assert scalar_operands(m) and partial_shape_inputs(m)
    assert "Expand" not in _ops(m) and "Where" not in [n.op_type for n in m.graph.node
                                                        if n.output[0] == "mb"]
    assert any("equal" in n for n in check_equivalent(make(), m))


def _repeat_kv():
    """GQA's repeat_kv as the TorchScript exporter writes it (Llama, Qwen2, Mistral, Gemma): key states
    [batch, 1, S, D] unsqueezed and expanded to [batch, 1, 2, S, D] by a shape computed from Shape(k)."""
    c = {k: numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in {
        "zero1": [0], "one1": [1], "axis2": [2], "fixed": [1, 2, 4, 3], "flat": [2, 4, 3],
        "minus1": [-1] * 5, "ones": [1] * 5}.items()}
    nodes = [helper.make_node("Shape", ["k"], ["sk"]),
             helper.make_node("Slice", ["sk", "zero1", "one1"], ["b"]),
             helper.make_node("Concat", ["b", "fixed"], ["target"], axis=0),
             helper.make_node("Equal", ["target", "minus1"], ["is_m1"]),
             helper.make_node("Where", ["is_m1", "ones", "target"], ["shape"]),
             helper.make_node("Unsqueeze", ["k", "axis2"], ["k5"]),
             helper.make_node("Expand", ["k5", "shape"], ["kx"]),
             helper.make_node("Concat", ["b", "flat"], ["merged"], axis=0),
             helper.make_node("Reshape", ["kx", "merged"], ["y"])]
    return _model(nodes, [_f("k", ["batch", 1, 4, 3])], [_f("y", ["batch", 2, 4, 3])], list(c.values()))


def test_expand_keeping_its_inputs_dynamic_dim_gets_a_constant_shape():
    """onnx2tf lost the batch of the Add-of-zeros spelling (Llama at a fixed sequence: "'NoneType' object
    has no attribute 'shape'"); symbolic inference proves the Expand keeps the input's batch, so 1 there."""
    from portkit.normalize import partial_shape_inputs

    m = _repeat_kv()
    notes = partial_shape_inputs(m)
    assert any("constant (1 there)" in n for n in notes), notes
    expand = next(n for n in m.graph.node if n.op_type == "Expand")
    shape = next(i for i in m.graph.initializer if i.name == expand.input[1])
    assert numpy_helper.to_array(shape).tolist() == [1, 1, 2, 4, 3]
    assert "Where" not in _ops(m) and "ConstantOfShape" not in _ops(m)
    assert any("equal" in n for n in check_equivalent(_repeat_kv(), m))


@pytest.mark.parametrize("kv_heads", [1, 2])
def test_key_heads_repeated_through_a_5d_expand_become_a_gather(kv_heads):
    """GQA's repeat_kv at a dynamic sequence (onnx2tf broadcast the 5-D tensor on the wrong axes: Llama,
    Qwen2, Mistral, Gemma failed at q·kᵀ): one Gather of each head n times in place, heads in order
    (0, 0, 1, 1 for two key heads repeated twice), checked at several sequences."""
    from portkit.normalize import repeated_heads

    def make():
        c = [numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in
             {"axis2": [2], "big": [1, 1, 2, 1, 3], "merged": [0, 2 * kv_heads, -1, 3]}.items()]
        nodes = [helper.make_node("Unsqueeze", ["k", "axis2"], ["k5"]),
                 helper.make_node("Expand", ["k5", "big"], ["kx"]),
                 helper.make_node("Reshape", ["kx", "merged"], ["y"])]
        return _model(nodes, [_f("k", ["batch", kv_heads, "seq", 3])], [_f("y", None)], c)

    m = make()
    assert repeated_heads(m) == ["repeated_heads: 1 key/value heads repeated through a 5-D Expand → a Gather"]
    assert _ops(m) == ["Gather"]
    index = next(i for i in m.graph.initializer if i.name == m.graph.node[0].input[1])
    assert numpy_helper.to_array(index).tolist() == [h for h in range(kv_heads) for _ in range(2)]
    for shape in ((1, kv_heads, 1, 3), (2, kv_heads, 7, 3)):
        check_equivalent(make(), m, shapes={"k": shape})
    other = _model([helper.make_node("Unsqueeze", ["k", "axis2"], ["k5"]),  # merged with the axis after:
                    helper.make_node("Expand", ["k5", "big"], ["kx"]),   # not a repeat of whole heads
                    helper.make_node("Reshape", ["kx", "merged"], ["y"])],
                   [_f("k", ["batch", 2, 4, 3])], [_f("y", None)],
                   [numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in
                    {"axis2": [2], "big": [1, 1, 2, 1, 1], "merged": [0, 2, 8, 3]}.items()])
    assert repeated_heads(other) == []


def test_feed_forward_on_flattened_rows_runs_on_the_unflattened_tensor():
    """OPT's feed-forward block: reshape(-1, K), LayerNorm, fc1, Relu, fc2, the residual added on the 2-D
    rows, then view back to x's shape read by Shape (onnx2tf lost the last dim at a dynamic sequence). The
    same ops on x itself; a block whose rows meet anything not row-wise is left as written."""
    from portkit.normalize import flattened_rows

    def make(mix_rows=False):
        rng = np.random.default_rng(0)
        c = [numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in {"flat_to": [-1, 4]}.items()]
        c += [numpy_helper.from_array(rng.normal(size=s).astype(np.float32), k) for k, s in
              {"g": (4,), "b": (4,), "w1": (8, 4), "b1": (8,), "w2": (4, 8), "b2": (4,)}.items()]
        nodes = [helper.make_node("Reshape", ["x", "flat_to"], ["flat"]),
                 helper.make_node("LayerNormalization", ["flat", "g", "b"], ["n"], axis=-1),
                 helper.make_node("Gemm", ["n", "w1", "b1"], ["h"], transB=1),
                 helper.make_node("Relu", ["h"], ["r"]),
                 helper.make_node("Gemm", ["r", "w2", "b2"], ["o"], transB=1),
                 helper.make_node("Add", ["flat", "o"], ["s"]),
                 helper.make_node("Shape", ["x"], ["sx"]),
                 helper.make_node("Reshape", ["s", "sx"], ["y"])]
        if mix_rows:  # a softmax over the rows axis: not row-wise
            nodes.insert(5, helper.make_node("Softmax", ["o"], ["o2"], axis=0))
            nodes[6].input[1] = "o2"
        return _model(nodes, [_f("x", ["N", "S", 4])], [_f("y", None)], c)

    m = make()
    assert flattened_rows(m) == ["flattened_rows: 1 row-wise block(s) on a [-1, K] view → on the unflattened "
                                 "tensor"]
    assert "Reshape" not in _ops(m) and "Gemm" not in _ops(m)
    for shape in ((2, 5, 4), (1, 1, 4)):
        check_equivalent(make(), m, shapes={"x": shape})
    assert flattened_rows(make(mix_rows=True)) == []


def test_flattening_reshape_made_constant_late_still_unflattens_the_gemm():
    """The TorchScript exporter's `x.view(-1, x.size(-1))` at a dynamic sequence (GPT-2's Conv1D): the
    flattening target is Concat(-1, Shape(x)[-1:]), constant only once constant_reshape_shapes ran; the
    Gemm is still written on the 3-D tensor (onnx2tf split q/k/v on the wrong axis: GPT-2 legacy@dyn)."""
    rng = np.random.default_rng(0)
    c = [numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in
         {"m1": [-1], "last": [-1], "end": [2 ** 62], "width": [12]}.items()]
    c += [numpy_helper.from_array(rng.normal(size=s).astype(np.float32), k) for k, s in
          {"w": (4, 12), "b": (12,)}.items()]
    nodes = [helper.make_node("Shape", ["x"], ["sx"]),
             helper.make_node("Slice", ["sx", "last", "end"], ["k"]),
             helper.make_node("Concat", ["m1", "k"], ["flat_to"], axis=0),
             helper.make_node("Reshape", ["x", "flat_to"], ["flat"]),
             helper.make_node("Gemm", ["flat", "w", "b"], ["g"]),
             helper.make_node("Shape", ["x"], ["ns"], start=0, end=2),
             helper.make_node("Concat", ["ns", "width"], ["back_to"], axis=0),
             helper.make_node("Reshape", ["g", "back_to"], ["y"])]
    original = _model(nodes, [_f("x", ["N", "S", 4])], [_f("y", None)], c)
    m, notes = normalize(original, tool="onnx2tf")
    assert any(n.startswith("unflatten_gemm: 1 ") for n in notes), notes
    assert "Gemm" not in _ops(m)
    for shape in ((2, 5, 4), (1, 1, 4)):
        check_equivalent(original, m, shapes={"x": shape})


def _expanded_causal_mask():
    """A constant causal mask [1, 1, 4, 4] expanded to the batch by a computed shape, made 0/-inf by Where
    and added to scores [batch, 2, 4, 4] (BART's decoder under the dynamo exporter)."""
    causal = numpy_helper.from_array(np.tril(np.ones((4, 4), bool))[None, None], "causal")
    c = {k: numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in {
        "zero1": [0], "one1": [1], "fixed": [1, 4, 4]}.items()}
    f = {k: numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in {"zero": 0.0, "ninf": -1e9}.items()}
    nodes = [helper.make_node("Shape", ["scores"], ["ss"]),
             helper.make_node("Slice", ["ss", "zero1", "one1"], ["b"]),
             helper.make_node("Concat", ["b", "fixed"], ["shape"], axis=0),
             helper.make_node("Expand", ["causal", "shape"], ["m"]),
             helper.make_node("Where", ["m", "zero", "ninf"], ["bias"]),
             helper.make_node("Add", ["scores", "bias"], ["y"])]
    return _model(nodes, [_f("scores", ["batch", 2, 4, 4])], [_f("y", ["batch", 2, 4, 4])],
                  [causal, *c.values(), *f.values()])


def test_expand_whose_broadcast_the_scores_absorb_is_dropped():
    from portkit.normalize import absorbed_expand

    m = _expanded_causal_mask()
    assert absorbed_expand(m) and "Expand" not in _ops(m) and "Where" not in _ops(m)  # the mask is folded
    assert any("equal" in n for n in check_equivalent(_expanded_causal_mask(), m))
    kept = _expanded_causal_mask()  # the expanded mask is an output itself: its shape matters
    kept.graph.output.append(_f("m", ["batch", 1, 4, 4], TensorProto.BOOL))
    assert absorbed_expand(kept) == []


def _token_type_lookup(expand=False):
    """MobileBERT's embeddings: word embeddings plus the token-type row of ids `torch.zeros(input_shape)`,
    as ConstantOfShape (the TorchScript exporter) or Expand of a constant 0 (the dynamo exporter)."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(100, 8)).astype(np.float32), "words"),
             numpy_helper.from_array(rng.normal(size=(2, 8)).astype(np.float32), "types"),
             numpy_helper.from_array(np.zeros((), np.int64), "zero")]
    zero = numpy_helper.from_array(np.zeros(1, np.int64))
    nodes = [helper.make_node("Gather", ["words", "ids"], ["w"]),
             helper.make_node("Shape", ["ids"], ["shape"]),
             helper.make_node("Expand", ["zero", "shape"], ["tt"]) if expand else
             helper.make_node("ConstantOfShape", ["shape"], ["tt"], value=zero),
             helper.make_node("Gather", ["types", "tt"], ["t"]),
             helper.make_node("Add", ["w", "t"], ["y"])]
    return _model(nodes, [_f("ids", ["batch", 16], TensorProto.INT64)], [_f("y", ["batch", 16, 8])], inits)


@pytest.mark.parametrize("expand", [False, True])
def test_lookup_of_constant_ids_becomes_the_row_and_its_broadcast_is_absorbed(expand):
    from portkit.normalize import absorbed_expand, constant_lookup

    m = _token_type_lookup(expand)
    assert constant_lookup(m) and absorbed_expand(m)
    assert _ops(m) == ["Gather", "Add"]  # the word lookup, then + the type row
    assert any("equal" in n for n in check_equivalent(_token_type_lookup(expand), m, ranges={"ids": (0, 100)}))


def _trigram_embeddings():
    """MobileBERT's trigram input: the lookup shifted left and right by a token (Slice + zero Pad), the three
    concatenated along the embedding axis and projected by one weight; sequence = embedding size (16)."""
    rng = np.random.default_rng(0)
    c = {k: numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in {
        "one": [1], "s": [16], "zero": [0], "s1": [15], "pad_end": [0, 0, 0, 0, 1, 0],
        "pad_start": [0, 1, 0, 0, 0, 0]}.items()}
    inits = [*c.values(), numpy_helper.from_array(rng.normal(size=(100, 16)).astype(np.float32), "words"),
             numpy_helper.from_array(rng.normal(size=(48, 8)).astype(np.float32), "w")]
    nodes = [helper.make_node("Gather", ["words", "ids"], ["e"]),
             helper.make_node("Slice", ["e", "one", "s", "one"], ["a"]),
             helper.make_node("Pad", ["a", "pad_end"], ["pa"]),
             helper.make_node("Slice", ["e", "zero", "s1", "one"], ["b"]),
             helper.make_node("Pad", ["b", "pad_start"], ["pb"]),
             helper.make_node("Concat", ["pa", "e", "pb"], ["cat"], axis=2),
             helper.make_node("MatMul", ["cat", "w"], ["y"])]
    return _model(nodes, [_f("ids", ["batch", 16], TensorProto.INT64)], [_f("y", ["batch", 16, 8])], inits)


def test_shifted_lookups_move_to_the_ids_and_a_projected_concat_splits():
    from portkit.normalize import lookup_shifts, split_concat_matmul

    m = _trigram_embeddings()
    assert lookup_shifts(m) and split_concat_matmul(m)
    ops = _ops(m)
    assert "Concat" not in ops and ops.count("MatMul") == 3 and ops.count("Gather") == 3
    # what is sliced and padded now is the 2-D ids, not the 3-D lookup
    assert [n.input[0] for n in m.graph.node if n.op_type == "Slice"] == ["ids", "ids"]
    assert any("equal" in n for n in check_equivalent(_trigram_embeddings(), m, ranges={"ids": (0, 100)}))


def _trigram_at_a_dynamic_sequence():
    """The same shifts as the TorchScript exporter writes them at a dynamic sequence: `[:, 1:]` ends at
    INT64_MAX, `[:, :-1]` at -1."""
    rng = np.random.default_rng(0)
    c = {k: numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in {
        "one": [1], "zero": [0], "end": [np.iinfo(np.int64).max], "m1": [-1], "pad_end": [0, 0, 0, 0, 1, 0],
        "pad_start": [0, 1, 0, 0, 0, 0]}.items()}
    inits = [*c.values(), numpy_helper.from_array(rng.normal(size=(100, 16)).astype(np.float32), "words")]
    nodes = [helper.make_node("Gather", ["words", "ids"], ["e"]),
             helper.make_node("Slice", ["e", "one", "end", "one"], ["a"]),
             helper.make_node("Pad", ["a", "pad_end"], ["pa"]),
             helper.make_node("Slice", ["e", "zero", "m1", "one"], ["b"]),
             helper.make_node("Pad", ["b", "pad_start"], ["pb"]),
             helper.make_node("Concat", ["pa", "e", "pb"], ["y"], axis=2)]
    return _model(nodes, [_f("ids", ["batch", "seq"], TensorProto.INT64)], [_f("y", ["batch", "seq", 48])], inits)


def test_shifts_at_a_dynamic_sequence_end_from_the_shape_and_within_int32():
    from portkit.normalize import int32_slice_bounds, lookup_shifts

    m = _trigram_at_a_dynamic_sequence()
    assert lookup_shifts(m) and int32_slice_bounds(m)
    slices = [n for n in m.graph.node if n.op_type == "Slice"]
    assert [n.input[0] for n in slices] == ["ids", "ids"]
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    ends = [inits.get(n.input[2]) for n in slices]
    # `[:, :-1]` ends at Shape(ids)[1] - 1, computed; `[:, 1:]` at INT32_MAX (TFLite's bounds are int32)
    assert sum(e is None for e in ends) == 1 and "Shape" in _ops(m)
    assert all(e is None or e.max() <= np.iinfo(np.int32).max for e in ends)
    assert any("equal" in n for n in check_equivalent(_trigram_at_a_dynamic_sequence(), m,
                                                      shapes={"ids": (2, 11)}, ranges={"ids": (0, 100)}))


def test_int64_abs_becomes_max_of_it_and_its_negation():
    from portkit.normalize import integer_abs

    def rel():  # relative positions |k - q| of the ids' values, as int64
        return _model([helper.make_node("Sub", ["ids", "q"], ["d"]), helper.make_node("Abs", ["d"], ["y"])],
                      [_f("ids", ["batch", 16], TensorProto.INT64)], [_f("y", ["batch", 16], TensorProto.INT64)],
                      [numpy_helper.from_array(np.arange(16, dtype=np.int64), "q")])

    m = rel()
    assert integer_abs(m) and _ops(m) == ["Sub", "Neg", "Max"]
    assert any("equal" in n for n in check_equivalent(rel(), m, ranges={"ids": (0, 100)}))


def test_projection_bias_of_a_square_tensor_moves_after_the_split_into_heads():
    from portkit.normalize import bias_after_reshape

    def proj(width):  # x [batch, 16, 32] @ W [32, width] + b, split into heads of 16
        rng = np.random.default_rng(0)
        inits = [numpy_helper.from_array(rng.normal(size=(32, width)).astype(np.float32), "w"),
                 numpy_helper.from_array(rng.normal(size=(width,)).astype(np.float32), "b"),
                 numpy_helper.from_array(np.array([0, 16, -1, 16], np.int64), "heads")]
        nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["k"]),
                 helper.make_node("Reshape", ["k", "heads"], ["y"])]
        return _model(nodes, [_f("x", ["batch", 16, 32])], [_f("y", ["batch", 16, width // 16, 16])], inits)

    m = proj(16)  # one key head of 16 at sequence 16: [batch, 16, 16]
    assert bias_after_reshape(m) and _ops(m) == ["MatMul", "Reshape", "Add"]
    assert any("equal" in n for n in check_equivalent(proj(16), m))
    assert bias_after_reshape(proj(32)) == []  # [batch, 16, 32]: onnx2tf reads it right, left as written


def test_reshape_of_a_square_sum_goes_through_an_identity_matmul():
    from portkit.normalize import square_reshape_inputs

    def scores():  # content + position scores [batch·heads, 16, 16] summed, then split into heads
        nodes = [helper.make_node("Add", ["c", "p"], ["s"]), helper.make_node("Reshape", ["s", "heads"], ["y"])]
        return _model(nodes, [_f("c", ["n", 16, 16]), _f("p", ["n", 16, 16])], [_f("y", ["b", 2, 16, 16])],
                      [numpy_helper.from_array(np.array([-1, 2, 16, 16], np.int64), "heads")])

    m = scores()
    assert square_reshape_inputs(m) and _ops(m) == ["Add", "MatMul", "Reshape"]
    assert any("equal" in n for n in check_equivalent(scores(), m, shapes={"c": (4, 16, 16), "p": (4, 16, 16)}))


def _grid_gathered_mask():
    """transformers' padding mask as the TorchScript exporter writes it: mask.flatten()[b·S + k] with b =
    arange(batch) and k = arange(S) index grids, then reshaped to [batch, 1, 1, S]."""
    c = {k: numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in {
        "zero": 0, "one": 1, "zero1": [0], "s": 16, "flat": [-1, 1], "m1": [-1], "axes123": [1, 2, 3],
        "out": [-1, 1, 1, 16]}.items()}
    k = numpy_helper.from_array(np.arange(16, dtype=np.int64).reshape(1, 1, 1, 16), "k")
    nodes = [helper.make_node("Reshape", ["mask", "flat"], ["data"]),
             helper.make_node("Shape", ["mask"], ["shape"]),
             helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
             helper.make_node("Range", ["zero", "n", "one"], ["b"]),
             helper.make_node("Unsqueeze", ["b", "axes123"], ["b4"]),
             helper.make_node("Mul", ["b4", "s"], ["base"]),
             helper.make_node("Add", ["base", "k"], ["idx"]),
             helper.make_node("Gather", ["data", "idx"], ["g"], axis=0),
             helper.make_node("Reshape", ["g", "m1"], ["g1"]),
             helper.make_node("Reshape", ["g1", "out"], ["y"])]
    return _model(nodes, [_f("mask", ["batch", 16], TensorProto.INT64)], [_f("y", ["batch", 1, 1, 16],
                                                                            TensorProto.INT64)], [k, *c.values()])


def test_gather_by_an_index_grid_enumerating_rows_becomes_reshape_and_chains_collapse():
    from portkit.normalize import collapse_reshapes, index_grid_gather

    m = _grid_gathered_mask()
    assert index_grid_gather(m) and "Gather" not in [n.op_type for n in m.graph.node if n.output[0] == "g"]
    assert collapse_reshapes(m)
    reshapes = [n for n in m.graph.node if n.op_type == "Reshape"]
    assert reshapes[-1].input[0] == "mask" or reshapes[-1].input[0] == "data", _ops(m)
    assert any("equal" in n for n in check_equivalent(_grid_gathered_mask(), m))


def test_gather_by_data_dependent_indices_is_left_alone():
    from portkit.normalize import index_grid_gather

    table = numpy_helper.from_array(np.arange(20, dtype=np.float32).reshape(10, 2), "table")
    m = _model([helper.make_node("Gather", ["table", "ids"], ["y"], axis=0)],
               [_f("ids", ["batch", 4], TensorProto.INT64)], [_f("y", ["batch", 4, 2])], [table])
    assert index_grid_gather(m) == []


def _rotate_half():
    """RoPE's rotate_half as the TorchScript exporter writes it: the half width is x.shape[-1] // 2 through a
    float division, of a tensor reshaped by a computed target (Concat(batch, 4, 2, 8)) so that only onnx's
    shape-value propagation knows its last dim."""
    c = {k: numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in {
        "zero": 0, "last": -1, "zero1": [0], "fixed": [4, 2, 8], "axes0": [0], "big": [2**62], "m1": [-1]}.items()}
    two = numpy_helper.from_array(np.asarray(2.0, np.float32), "two")
    nodes = [helper.make_node("Shape", ["x"], ["sx"]),
             helper.make_node("Gather", ["sx", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"]),
             helper.make_node("Concat", ["n1", "fixed"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["h"]),
             helper.make_node("Shape", ["h"], ["sh"]),
             helper.make_node("Gather", ["sh", "last"], ["width"], axis=0),
             helper.make_node("Cast", ["width"], ["wf"], to=TensorProto.FLOAT),
             helper.make_node("Div", ["wf", "two"], ["halff"]),
             helper.make_node("Cast", ["halff"], ["half"], to=TensorProto.INT64),
             helper.make_node("Unsqueeze", ["half", "axes0"], ["half1"]),
             helper.make_node("Slice", ["h", "zero1", "half1", "m1"], ["x1"]),
             helper.make_node("Slice", ["h", "half1", "big", "m1"], ["x2"]),
             helper.make_node("Neg", ["x2"], ["nx2"]),
             helper.make_node("Concat", ["nx2", "x1"], ["y"], axis=-1)]
    return _model(nodes, [_f("x", ["batch", 4, 16])], [_f("y", ["batch", 4, 2, 8])], [two, *c.values()])


def test_half_width_by_float_division_of_a_propagated_dim_becomes_constant():
    from portkit.normalize import static_shape_values

    m = _rotate_half()
    assert static_shape_values(m)
    slices = [n for n in m.graph.node if n.op_type == "Slice"]
    inits = {i.name for i in m.graph.initializer}
    assert slices and all(i in inits for s in slices for i in s.input[1:]), _ops(m)  # bounds are constants
    assert any("equal" in n for n in check_equivalent(_rotate_half(), m))


def _shuffle_then_chunk():
    """shufflenet's channel shuffle as the TorchScript exporter writes it (targets computed from Shape, the
    merged channels as -1), then the next block's chunk: Slice up to Shape(shuffled)[1] // 2 (issue 28)."""
    i = {k: numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in
         {"i0": 0, "i1": 1, "i2": 2, "i3": 3, "two": 2, "ax0": [0], "ax1": [1], "groups": [2], "minus1": [-1],
          "zero1": [0]}.items()}
    nodes = [helper.make_node("Shape", ["x"], ["s"])]
    nodes += [helper.make_node("Gather", ["s", f"i{k}"], [f"d{k}"], axis=0) for k in range(4)]
    nodes += [helper.make_node("Div", ["d1", "two"], ["per"])]
    nodes += [helper.make_node("Unsqueeze", [n, "ax0"], [f"{n}u"]) for n in ("d0", "d2", "d3", "per")]
    nodes += [helper.make_node("Concat", ["d0u", "groups", "peru", "d2u", "d3u"], ["t1"], axis=0),
              helper.make_node("Reshape", ["x", "t1"], ["r1"]),
              helper.make_node("Transpose", ["r1"], ["tr"], perm=[0, 2, 1, 3, 4]),
              helper.make_node("Concat", ["d0u", "minus1", "d2u", "d3u"], ["t2"], axis=0),
              helper.make_node("Reshape", ["tr", "t2"], ["shuffled"]),
              helper.make_node("Shape", ["shuffled"], ["s2"]),
              helper.make_node("Gather", ["s2", "ax1"], ["c"], axis=0),
              helper.make_node("Div", ["c", "two"], ["half"]),
              helper.make_node("Slice", ["shuffled", "zero1", "half", "ax1"], ["y"])]
    return _model(nodes, [_f("x", ["batch", 8, 3, 3])], [_f("y", ["batch", 4, 3, 3])], list(i.values()))


def test_shape_values_behind_a_reshape_made_constant_fold_in_turn():
    """The chunk's bound is known only once the shuffle's reshape target is constant: static_shape_values runs
    again after constant_reshape_shapes (onnx2tf failed on shufflenet's legacy ONNX: tf.nn.convolution)."""
    out, notes = normalize(_shuffle_then_chunk(), tool="onnx2tf")
    assert "Shape" not in _ops(out) and any("equal" in n for n in notes), (_ops(out), notes)


def _resized_to_computed_sizes():
    """interpolate(size=...) under the dynamo exporter: Resize to Concat(Shape(x)[:1], constants), batch
    dynamic; 3 → 6 (a whole ratio) and 3 → 7 (float32 7/3 would give a size of 6) (issue 28: GhostNetV2)."""
    c = {k: numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in
         {"zero1": [0], "one1": [1], "rest6": [2, 6, 6], "rest7": [2, 7, 7]}.items()}
    attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Slice", ["s", "zero1", "one1"], ["b"]),
             helper.make_node("Concat", ["b", "rest6"], ["size6"], axis=0),
             helper.make_node("Concat", ["b", "rest7"], ["size7"], axis=0),
             helper.make_node("Resize", ["x", "", "", "size6"], ["y6"], **attrs),
             helper.make_node("Resize", ["x", "", "", "size7"], ["y7"], **attrs)]
    return _model(nodes, [_f("x", ["batch", 2, 3, 3])], [_f("y6", ["batch", 2, 6, 6]), _f("y7", ["batch", 2, 7, 7])],
                  list(c.values()))


def test_resize_to_computed_sizes_becomes_scales_or_gathers():
    out, notes = normalize(_resized_to_computed_sizes(), tool="onnx2tf")
    assert sorted(_ops(out)) == ["Gather", "Gather", "Resize"] and any("equal" in n for n in notes), notes


def test_nearest_resize_to_constant_sizes_of_an_uneven_ratio_becomes_gathers():
    """The dynamo exporter's `interpolate(size=(7, 7), mode="nearest")` of a 3×3 map at opset 20: constant
    sizes, which onnx2tf resized with half-pixel centres (0.07 off); a whole ratio (3 → 6) stays a Resize."""
    c = {k: numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in
         {"size6": [1, 2, 6, 6], "size7": [1, 2, 7, 7]}.items()}
    attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    nodes = [helper.make_node("Resize", ["x", "", "", "size6"], ["y6"], **attrs),
             helper.make_node("Resize", ["x", "", "", "size7"], ["y7"], **attrs)]
    m = _model(nodes, [_f("x", [1, 2, 3, 3])], [_f("y6", [1, 2, 6, 6]), _f("y7", [1, 2, 7, 7])], list(c.values()),
               opset=20)
    out, notes = normalize(m, tool="onnx2tf")
    assert sorted(_ops(out)) == ["Gather", "Gather", "Resize"] and any("equal" in n for n in notes), notes


def test_integer_division_of_computed_shape_values_truncates():
    """(C + 1) / 2 * 2 of int64 shape values (EdgeNeXt's split sizes, TorchScript exporter) is 48 for C = 48:
    the sum is numpy's int64, still divided as an integer (it was 49.0: the Slice then cut a wrong width)."""
    from portkit.normalize import static_shape_values

    c = {k: numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in
         {"one": [1], "two": [2], "zero": [0], "ax": [1]}.items()}
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "one"], ["ch"], axis=0),
             helper.make_node("Add", ["ch", "one"], ["a"]), helper.make_node("Div", ["a", "two"], ["half"]),
             helper.make_node("Mul", ["half", "two"], ["even"]),
             helper.make_node("Slice", ["x", "zero", "even", "ax"], ["y"])]
    m = _model(nodes, [_f("x", ["batch", 48, 2])], [_f("y", ["batch", 48, 2])], list(c.values()))
    assert static_shape_values(m)
    even = next(numpy_helper.to_array(i) for i in m.graph.initializer if i.name == "even")
    assert even.tolist() == [48] and even.dtype == np.int64


def test_reduce_l2_becomes_sqrt_of_a_sum_of_squares():
    """F.normalize's ReduceL2 over the last axis of a 4-D tensor (EdgeNeXt's attention; onnx2tf's tf.norm
    failed there) → Sqrt(ReduceSum(x·x)), checked with onnxruntime."""
    nodes = [helper.make_node("ReduceL2", ["x"], ["n"], axes=[-1], keepdims=1),
             helper.make_node("Div", ["x", "n"], ["y"])]
    m = _model(nodes, [_f("x", ["batch", 2, 3, 5])], [_f("y", ["batch", 2, 3, 5])], opset=17)
    out, notes = normalize(m, tool="onnx2tf")
    assert "ReduceL2" not in _ops(out) and "ReduceSum" in _ops(out) and any("equal" in n for n in notes), notes


def _shape_only_term(by_position: bool):
    """x + a term built from x's shape alone: EdgeNeXt's Fourier positional encoding in small (ones of
    (batch, 4, 3), a cumulative sum over the rows divided by its last row, a sine), each row equal; or
    (`by_position`) the same term times each sample's index (Range over the batch), whose rows differ."""
    c = {k: numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in
         {"zero1": [0], "one1": [1], "rest": [4, 3], "ax": 1, "m1": [-1], "big": [2**62],
          "col": [-1, 1, 1]}.items()}
    c["onef"] = numpy_helper.from_array(np.asarray([1.0], np.float32), "onef")
    nodes = [helper.make_node("Shape", ["x"], ["b"], start=0, end=1),
             helper.make_node("Concat", ["b", "rest"], ["shape"], axis=0),
             helper.make_node("Expand", ["onef", "shape"], ["ones"]),
             helper.make_node("CumSum", ["ones", "ax"], ["cs"]),
             helper.make_node("Slice", ["cs", "m1", "big", "one1"], ["last"]),
             helper.make_node("Div", ["cs", "last"], ["ratio"]),
             helper.make_node("Sin", ["ratio"], ["term"])]
    if by_position:
        nodes[-1].output[0] = "sin"
        nodes += [helper.make_node("Squeeze", ["b", "zero1"], ["n"]),
                  helper.make_node("Range", ["zero1_s", "n", "one_s"], ["idx"]),
                  helper.make_node("Cast", ["idx"], ["idxf"], to=TensorProto.FLOAT),
                  helper.make_node("Reshape", ["idxf", "col"], ["idx3"]),
                  helper.make_node("Mul", ["sin", "idx3"], ["term"])]
        c["zero1_s"] = numpy_helper.from_array(np.asarray(0, np.int64), "zero1_s")
        c["one_s"] = numpy_helper.from_array(np.asarray(1, np.int64), "one_s")
    nodes.append(helper.make_node("Add", ["x", "term"], ["y"]))
    return _model(nodes, [_f("x", ["batch", 4, 3])], [_f("y", ["batch", 4, 3])], list(c.values()))


def test_term_from_the_shape_alone_becomes_one_constant_row():
    """Issue 28, EdgeNeXt → TFLite: onnx2tf built the positional encoding from the run-time batch and sliced
    the wrong axis (the TFLite could not be prepared); its first row as a [1, 4, 3] constant, checked with
    onnxruntime. A term whose rows differ (scaled by each sample's index) is left alone."""
    from portkit.normalize import shape_only_terms

    out, notes = normalize(_shape_only_term(False), tool="onnx2tf")
    assert _ops(out) == ["Add"] and any("shape_only_terms" in n for n in notes) and \
        any("equal" in n for n in notes), (_ops(out), notes)
    term = next(i for i in out.graph.initializer if i.name == out.graph.node[0].input[1])
    assert list(term.dims) == [1, 4, 3]
    m = _shape_only_term(True)
    assert shape_only_terms(m) == [] and "Range" in _ops(m)



def test_generated_tensor_too_large_to_fold_becomes_an_initializer():
    """swin_t's shifted-window mask in small: `ids.unsqueeze(1) - ids.unsqueeze(2)` of ids made by a Range,
    [300, 300] (over static_shape_values' fold limit), added to the data: onnx2tf failed on such a Sub of
    two constants; it becomes one initializer, checked with onnxruntime. A weight transposed stays."""
    from portkit.normalize import generated_constants

    c = {k: numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in
         {"start": 0.0, "limit": 300.0, "delta": 1.0}.items()}
    c.update({k: numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in {"ax1": [1], "ax0": [0]}.items()})
    c["w"] = numpy_helper.from_array(np.random.default_rng(0).standard_normal((300, 300)).astype(np.float32), "w")
    nodes = [helper.make_node("Range", ["start", "limit", "delta"], ["ids"]),
             helper.make_node("Unsqueeze", ["ids", "ax1"], ["a"]),
             helper.make_node("Unsqueeze", ["ids", "ax0"], ["b"]),
             helper.make_node("Sub", ["a", "b"], ["diff"]),  # [300, 300]: 90 000 values
             helper.make_node("Add", ["x", "diff"], ["s"]),
             helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]),
             helper.make_node("MatMul", ["s", "wt"], ["y"])]
    m = _model(nodes, [_f("x", ["batch", 300, 300])], [_f("y", ["batch", 300, 300])], list(c.values()))
    assert generated_constants(m) and _ops(m) == ["Add", "Transpose", "MatMul"], _ops(m)
    out, notes = normalize(_model(nodes, [_f("x", ["batch", 300, 300])], [_f("y", ["batch", 300, 300])],
                                  list(c.values())), tool="onnx2tf")
    assert "Sub" not in _ops(out) and any("generated_constants" in n for n in notes) and \
        any("equal" in n for n in notes), (_ops(out), notes)
