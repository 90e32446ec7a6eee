"""Conversions must not depend on the CPU: onnx2tf's trial run must not bake batch 1 into a graph.

onnx2tf runs the graph once before converting and picks Flatten's axis (and ~25 other layouts) by comparing
TF's result with onnxruntime's exactly. At batch 1, "flatten from axis 0" matches whenever both runtimes agree
bit for bit (AVX-512 CPUs), and the SavedModel then only runs at batch 1. portkit passes shape hints with a
batch of 2 for that run (converters/_onnx2tf_common.py). These tests check the produced SavedModel's
signature keeps a dynamic batch and runs at batch 3 — on every CPU, whether or not it has the coincidence.

The pytest process imports neither tensorflow nor torch: conversions go through portkit.convert (workers)
and the SavedModel is checked in a subprocess."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import portkit

from ..conftest import SAMPLES

pytest.importorskip("onnxruntime")

CHECK_SAVEDMODEL = r"""
import json, sys, os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf
path, feeds_path = sys.argv[1], sys.argv[2]
m = tf.saved_model.load(path)
fn = m.signatures["serving_default"]
ins = {k: [d for d in v.shape.as_list()] for k, v in fn.structured_input_signature[1].items()}
outs = {k: v.shape.as_list() for k, v in fn.structured_outputs.items()}
x = np.load(feeds_path)
res = fn(**{next(iter(ins)): tf.constant(x)})
np.save(feeds_path + ".out.npy", next(iter(res.values())).numpy())
print(json.dumps({"inputs": ins, "outputs": outs}))
"""


def flatten_gemm_cnn(path: Path) -> Path:
    """Conv → Relu → MaxPool → Flatten → Gemm with a dynamic batch, built with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.3, (8, 1, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.normal(0, 0.1, (8,)).astype(np.float32), "b"),
        numpy_helper.from_array(rng.normal(0, 0.1, (10, 8 * 4 * 4)).astype(np.float32), "fc_w"),
        numpy_helper.from_array(rng.normal(0, 0.1, (10,)).astype(np.float32), "fc_b"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "flatten_gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def check_savedmodel(path: Path, x: np.ndarray, tmp: Path) -> tuple[dict, np.ndarray]:
    feeds = tmp / "x.npy"
    np.save(feeds, x)
    proc = subprocess.run([sys.executable, "-c", CHECK_SAVEDMODEL, str(path), str(feeds)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), np.load(str(feeds) + ".out.npy")


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cpu_independence")


def test_flatten_gemm_savedmodel_keeps_dynamic_batch(out):
    import onnxruntime as ort

    src = flatten_gemm_cnn(out / "flatten_gemm.onnx")
    res = portkit.convert(src, "savedmodel", out / "flatten_gemm_sm")
    assert res.passed, res.to_dict()
    x = np.random.default_rng(3).uniform(-1, 1, (3, 1, 8, 8)).astype(np.float32)
    sig, y = check_savedmodel(Path(res.output.location), np.transpose(x, (0, 2, 3, 1)), out)
    assert list(sig["outputs"].values())[0] == [None, 10], sig
    assert list(sig["inputs"].values())[0][0] is None, sig
    ref = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_torchscript_sample_savedmodel_runs_at_batch_3(out):
    """The issue's failing route: the TorchScript sample → ONNX (legacy exporter, Flatten) → SavedModel."""
    res = portkit.convert(SAMPLES / "digits_cnn.ts.pt", "savedmodel", out / "digits_sm")
    assert res.passed, res.to_dict()
    x = np.random.default_rng(4).uniform(-1, 1, (3, 8, 8, 1)).astype(np.float32)
    sig, y = check_savedmodel(Path(res.output.location), x, out)
    assert list(sig["outputs"].values())[0] == [None, 10], sig
    assert y.shape == (3, 10)


def test_shape_hints_never_use_batch_1():
    """The hint builder itself: dynamic batch → 2, other dynamic dims → a non-1 size, static kept."""
    from onnx import TensorProto, helper
    from portkit.converters._onnx2tf_common import TRIAL_BATCH, shape_hints

    from portkit.options import ConvertOptions
    from portkit.signature import InputSpec

    graph = helper.make_graph(
        [helper.make_node("Identity", ["ids"], ["o"])], "g",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["b", "seq"]),
         helper.make_tensor_value_info("img", TensorProto.FLOAT, [None, 3, "h", "w"])],
        [helper.make_tensor_value_info("o", TensorProto.INT64, ["b", "seq"])])
    model = helper.make_model(graph)
    hints = shape_hints(model, ConvertOptions())
    assert hints == [f"ids:{TRIAL_BATCH},32", f"img:{TRIAL_BATCH},3,32,32"]
    hints = shape_hints(model, ConvertOptions(input_specs=(InputSpec("ids", (1, 16)),)))
    assert hints[0] == f"ids:{TRIAL_BATCH},16"  # a user batch of 1 is still tried at 2
