"""A matrix row of a failing route shows the end-to-end errors, not its last hop's: a failed
ValidationResult is falsy, so `validation or hops[-1].validation` used to fall through to the hop."""
from __future__ import annotations

from portkit import api
from portkit.artifact import Artifact
from portkit.conversion import ConversionResult
from portkit.formats import Format
from portkit.hops import HopResult
from portkit.matrix import MatrixRow, _fill
from tests import validation_models as vm


def test_failing_route_row_shows_end_to_end_errors(tmp_path) -> None:
    ref = vm.mlp_chain(tmp_path / "ref.onnx", depth=3)
    mid = vm.mlp_chain(tmp_path / "mid.onnx", depth=3)
    bad = vm.mlp_chain(tmp_path / "bad.onnx", depth=3, perturb="w1", scale=0.5)
    hop_ok = api.validate(mid, mid)  # the last hop alone agrees with its input
    end_to_end = api.validate(ref, bad)
    assert hop_ok.passed and not end_to_end.passed
    res = ConversionResult(Artifact(ref, Format.ONNX), Artifact(bad, Format.ONNX), ["onnx → onnx → onnx"],
                           [HopResult("a", "t", mid, 0.1, hop_ok), HopResult("b", "t", bad, 0.1, hop_ok)],
                           end_to_end)
    row = MatrixRow("onnx")
    _fill(row, res)
    assert row.status == "FAILED" and row.max_abs == end_to_end.max_abs > hop_ok.max_abs
