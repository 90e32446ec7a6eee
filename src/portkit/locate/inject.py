"""Fault injection for locate's tests and benchmarks/bench_locate.py: change one layer of a converted
artifact the way a converter bug would, and say which weights were touched, so a check can tell whether
`--locate` found that layer. Framework formats run in a worker (TensorFlow for .tflite/.keras, torch for
TorchScript); ONNX anywhere.

Faults: `weight` (one layer's weights scaled), `attribute` (TFLite: the fused activation of one op
changed; ONNX: a Conv's padding shifted to one side, output shape unchanged), `transpose` (one layer's
kernel read with its spatial axes swapped — a layout bug). `k` counts the weighted layers (Conv, Gemm,
MatMul with a constant weight / CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED / Conv and Dense layers) in
the file's own order. The result holds the original weights, so the caller can find the layer in another
format by value (`onnx_node_of_weight`).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FAULTS", "inject", "keras_layer_of_weight", "onnx_node_of_weight"]

FAULTS = ("weight", "attribute", "transpose")
_TFLITE_WEIGHTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"}


def inject(path: str, out: str, fault: str = "weight", k: int = 0, factor: float = 1.5) -> dict[str, Any]:
    """Write `path` with one fault at weighted layer `k` to `out`; return where and the original weights."""
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}: one of {FAULTS}")
    suffix = Path(path).suffix
    if suffix == ".onnx":
        done = _onnx(path, out, fault, k, factor)
    elif suffix == ".tflite":
        done = _tflite(path, out, fault, k, factor)
    elif suffix in (".pt", ".ts", ".pth"):
        done = _torchscript(path, out, fault, k, factor)
    elif suffix in (".keras", ".h5"):
        done = _keras(path, out, fault, k, factor)
    else:
        raise ValueError(f"no fault injection for {path}")
    # the layout/renaming map portkit recorded beside the artifact belongs to the faulty copy too
    from ..artifact import Artifact
    from ..formats import Format

    src_side, out_side = Artifact(path, Format.ONNX).sidecar(), Artifact(out, Format.ONNX).sidecar()
    if src_side.is_file():
        shutil.copyfile(src_side, out_side)
    return done


def _onnx(path: str, out: str, fault: str, k: int, factor: float) -> dict[str, Any]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    inits = {t.name: t for t in model.graph.initializer}
    weighted = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul", "ConvTranspose")
                and len(n.input) > 1 and n.input[1] in inits]
    if fault == "attribute":
        weighted = [n for n in weighted if n.op_type == "Conv" and any(
            a.name == "pads" and any(a.ints) for a in n.attribute)]
    node = weighted[k % len(weighted)]
    w = numpy_helper.to_array(inits[node.input[1]])
    if fault == "weight":
        inits[node.input[1]].CopyFrom(numpy_helper.from_array((w * factor).astype(w.dtype), node.input[1]))
    elif fault == "transpose":
        axes = list(range(w.ndim))
        axes[-1], axes[-2] = axes[-2], axes[-1]
        if w.shape[-1] != w.shape[-2] or w.shape[-1] < 2:  # a 1x1 kernel transposed is the same kernel
            raise ValueError(f"{node.name}: weights {list(w.shape)} have no square last two axes to swap")
        inits[node.input[1]].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(w.transpose(axes)),
                                                              node.input[1]))
    else:
        pads = next(a for a in node.attribute if a.name == "pads")
        half = len(pads.ints) // 2
        new = [p + q for p, q in zip(pads.ints[:half], pads.ints[half:])] + [0] * half
        del pads.ints[:]
        pads.ints.extend(new)
    onnx.save(model, out)
    return {"layer": node.name, "op": node.op_type, "weight": node.input[1], "original": w, "fault": fault}


def _tflite(path: str, out: str, fault: str, k: int, factor: float) -> dict[str, Any]:
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils as fb

    model = fb.read_model(path)
    names = {v: n for n, v in vars(schema.BuiltinOperator).items() if not n.startswith("_")}
    sg = model.subgraphs[0]

    def opname(op: Any) -> str:
        code = model.operatorCodes[op.opcodeIndex]
        return names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?")

    weighted = [op for op in sg.operators if opname(op) in _TFLITE_WEIGHTED
                and _has_data(model, sg.tensors[op.inputs[1]])]
    if fault == "attribute":
        weighted = [op for op in weighted if hasattr(op.builtinOptions, "fusedActivationFunction")]
    op = weighted[k % len(weighted)]
    tensor = sg.tensors[op.inputs[1]]
    dtype = {schema.TensorType.FLOAT32: np.float32, schema.TensorType.FLOAT16: np.float16}.get(tensor.type)
    buf = model.buffers[tensor.buffer]
    if dtype is None:
        raise ValueError(f"op {op}: weights of TFLite type {tensor.type} (quantized) are not injected")
    w = np.frombuffer(bytes(buf.data), dtype=dtype).reshape(tensor.shape).copy()
    if fault == "weight":
        buf.data = np.frombuffer((w * factor).astype(dtype).tobytes(), dtype=np.uint8)
    elif fault == "transpose":
        if w.ndim != 4 or w.shape[1] != w.shape[2] or w.shape[1] < 2:
            raise ValueError(f"filter {list(w.shape)} has no square spatial axes to swap")
        buf.data = np.frombuffer(np.ascontiguousarray(w.transpose(0, 2, 1, 3)).tobytes(), dtype=np.uint8)
    act = None
    if fault == "attribute":
        act = op.builtinOptions.fusedActivationFunction
        op.builtinOptions.fusedActivationFunction = schema.ActivationFunctionType.NONE if act else \
            schema.ActivationFunctionType.RELU
    fb.write_model(model, out)
    name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
    # a fused activation removed: the op's output before it still agrees, the activation's does not
    return {"layer": name, "op": opname(op), "weight": name, "original": w, "fault": fault,
            "removed_activation": bool(act)}


def _has_data(model: Any, tensor: Any) -> bool:
    data = model.buffers[tensor.buffer].data
    return data is not None and len(data) > 0


def _torchscript(path: str, out: str, fault: str, k: int, factor: float) -> dict[str, Any]:
    import torch

    module = torch.jit.load(path, map_location="cpu")
    params = [(n, p) for n, p in module.named_parameters() if p.dim() >= 2]
    name, p = params[k % len(params)]
    original = p.detach().numpy().copy()
    with torch.no_grad():
        if fault == "weight":
            p.mul_(factor)
        elif fault == "transpose":
            if p.shape[-1] != p.shape[-2] or p.shape[-1] < 2:
                raise ValueError(f"{name}: weights {list(p.shape)} have no square last two axes to swap")
            p.copy_(p.transpose(-1, -2).contiguous())
        else:
            raise ValueError("TorchScript faults: weight, transpose")
    torch.jit.save(module, out)
    return {"layer": name.rsplit(".", 1)[0], "op": "parameter", "weight": name, "original": original, "fault": fault}


def _keras(path: str, out: str, fault: str, k: int, factor: float) -> dict[str, Any]:
    import keras

    model = keras.models.load_model(path, compile=False)
    layers = [layer for layer in model.layers if getattr(layer, "kernel", None) is not None]
    layer = layers[k % len(layers)]
    w = np.asarray(layer.kernel.numpy())
    if fault == "weight":
        layer.kernel.assign(w * factor)
    elif fault == "transpose":
        layer.kernel.assign(np.ascontiguousarray(np.swapaxes(w, 0, 1)))
    else:
        layer.activation = keras.activations.get("linear" if layer.activation.__name__ != "linear" else "relu")
    model.save(out)
    return {"layer": layer.name, "op": type(layer).__name__, "weight": layer.kernel.path, "original": w,
            "fault": fault}


def onnx_node_of_weight(onnx_path: str, original: np.ndarray) -> str | None:
    """The ONNX node whose constant weight holds `original`'s values in any axis order (a TFLite OHWI
    filter is an ONNX OIHW weight), so a fault injected in another format is named the ONNX way."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(onnx_path)
    by_size = {t.name: t for t in model.graph.initializer if int(np.prod(t.dims)) == original.size}
    for n in model.graph.node:
        for i in n.input[1:2]:
            if i in by_size and _same_weights(original, numpy_helper.to_array(by_size[i])):
                return n.name
    return None


def _same_weights(original: np.ndarray, w: np.ndarray) -> bool:
    """`w` holds `original`'s values in some axis order, up to one scale per output channel: a converter
    folds BatchNorm into the kernel before it (Keras Conv + BatchNormalization → one TFLite CONV_2D)."""
    import itertools

    if w.size != original.size or w.ndim != original.ndim:
        return False
    for p in itertools.permutations(range(w.ndim)):
        if tuple(original.shape[j] for j in p) != w.shape:
            continue
        o = np.transpose(original, p).astype(np.float64)
        if np.allclose(o, w, atol=1e-6):
            return True
        for axis in range(w.ndim):  # proportional slices along one axis: a per-channel scale
            a = np.moveaxis(o, axis, 0).reshape(o.shape[axis], -1)
            b = np.moveaxis(w.astype(np.float64), axis, 0).reshape(w.shape[axis], -1)
            den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
            if a.shape[1] > 1 and (den > 0).all() and (np.abs((a * b).sum(1) / den) > 1 - 1e-6).all():
                return True
    return False


def keras_layer_of_weight(keras_path: str, original: np.ndarray) -> str | None:
    """The Keras layer whose kernel holds `original`'s values in some axis order (a TFLite OHWI filter is a
    Keras HWIO kernel). Runs TensorFlow: call it in a worker."""
    import keras

    model = keras.models.load_model(keras_path, compile=False)
    for layer in model.layers:
        for w in layer.weights:
            if _same_weights(original, np.asarray(w.numpy())):
                return layer.name
    return None
