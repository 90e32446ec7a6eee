"""An int8-sensitive classifier: a small MLP in which one layer has an outlier channel (large activation
range), so per-tensor int8 activations crush that tensor's other channels, and the data to calibrate it.

Built with onnx and numpy alone (no framework; `torch_model` is the same model in PyTorch, for the ExecuTorch
route): `python -m samples.sensitive OUT_DIR` writes
`sensitive.onnx`, `sensitive_calib.npz` (64 samples of input `x`) and `sensitive_eval.npz` (64 others
with `labels`, the float model's classes). Plain int8 of this model loses top-1 agreement; keeping the
outlier tensor's layers in float (`--keep-float auto`) restores it.
benchmarks/bench_int8.py and tests/prep/test_keep_float.py use it.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

WIDTH, DEPTH, CLASSES, FEATURES = 32, 10, 10, 16
OUTLIER_BLOCK = 4  # the block whose output carries the outlier channel
OUTLIER_SCALE = 400.0


def _weights(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    layers, fan_in = [], FEATURES
    for i in range(DEPTH):
        out = CLASSES if i == DEPTH - 1 else WIDTH
        w = (rng.standard_normal((fan_in, out)) * np.sqrt(2.0 / fan_in)).astype("float32")
        b = (rng.standard_normal(out) * 0.1).astype("float32")
        if i == OUTLIER_BLOCK:  # channel 0 becomes a large, always-positive signal
            w[:, 0] *= OUTLIER_SCALE / 4
            b[0] = OUTLIER_SCALE
        if i == OUTLIER_BLOCK + 1:  # the next layer barely reads it: in float it hardly matters
            w[0, :] /= OUTLIER_SCALE
        layers.append((w, b))
        fan_in = out
    # the last layer is fitted (ridge regression onto one-hot classes) on samples drawn like the data, so
    # the model classifies with margins like a trained one and its classes are balanced
    x, y = _samples(512, rng)
    feats = _run(layers[:-1], x)
    feats1 = np.concatenate([feats, np.ones((len(feats), 1), "float32")], 1)
    target = np.eye(CLASSES, dtype="float32")[y] * 4 - 2
    sol = np.linalg.solve(feats1.T @ feats1 + 1.0 * np.eye(feats1.shape[1]), feats1.T @ target)
    layers[-1] = (sol[:-1].astype("float32"), sol[-1].astype("float32"))
    return layers


def _run(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """Every block is Gemm + Relu except the outlier block (linear: its tensor goes straight to the next
    Gemm, so two layers stand around it) and the last."""
    for i, (w, b) in enumerate(layers):
        x = x @ w + b
        if i != OUTLIER_BLOCK:
            x = np.maximum(x, 0)
    return x


def build_onnx(path: str | Path, seed: int = 0) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, prev = [], [], "x"
    for i, (w, b) in enumerate(_weights(seed)):
        inits += [numpy_helper.from_array(w, f"fc{i}.weight"), numpy_helper.from_array(b, f"fc{i}.bias")]
        last = i == DEPTH - 1
        y = "logits" if last else f"fc{i}_out"
        nodes.append(helper.make_node("Gemm", [prev, f"fc{i}.weight", f"fc{i}.bias"], [y], name=f"fc{i}"))
        prev = y
        if not last and i != OUTLIER_BLOCK:
            nodes.append(helper.make_node("Relu", [y], [f"relu{i}_out"], name=f"relu{i}"))
            prev = f"relu{i}_out"
    graph = helper.make_graph(
        nodes, "sensitive",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", FEATURES])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="portkit-samples")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path


def torch_model(seed: int = 0) -> Any:
    """The same model as a PyTorch module (`samples.sensitive:torch_model`, torch imported inside): ten
    Linear layers with the same weights, so an eager → ExecuTorch conversion needs no ONNX import first.
    In the exported graph its layers are `linear`, `linear_1`, ... (the outlier block is `linear_4`)."""
    import torch

    class Sensitive(torch.nn.Module):
        input_shape = (1, FEATURES)  # portkit reads this when no --input-shape is given

        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.ModuleList()
            for w, b in _weights(seed):
                layer = torch.nn.Linear(*w.shape)
                with torch.no_grad():
                    layer.weight.copy_(torch.from_numpy(w.T.copy()))
                    layer.bias.copy_(torch.from_numpy(b))
                self.fc.append(layer)

        def forward(self, x: Any) -> Any:
            for i, layer in enumerate(self.fc):
                x = layer(x)
                if i not in (OUTLIER_BLOCK, DEPTH - 1):
                    x = torch.relu(x)
            return x

    return Sensitive().eval()


def forward(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """The float model in numpy (labels for the calibration data)."""
    layers = _weights(seed)
    return _run(layers[:-1], x) @ layers[-1][0] + layers[-1][1]


def _samples(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Ten clusters (fixed centres) with noise: class k's samples lie around centre k."""
    centres = np.random.default_rng(1234).standard_normal((CLASSES, FEATURES)).astype("float32") * 3.0
    y = rng.integers(0, CLASSES, n)
    return (centres[y] + 0.5 * rng.standard_normal((n, FEATURES)).astype("float32")).astype("float32"), y


def data(n: int = 64, seed: int = 1) -> dict[str, np.ndarray]:
    """n samples; `labels` are the float model's classes (what agreement and accuracy are measured on)."""
    x, _ = _samples(n, np.random.default_rng(seed))
    return {"x": x, "labels": forward(x).argmax(1).astype("int64")}


def write(folder: str | Path, n: int = 64) -> tuple[Path, Path, Path]:
    """sensitive.onnx, sensitive_calib.npz (x) and sensitive_eval.npz (other x + labels, for --max-drop)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = build_onnx(folder / "sensitive.onnx")
    calib, labelled = folder / "sensitive_calib.npz", folder / "sensitive_eval.npz"
    np.savez(calib, x=data(n)["x"])
    np.savez(labelled, **data(n, seed=2))
    return model, calib, labelled


if __name__ == "__main__":
    print(*write(sys.argv[1] if len(sys.argv) > 1 else "."))
