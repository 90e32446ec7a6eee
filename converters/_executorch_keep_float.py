"""ExecuTorch int8 with layers kept in float (--keep-float): the XNNPACK quantizer's filter leaves the named
nodes of the exported graph unannotated (float), and for `--keep-float auto` the converted PT2E graph ranks
its quantized tensors: each QuantizeLinear's float input on the calibration data against its fake-quantized
value, per channel (axis 1), as portkit.quantsense does for ONNX. Layers are the exported graph's node names
(`linear_4`, `conv2d_3`); the table shows the module each came from when the graph records it. Runs in the
torch worker."""
from __future__ import annotations

from typing import Any

import numpy as np

from portkit.quantsense import CAP_DB, check_layer_names

# ops that move values without computing: kept float together with the layers around them, not counted
PASS_THROUGH = ("view", "reshape", "flatten", "permute", "squeeze", "unsqueeze", "clone", "transpose")


def _kind(node: Any) -> str:
    return str(getattr(node.target, "__name__", node.target)).split(".")[0]


def _is_q(node: Any) -> bool:
    target = str(node.target)
    return node.op == "call_function" and "quantize_per_tensor" in target and "dequantize" not in target


def _is_dq(node: Any) -> bool:
    return node.op == "call_function" and "dequantize_per" in str(node.target)


def filter_layers(quantizer: Any, graph_module: Any, keep: tuple[str, ...], where: str) -> None:
    """Leave the nodes named in `keep` in float (checked against the graph's nodes first)."""
    if not keep:
        return
    nodes = [n.name for n in graph_module.graph.nodes if n.op == "call_function"]
    check_layer_names(keep, nodes, where)
    skip = set(keep)
    quantizer.set_filter_function(lambda n: n.name not in skip)


def _module_of(node: Any) -> str | None:
    stack = node.meta.get("nn_module_stack") or {}
    path = list(stack.values())[-1][0] if stack else ""
    return path or None


def sensitivity(converted: Any, batches: list[tuple[Any, ...]]) -> dict[str, Any]:
    """{"layers", "tensors", "samples"} of a convert_pt2e graph module on the calibration batches."""
    import torch

    graph = converted.graph
    layers = {n.name: n for n in graph.nodes
              if n.op == "call_function" and not _is_q(n) and not _is_dq(n)
              and any(_is_dq(a) for a in n.all_input_nodes)}
    qnodes = [n for n in graph.nodes if _is_q(n) and isinstance(n.args[0], torch.fx.Node)
              and n.args[0].op != "get_attr"]
    captured: dict[str, list[tuple[np.ndarray, float, int, int, int]]] = {}

    class Capture(torch.fx.Interpreter):
        def run_node(self, n: Any) -> Any:
            out = super().run_node(n)
            if n in qset:
                x, scale, zp, lo, hi = (self.env[n.args[0]], *[float(a) if i == 0 else int(a)
                                                              for i, a in enumerate(n.args[1:5])])
                captured.setdefault(n.name, []).append((x.detach().float().numpy(), scale, zp, lo, hi))
            return out

    qset = set(qnodes)
    with torch.no_grad():
        for args in batches:
            Capture(converted).run(*args)

    def owners(q: Any) -> set[str]:
        out = {q.args[0].name} if q.args[0].name in layers else set()
        todo = [u for d in q.users if _is_dq(d) for u in d.users]
        while todo:
            u = todo.pop()
            if u.name in out:
                continue
            if u.name in layers:
                out.add(u.name)
            if any(p in _kind(u) for p in PASS_THROUGH):
                todo += [v for v in u.users] + [v for q2 in u.users if _is_q(q2)
                                                for d in q2.users if _is_dq(d) for v in d.users]
        return out

    rows = []
    for q in qnodes:
        got = captured.get(q.name)
        own = owners(q)
        if not got or not own:
            continue
        sig = err = 0
        for x, scale, zp, lo, hi in got:
            fq = (np.clip(np.round(x / scale) + zp, lo, hi) - zp) * scale
            axes = (0, *range(2, x.ndim)) if x.ndim >= 2 else tuple(range(x.ndim))
            sig = sig + np.atleast_1d((x.astype(np.float64) ** 2).sum(axis=axes))
            err = err + np.atleast_1d(((x - fq).astype(np.float64) ** 2).sum(axis=axes))
        live = sig > 0
        if not np.any(live):
            continue
        db = float(np.minimum(10 * np.log10(sig[live] / np.maximum(err[live], 1e-30)), CAP_DB).mean())
        rows.append({"tensor": q.args[0].name, "sqnr_db": round(db, 2), "layers": sorted(own)})
    rows.sort(key=lambda r: r["sqnr_db"])
    per_layer: dict[str, dict[str, Any]] = {}
    for name, n in layers.items():
        per_layer[name] = {"op": _kind(n), "sqnr_db": None, **({"module": _module_of(n)} if _module_of(n) else {}),
                           **({"free": True} if any(p in _kind(n) for p in PASS_THROUGH) else {})}
    for r in rows:
        for name in r["layers"]:
            if name not in per_layer:  # a pass-through op reached through its neighbours
                per_layer[name] = {"op": "?", "sqnr_db": None, "free": True}
    for r in reversed(rows):
        for name in r["layers"]:
            per_layer[name]["sqnr_db"] = r["sqnr_db"]
    return {"layers": per_layer, "tensors": rows, "samples": int(sum(int(b[0].shape[0]) for b in batches))}
