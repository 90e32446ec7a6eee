"""TensorFlow-side test models built from code (no downloads). Each function runs inside a worker process
(see conftest.build: `build("func", ..., module="tests.tf_models")`) and writes files, returning their
paths, so the pytest process imports no framework."""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def keras_application(arch: str, out_dir: str, size: int = 32, classes: int = 10) -> str:
    """A keras.applications architecture with seeded random weights (weights=None), conditioned as the coverage
    corpus does (benchmarks/corpus_models.py): BatchNormalization statistics from data, logits with a spread
    of about one, no softmax — so its outputs depend on its input and a check of them proves something."""
    import keras

    from benchmarks.corpus_models import SEED, condition_keras

    keras.utils.set_random_seed(SEED)
    kwargs = {"weights": None, "input_shape": (size, size, 3), "classes": classes, "classifier_activation": None}
    if arch.startswith(("MobileNetV3", "EfficientNetV2")):
        kwargs["include_preprocessing"] = False
    model = condition_keras(keras, getattr(keras.applications, arch)(**kwargs), size)
    path = Path(out_dir) / f"{arch}.keras"
    model.save(path)
    return str(path)


def lambda_model(out: str) -> str:
    """A .keras model holding a Lambda layer (Python code in the file)."""
    import keras

    x = keras.Input((4,), name="x")
    y = keras.layers.Lambda(lambda t: t * 2.0 + 1.0, name="affine")(x)
    out_t = keras.layers.Dense(3, name="output")(y)
    keras.Model(x, out_t).save(out)
    return out


def custom_layer_model(out: str) -> str:
    """A .keras model with a custom layer registered by tests.tf_custom_layers."""
    import keras

    from tests.tf_custom_layers import Scale

    keras.utils.set_random_seed(0)
    x = keras.Input((6,), name="x")
    y = Scale(name="scale")(keras.layers.Dense(4, name="dense")(x))
    keras.Model(x, y).save(out)
    return out


def onnx_with_unconvertible_op(out: str) -> str:
    """A valid ONNX graph whose one node is a standard op (BitCast, opset 26) onnx2tf has no converter for.
    (An op from an unknown custom domain is refused before any hop, exit 2: tests/test_bad_inputs.py.)"""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.INT32, ["batch", 3, 8, 8])
    node = helper.make_node("BitCast", ["x"], ["y"], name="bits", to=TensorProto.INT32)
    graph = helper.make_graph([node], "unconvertible_op", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 26)])
    onnx.save(model, out)
    return out


def run_edge_and_list_frameworks(edge: str, src: str, src_format: str, out: str) -> dict[str, bool]:
    """Run one edge's converter here (a fresh worker) and report which frameworks got imported."""
    from portkit.artifact import Artifact
    from portkit.formats import Format
    from portkit.hops import run_edge
    from portkit.options import ConvertOptions

    run_edge(edge, Artifact(src, Format(src_format)), out, ConvertOptions())
    return {m: m in sys.modules for m in ("torch", "tensorflow", "onnx2torch", "triton")}


def tflite_io_types(path: str) -> dict[str, list[str]]:
    """dtypes of a TFLite model's input and output tensors (to check int8 I/O)."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=path)
    return {"inputs": [np.dtype(d["dtype"]).name for d in it.get_input_details()],
            "outputs": [np.dtype(d["dtype"]).name for d in it.get_output_details()],
            "tensor_types": sorted({np.dtype(d["dtype"]).name for d in it.get_tensor_details()})}
