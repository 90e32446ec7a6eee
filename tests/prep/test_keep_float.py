"""int8 that keeps its accuracy: per-layer sensitivity (portkit.quantsense) and --keep-float (names or auto)
on a model with one outlier-sensitive layer (samples/sensitive.py), as users run it and through the API."""
from __future__ import annotations

import json

import onnx
import pytest

import portkit
from portkit.errors import BadInput, ValidationFailed
from portkit.quantsense import default_limit, keep_float_sets

from ..conftest import run_cli


@pytest.fixture(scope="module")
def sensitive(tmp_path_factory):
    from samples.sensitive import write

    return write(tmp_path_factory.mktemp("sensitive"))


def _float_layers(path) -> set[str]:
    """Gemm nodes whose weights stay float (an int8 layer reads its weight through DequantizeLinear)."""
    g = onnx.load(str(path)).graph
    return {n.name for n in g.node if n.op_type == "Gemm" and n.input[1].endswith(".weight")}


def _quantized_tensors(path) -> set[str]:
    return {n.input[0] for n in onnx.load(str(path)).graph.node if n.op_type == "QuantizeLinear"}


def test_plain_int8_fails_the_gate_and_auto_keeps_two_layers_float(sensitive, tmp_path):
    model, calib, evaluation = sensitive
    args = ["convert", str(model), "--to", "onnx", "--quantize", "int8", "--calibration", str(calib),
            "--min-agreement", "0.98"]
    # the labelled-accuracy gate fails on the same run (the eval labels are the float model's classes)
    plain = run_cli(*args, "--eval-data", str(evaluation), "--max-drop", "0.02", "-o", str(tmp_path / "plain.onnx"))
    assert plain.returncode == 1, plain.stderr
    assert "--max-drop 0.02: top-1 accuracy on sensitive_eval.npz fell from 1.0000" in plain.stderr
    assert "min_agreement 0.98 failed" in plain.stderr

    out = tmp_path / "auto.onnx"
    auto = run_cli(*args, "--keep-float", "auto", "-o", str(out))
    assert auto.returncode == 0, auto.stderr
    assert "kept in float: fc4, fc5" in auto.stdout
    assert "SQNR dB" in auto.stderr  # the per-layer table
    assert _float_layers(out) == {"fc4", "fc5"} and "fc4_out" not in _quantized_tensors(out)
    kept = json.loads(out.with_name(out.name + ".portkit.json").read_text())["metadata"]["keep_float"]
    assert kept["layers"] == ["fc4", "fc5"] and kept["quantized_layers"] == 10
    assert kept["sensitivity"][0]["layer"] in ("fc4", "fc5")  # the outlier tensor ranks worst
    assert kept["tries"][0]["agreement"] < 0.98 <= kept["tries"][-1]["agreement"]
    assert set(kept["compare"]) == {"float", "int8", "result"}
    assert kept["compare"]["int8"]["bytes"] < kept["compare"]["result"]["bytes"] < kept["compare"]["float"]["bytes"]


def test_keep_float_by_name_through_the_api(sensitive, tmp_path):
    model, calib, _ = sensitive
    out = tmp_path / "named.onnx"
    res = portkit.convert(model, "onnx", out, quantize="int8", calibration=str(calib), keep_float="fc4,fc5",
                          gates={"min_agreement": 0.98})
    assert res.passed and _float_layers(out) == {"fc4", "fc5"}
    assert res.output.record.keep_float["layers"] == ["fc4", "fc5"]
    assert res.output.record.quantization["keep_float"] == ["fc4", "fc5"]


def test_a_gate_out_of_reach_writes_nothing(sensitive, tmp_path):
    model, calib, _ = sensitive
    out = tmp_path / "never.onnx"
    with pytest.raises(ValidationFailed, match="not met with up to 1 of 10 layers"):
        portkit.convert(model, "onnx", out, quantize="int8", calibration=str(calib), keep_float="auto",
                        keep_float_max=1, gates={"min_agreement": 0.98})
    assert not out.exists() and not list(tmp_path.iterdir())


def test_bad_keep_float_input(sensitive, tmp_path):
    model, calib, _ = sensitive
    out = tmp_path / "bad.onnx"
    r = run_cli("convert", str(model), "--to", "onnx", "--quantize", "int8", "--calibration", str(calib),
                "--keep-float", "fc4,nope", "-o", str(out))
    assert r.returncode == 2 and "no layer named 'nope'" in r.stderr and "fc0" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()
    with pytest.raises(BadInput, match="needs --quantize int8"):
        portkit.convert(model, "onnx", out, quantize="dynamic", keep_float="auto")
    with pytest.raises(BadInput, match="needs --quantize int8"):
        portkit.convert(model, "onnx", out, keep_float="fc4")
    with pytest.raises(BadInput, match="limits --keep-float auto"):
        portkit.convert(model, "onnx", out, quantize="int8", calibration=str(calib), keep_float_max=2)
    with pytest.raises(BadInput, match="'auto' or layer names"):
        portkit.convert(model, "onnx", out, quantize="int8", calibration=str(calib), keep_float="auto,fc4")
    with pytest.raises(BadInput, match="--max-drop needs labelled data"):
        portkit.convert(model, "onnx", out, quantize="int8", calibration=str(calib), keep_float="auto",
                        max_drop=0.01)
    with pytest.raises(BadInput, match=r"--max-drop 2: must be ≤ 1"):
        portkit.convert(model, "onnx", out, quantize="int8", calibration=str(calib), max_drop=2)
    assert not out.exists()


def test_keep_float_sets_grow_one_tensor_at_a_time():
    tensors = [{"tensor": "a", "layers": ["l4", "l5"]}, {"tensor": "b", "layers": ["l5", "l6"]},
               {"tensor": "c", "layers": ["l1", "l2", "l3"]}, {"tensor": "d", "layers": ["l9"]}]
    assert keep_float_sets(tensors, 4) == [["l4", "l5"], ["l4", "l5", "l6"], ["l4", "l5", "l6", "l9"]]
    assert keep_float_sets(tensors, 1) == [["l9"]]
    assert default_limit(10) == 2 and default_limit(57) == 6


def test_recipe_quantize_block_records_the_kept_layers(sensitive, tmp_path):
    """The recipe's quantize block, with two gates the search must meet: min_agreement and max_drop (top-1
    accuracy on the labelled eval data at most 0.02 below the float model's)."""
    model, calib, evaluation = sensitive
    recipe = tmp_path / "int8.yaml"
    recipe.write_text(f"""version: 1
models:
  - name: sensitive
    source: {model}
    validate: {{enabled: true, eval_data: {evaluation}}}
    targets:
      - to: onnx
        quantize: {{mode: int8, keep_float: auto, max_drop: 0.02, calibration: {calib}}}
        gates: {{min_agreement: 0.98}}
""")
    res = portkit.run(recipe, out=tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    (target,) = manifest["models"][0]["artifacts"]
    assert res.passed, target.get("error")
    kept = target["metadata"]["keep_float"]
    assert kept["layers"] == ["fc4", "fc5"] and "max_drop 0.02" in kept["gate"]
    assert kept["tries"][0]["drop"] > 0.02 >= kept["tries"][-1]["drop"]
    assert target["conversion"]["accuracy"]["max_drop"] == 0.02 and target["conversion"]["accuracy"]["passed"]
    from portkit.recipes.loading import parse_recipe

    with pytest.raises(BadInput, match="quantize takes mode"):
        parse_recipe({"version": 1, "models": [{"name": "m", "source": str(model), "targets": [
            {"to": "onnx", "quantize": {"keep_float": "auto"}}]}]}, check_files=False)


@pytest.mark.slow
def test_tflite_keep_float_auto(sensitive, tmp_path):
    """LiteRT: the quantization debugger ranks the ops, the outlier's two FullyConnected ops stay float
    (and the Reshape between them, not counted), judged on the 64 calibration samples."""
    model, calib, _ = sensitive
    out = tmp_path / "auto.tflite"
    res = portkit.convert(model, "tflite", out, quantize="int8", calibration=str(calib), keep_float="auto",
                          gates={"min_agreement": 0.98})
    kept = res.output.record.keep_float
    assert len(kept["layers"]) == 2 and all("matmul_4" in n or "matmul_5" in n for n in kept["layers"])
    assert kept["tries"][0]["agreement"] < 0.98 <= kept["tries"][-1]["agreement"]
    assert res.hops[-1].validation.input_source == str(calib)  # judged on the data, not one random row


@pytest.mark.slow
def test_executorch_keep_float_auto(sensitive, tmp_path):
    """ExecuTorch (XNNPACK quantizer, PT2E): the converted graph ranks its quantized tensors and the outlier's
    two Linear nodes stay float, judged on the 64 calibration samples. From the eager module
    (samples.sensitive:torch_model), one hop: the two tries are the cost. It is the default suite's ExecuTorch
    int8 check (the digits CNN's int8 test is opt-in, PORTKIT_ACCEPTANCE=1, and test_executorch.py converts
    the digits CNN once for two tests), so the suite's ExecuTorch time does not grow."""
    _, calib, _ = sensitive
    out = tmp_path / "auto.pte"
    res = portkit.convert("samples.sensitive:torch_model", "executorch", out, quantize="int8",
                          calibration=str(calib), keep_float="auto", gates={"min_agreement": 0.98})
    assert res.passed and res.output.record.quantized == "int8"
    assert res.hops[-1].validation.criteria == "quantized:int8"
    kept = res.output.record.keep_float
    assert kept["layers"] == ["linear_4", "linear_5"] and kept["quantized_layers"] == 10
    assert [t["float_layers"] for t in kept["tries"]] == [[], ["linear_4", "linear_5"]]
    assert kept["tries"][0]["agreement"] < 0.98 <= kept["tries"][-1]["agreement"]
    assert kept["sensitivity"][0]["layer"] in ("linear_4", "linear_5")  # the outlier tensor ranks worst
    assert res.hops[-1].validation.input_source == str(calib)
    assert kept["compare"]["int8"]["bytes"] < kept["compare"]["result"]["bytes"] == out.stat().st_size
    assert "float" not in kept["compare"]  # an eager source has no file to weigh
