"""Rewrites every wrapped tool gets (TOOL: any): Identity-aliased initializers, a Reshape allowzero flag
that cannot matter, bool arithmetic as logic."""

from __future__ import annotations

from typing import Any

import numpy as np

from .helpers import constants, elem_types, producers, rename_uses

TOOL = "any"


def alias_initializers(model: Any) -> list[str]:
    """Identity(initializer) → the initializer itself, for every consumer (graph outputs keep the node)."""
    inits = {i.name for i in model.graph.initializer}
    outputs = {o.name for o in model.graph.output}
    notes: list[str] = []
    changed = True
    while changed:  # Identity chains resolve one link per pass
        changed = False
        for node in list(model.graph.node):
            if node.op_type != "Identity" or node.input[0] not in inits or node.output[0] in outputs:
                continue
            rename_uses(model.graph, node.output[0], node.input[0])
            model.graph.node.remove(node)
            notes.append(f"{node.output[0]}: Identity of initializer {node.input[0]} → the initializer")
            changed = True
    return [f"alias_initializers: {len(notes)} Identity-aliased initializer(s) resolved"] if notes else []


def drop_reshape_allowzero(model: Any) -> list[str]:
    """Reshape allowzero=1 → 0 where the flag cannot matter: a constant shape without zeros, or a shape
    computed at run time (torch exporters: Concat of Shape/Gather results and constants) whose constant
    parts hold no zero — its other entries are sizes of real tensors, so a 0 there means an empty tensor."""
    consts = constants(model)
    producer = producers(model)
    notes = []
    for node in model.graph.node:
        if node.op_type != "Reshape":
            continue
        for a in list(node.attribute):
            if a.name != "allowzero" or a.i != 1:
                continue
            shape = consts.get(node.input[1])
            if shape is not None:
                if np.any(shape == 0):
                    continue
                why = "constant shape has no 0"
            else:
                src = producer.get(node.input[1])
                parts = [consts[i] for i in src.input if i in consts] if src is not None and \
                    src.op_type == "Concat" else []
                if src is None or src.op_type not in ("Concat", "Shape", "Slice", "Gather", "Unsqueeze") or \
                        any(np.any(p == 0) for p in parts):
                    continue
                why = "shape computed from tensor sizes"
            node.attribute.remove(a)
            notes.append(f"drop_reshape_allowzero: Reshape {node.name} ({why})")
    return notes


def bool_arithmetic(model: Any) -> list[str]:
    """Mul / Add of two bool tensors (attention masks combined by exporters) → And / Or."""
    types = elem_types(model)
    bool_t = 9
    n_done = 0
    for node in model.graph.node:
        if node.op_type in ("Mul", "Add") and len(node.input) == 2 and \
                all(types.get(i) == bool_t for i in node.input):
            node.op_type = "And" if node.op_type == "Mul" else "Or"
            n_done += 1
    return [f"bool_arithmetic: {n_done} bool Mul/Add → And/Or"] if n_done else []

