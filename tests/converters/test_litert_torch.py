"""litert-torch edges: eager / .pt2 → TFLite directly (no ONNX), preferred by the planner for PyTorch
sources, NCHW kept (no layout map), quantization flags, and the fallback to ONNX → onnx2tf when
litert-torch cannot keep a dynamic batch."""
from __future__ import annotations

import os

import pytest

import portkit
from portkit.errors import BadInput, ConversionFailed
from portkit.formats import Format
from portkit.graph import plan, route_text
from portkit.options import ConvertOptions

from ..conftest import SAMPLES, build

# the acceptance (a torchvision CNN and a tiny BERT): minutes on 2 cores, so opt-in beside `slow`
ACCEPTANCE = pytest.mark.skipif(not os.environ.get("PORTKIT_ACCEPTANCE"),
                                reason="torchvision CNN + tiny BERT acceptance: set PORTKIT_ACCEPTANCE=1")

DIGITS = "samples.digits_torch:build"


def test_planner_prefers_litert_for_pytorch_sources():
    for src in (Format.TORCH, Format.PT2):
        first = plan(src, Format.TFLITE)[0]
        assert [e.tool for e in first] == ["litert-torch"], route_text(first)
    assert [e.tool for e in plan(Format.ONNX, Format.TFLITE)[0]] == ["onnx2tf"]  # ONNX sources keep onnx2tf
    assert any("onnx2tf" in [e.tool for e in r] for r in plan(Format.PT2, Format.TFLITE))  # the fallback


def test_quantize_checks_before_any_work():
    from portkit.converters._litert_common import check_quantize

    assert check_quantize(ConvertOptions()) is None
    assert check_quantize(ConvertOptions(quantize="fp16")) == "fp16"
    with pytest.raises(BadInput, match="calibration"):
        check_quantize(ConvertOptions(quantize="int8"))
    with pytest.raises(ConversionFailed, match="--via onnx"):  # float I/O int8 is onnx2tf's: planner falls back
        check_quantize(ConvertOptions(quantize="int8", calibration="x.npz"))
    assert check_quantize(ConvertOptions(quantize="int8", calibration="x.npz", int8_io=True)) == "int8"


@pytest.fixture(scope="module")
def static_pt2(tmp_path_factory):
    out = tmp_path_factory.mktemp("litert") / "digits_b1.pt2"
    portkit.convert(DIGITS, "pt2", out, weights=str(SAMPLES / "digits_cnn.pt"), dynamic=False,
                    input_shapes="1,1,8,8")
    return out


def test_pt2_to_tflite_with_litert_keeps_nchw(static_pt2, tmp_path):
    r = portkit.convert(static_pt2, "tflite", tmp_path / "d.tflite")
    assert r.passed and r.route == ["pt2 → tflite"] and r.hops[0].tool == "litert-torch"
    rec = r.output.record  # the typed record: no layout change was made, the source's NCHW kept
    assert not rec.tensors.layout and rec.layout_kept == "NCHW" and rec.producer == "litert-torch"
    assert r.output.signature.inputs[0].name == "x" and r.output.signature.inputs[0].shape == (1, 1, 8, 8)
    assert r.output.signature.outputs[0].name == "output"  # the wrapper names the serving signature
    assert r.hops[0].validation.max_rel <= 1e-4


def test_litert_quantize_dynamic(static_pt2, tmp_path):
    r = portkit.convert(static_pt2, "tflite", tmp_path / "d_dyn.tflite", quantize="dynamic")
    assert r.passed and r.hops[0].tool == "litert-torch" and r.output.record.quantized == "dynamic"
    assert r.output.size_bytes() < 0.5 * static_pt2.stat().st_size


@pytest.mark.slow
@ACCEPTANCE
def test_dynamic_batch_cnn_falls_back_to_onnx2tf(tmp_path):
    """litert-torch 0.10 cannot lower flatten/view with a symbolic batch (its JAX bridge takes concrete
    sizes): the hop sees the reshape in the graph and fails with a clear line before converting (not after
    export and three decomposition passes), and the planner takes torch → onnx → tflite (dynamic batch
    kept). Opt-in (PORTKIT_ACCEPTANCE=1): the line is checked by the fixed-shapes fallback test below, and
    torch → onnx → tflite by many."""
    r = portkit.convert(DIGITS, "tflite", tmp_path / "d.tflite", weights=str(SAMPLES / "digits_cnn.pt"))
    assert r.passed and r.route == ["torch → onnx → tflite"]
    assert r.failed_routes and "litert-torch cannot keep the dynamic axes" in r.failed_routes[0]
    assert "reshapes with concrete sizes only" in r.failed_routes[0]


def test_torchscript_no_route_keeping_the_batch_falls_back_to_fixed_shapes(tmp_path):
    """A traced model whose only route (--tool litert-torch: torchscript → pt2 → tflite) cannot keep the
    dynamic batch is converted at the requested fixed shapes, validated at that batch, and says so (the
    issue's fallback for traced text models onnx2tf cannot take or gets wrong)."""
    ts = tmp_path / "d.ts.pt"
    portkit.convert(DIGITS, "torchscript", ts, weights=str(SAMPLES / "digits_cnn.pt"), validate=False)
    r = portkit.convert(ts, "tflite", tmp_path / "d.tflite", tool="litert-torch", input_shapes="3,1,8,8")
    assert r.passed and r.route == ["torchscript → pt2 → tflite (fixed shapes)"], r.failed_routes
    assert "litert-torch cannot keep the dynamic axes" in r.failed_routes[0]
    assert "reshapes with concrete sizes only" in r.failed_routes[0]  # known before converting
    assert r.output.signature.inputs[0].shape == (3, 1, 8, 8)
    assert r.hops[-1].validation.batches == [3] and r.hops[-1].validation.max_rel <= 1e-4


def test_a_result_that_disagrees_falls_back_to_the_next_route(tmp_path):
    """litert-torch converts the uneven nearest upsample (GhostNetV2's attention) but its TFLite is 0.07 off:
    a route whose result fails validation is a failed route, and the next one (torch → onnx → tflite, whose
    constant-size nearest Resize normalize turns into Gathers for onnx2tf) passes and is the result; the
    disagreement is named among the failed routes."""
    r = portkit.convert("tests.torch_models:UnevenUpsample", "tflite", tmp_path / "u.tflite", dynamic=False)
    assert r.passed and r.route == ["torch → onnx → tflite"], (r.route, r.failed_routes)
    assert r.failed_routes[0].startswith("torch → tflite: converted model disagrees with its source"), r.failed_routes
    assert r.hops[-1].validation.max_abs <= 1e-5


def test_a_model_no_route_carries_fails_after_few_conversions(tmp_path):
    """A model whose results disagree on every route ends with exit 1 after the routes through other
    converters (~10 s here): each route through a hop or converter whose result already disagreed is
    skipped, said so, and the last result is kept and marked as failed."""
    from ..conftest import run_cli

    ts = tmp_path / "noisy.ts.pt"
    portkit.convert("tests.torch_models:Noisy", "torchscript", ts, validate=False)
    proc = run_cli("convert", str(ts), "--to", "onnx", "-o", str(tmp_path / "noisy.onnx"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "disagrees with its source" in proc.stderr and "other routes" in proc.stderr, proc.stderr
    # the third route goes through the TorchScript → .pt2 hop whose result already disagreed
    assert "route torchscript → pt2 → tflite → onnx skipped" in proc.stdout + proc.stderr
    assert (tmp_path / "noisy.onnx").exists()


@pytest.mark.slow
@ACCEPTANCE
def test_acceptance_torchvision_cnn(tmp_path):
    sd = build("torchvision_state_dict", "mobilenet_v3_small", str(tmp_path))
    for batch in (1, 2):
        pt2 = tmp_path / f"mnv3_b{batch}.pt2"
        portkit.convert("torchvision.models:mobilenet_v3_small", "pt2", pt2, weights=sd,
                        model_args={"num_classes": 10}, input_shapes=f"{batch},3,64,64", dynamic=False)
        r = portkit.convert(pt2, "tflite", tmp_path / f"mnv3_b{batch}.tflite")
        assert r.passed and r.hops[0].tool == "litert-torch", r.failed_routes
        assert r.hops[0].validation.batches == [batch] and r.hops[0].validation.max_rel <= 1e-4


@pytest.mark.slow
@ACCEPTANCE
def test_acceptance_tiny_bert(tmp_path):
    """A fixed-shape .pt2 (ids + mask 1×32) → TFLite with litert-torch (ids become int32). The .pt2 is
    exported unvalidated: bert_tiny declares dynamic axes, which --static does not override on the eager
    side, so the eager reference would be swept at batch 2 against a fixed-shape program."""
    pt2 = tmp_path / "bert.pt2"
    portkit.convert("examples.hf_models:bert_tiny", "pt2", pt2, dynamic=False, validate=False)
    r = portkit.convert(pt2, "tflite", tmp_path / "bert.tflite")
    assert r.passed and r.hops[0].tool == "litert-torch", r.failed_routes
    assert [s.dtype for s in r.output.signature.inputs] == ["int32", "int32"]  # LiteRT: int64 ids → int32
    assert r.hops[0].validation.max_rel <= 1e-4
