"""`--to web`: a bundle run for real under onnxruntime-web (WASM) in Node, compared to Python onnxruntime;
op-compatibility reports and the `portkit ops` command."""
from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import portkit
from portkit.formats import Format, sniff
from portkit.prep.op_report import check_ops
from portkit.prep.web_node import run_in_node, web_deps

from ..conftest import SAMPLES, run_cli

CALIB = SAMPLES / "digits_calib.npz"


@pytest.fixture(scope="module")
def node_ready() -> None:
    """onnxruntime-web under Node: `npm ci` in web/ on first use; skipped only without node/npm/registry."""
    reason = web_deps()
    if reason:
        pytest.skip(f"onnxruntime-web unavailable: {reason}")


@pytest.fixture(scope="module")
def test_images() -> np.ndarray:
    from samples.data import digits

    return digits("test")[0][:64]


def _python(path, x, level: str = "ORT_ENABLE_ALL"):
    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_web_bundle_float_matches_python(tmp_path, digits_onnx, test_images, node_ready):
    out = tmp_path / "bundle"
    res = portkit.convert(digits_onnx, "web", out)
    assert res.passed and sniff(out) is Format.WEB
    assert {p.name for p in out.iterdir()} >= {"model.onnx", "manifest.json", "index.html", "portkit-web.mjs"}
    m = json.loads((out / "manifest.json").read_text())
    assert m["inputs"][0] == {**m["inputs"][0], "name": "x", "dtype": "float32", "shape": ["batch", 1, 8, 8],
                              "layout": "NCHW"}
    assert m["outputs"][0]["name"] == "output" and m["sizes"]["model_bytes"] > 0 and m["ops"]["ok"]
    assert m["runtime"]["package"] == "onnxruntime-web" and m["preprocessing"]
    page = (out / "index.html").read_text()
    assert m["runtime"]["cdn"] in page and "portkit-web.mjs" in page
    web = run_in_node(out, {"x": test_images})["output"]
    py = _python(out / "model.onnx", test_images)
    print(f"web float: max abs vs python onnxruntime {np.abs(web - py).max():.2e}")
    np.testing.assert_allclose(web, py, atol=1e-4, rtol=0)


def test_web_bundle_int8(tmp_path, digits_onnx, test_images, node_ready):
    out = tmp_path / "bundle8"
    res = portkit.convert(digits_onnx, "web", out, quantize="int8", calibration=str(CALIB))
    assert res.passed and res.output.record.quantized == "int8"
    m = json.loads((out / "manifest.json").read_text())
    assert m["quantized"] == "int8" and m["quantization"]["calibration"] == CALIB.name
    assert m["sizes"]["model_bytes"] < 0.35 * digits_onnx.stat().st_size
    web = run_in_node(out, {"x": test_images})["output"]
    py = _python(out / "model.onnx", test_images)
    print(f"web int8: max abs vs python onnxruntime {np.abs(web - py).max():.2e}")
    np.testing.assert_allclose(web, py, atol=1e-4, rtol=0)
    ref = _python(digits_onnx, test_images)
    assert np.mean(web.argmax(1) == ref.argmax(1)) >= 0.95


def test_web_bundle_with_ort_model(tmp_path, digits_onnx, test_images, node_ready):
    out = tmp_path / "bundle_ort"
    res = portkit.convert(digits_onnx, "web", out, web_model="ort")
    assert res.passed and (out / "model.ort").is_file()
    assert (out / "model.required_operators.config").is_file()
    web = run_in_node(out, {"x": test_images})["output"]
    np.testing.assert_allclose(web, _python(digits_onnx, test_images), atol=1e-4, rtol=0)


def _custom_op_model(path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu_1"),
             helper.make_node("FancyNorm", ["r"], ["y"], domain="com.example", name="my_custom_norm")]
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=opsets)
    onnx.save(model, str(path))


def test_unsupported_op_fails_clearly(tmp_path):
    src = tmp_path / "custom.onnx"
    _custom_op_model(src)
    r = run_cli("convert", str(src), "--to", "web", "-o", str(tmp_path / "b"))
    # an op from a custom domain nothing here implements is refused before any hop (bad input, exit 2);
    # `portkit ops` below still reports it against each target
    assert r.returncode == 2, r.stderr
    assert "FancyNorm" in r.stderr and "my_custom_norm" in r.stderr and "com.example" in r.stderr
    assert not (tmp_path / "b").exists()
    r = run_cli("ops", str(src), "--target", "web")
    assert r.returncode == 3 and "my_custom_norm" in r.stdout
    r = run_cli("ops", str(src), "--target", "tflite", "--json")
    data = json.loads(r.stdout)
    assert r.returncode == 3 and [i["op"] for i in data["unsupported"]] == ["FancyNorm"]


def test_ops_command_ok(digits_onnx):
    r = run_cli("ops", str(digits_onnx), "--target", "web")
    assert r.returncode == 0 and "all supported" in r.stdout
    r = run_cli("ops", str(SAMPLES / "digits_cnn.ts.pt"))
    assert r.returncode == 2 and "convert it first" in r.stderr


def test_tflite_op_report_names_flex_ops(tmp_path):
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 4])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [4, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    node = helper.make_node("Einsum", ["a", "b"], ["y"], equation="ij,jk->ik", name="mix")
    path = tmp_path / "einsum.onnx"
    onnx.save(helper.make_model(helper.make_graph([node], "g", [a, b], [y]),
                                opset_imports=[helper.make_opsetid("", 17)]), str(path))
    rep = check_ops(path, "tflite")
    assert not rep.ok and rep.unsupported[0].nodes == ["mix"] and "Flex" in rep.unsupported[0].reason
    assert check_ops(path, "web").ok


def test_node_missing_gives_a_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    assert "node is not installed" in (web_deps(tmp_path) or "")
