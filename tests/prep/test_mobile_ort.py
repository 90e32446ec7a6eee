"""`--to ort`: ONNX Runtime's ORT format with its required-operators config; runs in onnxruntime."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import portkit
from portkit.artifact import Artifact
from portkit.formats import Format, sniff
from portkit.prep.ort_format import required_operators
from portkit.runtimes import open_runner

from ..conftest import SAMPLES

CALIB = SAMPLES / "digits_calib.npz"


@pytest.fixture(scope="module")
def test_images() -> np.ndarray:
    from samples.data import digits

    return digits("test")[0]


def _run(path, x):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_ort_float_agrees_100_percent(tmp_path, digits_onnx, test_images):
    out = tmp_path / "digits.ort"
    res = portkit.convert(digits_onnx, "ort", out)
    assert res.passed and sniff(out) is Format.ORT
    config = tmp_path / "digits.required_operators.config"
    assert config.is_file() and res.output.record.operator_config == config.name
    ops = {op for v in required_operators(config).values() for op in v}
    assert {"Conv", "Gemm", "MaxPool"} <= ops
    assert str(tmp_path) not in config.read_text()  # relocatable: names the file, not the temp path
    a, b = _run(digits_onnx, test_images), _run(out, test_images)
    agreement = float(np.mean(a.argmax(1) == b.argmax(1)))
    print(f"ort: top-1 agreement {agreement:.4f}, max abs {np.abs(a - b).max():.2e}")
    assert agreement == 1.0 and np.abs(a - b).max() < 1e-4
    with open_runner(Artifact(str(out), Format.ORT)) as r:  # the runtime adapter loads .ort
        assert r.signature.inputs[0].name == "x"
        np.testing.assert_allclose(r.run({"x": test_images[:4]})["output"], b[:4], atol=1e-5)


def test_ort_int8(tmp_path, digits_onnx, test_images):
    out = tmp_path / "q.ort"
    res = portkit.convert(digits_onnx, "ort", out, quantize="int8", calibration=str(CALIB))
    assert res.passed and res.output.record.quantized == "int8"
    assert res.hops[-1].validation.criteria == "quantized:int8"
    ops = {op for v in required_operators(tmp_path / "q.required_operators.config").values() for op in v}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    agreement = float(np.mean(_run(digits_onnx, test_images).argmax(1) == _run(out, test_images).argmax(1)))
    assert agreement >= 0.95
    assert out.stat().st_size < 0.45 * digits_onnx.stat().st_size
