"""Tiny ONNX classifiers built with onnx.helper in the test process (no framework): a small one, a
deliberately larger (slower, bigger) one and a wrong one, for the gate and recipe tests. No tests here."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def mlp(
    path: Path,
    hidden: tuple[int, ...] = (16,),
    features: int = 16,
    classes: int = 10,
    seed: int = 0,
    perturb: float = 0.0,
) -> Path:
    """x[batch, features] → (MatMul + Relu) per hidden layer → MatMul → logits[batch, classes]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    dims = [features, *hidden, classes]
    nodes, inits = [], []
    prev = "x"
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        w = (rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32)
        if i == len(dims) - 2 and perturb:
            w = w + np.float32(perturb) * rng.standard_normal(w.shape).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        out = "logits" if i == len(dims) - 2 else f"h{i}"
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [out if out == "logits" else f"m{i}"]))
        if out != "logits":
            nodes.append(helper.make_node("Relu", [f"m{i}"], [out]))
        prev = out
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="portkit-tests"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def small(path: Path) -> Path:
    return mlp(path)


def large(path: Path) -> Path:
    """The same interface, ~2000× the arithmetic and ~16 MB: slower and larger beyond any noise."""
    return mlp(path, hidden=(1024, 1024, 1024, 1024))


def wrong(path: Path) -> Path:
    """The small model with its last layer perturbed: same shapes, different answers."""
    return mlp(path, perturb=0.5)
