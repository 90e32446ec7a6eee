"""Models for the validation-engine tests.

The ONNX builders use `onnx.helper` only (no framework) and are safe to call in the pytest process. The
framework builders (`keras_conv_tflite`) must run in a worker:
`portkit.workers.call_in_worker("label", "tests.validation_models", "keras_conv_tflite", ...)`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _save(model, path: str | Path) -> str:
    import onnx

    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def _model(nodes, inputs, outputs, inits, opset: int = 17):
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _t(name: str, arr: np.ndarray):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(arr), name)


def two_heads(path: str | Path, nudge_b: float = 0.0, *, batch: str | int = "batch") -> str:
    """x[batch, 8] -> fc+relu -> two heads: head_a [batch, 4] and head_b [batch, 3]; `nudge_b` adds to
    head_b's bias only."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(1)
    w1 = rng.normal(size=(8, 16)).astype(np.float32)
    wa, ba = rng.normal(size=(16, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)
    wb, bb = rng.normal(size=(16, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h0"], name="fc1"),
             helper.make_node("Relu", ["h0"], ["h"], name="relu1"),
             helper.make_node("Gemm", ["h", "wa", "ba"], ["head_a"], name="head_a_fc"),
             helper.make_node("Gemm", ["h", "wb", "bb"], ["head_b"], name="head_b_fc")]
    m = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 8])],
               [helper.make_tensor_value_info("head_a", TensorProto.FLOAT, [batch, 4]),
                helper.make_tensor_value_info("head_b", TensorProto.FLOAT, [batch, 3])],
               [_t("w1", w1), _t("wa", wa), _t("ba", ba), _t("wb", wb), _t("bb", bb + np.float32(nudge_b))])
    return _save(m, path)


def softmax_reshape(path: str | Path, hardcoded: bool = False) -> str:
    """x[batch, 4, 3] -> flatten -> softmax -> y[batch, 12]. `hardcoded` flattens with shape [1, -1]
    (right at batch 1; at batch > 1 the softmax spans every sample) and reshapes back to [-1, 12]."""
    from onnx import TensorProto, helper

    if hardcoded:
        nodes = [helper.make_node("Reshape", ["x", "s1"], ["f"], name="flatten"),
                 helper.make_node("Softmax", ["f"], ["p"], axis=-1, name="softmax"),
                 helper.make_node("Reshape", ["p", "s12"], ["y"], name="unflatten")]
        inits = [_t("s1", np.array([1, -1], np.int64)), _t("s12", np.array([-1, 12], np.int64))]
    else:
        nodes = [helper.make_node("Reshape", ["x", "s12"], ["f"], name="flatten"),
                 helper.make_node("Softmax", ["f"], ["y"], axis=-1, name="softmax")]
        inits = [_t("s12", np.array([-1, 12], np.int64))]
    m = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 3])],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 12])], inits)
    return _save(m, path)


def mlp_chain(path: str | Path, perturb: str | None = None, depth: int = 6, scale: float = 1e-2,
              half: bool = False) -> str:
    """x[batch, 16] -> (fc{i} -> relu{i}) * depth -> out. `perturb` names a weight (e.g. "w3") to nudge;
    `half` casts the output to float16."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(2)
    nodes, inits, prev = [], [], "x"
    for i in range(depth):
        w = (rng.normal(size=(16, 16)) / 4).astype(np.float32)
        if perturb == f"w{i}":
            w = w + np.float32(scale)
        inits.append(_t(f"w{i}", w))
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"fc{i}_out"], name=f"fc{i}"))
        nodes.append(helper.make_node("Relu", [f"fc{i}_out"], [f"relu{i}_out"], name=f"relu{i}"))
        prev = f"relu{i}_out"
    if half:  # a candidate that narrowed its output to float16 on its own
        nodes.append(helper.make_node("Cast", [prev], ["out"], name="output", to=TensorProto.FLOAT16))
    else:
        nodes.append(helper.make_node("Identity", [prev], ["out"], name="output"))
    m = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
               [helper.make_tensor_value_info("out", TensorProto.FLOAT16 if half else TensorProto.FLOAT,
                                              ["batch", 16])], inits)
    return _save(m, path)


def embedding(path: str | Path, vocab: int = 5, nudge: float = 0.0) -> str:
    """ids[batch, seq] (int64) -> Gather on a [vocab, 4] table -> mean over seq -> out[batch, 4]."""
    from onnx import TensorProto, helper

    table = np.random.default_rng(3).normal(size=(vocab, 4)).astype(np.float32) + np.float32(nudge)
    nodes = [helper.make_node("Gather", ["table", "ids"], ["e"], axis=0, name="embed"),
             helper.make_node("ReduceMean", ["e"], ["out"], axes=[1], keepdims=0, name="mean")]
    m = _model(nodes, [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"])],
               [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 4])], [_t("table", table)],
               opset=13)
    return _save(m, path)


def conv_nchw(path: str | Path, weights: dict[str, np.ndarray], nudge: float = 0.0) -> str:
    """The ONNX (NCHW) twin of keras_conv_tflite: conv3x3 same + relu -> global avg pool -> dense."""
    from onnx import TensorProto, helper

    k = np.transpose(weights["kernel"], (3, 2, 0, 1))  # HWIO -> OIHW
    nodes = [helper.make_node("Conv", ["x", "k", "kb"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "dw", "db"], ["logits"], name="dense")]
    m = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
               [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 5])],
               [_t("k", k), _t("kb", weights["kernel_bias"]), _t("dw", weights["dense"]),
                _t("db", weights["dense_bias"] + np.float32(nudge))])
    return _save(m, path)


def keras_conv_tflite(out_dir: str) -> tuple[str, dict[str, np.ndarray]]:
    """(worker only) A small Keras NHWC conv net converted to TFLite; returns its path and weights."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3), name="x")
    c = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
    g = keras.layers.GlobalAveragePooling2D()(c)
    out = keras.layers.Dense(5, name="dense")(g)
    model = keras.Model(inp, out)
    conv, dense = model.get_layer("conv"), model.get_layer("dense")
    for layer in (conv, dense):  # non-zero biases so a bias nudge is visible against real values
        w, b = layer.get_weights()
        layer.set_weights([w, np.linspace(-0.5, 0.5, b.size).astype(np.float32)])
    conv_w, conv_b = conv.get_weights()
    dense_w, dense_b = dense.get_weights()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    path = Path(out_dir) / "conv.tflite"
    path.write_bytes(converter.convert())
    return str(path), {"kernel": conv_w, "kernel_bias": conv_b, "dense": dense_w, "dense_bias": dense_b}


def tflite_names(path: str) -> tuple[list[str], list[str]]:
    """(worker only) Input and output tensor names of a TFLite model."""
    from portkit.runtimes.tflite import TFLiteRunner

    r = TFLiteRunner(path)
    return [s.name for s in r.signature.inputs], [s.name for s in r.signature.outputs]
