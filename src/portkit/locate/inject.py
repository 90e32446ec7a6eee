"""Fault injection for locate's tests and benchmarks/bench_locate.py: change one layer of a converted
artifact the way a converter bug would, and say which weights were touched, so a check can tell whether
`--locate` found that layer. Framework formats run in a worker (TensorFlow for .tflite/.keras, torch for
TorchScript); ONNX anywhere.

Faults: `weight` (one layer's weights scaled), `attribute` (an attribute that changes values, not shapes:
TFLite: the fused activation of a weighted op; ONNX: a Conv's padding shifted to one side, a Softmax's
axis, a recurrent cell's clip; TorchScript: a convolution's dilation (padding widened to keep the shape)
or a softmax's dim; Keras: a layer's activation), `transpose` (one layer's weights read with two axes
swapped in their own shape — a layout bug: a filter's spatial axes where square, else a matrix's two).
`k` counts the weighted layers (Conv, Gemm, MatMul with a constant weight, LSTM, GRU / CONV_2D,
DEPTHWISE_CONV_2D, FULLY_CONNECTED / TorchScript parameters and buffers / Keras layers with a kernel), or
for `attribute` the layers it applies to, in the file's own order. The result holds the original
weights, so the caller can find the layer in another format by value (`onnx_node_of_weight`).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FAULTS", "inject", "keras_layer_of_weight", "onnx_node_of_module", "onnx_node_of_weight",
           "pt2_node_of_weight", "same_weights", "swapped"]

FAULTS = ("weight", "attribute", "transpose")
_ONNX_WEIGHTED = {"Conv", "Gemm", "MatMul", "ConvTranspose", "LSTM", "GRU", "RNN"}
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
    weighted = [n for n in model.graph.node if n.op_type in _ONNX_WEIGHTED and len(n.input) > 1 and n.input[1] in inits]
    if fault == "attribute":  # the ops whose attributes change values but not shapes
        weighted = [n for n in model.graph.node if (n.op_type == "Conv" and any(
            a.name == "pads" and any(a.ints) for a in n.attribute)) or n.op_type in ("Softmax", "LSTM", "GRU")]
    if not weighted:
        raise ValueError(f"{path}: no layer for a {fault} fault")
    node = weighted[k % len(weighted)]
    w = numpy_helper.to_array(inits[node.input[1]]) if node.input[1:] and node.input[1] in inits else None
    if fault == "weight":
        inits[node.input[1]].CopyFrom(numpy_helper.from_array((w * factor).astype(w.dtype), node.input[1]))
    elif fault == "transpose":
        inits[node.input[1]].CopyFrom(numpy_helper.from_array(swapped(w, node.name), node.input[1]))
    elif node.op_type == "Conv":  # padding moved to one side: same output shape, shifted
        pads = next(a for a in node.attribute if a.name == "pads")
        half = len(pads.ints) // 2
        new = [p + q for p, q in zip(pads.ints[:half], pads.ints[half:])] + [0] * half
        del pads.ints[:]
        pads.ints.extend(new)
    elif node.op_type == "Softmax":  # normalised over the wrong axis (a layout bug's classic)
        axis = next((a for a in node.attribute if a.name == "axis"), None)
        if axis is None:
            axis = onnx.helper.make_attribute("axis", -1)
            node.attribute.append(axis)
        axis.i = -2 if axis.i in (-1, 3) else -1
    else:  # a recurrent cell's gate inputs clipped
        for a in [a for a in node.attribute if a.name == "clip"]:
            node.attribute.remove(a)
        node.attribute.append(onnx.helper.make_attribute("clip", 0.05))
    onnx.save(model, out)
    return {"layer": node.name, "op": node.op_type, "weight": node.input[1] if w is not None else None,
            "original": w, "fault": fault}


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
    if not weighted:
        raise ValueError(f"{path}: no float layer for a {fault} fault")
    op = weighted[k % len(weighted)]
    tensor = sg.tensors[op.inputs[1]]
    dtype = {schema.TensorType.FLOAT32: np.float32, schema.TensorType.FLOAT16: np.float16}.get(tensor.type)
    buf = model.buffers[tensor.buffer]
    if dtype is None:
        raise ValueError(f"op {op}: weights of TFLite type {tensor.type} (quantized) are not injected")
    w = np.frombuffer(bytes(buf.data), dtype=dtype).reshape(tensor.shape).copy()
    if fault == "weight":
        buf.data = np.frombuffer((w * factor).astype(dtype).tobytes(), dtype=np.uint8)
    elif fault == "transpose":  # OHWI / IHWO filters: the spatial axes, else the others
        buf.data = np.frombuffer(swapped(w, str(tensor.name), (1, 2)).tobytes(), dtype=np.uint8)
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


def swapped(w: np.ndarray, what: str, axes: tuple[int, int] | None = None) -> np.ndarray:
    """`w`'s values read with two axes swapped, in `w`'s own shape: a layout bug. The `axes` given (a
    filter's spatial ones) where they are square, else the last two of `w`'s axes longer than 1 (a
    [in, out] matrix read as [out, in], a 1x1 filter's channels swapped)."""
    if axes is None or w.ndim <= max(axes) or w.shape[axes[0]] != w.shape[axes[1]] or w.shape[axes[0]] < 2:
        long = [i for i, d in enumerate(w.shape) if d > 1]
        if w.ndim == 4 and len(long) >= 2 and w.shape[-1] == w.shape[-2] and w.shape[-1] > 1:
            long = [w.ndim - 2, w.ndim - 1]  # an OIHW kernel's spatial axes
        if len(long) < 2:
            raise ValueError(f"{what}: weights {list(w.shape)} have no two axes to swap")
        axes = (long[-2], long[-1])
    out = np.ascontiguousarray(np.swapaxes(w, *axes)).reshape(w.shape)
    if np.array_equal(out, w):
        raise ValueError(f"{what}: weights {list(w.shape)} are symmetric in the swapped axes")
    return out


def _has_data(model: Any, tensor: Any) -> bool:
    data = model.buffers[tensor.buffer].data
    return data is not None and len(data) > 0


def _torchscript(path: str, out: str, fault: str, k: int, factor: float) -> dict[str, Any]:
    import torch

    module = torch.jit.load(path, map_location="cpu")
    if fault == "attribute":
        return _torchscript_attribute(module, out, k)
    # onnx2torch keeps a MatMul's constant operand as a buffer, a Conv's weight as a parameter
    params = [(n, p) for n, p in list(module.named_parameters()) + list(module.named_buffers())
              if sum(d > 1 for d in p.shape) >= 2 and p.dtype.is_floating_point]  # a kernel, not a token
    if not params:
        raise ValueError(f"{path}: no weights to fault")
    name, p = params[k % len(params)]
    original = p.detach().numpy().copy()
    with torch.no_grad():
        if fault == "weight":
            p.mul_(factor)
        else:
            p.copy_(torch.from_numpy(swapped(original, name)))
    torch.jit.save(module, out)
    return {"layer": name.rsplit(".", 1)[0], "op": "parameter", "weight": name, "original": original, "fault": fault}


def _torchscript_attribute(module: Any, out: str, k: int) -> dict[str, Any]:
    """An attribute of the k-th convolution (dilation 2, padding widened to keep the shape) or softmax
    (the other axis) changed in its submodule's graph, which torch.jit.save writes back as code."""
    import torch

    targets = []
    for name, sub in module.named_modules():
        if not name or not sub._c._has_method("forward"):  # noqa: SLF001 - a container (initializers)
            continue
        for node in sub.graph.nodes():
            if node.kind() == "aten::softmax" or (node.kind() == "aten::_convolution" and _odd_kernel(sub)):
                targets.append((name, sub, node))
    if not targets:
        raise ValueError("no convolution with an odd kernel or softmax to change")
    name, sub, node = targets[k % len(targets)]
    graph = sub.graph
    if node.kind() == "aten::softmax":
        dim = node.inputsAt(1).toIValue()
        with graph.insert_point_guard(node):
            node.replaceInput(1, graph.insertConstant(-2 if dim in (-1, 3) else -1))
        op = "softmax"
    else:
        kernel = list(sub.weight.shape[2:])
        pads = node.inputsAt(4).toIValue()
        if pads is None:  # a traced graph builds the list from constants
            pads = [v.toIValue() for v in node.inputsAt(4).node().inputs()]
        new_pads = [p + (kk - 1) // 2 for p, kk in zip(pads, kernel)]
        with graph.insert_point_guard(node):
            node.replaceInput(4, graph.insertConstant(new_pads))
            node.replaceInput(5, graph.insertConstant([2] * len(pads)))
        op = "convolution"
    torch._C._jit_pass_lint(graph)  # noqa: SLF001 - the edit left a well-formed graph
    torch.jit.save(module, out)
    return {"layer": name, "op": op, "weight": None, "original": None, "fault": "attribute"}


def _odd_kernel(sub: Any) -> bool:
    w = getattr(sub, "weight", None)
    return w is not None and w.dim() >= 3 and all(d > 1 and d % 2 for d in w.shape[2:])


def _keras(path: str, out: str, fault: str, k: int, factor: float) -> dict[str, Any]:
    import keras

    model = keras.models.load_model(path, compile=False)

    def owner(layer: Any) -> Any:  # a recurrent layer keeps its kernel and activation on its cell
        return layer if getattr(layer, "kernel", None) is not None else getattr(layer, "cell", None)

    layers = [layer for layer in model.layers if getattr(owner(layer), "kernel", None) is not None]
    if not layers:
        raise ValueError(f"{path}: no layer with a kernel")
    layer = layers[k % len(layers)]
    target = owner(layer)
    w = np.asarray(target.kernel.numpy())
    if fault == "weight":
        target.kernel.assign(w * factor)
    elif fault == "transpose":  # HWIO kernels: the spatial axes, else the others
        target.kernel.assign(swapped(w, layer.name, (0, 1) if w.ndim == 4 else None))
    else:
        target.activation = keras.activations.get("linear" if target.activation.__name__ != "linear" else "relu")
    model.save(out)
    return {"layer": layer.name, "op": type(layer).__name__, "weight": target.kernel.path, "original": w,
            "fault": fault}


def onnx_node_of_weight(onnx_path: str, original: np.ndarray) -> str | None:
    """The ONNX node whose constant weight holds `original`'s values in any axis order (a TFLite OHWI
    filter is an ONNX OIHW weight), so a fault injected in another format is named the ONNX way."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(onnx_path)
    by_size = {t.name: t for t in model.graph.initializer if int(np.prod(t.dims)) == original.size}
    for n in model.graph.node:
        for i in list(n.input[1:2]) + list(n.input[:1]) + list(n.input[2:]):  # a Gather's table is its input 0
            if i in by_size and same_weights(original, numpy_helper.to_array(by_size[i])):
                return n.name
    return None


def same_weights(original: np.ndarray, w: np.ndarray) -> bool:
    """`w` holds `original`'s values in some axis order, up to one scale per output channel: a converter
    folds BatchNorm into the kernel before it (Keras Conv + BatchNormalization → one TFLite CONV_2D)."""
    import itertools

    if w.size != original.size:
        return False
    if w.ndim != original.ndim:  # a Conv1D kernel [k, in, out] is a TFLite CONV_2D filter [out, 1, k, in]
        w, original = w.squeeze(), original.squeeze()
        if w.ndim != original.ndim:
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


def onnx_node_of_module(onnx_path: str, module: str) -> str | None:
    """The ONNX node onnx2torch made the TorchScript submodule `module` from: it names each after its
    node (domain/name, dots as slashes, leading slashes dropped, a counter on repeats)."""
    import onnx

    seen: dict[str, int] = {}
    for node in onnx.load(onnx_path, load_external_data=False).graph.node:
        name = (f"{node.domain}/" + (node.name.replace(".", "/") or node.op_type)).lstrip("/")
        count = seen.get(name, 0)
        seen[name] = count + 1
        if (name + (f"_{count}" if count else "")) == module:
            return node.name
    return None


def pt2_node_of_weight(pt2_path: str, original: np.ndarray, activation: bool = False) -> str | None:
    """The FX node of a .pt2 program that uses the weights holding `original`'s values (litert-torch's
    TFLite keeps them, in its own axis order); with `activation`, the activation node right after it (a
    fused activation removed: the weighted op still agrees). Runs torch: call it in a worker."""
    import torch

    gm = torch.export.load(pt2_path).module()
    for node in gm.graph.nodes:
        if node.op != "get_attr":
            continue
        t = gm
        for part in str(node.target).split("."):
            t = getattr(t, part)
        if not isinstance(t, torch.Tensor) or not same_weights(original, t.detach().numpy()):
            continue
        user = next((u for u in node.users if u.op == "call_function"), None)
        if user is None:
            return None
        if activation:
            act = next((u for u in user.users if any(a in str(u.target) for a in _ACTS)), None)
            return act.name if act is not None else user.name
        return user.name
    return None


_ACTS = ("relu", "hardtanh", "sigmoid", "tanh", "hardswish", "silu", "gelu", "clamp")


def keras_layer_of_weight(keras_path: str, original: np.ndarray, activation: bool = False) -> str | None:
    """The Keras layer whose kernel holds `original`'s values in some axis order (a TFLite OHWI filter is a
    Keras HWIO kernel); with `activation`, the activation layer that follows it within two layers (past its
    BatchNormalization: a fused activation removed, the layers before it still agree). Runs TensorFlow:
    call it in a worker."""
    import keras

    model = keras.models.load_model(keras_path, compile=False)
    for n, layer in enumerate(model.layers):
        if any(same_weights(original, np.asarray(w.numpy())) for w in layer.weights):
            if activation:
                after = model.layers[n + 1:n + 3]
                act = next((a for a in after if type(a).__name__ in ("ReLU", "Activation", "LeakyReLU", "ELU")), None)
                return act.name if act is not None else layer.name
            return layer.name
    return None
