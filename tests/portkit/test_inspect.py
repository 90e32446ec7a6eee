"""`portkit inspect`: format, inputs/outputs with dynamic dims, size, opset/producer."""
from __future__ import annotations

import json

import portkit

from ..conftest import ROOT, run_cli


def test_inspect_onnx_json(digits_onnx):
    proc = run_cli("inspect", str(digits_onnx), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["format"] == "onnx" and info["size_bytes"] > 0
    assert info["inputs"][0]["name"] == "x" and info["inputs"][0]["shape"] == ["batch", 1, 8, 8]
    assert info["outputs"][0]["shape"] == ["batch", 10]
    assert info["details"]["opset"] >= 17 and "pytorch" in info["details"]["producer"]


def test_inspect_torchscript_reads_stored_signature():
    info = portkit.inspect(ROOT / "samples" / "digits_cnn.ts.pt")
    assert info.format.value == "torchscript"
    assert info.signature.inputs[0].shape == ("batch", 1, 8, 8)


def test_inspect_reference_with_weights():
    info = portkit.inspect("samples.digits_torch:build", weights=str(ROOT / "samples" / "digits_cnn.pt"))
    assert info.format.value == "torch" and info.signature.outputs[0].shape == ("batch", 10)


def test_inspect_table_output(digits_onnx):
    proc = run_cli("inspect", str(digits_onnx))
    assert proc.returncode == 0 and "[batch, 1, 8, 8]" in proc.stdout
