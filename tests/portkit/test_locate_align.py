"""portkit.locate.align on hand-made probe lists (numpy only, no framework): which `miss` tensors the
first-divergence search passes over (fused away: a stand-in counterpart) and which it reports (compared
with its own counterpart, even where the difference fades downstream, as a scaled attention key does in a
tiny BERT)."""
from __future__ import annotations

import numpy as np

from portkit.locate.align import align

RNG = np.random.default_rng(0)


def _p(name, arr, inputs=()):
    return {"name": name, "node": f"node_{name}", "op": "Op", "inputs": list(inputs), "array": arr}


def test_a_fault_that_fades_downstream_is_still_the_first_divergence():
    x, far = RNG.normal(size=(4, 8)), RNG.normal(size=(4, 8))
    key = RNG.normal(size=(4, 8))
    ref_tail, bad_tail = RNG.normal(size=(4, 8)), None
    bad_tail = ref_tail + 1e-5  # the fault's effect, faded below tolerance
    graph = [_p("x", x), _p("key", key * 1.5, ["x"]), _p("mid", key * 3.0, ["key"]), _p("tail", bad_tail, ["mid"]),
             _p("later", far, ["tail"])]
    other = [_p("x", x), _p("key", key), _p("tail", ref_tail), _p("later", far)]
    rep = align(graph, other, atol=1e-4, rtol=1e-3)
    assert rep["first_divergence"]["node"] == "node_key", rep["tensors"]


def test_a_tensor_fused_away_is_passed_over():
    x = RNG.normal(size=(4, 8))
    pre = RNG.normal(size=(4, 8))
    relu = np.maximum(pre, 0)
    graph = [_p("x", x), _p("conv", pre, ["x"]), _p("relu", relu, ["conv"]), _p("out", relu * 2, ["relu"])]
    other = [_p("x", x), _p("fused", relu), _p("out", relu * 2)]  # TFLite fused the ReLU into the conv
    rep = align(graph, other, atol=1e-4, rtol=1e-3)
    assert rep["first_divergence"] is None, rep["tensors"]
    bad = [_p("x", x), _p("fused", relu), _p("out", relu * 3)]
    assert align(graph, bad, atol=1e-4, rtol=1e-3)["first_divergence"]["node"] == "node_out"
