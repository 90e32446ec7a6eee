"""The conversion graph: one table of edges, a planner, fallbacks, and a test for every edge."""
from __future__ import annotations

from pathlib import Path

import pytest

from portkit.errors import BadInput
from portkit.formats import Format
from portkit.graph import edges, plan, route_text


def test_every_edge_module_declares_the_contract():
    for e in edges():
        mod = e.module
        assert callable(mod.convert) and mod.TARGET is e.target and e.cost > 0
        assert isinstance(mod.REQUIRES, tuple)
        assert len(Path(mod.__file__).read_text().splitlines()) < 300, f"{e.name} is too long"


def test_plan_prefers_the_cheapest_route():
    routes = plan(Format.TORCH, Format.ONNX)
    assert route_text(routes[0]) == "torch → onnx"
    assert any(route_text(r) == "torch → torchscript → onnx" for r in routes)  # the fallback


def test_plan_via():
    routes = plan(Format.TORCH, Format.ONNX, via=Format.TORCHSCRIPT)
    assert all(any(e.target is Format.TORCHSCRIPT for e in r) for r in routes)


def test_no_route():
    with pytest.raises(BadInput, match="no route"):
        plan(Format.ONNX, Format.TORCH)  # nothing produces an eager module


def test_fallback_to_next_route(tmp_path, monkeypatch):
    """When the first route's hop fails, the planner tries the next one and says so."""
    import portkit
    from portkit import conversion
    from portkit.errors import ConversionFailed

    real = conversion.run_hop

    def flaky(edge, src, final, opts, pool=None):
        if edge.name == "torch_to_onnx":
            raise ConversionFailed("torch→onnx failed: simulated exporter bug")
        return real(edge, src, final, opts, pool)

    monkeypatch.setattr(conversion, "run_hop", flaky)
    messages: list[str] = []
    r = portkit.convert("samples.digits_torch:build", "onnx", tmp_path / "fb.onnx",
                        weights="samples/digits_cnn.pt", log=messages.append)
    assert r.passed and r.route == ["torch → torchscript → onnx"]
    assert r.failed_routes and "simulated exporter bug" in r.failed_routes[0]
    assert any("trying torch → torchscript → onnx" in m for m in messages)


def test_failed_routes_named_once_and_the_hint_suggests_no_failed_route():
    """Issue 28: the fallback list repeated routes ("onnx → keras → tflite, onnx → keras → tflite": two
    Keras → TFLite edges) and the hint suggested `--via savedmodel`, a route that had just failed."""
    from portkit.conversion import fallback_text, untried_hint
    from portkit.formats import Format
    from portkit.graph import plan

    text = fallback_text(["onnx → keras → tflite: onnx2tf failed: X", "onnx → keras → tflite: onnx2tf failed: X",
                          "onnx → savedmodel → tflite: onnx2tf failed: X"])
    assert text == "onnx → keras → tflite, onnx → savedmodel → tflite: onnx2tf failed: X"
    routes = plan(Format.ONNX, Format.TFLITE)
    assert any(len(r) > 1 and r[0].target is Format.SAVEDMODEL for r in routes)
    hint = untried_hint("try another route: --via savedmodel, or keep the model in ONNX", routes)
    assert "--via savedmodel" not in hint and "keep the model in ONNX" in hint
    assert untried_hint("pass --input-shape", routes) == "pass --input-shape"
    # the converters' own spelling, with the tool named after the format (MobileBERT's exit 3 suggested it)
    assert "--via savedmodel" not in untried_hint("try another route: --via savedmodel (TFLiteConverter)", routes)
