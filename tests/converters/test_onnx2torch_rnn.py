"""ONNX LSTM / GRU / Loop → TorchScript (onnx2torch has no converter for them; portkit registers its own):
hand-built graphs validated against onnxruntime by portkit (layout 0 only: onnxruntime's CPU kernels refuse
layout 1), and Keras LSTM / GRU models end to end
(keras → onnx → torchscript, validated against Keras)."""
from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import portkit

from ..conftest import run_cli

# find_spec, not importorskip: importing onnx2torch imports torch, and the pytest process imports no framework
pytestmark = pytest.mark.skipif(importlib.util.find_spec("onnx2torch") is None, reason="needs onnx2torch")

F = TensorProto.FLOAT


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _w(name, shape, seed):
    return numpy_helper.from_array(np.random.default_rng(seed).normal(0, 0.5, shape).astype(np.float32), name)


def recurrent(kind, direction, layout, with_state):
    hidden, feat, gates = 5, 3, (4 if kind == "LSTM" else 3)
    dirs = 2 if direction == "bidirectional" else 1
    inits = [_w("W", (dirs, gates * hidden, feat), 0), _w("R", (dirs, gates * hidden, hidden), 1),
             _w("B", (dirs, 2 * gates * hidden), 2)]
    x = ["steps", "batch", feat] if layout == 0 else ["batch", "steps", feat]
    state = [dirs, "batch", hidden] if layout == 0 else ["batch", dirs, hidden]
    inputs = [helper.make_tensor_value_info("x", F, x)]
    ins = ["x", "W", "R", "B", ""]
    if with_state:
        inputs.append(helper.make_tensor_value_info("h0", F, state))
        ins.append("h0")
        if kind == "LSTM":
            inputs.append(helper.make_tensor_value_info("c0", F, state))
            ins.append("c0")
    outs = ["y", "y_h"] + (["y_c"] if kind == "LSTM" else [])
    y = ["steps", dirs, "batch", hidden] if layout == 0 else ["batch", "steps", dirs, hidden]
    attrs = {"hidden_size": hidden, "direction": direction, "layout": layout}
    if kind == "GRU":
        attrs["linear_before_reset"] = 1
    node = helper.make_node(kind, ins, outs, **attrs)
    return _model([node], inputs, [helper.make_tensor_value_info("y", F, y)] +
                  [helper.make_tensor_value_info(o, F, state) for o in outs[1:]], inits, opset=14)


def counting_loop():
    """A Loop of 4 steps carrying a running sum (h = tanh(h·W + x)) and scanning each step's value."""
    body = helper.make_graph(
        [helper.make_node("MatMul", ["h_in", "Wl"], ["hw"]), helper.make_node("Add", ["hw", "x"], ["pre"]),
         helper.make_node("Tanh", ["pre"], ["h_out"]), helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Identity", ["h_out"], ["scan"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("h_in", F, ["batch", 4])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_out", F, ["batch", 4]),
         helper.make_tensor_value_info("scan", F, ["batch", 4])])
    inits = [numpy_helper.from_array(np.array(4, np.int64), "M"), numpy_helper.from_array(np.array(True), "c"),
             _w("Wl", (4, 4), 3)]
    nodes = [helper.make_node("Mul", ["x", "zero"], ["h0"]),
             helper.make_node("Loop", ["M", "c", "h0"], ["h", "steps"], body=body)]
    inits.append(numpy_helper.from_array(np.array(0, np.float32), "zero"))
    return _model(nodes, [helper.make_tensor_value_info("x", F, ["batch", 4])],
                  [helper.make_tensor_value_info("h", F, ["batch", 4]),
                   helper.make_tensor_value_info("steps", F, [4, "batch", 4])], inits, opset=16)


CASES = {
    "lstm-forward": lambda: recurrent("LSTM", "forward", 0, False),
    "lstm-bidirectional-state": lambda: recurrent("LSTM", "bidirectional", 0, True),
    "lstm-reverse-state": lambda: recurrent("LSTM", "reverse", 0, True),
    "gru-forward": lambda: recurrent("GRU", "forward", 0, False),
    "gru-bidirectional-state": lambda: recurrent("GRU", "bidirectional", 0, True),
    "loop": counting_loop,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_recurrent_onnx_to_torchscript(case, tmp_path):
    import onnx

    src = tmp_path / "m.onnx"
    onnx.save(CASES[case](), src)
    res = portkit.convert(src, "torchscript", tmp_path / "m.ts.pt")
    checks = [h.validation for h in res.hops if h.validation is not None]
    assert res.passed and checks, res.to_dict()
    assert max(v.max_abs for v in checks) < 1e-5
    cases = [c for v in checks for c in v.cases]
    assert "batch 2" in cases and (case == "loop" or len(cases) > 2), cases  # the time axis varied too


def test_unsupported_variant_is_named(tmp_path):
    import onnx

    m = recurrent("GRU", "forward", 0, False)
    m.graph.node[0].attribute[-1].i = 0  # linear_before_reset=0: not torch's GRU
    src = tmp_path / "g.onnx"
    onnx.save(m, src)
    res = run_cli("convert", str(src), "--to", "torchscript", "-o", str(tmp_path / "g.pt"))
    assert res.returncode == 3 and "linear_before_reset=0" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.slow
@pytest.mark.parametrize("layer", ["lstm", pytest.param("gru", marks=pytest.mark.skipif(
    not os.environ.get("PORTKIT_ARCH_ALL"), reason="opt-in: PORTKIT_ARCH_ALL=1 (the Loop is covered by the 'loop' "
    "case and the corpus' keras-own gru row)"))])
def test_keras_recurrent_model_to_torchscript(layer, tmp_path):
    """Keras LSTM → ONNX LSTM, Keras GRU → ONNX Loop (tf2onnx / Keras' exporter), then TorchScript,
    validated against Keras (GRU opt-in: PORTKIT_ARCH_ALL=1)."""
    from portkit.workers import call_in_worker

    keras_file = call_in_worker("build", "benchmarks.corpus_models", "keras_file", "own", layer,
                                str(tmp_path / f"{layer}.keras"))
    res = run_cli("convert", keras_file, "--to", "torchscript", "--via", "onnx", "-o", str(tmp_path / "m.pt"),
                  "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    checks = [h["validation"] for h in report["hops"]] + [report["validation"]]
    assert report["passed"] and all(c["passed"] for c in checks if c)
