"""TFLite quantization inside the TFLite-producing edges: fp16, dynamic range, int8 with calibration data
(TFLiteConverter for Keras/SavedModel, onnx2tf for ONNX), int8 I/O, and the missing-calibration error."""
from __future__ import annotations

from pathlib import Path

import pytest

import portkit

from ..conftest import SAMPLES, run_cli
from .test_tf_edges import KERAS, tf_build

CALIB = SAMPLES / "digits_calib.npz"  # 100 test digits, NCHW (N×1×8×8): fitted to NHWC inputs as needed


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tf_quant")


@pytest.fixture(scope="module")
def nhwc_digits(out) -> str:
    """The calibration digits as the Keras model takes them (N×8×8×1): int8 is judged on real data, since
    random inputs in [-1, 1] lie outside the calibrated range."""
    import numpy as np

    with np.load(CALIB) as z:
        x = z["x"]
    path = out / "digits_nhwc.npz"
    np.savez(path, x=np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fp16", "dynamic"])
def test_keras_to_tflite_float_quantization(mode, out):
    res = portkit.convert(KERAS, "tflite", out / f"{mode}.tflite", quantize=mode)
    assert res.passed, res.to_dict()  # judged by cosine / argmax agreement (metadata "quantized")
    assert res.output.record.quantized == mode
    assert (out / f"{mode}.tflite").stat().st_size < (SAMPLES / "digits_keras.keras").stat().st_size


def test_keras_to_tflite_int8_with_calibration(out, nhwc_digits):
    res = portkit.convert(KERAS, "tflite", out / "int8.tflite", quantize="int8", calibration=str(CALIB),
                          inputs=nhwc_digits)
    assert res.passed, res.to_dict()
    md = res.output.metadata
    assert md["quantized"] == "int8" and md["calibration_samples"] == 100
    types = tf_build("tflite_io_types", str(out / "int8.tflite"))
    assert "int8" in types["tensor_types"]
    assert types["inputs"] == ["float32"]  # float I/O unless --int8-io


@pytest.mark.slow
def test_savedmodel_to_tflite_int8_io(out, nhwc_digits):
    sm = out / "sm"
    portkit.convert(KERAS, "savedmodel", sm)
    res = portkit.convert(sm, "tflite", out / "int8io.tflite", quantize="int8", calibration=str(CALIB),
                          int8_io=True, inputs=nhwc_digits)
    assert res.passed, res.to_dict()
    types = tf_build("tflite_io_types", str(out / "int8io.tflite"))
    assert types["inputs"] == ["int8"] and types["outputs"] == ["int8"]


def test_onnx_to_tflite_int8_with_explicit_calibration(digits_onnx, out):
    """onnx2tf gets the calibration data explicitly (NCHW data transposed to its NHWC input); offline."""
    res = portkit.convert(digits_onnx, "tflite", out / "onnx_int8.tflite", quantize="int8",
                          calibration=str(CALIB), inputs=str(CALIB))
    assert res.passed, res.to_dict()
    assert res.output.record.quantized == "int8"
    assert res.output.record.tensors.perm("inputs", "x") == (0, 2, 3, 1)
    types = tf_build("tflite_io_types", str(out / "onnx_int8.tflite"))
    assert "int8" in types["tensor_types"]


@pytest.mark.slow
def test_onnx_to_tflite_fp16(digits_onnx, out):
    res = portkit.convert(digits_onnx, "tflite", out / "onnx_fp16.tflite", quantize="fp16")
    assert res.passed and res.output.record.quantized == "fp16"


@pytest.mark.parametrize("source", ["keras", pytest.param("onnx", marks=pytest.mark.slow)])
def test_int8_without_calibration_is_bad_input(source, digits_onnx, out):
    src = KERAS if source == "keras" else digits_onnx
    target = out / f"nocal_{source}.tflite"
    proc = run_cli("convert", str(src), "--to", "tflite", "--quantize", "int8", "-o", str(target))
    assert proc.returncode == 2, proc.stderr
    assert "calibration" in proc.stderr and "--calibration" in proc.stderr
    assert not target.exists()
