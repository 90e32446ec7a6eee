"""Keras' own export (`model.export(format="onnx" | "litert")`) beside tf2onnx / TFLiteConverter: the
planner prefers it, falls back to the other tool when it fails, and `--tool` forces either."""
from __future__ import annotations

import pytest

import portkit
from portkit.errors import BadInput
from portkit.formats import Format
from portkit.graph import plan

from ..conftest import SAMPLES, run_cli

KERAS = SAMPLES / "digits_keras.keras"


def test_plan_lists_both_tools_and_tool_filters():
    tools = [r[0].tool for r in plan(Format.KERAS, Format.ONNX) if len(r) == 1]
    assert tools == ["keras export", "tf2onnx"]
    assert [r[0].tool for r in plan(Format.KERAS, Format.TFLITE) if len(r) == 1] == \
        ["TFLiteConverter", "keras export (litert)"]
    forced = plan(Format.KERAS, Format.ONNX, tool="tf2onnx")
    assert forced and all(any(e.tool == "tf2onnx" for e in r) for r in forced)
    with pytest.raises(BadInput, match="no keras → onnx route uses the tool 'nope'"):
        plan(Format.KERAS, Format.ONNX, tool="nope")


def test_keras_to_onnx_with_keras_export(tmp_path):
    r = portkit.convert(KERAS, "onnx", tmp_path / "k.onnx")
    assert r.passed and r.hops[0].tool == "keras export"
    assert r.output.signature.inputs[0].name == "x" and not isinstance(r.output.signature.inputs[0].shape[0], int)


def test_forcing_tf2onnx_still_works(tmp_path):
    res = run_cli("convert", str(KERAS), "--to", "onnx", "-o", str(tmp_path / "t.onnx"), "--tool", "tf2onnx",
                  "--json")
    assert res.returncode == 0, res.stderr
    import json

    assert [h["tool"] for h in json.loads(res.stdout)["hops"]] == ["tf2onnx"]


def test_keras_to_tflite_with_keras_export(tmp_path):
    r = portkit.convert(KERAS, "tflite", tmp_path / "k.tflite", tool="keras export (litert)")
    assert r.passed and r.hops[0].tool == "keras export (litert)" and r.route == ["keras → tflite"]
    assert r.output.record.tensors.renamed == {"outputs": {"output": "output_0"}}


@pytest.mark.slow
def test_keras_applications_model(tmp_path):
    from portkit.workers import call_in_worker

    model = call_in_worker("build keras_application", "tests.export_models", "keras_application", str(tmp_path))
    r = portkit.convert(model, "onnx", tmp_path / "mnv3.onnx")
    assert r.passed and r.hops[0].tool == "keras export", r.failed_routes
