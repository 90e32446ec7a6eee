"""--locate: the first diverging node of two ONNX models, found with bounded memory."""
from __future__ import annotations

from pathlib import Path

import pytest

from portkit import api
from portkit.artifact import Artifact
from portkit.formats import Format
from portkit.locate import locate_divergence
from tests import validation_models as vm
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    d = tmp_path_factory.mktemp("chain")
    return vm.mlp_chain(d / "ref.onnx", depth=8), vm.mlp_chain(d / "bad.onnx", perturb="w4", depth=8)


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_locate_names_the_perturbed_node(chain, chunk) -> None:
    ref, bad = chain
    rep = locate_divergence(Artifact(ref, Format.ONNX), Artifact(bad, Format.ONNX), chunk=chunk)
    first = rep["first_divergence"]
    assert first["node"] == "fc4" and first["op_type"] == "MatMul"
    assert first["differing_initializers"][0]["initializer"] == "w4"
    assert rep["last_match"]["node"] == "relu3"
    assert rep["compared"] == 9  # fc0..relu3 (8 tensors) match, then fc4


def test_validate_locate_through_api_and_cli(chain) -> None:
    ref, bad = chain
    res = api.validate(ref, bad, locate=True)
    assert not res.passed and res.locate["first_divergence"]["node"] == "fc4"
    assert "first diverging node: 'fc4'" in res.summary()
    assert api.validate(ref, ref, locate=True).locate is None  # only searched on failure
    r = run_cli("validate", ref, bad, "--locate")
    assert r.returncode == 1
    assert "first diverging node 'fc4' (MatMul)" in r.stdout and "weight 'w4'" in r.stdout


def test_locate_identical_models_finds_nothing(chain) -> None:
    ref, _ = chain
    rep = locate_divergence(Artifact(ref, Format.ONNX), Artifact(ref, Format.ONNX))
    assert rep["supported"] and rep["first_divergence"] is None and rep["compared"] == 17


def test_locate_unreadable_formats_say_so(chain) -> None:
    ref, _ = chain
    rep = locate_divergence(Artifact(ref, Format.ONNX), Artifact("m.pte", Format.EXECUTORCH))
    assert rep["supported"] is False and "cannot read the intermediate tensors" in rep["reason"]


def test_reduce_writes_a_smaller_onnx_and_a_repro_that_exits_1(chain, tmp_path) -> None:
    ref, bad = chain
    out = tmp_path / "repro"
    r = run_cli("validate", ref, bad, "--reduce", str(out), "--json")
    assert r.returncode == 1, r.stderr
    import json

    red = json.loads(r.stdout)["locate"]["reduce"]
    assert red["written"] and red["reproduces"] and red["nodes"] < red["original_nodes"]
    assert (out / "subgraph.onnx").stat().st_size < Path(ref).stat().st_size
    cmd = (out / "repro.sh").read_text().splitlines()[-1].split()
    assert cmd[:2] == ["portkit", "validate"]
    rerun = run_cli(*cmd[1:])
    assert rerun.returncode == 1, rerun.stdout + rerun.stderr
