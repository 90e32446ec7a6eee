"""Subclassed Keras models (no `inputs` until called) through every Keras edge, from the CLI: portkit wraps
them in a functional model shaped from --input-shape or the shapes Keras stored when the model was built."""
from __future__ import annotations

import json

import pytest

from ..conftest import run_cli

CUSTOM = ("--custom-objects", "tests.keras_subclassed")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    from portkit.workers import call_in_worker

    folder = tmp_path_factory.mktemp("subclassed")
    return {k: call_in_worker("build subclassed", "tests.keras_subclassed", "save", k, str(folder))
            for k in ("built", "unbuilt", "two")}


@pytest.mark.parametrize("to, out", [("onnx", "m.onnx"), ("savedmodel", "m_sm"), ("torchscript", "m.pt")])
def test_built_subclassed_model_converts(saved, tmp_path, to, out):
    res = run_cli("convert", saved["built"], "--to", to, "-o", str(tmp_path / out), *CUSTOM, "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    checks = [h["validation"] for h in report["hops"]] + [report["validation"]]
    assert report["passed"] and any(checks) and all(c["passed"] and c["max_abs"] < 1e-4 for c in checks if c)
    (inp,) = report["signature"]["inputs"]
    assert inp["name"] == "tokens" and inp["shape"][1:] == [10, 5] and not isinstance(inp["shape"][0], int)


def test_two_input_subclassed_model(saved, tmp_path):
    res = run_cli("convert", saved["two"], "--to", "onnx", "-o", str(tmp_path / "two.onnx"), *CUSTOM, "--json")
    assert res.returncode == 0, res.stderr
    names = [i["name"] for i in json.loads(res.stdout)["signature"]["inputs"]]
    assert names == ["inputs_0", "inputs_1"]


def test_unbuilt_subclassed_model_is_refused(saved, tmp_path):
    out = tmp_path / "u.onnx"
    res = run_cli("convert", saved["unbuilt"], "--to", "onnx", "-o", str(out), *CUSTOM)
    assert res.returncode == 2, res.stderr
    assert "saved before it was ever called" in res.stderr and "model(x)" in res.stderr
    assert "Traceback" not in res.stderr and not out.exists()


def test_input_shape_makes_more_dims_dynamic(saved, tmp_path):
    res = run_cli("convert", saved["built"], "--to", "onnx", "-o", str(tmp_path / "s.onnx"), *CUSTOM,
                  "--input-shape", "tokens=1,seq,5", "--json")
    assert res.returncode == 0, res.stderr
    shape = json.loads(res.stdout)["signature"]["inputs"][0]["shape"]
    assert not isinstance(shape[1], int) and shape[2] == 5
