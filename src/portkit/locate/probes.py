"""Every intermediate tensor of one model, run once on given inputs, in graph order.

One function per runtime; each returns `Probe` dicts: `name` (the tensor), `node` (what produced it: ONNX
node name, TFLite tensor name, TorchScript node, torch module path, Keras layer name), `op`, `inputs` (the
tensor names it was computed from, when the format has a graph; empty otherwise) and `array`. Framework
ones run inside a worker process (the caller's WorkerPool), ONNX in the calling process like its runner.

How each format exposes its intermediates:
- ONNX: every node output added as a graph output (onnxruntime without graph optimisations, so every
  exposed tensor is computed the way the graph says).
- TFLite: LiteRT's `experimental_preserve_all_tensors` keeps every op output readable after invoke;
  quantized tensors are dequantized with their own scale and zero point.
- TorchScript: the inlined graph gets every tensor value as an extra output (a copy of the graph, run as
  a function on the loaded module).
- PyTorch eager: every op it runs (a TorchDispatchMode), named after the innermost module (hooks).
- .pt2 (torch.export): the program's graph run node by node (torch.fx.Interpreter); FX node names, the
  module path from each node's `nn_module_stack` (what torch.onnx and litert-torch name things after); an
  attention node also as its steps.
- Keras (functional/Sequential): a model with every layer's output as an output.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..artifact import Artifact
from ..formats import Format

__all__ = ["Probe", "probe", "onnx_probes"]

Probe = dict[str, Any]
MAX_PROBES = 20000  # a model with more intermediate tensors than this is searched on its first ones only


def probe(artifact: Artifact, feeds: dict[str, np.ndarray]) -> list[Probe]:
    """Run `artifact` once on `feeds` (the runner's input names) and return its intermediates in order."""
    fmt = artifact.format
    if fmt is Format.ONNX:
        return onnx_probes(artifact.location, feeds)
    if fmt is Format.TFLITE:
        return _tflite(artifact, feeds)
    if fmt is Format.TORCHSCRIPT:
        return _torchscript(artifact, feeds)
    if fmt is Format.TORCH:
        return _torch_eager(artifact, feeds)
    if fmt is Format.PT2:
        return _pt2(artifact, feeds)
    if fmt in (Format.KERAS, Format.KERAS_H5, Format.KERAS_JSON):
        return _keras(artifact, feeds)
    return []


# ------------------------------------------------------------------------------------------------ ONNX

def onnx_graph(path: str) -> tuple[Any, list[Probe]]:
    """(model with every node output exposed, probes without arrays) — the ONNX side's graph."""
    from .. import onnxutil

    model = onnxutil.load(path, external=True)
    const = {t.name for t in model.graph.initializer}
    params = {t.name for t in model.graph.initializer}
    order: list[Probe] = []
    present = {o.name for o in model.graph.output}
    import onnx

    for i, node in enumerate(model.graph.node):
        ins = [x for x in node.input if x]
        if node.op_type == "Constant" or (ins and all(x in const for x in ins)):
            const.update(o for o in node.output if o)  # weights computed from weights: not activations
            continue
        meta = {p.key: p.value for p in node.metadata_props}
        for out in node.output:
            if not out:
                continue
            order.append({"name": out, "node": node.name or f"{node.op_type}_{i}", "op": node.op_type,
                          "inputs": [x for x in ins if x not in const],
                          "weights": [x for x in ins if x in params],
                          "scope": _scope(meta.get("pkg.torch.onnx.name_scopes", ""))})
            if out not in present:
                model.graph.output.append(onnx.helper.make_empty_tensor_value_info(out))
                present.add(out)
    return model, order[:MAX_PROBES]


def _scope(text: str) -> str:
    """The module path of a torch.onnx (dynamo) node: the last name scope that is a module, not the op."""
    import ast

    try:
        scopes = [s for s in ast.literal_eval(text) if s] if text else []
    except (ValueError, SyntaxError):
        return ""
    return scopes[-2] if len(scopes) >= 2 else ""


def onnx_probes(path: str, feeds: dict[str, np.ndarray]) -> list[Probe]:
    import tempfile
    from pathlib import Path

    from .onnx_pair import session

    model, order = onnx_graph(path)
    with tempfile.TemporaryDirectory(prefix="portkit-locate-") as tmp:
        p = Path(tmp) / "exposed.onnx"
        large = model.ByteSize() > 1_800_000_000
        import onnx

        onnx.save(model, str(p), save_as_external_data=large, location="exposed.data" if large else None)
        sess = session(str(p))
        names = [o["name"] for o in order]
        values = sess.run(names, feeds) if names else []
    for o, v in zip(order, values):
        o["array"] = np.asarray(v)
    return order


# ---------------------------------------------------------------------------------------------- TFLite

def _tflite(artifact: Artifact, feeds: dict[str, np.ndarray]) -> list[Probe]:
    from ..runtimes.tflite import TFLiteRunner, interpreter_class

    runner = TFLiteRunner(artifact.location)
    cls, _ = interpreter_class()
    import sys

    # without the default delegate: XNNPACK fuses ops and frees what preserve_all_tensors should keep
    resolver = sys.modules[cls.__module__].OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    runner.interp = cls(model_path=artifact.location, experimental_preserve_all_tensors=True,
                        experimental_op_resolver_type=resolver)
    runner.interp.allocate_tensors()
    runner.run(feeds)
    interp = runner.interp
    details = {d["index"]: d for d in interp.get_tensor_details()}
    produced: set[int] = set()
    out: list[Probe] = []
    for op in interp._get_ops_details():  # noqa: SLF001 - LiteRT's only listing of ops in execution order
        ins = [int(i) for i in op["inputs"] if int(i) in produced or int(i) in _input_indices(interp)]
        for t in op["outputs"]:
            t = int(t)
            d = details.get(t)
            if d is None:
                continue
            try:
                arr = np.array(interp.get_tensor(t))
            except ValueError:
                continue
            q = d.get("quantization") or (0.0, 0)
            if arr.dtype.kind in "iu" and q[0]:
                arr = ((arr.astype(np.float32) - q[1]) * q[0]).astype(np.float32)
            produced.add(t)
            out.append({"name": str(t), "node": d["name"], "op": op["op_name"],
                        "inputs": [str(i) for i in ins], "array": arr})
    return out[:MAX_PROBES]


def _input_indices(interp: Any) -> set[int]:
    return {int(d["index"]) for d in interp.get_input_details()}


# ----------------------------------------------------------------------------------------------- torch

def _torch_inputs(runner: Any, feeds: dict[str, np.ndarray]) -> list[Any]:
    torch = runner.torch
    from ..runtimes.base import contiguous

    return [torch.from_numpy(contiguous(feeds[s.name])) for s in runner.signature.inputs]


def _torchscript(artifact: Artifact, feeds: dict[str, np.ndarray]) -> list[Probe]:
    from ..runtimes.torch import TorchRunner

    runner = TorchRunner(artifact)
    torch = runner.torch
    C = torch._C  # noqa: N806 - torch's own name
    module = runner.module
    graph = module.inlined_graph
    values, out = [], []
    for node in graph.nodes():
        if node.kind() in ("prim::GetAttr", "prim::Constant", "prim::ListConstruct", "prim::TupleConstruct"):
            continue
        for v in node.outputs():
            if v.type().kind() == "TensorType":
                values.append(v)
                out.append({"name": v.debugName(), "node": node.scopeName() or v.debugName(),
                            "op": node.kind().split("::")[-1],
                            "inputs": [i.debugName() for i in node.inputs() if i.type().kind() == "TensorType"]})
    if not values:
        return []
    tup = graph.create("prim::TupleConstruct", values)
    graph.appendNode(tup)
    tup.output().setType(C.TupleType([v.type() for v in values]))
    for _ in range(len(list(graph.outputs()))):
        graph.eraseOutput(0)
    graph.registerOutput(tup.output())
    fn = C._create_function_from_graph("portkit_probe", graph)  # noqa: SLF001 - no public form of this
    with torch.inference_mode():
        res = fn(module._c, *_torch_inputs(runner, feeds))  # noqa: SLF001
    for o, t in zip(out, res):
        o["array"] = t.detach().cpu().numpy()
    return out[:MAX_PROBES]


def _torch_eager(artifact: Artifact, feeds: dict[str, np.ndarray]) -> list[Probe]:
    """Every op the module runs (a TorchDispatchMode below autograd: a Linear's matmul and its bias add, an
    attention's scores and softmax — scaled_dot_product_attention on its math kernel and
    nn.MultiheadAttention off its fused fast path, so their steps are ops too — and the slices a view
    takes), named after the innermost module running it. Module outputs alone leave most of the tensors an
    exporter writes without a counterpart."""
    from ..runtimes.torch import TorchRunner

    runner = TorchRunner(artifact)
    torch = runner.torch
    out: list[Probe] = []
    stack: list[str] = [""]

    def record(name: str, t: Any) -> None:
        out.append({"name": f"{stack[-1]}:{name}#{len(out)}", "node": stack[-1] or name, "op": name,
                    "inputs": [], "array": t})

    Recorder = _op_recorder(torch, record)  # noqa: N806 - a class

    def enter(name: str) -> Any:
        return lambda *_: stack.append(name)

    def leave(*_: Any) -> None:
        stack.pop()

    handles = []
    for n, m in runner.module.named_modules():
        if n:
            handles += [m.register_forward_pre_hook(enter(n)), m.register_forward_hook(leave)]
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        fastpath = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)  # nn.MultiheadAttention op by op, not one fused op
        with torch.inference_mode(), sdpa_kernel([SDPBackend.MATH]), Recorder():
            runner.module(*_torch_inputs(runner, feeds))
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for h in handles:
            h.remove()
    return out[:MAX_PROBES]


def _op_recorder(torch: Any, record: Any) -> Any:
    """A TorchDispatchMode calling `record(op name, array)` for every float op output but same-sized views,
    composite ops (linear, attention) decomposed into the ops they are made of."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            if torch._C._dispatch_has_kernel_for_dispatch_key(func.name(), "CompositeImplicitAutograd"):  # noqa: SLF001
                with self:
                    result = func.decompose(*args, **kwargs)
                if result is not NotImplemented:
                    return result
            result = func(*args, **kwargs)
            t = result[0] if isinstance(result, (tuple, list)) and result else result  # layer norm: (out, mean, rstd)
            if isinstance(t, torch.Tensor) and t.dtype.is_floating_point and t.numel() > 1 and \
                    not (getattr(func, "is_view", False) and args and isinstance(args[0], torch.Tensor)
                         and args[0].numel() == t.numel()):  # a reshaped or permuted view: its input is kept
                record(func.overloadpacket.__name__, t.detach().cpu().numpy().copy())
            return result
    return Recorder


def _pt2(artifact: Artifact, feeds: dict[str, np.ndarray]) -> list[Probe]:
    from ..runtimes.pt2 import Pt2Runner

    runner = Pt2Runner(artifact)
    torch = runner.torch
    from torch.fx import Interpreter

    out: list[Probe] = []

    class Recorder(Interpreter):
        def run_node(self, n: Any) -> Any:
            if n.op == "call_function" and "scaled_dot_product_attention" in str(n.target):
                return self._attention(n)
            result = super().run_node(n)
            if n.op in ("call_function", "call_method", "call_module") and isinstance(result, torch.Tensor):
                stack = list((n.meta.get("nn_module_stack") or {}).values())
                out.append({"name": n.name, "node": n.name, "op": str(getattr(n.target, "__name__", n.target)),
                            "inputs": [i.name for i in n.all_input_nodes], "scope": stack[-1][0] if stack else "",
                            "array": result.detach().cpu().numpy().copy()})  # before an in-place op (relu_)
            return result

        def _attention(self, n: Any) -> Any:
            """One attention node as its steps (scores, softmax, ...): an exporter writes them apart."""
            from torch.nn.attention import SDPBackend, sdpa_kernel

            args, kwargs = self.fetch_args_kwargs_from_env(n)
            steps: list[tuple[str, np.ndarray]] = []
            with sdpa_kernel([SDPBackend.MATH]), _op_recorder(torch, lambda op, a: steps.append((op, a)))():
                result = n.target(*args, **kwargs)
            prev = [i.name for i in n.all_input_nodes]
            for j, (op, a) in enumerate(steps[:-1]):
                out.append({"name": f"{n.name}/{op}#{j}", "node": n.name, "op": op, "inputs": prev, "array": a})
                prev = [out[-1]["name"]]
            out.append({"name": n.name, "node": n.name, "op": "scaled_dot_product_attention", "inputs": prev,
                        "array": result.detach().cpu().numpy().copy()})
            return result

    with torch.inference_mode():
        Recorder(runner.module).run(*_torch_inputs(runner, feeds))
    return out[:MAX_PROBES]


# ----------------------------------------------------------------------------------------------- Keras

def _keras(artifact: Artifact, feeds: dict[str, np.ndarray]) -> list[Probe]:
    from ..runtimes.keras import KerasRunner

    runner = KerasRunner(artifact)
    model = runner.model
    layers = [layer for layer in getattr(model, "layers", []) if type(layer).__name__ != "InputLayer"]
    try:
        outputs = [layer.output for layer in layers]
    except (AttributeError, ValueError):
        return []  # a subclassed model has no symbolic layer outputs to expose
    if runner.flavour == "keras":
        import keras
    else:
        import tf_keras as keras  # type: ignore[import-not-found,no-redef]

    probe_model = keras.Model(model.inputs, outputs)
    args = [feeds[s.name] for s in runner.signature.inputs]
    res = probe_model(args if len(args) > 1 else args[0], training=False)
    res = res if isinstance(res, (list, tuple)) else [res]
    out: list[Probe] = []
    prev: list[str] = []
    for layer, t in zip(layers, res):
        out.append({"name": layer.name, "node": layer.name, "op": type(layer).__name__, "inputs": prev,
                    "array": np.asarray(t)})
        prev = [layer.name]
    return out[:MAX_PROBES]
