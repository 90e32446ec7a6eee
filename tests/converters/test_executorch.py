"""ExecuTorch `.pte` (XNNPACK, fp32): eager / .pt2 → .pte, validated by running the program with
ExecuTorch's Python runtime against the source; sniffing and inspect."""
from __future__ import annotations

import os

import pytest

import portkit
from portkit.formats import Format, sniff

from ..conftest import SAMPLES, build, run_cli

# the acceptance (a torchvision CNN and a tiny BERT) and the CNN int8 check: minutes on 2 cores, so
# opt-in beside `slow`
ACCEPTANCE = pytest.mark.skipif(not os.environ.get("PORTKIT_ACCEPTANCE"),
                                reason="torchvision CNN + tiny BERT acceptance: set PORTKIT_ACCEPTANCE=1")

DIGITS = "samples.digits_torch:build"


def test_pte_magic(tmp_path):
    p = tmp_path / "m.bin"
    p.write_bytes(b"\x1c\x00\x00\x00ET12" + b"\x00" * 64)
    assert sniff(p) is Format.EXECUTORCH
    assert Format.parse("pte") is Format.EXECUTORCH


def test_truncated_pte_is_one_line_exit_2(tmp_path):
    p = tmp_path / "bad.pte"
    p.write_bytes(b"\x1c\x00\x00\x00ET12" + b"\x00" * 40)
    res = run_cli("inspect", str(p))
    assert res.returncode == 2, res.stderr
    assert ".pte program does not load" in res.stderr and "Traceback" not in res.stderr


@pytest.fixture(scope="module")
def digits_pte(tmp_path_factory):
    """The digits CNN as a validated fp32 .pte, converted once for the tests that read it."""
    out = tmp_path_factory.mktemp("pte") / "digits.pte"
    return out, portkit.convert(DIGITS, "executorch", out, weights=str(SAMPLES / "digits_cnn.pt"))


def test_eager_to_pte_dynamic_batch(digits_pte):
    out, r = digits_pte
    assert r.passed and r.route == ["torch → executorch"] and r.hops[0].tool == "executorch (XNNPACK)"
    assert sorted(set(r.hops[0].validation.batches)) == [1, 2] and r.hops[0].validation.max_rel <= 1e-4
    assert sniff(out) is Format.EXECUTORCH
    info = portkit.inspect(out)
    assert info.details["runtime"] == "executorch" and info.signature.inputs[0].name == "x"


def test_torchscript_to_pte(tmp_path):
    """TorchScript → pt2 → pte: a TorchScript-converted program's folded constants are not graph leaves,
    and ExecuTorch deep-copies the program for XNNPACK (it failed with "Only Tensors created explicitly by
    the user ... support the deepcopy protocol")."""
    r = portkit.convert(SAMPLES / "digits_cnn.ts.pt", "executorch", tmp_path / "d.pte")
    assert r.passed and r.route == ["torchscript → pt2 → executorch"]
    assert sniff(r.output.location) is Format.EXECUTORCH


@ACCEPTANCE
def test_pte_int8_cnn(tmp_path):
    """--quantize int8 (calibrated) of a CNN through ExecuTorch's XNNPACKQuantizer (PT2E); float I/O, judged
    as a quantized model, under half the float weights' size. Opt-in: the default suite's ExecuTorch int8
    check is tests/prep/test_keep_float.py::test_executorch_keep_float_auto (plain int8, then --keep-float)."""
    calib = str(SAMPLES / "digits_calib.npz")
    r = portkit.convert(DIGITS, "executorch", tmp_path / "q8.pte", weights=str(SAMPLES / "digits_cnn.pt"),
                        quantize="int8", calibration=calib)
    assert r.passed and r.output.record.quantized == "int8"
    assert r.hops[0].validation.criteria == "quantized:int8"
    assert r.output.size_bytes() < 0.5 * (SAMPLES / "digits_cnn.pt").stat().st_size


def test_pte_fp16_is_refused(tmp_path):
    """fp16 refused in one line before any work."""
    p = run_cli("convert", DIGITS, "--weights", str(SAMPLES / "digits_cnn.pt"), "--to", "executorch",
                "--quantize", "fp16", "-o", str(tmp_path / "f16.pte"))
    assert p.returncode == 2 and "--quantize fp16 does not apply to executorch targets" in p.stderr
    assert not (tmp_path / "f16.pte").exists()


def test_pte_runs_batches_beyond_its_planned_memory(digits_pte):
    """ExecuTorch plans memory for fewer rows than the export's bound (15 of 64 for this CNN); the runner
    runs larger batches in parts, and says the bound when benchmarking past it."""
    _, r = digits_pte
    planned = r.output.record.max_batch
    assert isinstance(planned, int) and planned >= 2
    v = portkit.validate(DIGITS, r.output.location, reference_options={"weights": str(SAMPLES / "digits_cnn.pt")},
                         batches=[planned + 1, 3 * planned])
    assert v.passed, v.summary()


@pytest.mark.slow
@ACCEPTANCE
def test_acceptance_torchvision_cnn_and_tiny_bert(tmp_path):
    sd = build("torchvision_state_dict", "mobilenet_v3_small", str(tmp_path))
    r = portkit.convert("torchvision.models:mobilenet_v3_small", "executorch", tmp_path / "mnv3.pte", weights=sd,
                        model_args={"num_classes": 10}, input_shapes="1,3,64,64")
    assert r.passed and sorted(set(r.hops[0].validation.batches)) == [1, 2]
    r = portkit.convert("examples.hf_models:bert_tiny", "executorch", tmp_path / "bert.pte")
    assert r.passed and sorted(set(r.hops[0].validation.batches)) == [1, 2]
