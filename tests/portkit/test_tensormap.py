"""TensorMap: layout permutations and renames as one typed record, composed along a route, and written
as the same sidecar JSON portkit always wrote."""
from __future__ import annotations

import numpy as np

from portkit.tensormap import CHANNELS_LAST, Change, TensorMap, channels_last

ONNX2TF_HOP = {"layout": {"inputs": {"x": {"from": "NCHW", "to": "NHWC", "perm": [0, 2, 3, 1]}},
                          "outputs": {"y": {"from": "NCHW", "to": "NHWC", "perm": [0, 2, 3, 1]}}},
               "renamed": {"inputs": {"x": "x_1"}}}


def test_reads_and_writes_the_sidecar_form_unchanged():
    m = TensorMap.from_metadata(ONNX2TF_HOP)
    assert m.perm("inputs", "x") == (0, 2, 3, 1) and m.name("inputs", "x") == "x_1"
    assert m.to_metadata() == ONNX2TF_HOP


def test_reads_the_older_flat_rename_form():
    m = TensorMap.from_metadata({"renamed": {"x": "x_1"}})
    assert m.name("inputs", "x") == "x_1" and m.name("outputs", "x") == "x_1"
    assert not TensorMap.from_metadata({}) and TensorMap.from_metadata(ONNX2TF_HOP)


def test_change_applies_and_inverts():
    x = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    c = Change(channels_last(4))
    assert c.apply(x).shape == (2, 4, 5, 3)
    assert np.array_equal(c.invert(c.apply(x)), x)
    assert c.apply(np.zeros(3)).shape == (3,)  # another rank passes unchanged


def test_composition_equals_transposing_twice():
    a = TensorMap.from_metadata(ONNX2TF_HOP)
    # a later hop that turns the channels-last tensor back (0,3,1,2) and renames it again
    b = TensorMap({"inputs": {"x_1": Change((0, 3, 1, 2), "NHWC", "NCHW")}}, {"inputs": {"x_1": "input"}})
    both = a.then(b)
    assert both.perm("inputs", "x") is None  # NCHW → NHWC → NCHW is the identity: dropped
    assert both.name("inputs", "x") == "input"
    x = np.random.default_rng(0).random((1, 3, 4, 5))
    twice = np.transpose(np.transpose(x, a.perm("inputs", "x")), b.perm("inputs", "x_1"))
    assert np.array_equal(twice, x)
    # and with a hop that keeps the layout, the first map survives as it was
    assert a.then(TensorMap()).to_metadata() == ONNX2TF_HOP


def test_one_definition_of_channels_last():
    assert CHANNELS_LAST[4] == (0, 2, 3, 1) and channels_last(2) is None


def test_source_shapes_in_the_candidates_terms():
    """A recipe's input shapes are the source's: the NHWC, renamed TFLite target gets them in its layout."""
    m = TensorMap.from_metadata(ONNX2TF_HOP)
    assert m.shapes("inputs", {"x": (1, 3, 64, 64)}) == {"x_1": (1, 64, 64, 3)}
    assert m.shapes("inputs", {"": (1, 3, 64, 64)}) == {"": (1, 64, 64, 3)}  # '' = the only input
    assert TensorMap().shapes("inputs", {"x": (1, 3, 8, 8)}) == {"x": (1, 3, 8, 8)}
