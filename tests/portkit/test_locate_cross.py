"""--locate across formats: a fault injected in one layer of a converted artifact (portkit.locate.inject,
the tool benchmarks/bench_locate.py uses too) is named by the reference's layer — ONNX node, module path
or Keras layer — for ONNX ↔ TFLite, PyTorch eager / .pt2 ↔ ONNX, ONNX ↔ TorchScript and Keras ↔ TFLite.
The models are the trained digits samples (tests/catalogue.py), so every layer's output depends on its input."""
from __future__ import annotations

import pytest

from portkit.artifact import Artifact
from portkit.formats import Format
from portkit.hops import run_hop
from portkit.locate import locate_divergence
from portkit.locate.inject import onnx_node_of_module, onnx_node_of_weight
from portkit.options import ConvertOptions, ValidateOptions
from portkit.workers import WorkerPool
from tests.catalogue import Catalogue, edge
from tests.conftest import run_cli

pytestmark = pytest.mark.slow
VOPTS = ValidateOptions(batches=(2,))


@pytest.fixture(scope="module")
def pool():
    with WorkerPool() as p:
        yield p


@pytest.fixture(scope="module")
def cat(tmp_path_factory, pool):
    return Catalogue(tmp_path_factory.mktemp("locate"), pool)


def _inject(pool, family, src, out, fault="weight", k=1):
    return pool.get(family).call("portkit.locate.inject", "inject", str(src), str(out), fault, k)


def _first(ref, cand, pool):
    rep = locate_divergence(ref, cand, VOPTS, pool=pool)
    assert rep["supported"], rep
    return rep, rep["first_divergence"]


def test_onnx_vs_tflite_names_the_onnx_conv(cat, pool, tmp_path):
    onnx_art = cat.get(Format.ONNX)
    tfl = run_hop(edge("onnx_to_tflite", Format.ONNX), onnx_art, tmp_path / "m.tflite", ConvertOptions(), pool)
    info = _inject(pool, "tf", tfl.location, tmp_path / "bad.tflite", "weight", 1)
    want = onnx_node_of_weight(onnx_art.location, info["original"])
    assert want
    rep, first = _first(onnx_art, Artifact(str(tmp_path / "bad.tflite"), Format.TFLITE), pool)
    assert first["node"] == want and first["op_type"] == "Conv"
    assert all(i["status"] == "match" for i in first["inputs"])  # this op, not an earlier drift
    assert rep["matched"] >= 1 and "tensors" in rep
    clean, _ = _first(onnx_art, tfl, pool)
    assert clean["first_divergence"] is None and clean["matched"] >= 1  # fused-away tensors are no divergence
    # the CLI: exit 1, the node named, and an HTML report with the depth plot
    html = tmp_path / "r.html"
    r = run_cli("validate", onnx_art.location, str(tmp_path / "bad.tflite"), "--locate", "--report", str(html))
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"first diverging node '{want}' (Conv)" in r.stdout
    assert "Error along depth" in html.read_text()


def test_torch_eager_vs_onnx_names_the_module(cat, pool, tmp_path):
    onnx_art = cat.get(Format.ONNX)
    info = _inject(pool, "torch", onnx_art.location, tmp_path / "bad.onnx", "weight", 1)
    rep, first = _first(cat.get(Format.TORCH), Artifact(str(tmp_path / "bad.onnx"), Format.ONNX), pool)
    assert first["node"] == info["layer"]
    assert rep["graph_side"] == "candidate"  # the ONNX's names, the module path from its weights
    if not info["weight"].startswith("onnx::"):
        assert first["module"] == info["weight"].rsplit(".", 1)[0]
    # a .pt2 of the same model, run node by node, finds the same ONNX node
    _, first = _first(cat.get(Format.PT2), Artifact(str(tmp_path / "bad.onnx"), Format.ONNX), pool)
    assert first["node"] == info["layer"]


def test_onnx_vs_torchscript(cat, pool, tmp_path):
    onnx_art = cat.get(Format.ONNX)
    ts = run_hop(edge("onnx_to_torchscript", Format.ONNX), onnx_art, tmp_path / "m.pt", ConvertOptions(), pool)
    info = _inject(pool, "torch", ts.location, tmp_path / "bad.pt", "weight", 1)
    want = onnx_node_of_weight(onnx_art.location, info["original"])
    _, first = _first(onnx_art, Artifact(str(tmp_path / "bad.pt"), Format.TORCHSCRIPT), pool)
    assert want and first["node"] == want
    # an attribute (a convolution's dilation) changed in the module onnx2torch named after its ONNX node
    info = _inject(pool, "torch", ts.location, tmp_path / "bad_attr.pt", "attribute", 1)
    _, first = _first(onnx_art, Artifact(str(tmp_path / "bad_attr.pt"), Format.TORCHSCRIPT), pool)
    assert info["op"] == "convolution" and first["node"] == onnx_node_of_module(onnx_art.location, info["layer"])


def test_keras_vs_tflite_names_the_layer(cat, pool, tmp_path):
    tfl = cat.get(Format.TFLITE)
    info = _inject(pool, "tf", cat.get(Format.KERAS).location, tmp_path / "bad.keras", "weight", 1)
    _, first = _first(Artifact(str(tmp_path / "bad.keras"), Format.KERAS), tfl, pool)
    assert first["node"] == info["layer"]
