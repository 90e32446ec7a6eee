"""`convert --bundle` writes inputs + source outputs; `portkit verify` re-checks the artifact later."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from portkit import api
from portkit.artifact import Artifact
from portkit.bundle import bundle_dir, read_bundle, write_bundle
from portkit.errors import BadInput
from portkit.formats import Format
from portkit.options import ValidateOptions
from tests import validation_models as vm
from tests.conftest import SAMPLES, run_cli


def test_write_and_verify_bundle(tmp_path) -> None:
    a, b = vm.two_heads(tmp_path / "a.onnx"), vm.two_heads(tmp_path / "b.onnx")
    d = write_bundle(Artifact(a, Format.ONNX), Artifact(b, Format.ONNX), ValidateOptions(batches=(1, 3)))
    assert d == bundle_dir(b) and d.name == "b.onnx.bundle"
    manifest, inputs, outputs = read_bundle(d)
    assert manifest["schema"] == "portkit.bundle/1" and manifest["artifact"] == "b.onnx"
    assert [c["label"] for c in manifest["cases"]] == ["batch 1", "batch 3"]
    assert inputs[1]["x"].shape == (3, 8) and set(outputs[0]) == {"head_a", "head_b"}
    res = api.verify(b)
    assert res.passed and res.cases == ["batch 1", "batch 3"] and not res.warnings
    # the bundle's inputs work as --inputs for validate too
    assert api.validate(a, b, inputs=str(d / "inputs.npz")).passed
    # the artifact is replaced by a nudged one: verify fails, names the output, notes the change
    vm.two_heads(b, nudge_b=1e-3)
    res = api.verify(b)
    assert not res.passed and res.failing_outputs() == ["head_b"]
    assert any("sha256" in w for w in res.warnings)
    r = run_cli("verify", b, "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["failing_outputs"] == ["head_b"]


def test_verify_without_bundle_is_a_clear_error(tmp_path) -> None:
    a = vm.two_heads(tmp_path / "a.onnx")
    with pytest.raises(BadInput, match="no validation bundle"):
        api.verify(a)
    r = run_cli("verify", a)
    assert r.returncode == 2 and "--bundle" in r.stderr


def test_convert_bundle_and_eval_data(tmp_path, digits_ts) -> None:
    """TorchScript → ONNX with --bundle and --eval-data; verify then needs only onnxruntime."""
    from samples.data import digits

    x, y = digits("test")
    np.savez(tmp_path / "eval.npz", x=x[:64], labels=y[:64])
    out = tmp_path / "digits.onnx"
    r = run_cli("convert", str(digits_ts), "--to", "onnx", "-o", str(out), "--bundle",
                "--eval-data", str(tmp_path / "eval.npz"), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    acc = data["accuracy"]
    assert acc["samples"] == 64 and acc["source_accuracy"] > 0.9
    assert acc["delta"] == pytest.approx(0.0, abs=1e-9) and acc["passed"]
    assert Path(data["bundle"]) == bundle_dir(out)
    # verify runs in a process where torch cannot be imported: only onnxruntime is needed
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "torch.py").write_text("raise ImportError('torch is not installed here')\n")
    r = run_cli("verify", str(out), env={"PYTHONPATH": f"{blocker}:{SAMPLES.parent}"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASSED" in r.stdout
