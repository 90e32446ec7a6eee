"""The PyTorch ⇄ ONNX edges on the digits sample: every edge converts and validates for real."""
from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

import portkit
from portkit.formats import Format, sniff

from ..conftest import SAMPLES


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("torch_edges")


def _check(result, fmt: Format, batches=(1, 2)):
    assert result.passed, result.validation or result.hops[-1].validation
    assert sniff(result.output.location) is fmt
    for hop in result.hops:
        assert hop.validation is not None and hop.validation.passed
        assert sorted(set(hop.validation.batches)) == list(batches)
        assert hop.validation.max_rel <= 1e-4


def test_torch_to_onnx_dynamo(out, digits_ref, digits_weights):
    r = portkit.convert(digits_ref, "onnx", out / "eager.onnx", weights=str(digits_weights))
    _check(r, Format.ONNX)
    assert r.route == ["torch → onnx"]
    sess = ort.InferenceSession(str(out / "eager.onnx"))
    assert sess.get_inputs()[0].shape[0] == "batch"  # dynamic batch by default
    y = sess.run(None, {"x": np.zeros((5, 1, 8, 8), np.float32)})[0]
    assert y.shape == (5, 10)


def test_torch_to_onnx_static(out, digits_ref, digits_weights):
    r = portkit.convert(digits_ref, "onnx", out / "static.onnx", weights=str(digits_weights), dynamic=False,
                        input_shapes="3,1,8,8")
    _check(r, Format.ONNX, batches=(3,))
    sess = ort.InferenceSession(str(out / "static.onnx"))
    assert sess.get_inputs()[0].shape == [3, 1, 8, 8]


def test_torch_to_torchscript(out, digits_ref, digits_weights):
    r = portkit.convert(digits_ref, "torchscript", out / "eager.ts.pt", weights=str(digits_weights))
    _check(r, Format.TORCHSCRIPT)


def test_torchscript_to_onnx_legacy(out, digits_ts):
    r = portkit.convert(str(digits_ts), "onnx", out / "from_ts.onnx", opset=17)
    _check(r, Format.ONNX)
    assert r.output.record.opset == 17
    assert "legacy" in r.hops[0].tool


def test_onnx_to_torchscript(out, digits_ref, digits_weights):
    src = out / "for_o2t.onnx"
    portkit.convert(digits_ref, "onnx", src, weights=str(digits_weights))  # opset 18+: normalised to 17
    r = portkit.convert(str(src), "torchscript", out / "o2t.ts.pt")
    _check(r, Format.TORCHSCRIPT)
    notes = r.output.record.normalised
    assert any("opset" in n for n in notes)


def test_via_forces_route(out, digits_ref, digits_weights):
    r = portkit.convert(digits_ref, "onnx", out / "via.onnx", weights=str(digits_weights), via="torchscript")
    assert r.route == ["torch → torchscript → onnx"]
    _check(r, Format.ONNX)
    assert r.validation is not None and r.validation.passed  # end to end, besides each hop
    assert (out / "via.pt").exists()  # the intermediate is kept


def test_clean_removes_intermediates(out, digits_ref, digits_weights):
    d = out / "clean"
    r = portkit.convert(digits_ref, "onnx", d / "m.onnx", weights=str(digits_weights), via="torchscript",
                        clean=True)
    assert r.passed and (d / "m.onnx").exists() and not (d / "m.pt").exists()


def test_sidecar_records_route_and_validation(out, digits_ts):
    r = portkit.convert(str(digits_ts), "onnx", out / "side.onnx")
    meta = json.loads((out / "side.onnx.portkit.json").read_text())
    assert meta["metadata"]["route"] == r.route and meta["metadata"]["validation"] == "passed"


def test_no_validate_skips(out, digits_ts):
    r = portkit.convert(str(digits_ts), "onnx", out / "noval.onnx", validate=False)
    assert r.hops[0].validation is None and not r.validated


def test_sample_accuracy_preserved(out, digits_ts):
    """The converted sample classifies the held-out digits exactly like the source."""
    r = portkit.convert(str(digits_ts), "onnx", out / "acc.onnx", inputs=str(SAMPLES / "digits_calib.npz"))
    assert r.passed and r.hops[0].validation.input_source.endswith("digits_calib.npz")
    assert r.hops[0].validation.outputs[0].argmax_agreement == 1.0


def test_traced_attention_goes_on_to_onnx(out):
    # portkit traces attention without the fused fast path (`aten::_native_multi_head_attention`), so its
    # TorchScript exports to ONNX with the TorchScript exporter itself, no fallback
    ts = out / "attention.ts.pt"
    r = portkit.convert("tests.models:attention_encoder", "torchscript", ts, input_shapes="2,6,16")
    assert r.passed, r.hops[-1].validation
    r = portkit.convert(str(ts), "onnx", out / "attention.onnx")
    assert r.passed, r.hops[-1].validation
    assert r.route == ["torchscript → onnx"] and "legacy" in r.hops[0].tool


def test_user_traced_fused_attention_exports_decomposed(out):
    """Issue 28: a user's own trace in eval mode holds `aten::_native_multi_head_attention` (no exporter has
    it); the TorchScript exporter gets it written out as plain attention and the result validates."""
    from portkit.workers import call_in_worker

    ts = call_in_worker("trace fused attention", "tests.models", "fused_attention_torchscript",
                        str(out / "fused.ts.pt"))
    r = portkit.convert(ts, "onnx", out / "fused.onnx", input_shapes="1,5,16")
    assert r.passed, r.hops[-1].validation
    assert r.route == ["torchscript → onnx"] and "legacy" in r.hops[0].tool


def test_global_pool_of_a_channels_last_tensor_is_a_mean(out):
    # PyTorch decomposes adaptive_avg_pool2d(x, 1) of a channels-last tensor into mean + as_strided, which the
    # exporter wrote as Range/Gather over the flattened tensor (onnx2tf failed on ConvNeXt/Swin there)
    import onnx

    r = portkit.convert("tests.models:channels_last_pool_head", "onnx", out / "pool_head.onnx")
    assert r.passed, r.hops[-1].validation
    ops = {n.op_type for n in onnx.load(str(out / "pool_head.onnx")).graph.node}
    assert not ops & {"Range", "Gather", "GatherND"} and "ReduceMean" in ops, ops
    sess = ort.InferenceSession(str(out / "pool_head.onnx"))
    assert sess.get_inputs()[0].shape[0] == "batch"
    assert sess.run(None, {"x": np.zeros((3, 3, 8, 8), np.float32)})[0].shape == (3, 4)


def test_adaptive_pool_to_other_sizes_is_means(out):
    # adaptive pools to sizes other than 1 (fixed H and W) become means over PyTorch's bins; its own
    # decomposition gathers and selects (VGG's 7×7 pool of a small image failed TFLite legalisation)
    import onnx

    r = portkit.convert("tests.models:upsampling_pool_head", "onnx", out / "up_pool.onnx")
    assert r.passed, r.hops[-1].validation
    assert r.hops[0].validation.max_abs < 1e-5
    ops = {n.op_type for n in onnx.load(str(out / "up_pool.onnx")).graph.node}
    assert not ops & {"Range", "Gather", "GatherND", "GatherElements", "Where"} and "ReduceMean" in ops, ops
