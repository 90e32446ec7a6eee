"""Acceptance checks for quantized TFLite (the converters belong to the TF side, issue 4): full-int8
≤ 0.35× the float size with ≥ 95 % top-1 agreement, fp16 ≤ 0.6×. Validated on the 100 real calibration
images, so agreement is measured on data, not on random inputs. Skipped while no ONNX → TFLite route
exists."""
from __future__ import annotations

import pytest

import portkit
from portkit.errors import PortkitError
from portkit.formats import Format

from ..conftest import SAMPLES

CALIB = SAMPLES / "digits_calib.npz"


def _route_reason() -> str | None:
    from portkit.graph import plan

    try:
        plan(Format.ONNX, Format.TFLITE)
    except PortkitError as e:
        return f"no ONNX → TFLite route here: {e.one_line()}"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(_route_reason()), reason=str(_route_reason()))]


def _agreement(result) -> float:
    checks = [v for v in [*(h.validation for h in result.hops), result.validation] if v is not None]
    values = [o.argmax_agreement for v in checks for o in v.outputs if o.argmax_agreement is not None]
    assert values, "no classifier output compared"
    return min(values)


@pytest.fixture(scope="module")
def float_tflite(tmp_path_factory, digits_onnx):
    out = tmp_path_factory.mktemp("tfl") / "digits.tflite"
    res = portkit.convert(digits_onnx, "tflite", out, inputs=str(CALIB))
    assert res.passed
    return out


def test_tflite_fp16_size(tmp_path, digits_onnx, float_tflite):
    out = tmp_path / "digits_fp16.tflite"
    res = portkit.convert(digits_onnx, "tflite", out, quantize="fp16", inputs=str(CALIB))
    ratio = out.stat().st_size / float_tflite.stat().st_size
    print(f"tflite fp16: size ratio {ratio:.3f}, top-1 agreement {_agreement(res):.3f}")
    assert res.passed and ratio <= 0.6


def test_tflite_full_int8_size_and_agreement(tmp_path, digits_onnx, float_tflite):
    out = tmp_path / "digits_int8.tflite"
    res = portkit.convert(digits_onnx, "tflite", out, quantize="int8", calibration=str(CALIB),
                          inputs=str(CALIB))
    ratio = out.stat().st_size / float_tflite.stat().st_size
    agreement = _agreement(res)
    print(f"tflite int8: size ratio {ratio:.3f}, top-1 agreement {agreement:.3f}")
    assert res.passed and ratio <= 0.35 and agreement >= 0.95
