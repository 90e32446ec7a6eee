"""Rewrites for onnx2torch only."""

from __future__ import annotations

from typing import Any

from .helpers import graphs, replace_node, unique

TOOL = "onnx2torch"


def split_comparisons(model: Any) -> list[str]:
    """GreaterOrEqual(a, b) → Not(Less(a, b)) and LessOrEqual(a, b) → Not(Greater(a, b)) (equal for every
    non-NaN input; the check below compares the models on real inputs)."""
    from onnx import helper

    flip = {"GreaterOrEqual": "Less", "LessOrEqual": "Greater"}
    n_done = 0
    for g in graphs(model.graph):
        for node in list(g.node):
            if node.op_type not in flip or node.domain not in ("", "ai.onnx"):
                continue
            new = unique(model, node.name or node.op_type)
            mid = new("cmp")
            replace_node(g, node, [helper.make_node(flip[node.op_type], list(node.input), [mid], name=new("n")),
                                    helper.make_node("Not", [mid], list(node.output), name=new("n"))])
            n_done += 1
    return [f"split_comparisons: {n_done} GreaterOrEqual/LessOrEqual → Not(Less/Greater)"] if n_done else []

