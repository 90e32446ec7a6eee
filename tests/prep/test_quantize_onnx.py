"""ONNX quantization and optimisation (portkit.prep): int8 static QDQ, dynamic, fp16, --optimize, as a
same-format conversion and as the last step of a route; quantized validation criteria; clear errors."""
from __future__ import annotations

import hashlib
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import portkit
from portkit.errors import BadInput

from ..conftest import ROOT, SAMPLES, run_cli

CALIB = SAMPLES / "digits_calib.npz"


@pytest.fixture(scope="session")
def digits_test() -> tuple[np.ndarray, np.ndarray]:
    from samples.data import digits

    return digits("test")


@pytest.fixture(scope="session")
def eval_npz(tmp_path_factory, digits_test) -> str:
    x, y = digits_test
    path = tmp_path_factory.mktemp("eval") / "digits_eval.npz"
    np.savez(path, x=x, labels=y)
    return str(path)


def _predict(path, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def _agreement(a, b, x) -> float:
    return float(np.mean(_predict(a, x).argmax(1) == _predict(b, x).argmax(1)))


def _ops(path) -> set[str]:
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def test_int8_static_qdq(tmp_path, digits_onnx, digits_test, eval_npz):
    out = tmp_path / "digits.int8.onnx"
    res = portkit.convert(digits_onnx, "onnx", out, quantize="int8", calibration=str(CALIB),
                          eval_data=eval_npz)
    assert res.passed and out.is_file()
    md = res.output.metadata
    assert md["quantized"] == "int8" and md["quantization"]["format"] == "QDQ"
    assert {"QuantizeLinear", "DequantizeLinear"} <= _ops(out)
    hop = res.hops[-1].validation
    assert hop.criteria == "quantized:int8" and hop.input_source == str(CALIB)  # judged on the real data
    x, _ = digits_test
    agreement = _agreement(digits_onnx, out, x)
    ratio = out.stat().st_size / digits_onnx.stat().st_size
    print(f"int8: top-1 agreement {agreement:.4f} on {len(x)} test images, size ratio {ratio:.3f}")
    assert agreement >= 0.95
    assert ratio <= 0.35
    assert md["size"]["ratio"] == pytest.approx(ratio, abs=1e-3)
    assert res.accuracy and res.accuracy["passed"] and res.accuracy["delta"] >= -0.01


def test_dynamic(tmp_path, digits_onnx, digits_test):
    out = tmp_path / "d.onnx"
    res = portkit.convert(digits_onnx, "onnx", out, quantize="dynamic")
    assert res.passed and res.output.record.quantized == "dynamic"
    assert "DynamicQuantizeLinear" in _ops(out) or "MatMulInteger" in _ops(out)
    assert res.hops[-1].validation.batches == [1, 2, 16]  # more random samples when there is no data
    assert _agreement(digits_onnx, out, digits_test[0]) >= 0.95
    assert out.stat().st_size < 0.5 * digits_onnx.stat().st_size


def test_fp16_keeps_io_float32(tmp_path, digits_onnx, digits_test):
    out = tmp_path / "h.onnx"
    res = portkit.convert(digits_onnx, "onnx", out, quantize="fp16")
    assert res.passed and res.output.record.quantized == "fp16"
    model = onnx.load(str(out))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    assert out.stat().st_size <= 0.6 * digits_onnx.stat().st_size
    assert _agreement(digits_onnx, out, digits_test[0]) >= 0.99


def test_own_fp16_pass(tmp_path, digits_onnx, digits_test):
    """The fallback used where onnxruntime.transformers cannot be imported."""
    from portkit.prep.fp16 import cast_to_fp16

    model = cast_to_fp16(onnx.load(str(digits_onnx)))
    onnx.checker.check_model(model)
    out = tmp_path / "own16.onnx"
    onnx.save(model, str(out))
    x = digits_test[0]
    assert np.abs(_predict(out, x) - _predict(digits_onnx, x)).max() < 0.05


def test_optimize_is_validated_with_float_tolerances(tmp_path, digits_onnx):
    out = tmp_path / "o.onnx"
    res = portkit.convert(digits_onnx, "onnx", out, optimize=True)
    assert res.passed
    v = res.hops[-1].validation
    assert v.criteria == "tolerance" and v.max_abs < 1e-4
    assert res.output.record.optimized["steps"][-1] == "onnxruntime basic"
    assert "quantized" not in res.output.metadata


def test_optimize_then_quantize_validates_each_step_and_end_to_end(tmp_path, digits_onnx):
    out = tmp_path / "oq.onnx"
    res = portkit.convert(digits_onnx, "onnx", out, optimize=True, quantize="int8", calibration=str(CALIB))
    assert [h.edge for h in res.hops] == ["onnx→onnx (optimize)", "onnx→onnx (int8)"]
    assert res.validation is not None and res.validation.criteria == "quantized:int8" and res.passed


def test_same_format_default_output_never_overwrites_source(tmp_path, digits_onnx):
    src = tmp_path / "m.onnx"
    shutil.copyfile(digits_onnx, src)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    r = run_cli("convert", str(src), "--to", "onnx", "--quantize", "dynamic", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "m.dynamic.onnx").is_file()
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
    assert "size:" in r.stderr and "×" in r.stderr
    r = run_cli("convert", str(src), "--to", "onnx", "--quantize", "dynamic", "-o", str(src))
    assert r.returncode == 2 and "overwrite" in r.stderr


def test_route_ending_in_onnx_quantizes_last(tmp_path):
    out = tmp_path / "d.onnx"
    r = run_cli("convert", str(SAMPLES / "digits_cnn.ts.pt"), "--to", "onnx", "--quantize", "dynamic",
                "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    import json

    data = json.loads(r.stdout)
    assert [h["edge"] for h in data["hops"]] == ["torchscript→onnx", "onnx→onnx (dynamic)"]
    assert data["validation"]["criteria"] == "quantized:dynamic"  # end to end: TorchScript vs quantized
    assert (tmp_path / "d.float.onnx").is_file() and data["metadata"]["quantized"] == "dynamic"


def test_missing_calibration_is_exit_2(tmp_path, digits_onnx):
    out = tmp_path / "q.onnx"
    r = run_cli("convert", str(digits_onnx), "--to", "onnx", "--quantize", "int8", "-o", str(out))
    assert r.returncode == 2
    assert "needs calibration data" in r.stderr and "--calibration" in r.stderr
    assert not out.exists()
    r = run_cli("convert", str(digits_onnx), "--to", "onnx", "--quantize", "int8", "--calibration",
                str(tmp_path / "nope.npz"), "-o", str(out))
    assert r.returncode == 2 and "calibration data not found" in r.stderr


def test_calibration_without_the_input_name_is_exit_2(tmp_path, digits_onnx):
    bad = tmp_path / "bad.npz"
    np.savez(bad, a=np.zeros((4, 1, 8, 8), "float32"), b=np.zeros((4, 3), "float32"))
    with pytest.raises(BadInput, match="no array for input"):
        portkit.convert(digits_onnx, "onnx", tmp_path / "q.onnx", quantize="int8", calibration=str(bad))


@pytest.mark.parametrize("args, message", [
    (["--to", "torchscript", "--quantize", "int8", "--calibration", str(CALIB)], "applies to onnx, ort, web"),
    (["--to", "onnx", "--quantize", "int2"], "unknown --quantize"),
    (["--to", "onnx", "--quantize", "int4"], "applies to a causal LM exported with its key/value cache"),
    (["--to", "onnx", "--quantize", "int8", "--calibration", str(CALIB), "--int8-io"], "TFLite targets only"),
    (["--to", "keras", "--optimize"], "--optimize applies"),
])
def test_bad_option_combinations_are_exit_2(args, message):
    r = run_cli("convert", str(SAMPLES / "digits_cnn.ts.pt"), *args, "-o", str(ROOT / "never-written.x"))
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
