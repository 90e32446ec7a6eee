"""torch.export `.pt2`: sniffing, inspect, the runner, torch → pt2, torchscript → pt2, pt2 → onnx.

Cheap tests use the digits sample; the acceptance (a torchvision CNN and a tiny BERT: eager → pt2 → onnx
with a dynamic batch, validated at batch 1 and 2) is opt-in: PORTKIT_ACCEPTANCE=1."""
from __future__ import annotations

import json
import os
import zipfile

import pytest

import portkit
from portkit.errors import BadInput
from portkit.formats import Format, sniff

from ..conftest import SAMPLES, build, run_cli

# the acceptance (a torchvision CNN and a tiny BERT): minutes on 2 cores, so opt-in beside `slow`
ACCEPTANCE = pytest.mark.skipif(not os.environ.get("PORTKIT_ACCEPTANCE"),
                                reason="torchvision CNN + tiny BERT acceptance: set PORTKIT_ACCEPTANCE=1")

DIGITS = "samples.digits_torch:build"


def test_sniff_pt2_by_its_members(tmp_path):
    p = tmp_path / "model.bin"  # extension means nothing
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("model/archive_format", "pt2")
        z.writestr("model/models/model.json", "{}")
    assert sniff(p) is Format.PT2
    assert Format.parse("pt2") is Format.PT2 and Format.parse("exported_program") is Format.PT2


def test_aoti_package_is_named(tmp_path):
    p = tmp_path / "compiled.pt2"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("model/archive_format", "pt2")
        z.writestr("model/data/aotinductor/model/model.so", b"\0")
    with pytest.raises(BadInput, match="AOTInductor"):
        sniff(p)


def test_broken_pt2_is_one_line_exit_2(tmp_path):
    p = tmp_path / "broken.pt2"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("broken/archive_format", "pt2")
        z.writestr("broken/models/model.json", "{not json")
    res = run_cli("inspect", str(p))
    assert res.returncode == 2, res.stderr
    assert ".pt2 archive does not load" in res.stderr and "Traceback" not in res.stderr


@pytest.fixture(scope="module")
def digits_pt2(tmp_path_factory):
    out = tmp_path_factory.mktemp("pt2") / "digits.pt2"
    r = portkit.convert(DIGITS, "pt2", out, weights=str(SAMPLES / "digits_cnn.pt"))
    return out, r


def test_torch_to_pt2_dynamic_batch(digits_pt2):
    out, r = digits_pt2
    assert r.passed and r.route == ["torch → pt2"] and r.hops[0].tool == "torch.export"
    assert sorted(set(r.hops[0].validation.batches)) == [1, 2]
    assert sniff(out) is Format.PT2
    info = portkit.inspect(out)
    assert info.format is Format.PT2 and info.details["runtime"] == "torch.export"
    assert info.signature.inputs[0].shape == ("batch", 1, 8, 8)
    assert info.signature.outputs[0].shape[1:] == (10,)


def test_pt2_to_onnx_keeps_the_batch_name(digits_pt2, tmp_path):
    out, _ = digits_pt2
    r = portkit.convert(out, "onnx", tmp_path / "digits.onnx")
    assert r.passed and r.route == ["pt2 → onnx"]
    assert sorted(set(r.hops[0].validation.batches)) == [1, 2]
    import onnx

    m = onnx.load(str(tmp_path / "digits.onnx"))
    assert m.graph.input[0].name == "x" and m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_torchscript_to_pt2(digits_ts, tmp_path):
    r = portkit.convert(digits_ts, "pt2", tmp_path / "from_ts.pt2")
    assert r.passed and r.route == ["torchscript → pt2"]
    assert r.output.record.converted_from == "torchscript"


def test_torchscript_whose_shapes_depend_on_height_and_width(tmp_path):
    """torch's TS2EPConverter re-traces with every axis dynamic and fails on alexnet-like stems; portkit's
    bridge keeps only the batch dynamic, so the TorchScript → ONNX fallback through pt2 works too."""
    ts = build("pooled_torchscript", str(tmp_path / "pooled.ts.pt"))
    r = portkit.convert(ts, "pt2", tmp_path / "pooled.pt2", input_shapes=[1, 3, 64, 64])
    assert r.passed and r.route == ["torchscript → pt2"]
    assert not isinstance(r.output.signature.inputs[0].shape[0], int)  # the batch stays dynamic


def test_routes_list_the_new_edges():
    res = run_cli("routes", "--json")
    assert res.returncode == 0, res.stderr
    names = {e["edge"] for e in json.loads(res.stdout)}
    for edge in ("torch→pt2", "torchscript→pt2", "pt2→onnx", "pt2→tflite", "torch→tflite", "pt2→executorch",
                 "torch→executorch"):
        assert edge in names, names


@pytest.mark.slow
@ACCEPTANCE
def test_acceptance_torchvision_cnn(tmp_path):
    sd = build("torchvision_state_dict", "mobilenet_v3_small", str(tmp_path))
    pt2 = tmp_path / "mnv3.pt2"
    r = portkit.convert("torchvision.models:mobilenet_v3_small", "pt2", pt2, weights=sd,
                        model_args={"num_classes": 10}, input_shapes="1,3,64,64")
    assert r.passed and sorted(set(r.hops[0].validation.batches)) == [1, 2]
    r = portkit.convert(pt2, "onnx", tmp_path / "mnv3.onnx")
    assert r.passed and sorted(set(r.hops[0].validation.batches)) == [1, 2]
    assert r.hops[0].validation.max_rel <= 1e-4


@pytest.mark.slow
@ACCEPTANCE
def test_acceptance_tiny_bert(tmp_path):
    pt2 = tmp_path / "bert.pt2"
    r = portkit.convert("examples.hf_models:bert_tiny", "pt2", pt2)
    assert r.passed and sorted(set(r.hops[0].validation.batches)) == [1, 2]
    info = portkit.inspect(pt2)
    assert [s.dtype for s in info.signature.inputs] == ["int64", "int64"]
    r = portkit.convert(pt2, "onnx", tmp_path / "bert.onnx")
    assert r.passed and sorted(set(r.hops[0].validation.batches)) == [1, 2]
