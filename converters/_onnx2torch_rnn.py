"""onnx2torch converters for what Keras recurrent layers become in ONNX, which onnx2torch has none for:

- `LSTM` and `GRU` (tf2onnx and Keras' exporter write Keras LSTM as ONNX LSTM): torch's own `nn.LSTM` /
  `nn.GRU` with the ONNX weights reordered (ONNX gates i,o,f,c / z,r,h; torch i,f,g,o / r,z,n). Traced,
  they stay one `aten::lstm` / `aten::gru` op, so the TorchScript keeps a dynamic batch and sequence.
  Covered: forward / reverse / bidirectional, layout 0 and 1, initial states, constant weights, default
  activations, GRU `linear_before_reset=1` (Keras' `reset_after=True`, torch's formula). Peepholes, `clip`,
  `input_forget`, other activations, `sequence_lens` and GRU `linear_before_reset=0` are refused by name.
- `Loop` (Keras GRU and other `while` loops, as tf2onnx writes them): the body graph is converted by
  onnx2torch itself and run step by step, with the ONNX loop-carried values and scan outputs. Under
  `torch.jit.trace` the loop unrolls to the traced trip count: right for a fixed sequence length (Keras'
  recurrent layers over `Input((steps, features))`), and a different count fails validation, never passes
  silently.
- `ReverseSequence` (tf2onnx writes the backward half of Keras' `Bidirectional(GRU(...))` as a Loop over the
  reversed sequence): each batch row's first `sequence_lens[i]` steps reversed by a gather, so it traces with
  the batch and the lengths as data.
"""
from __future__ import annotations

from typing import Any

# opset imports of the model being converted (the Loop body is converted as a model of its own)
OPSETS: dict[str, int] = {}


def _constant(graph: Any, name: str) -> Any:
    if not name:
        return None
    if name not in graph.initializers:
        raise NotImplementedError(f"recurrent op with computed (non-constant) weights '{name}'")
    return graph.initializers[name].to_torch()


def _attr(node: Any, name: str, default: Any) -> Any:
    value = node.attributes.get(name, default)
    return value.decode() if isinstance(value, bytes) else value


def module_for(kind: str, node: Any, graph: Any) -> tuple[Any, list[str]]:
    """(torch module, ONNX input names it takes) for an ONNX LSTM / GRU node."""
    import torch

    ins = list(node.input_values) + [""] * 8
    hidden = int(_attr(node, "hidden_size", 0))
    direction = _attr(node, "direction", "forward")
    layout = int(_attr(node, "layout", 0))
    acts = [a.decode() if isinstance(a, bytes) else str(a) for a in _attr(node, "activations", [])]
    default = ["Sigmoid", "Tanh", "Tanh"] if kind == "LSTM" else ["Sigmoid", "Tanh"]
    problems = []
    if acts and [a.lower() for a in acts] != [a.lower() for a in default] * (len(acts) // len(default)):
        problems.append(f"activations {acts}")
    if node.attributes.get("clip") is not None:
        problems.append("clip")
    if int(_attr(node, "input_forget", 0)):
        problems.append("input_forget")
    if kind == "LSTM" and ins[7]:
        problems.append("peepholes (P)")
    if ins[4]:
        problems.append("sequence_lens")
    if kind == "GRU" and not int(_attr(node, "linear_before_reset", 0)):
        problems.append("linear_before_reset=0 (torch's GRU resets after the recurrent matmul)")
    if problems:
        raise NotImplementedError(f"ONNX {kind} with {', '.join(problems)} is not supported")
    w, r, b = _constant(graph, ins[1]), _constant(graph, ins[2]), _constant(graph, ins[3])
    dirs = 2 if direction == "bidirectional" else 1
    gates = 4 if kind == "LSTM" else 3
    if b is None:
        b = torch.zeros(dirs, 2 * gates * hidden, dtype=w.dtype)
    # ONNX gate order → torch's
    order = [0, 2, 3, 1] if kind == "LSTM" else [1, 0, 2]

    def reorder(t: Any) -> Any:
        return torch.cat([t.reshape(gates, hidden, *t.shape[1:])[i] for i in order], 0)

    cls = torch.nn.LSTM if kind == "LSTM" else torch.nn.GRU
    rnn = cls(int(w.shape[2]), hidden, batch_first=layout == 1, bidirectional=dirs == 2)
    with torch.no_grad():
        for d in range(dirs):
            suffix = "_reverse" if d == 1 else ""  # a reverse-only RNN runs forward over the flipped input
            getattr(rnn, f"weight_ih_l0{suffix}").copy_(reorder(w[d]))
            getattr(rnn, f"weight_hh_l0{suffix}").copy_(reorder(r[d]))
            getattr(rnn, f"bias_ih_l0{suffix}").copy_(reorder(b[d][:gates * hidden]))
            getattr(rnn, f"bias_hh_l0{suffix}").copy_(reorder(b[d][gates * hidden:]))
    module = _Recurrent(rnn, kind, direction == "reverse", layout, len(node.output_values))
    names = [ins[0], ins[5]] + ([ins[6]] if kind == "LSTM" else [])
    return module.eval(), names


def _recurrent_class() -> Any:
    import torch
    from torch import nn

    class Recurrent(nn.Module):
        def __init__(self, rnn: Any, kind: str, reverse: bool, layout: int, n_out: int) -> None:
            super().__init__()
            self.rnn, self.kind, self.reverse, self.layout, self.n_out = rnn, kind, reverse, layout, n_out

        def forward(self, x: torch.Tensor, initial_h: torch.Tensor | None = None,
                    initial_c: torch.Tensor | None = None) -> Any:
            time_axis = 1 if self.layout == 1 else 0
            if self.reverse:  # torch runs a reverse-only RNN as a forward one over the flipped sequence
                x = torch.flip(x, [time_axis])
            h0 = c0 = None
            if initial_h is not None:
                h0 = initial_h.transpose(0, 1).contiguous() if self.layout == 1 else initial_h
            if initial_c is not None:
                c0 = initial_c.transpose(0, 1).contiguous() if self.layout == 1 else initial_c
            if self.kind == "LSTM":
                state = None if h0 is None and c0 is None else (
                    h0 if h0 is not None else torch.zeros_like(c0), c0 if c0 is not None else torch.zeros_like(h0))
                y, (h, c) = self.rnn(x, state)
                finals = [h, c]
            else:
                y, h = self.rnn(x, h0)
                finals = [h]
            if self.reverse:
                y = torch.flip(y, [time_axis])
            dirs = 2 if self.rnn.bidirectional else 1
            y = y.reshape(y.shape[0], y.shape[1], dirs, self.rnn.hidden_size)
            # ONNX Y: [seq, dirs, batch, hidden] (layout 0) or [batch, seq, dirs, hidden] (layout 1)
            y = y if self.layout == 1 else y.permute(0, 2, 1, 3)
            if self.layout == 1:
                finals = [f.transpose(0, 1) for f in finals]
            outs = [y, *finals][:self.n_out]
            return outs[0] if self.n_out == 1 else tuple(outs)

    return Recurrent


def _Recurrent(*args: Any) -> Any:  # noqa: N802 - a class built lazily (torch is imported inside)
    return _recurrent_class()(*args)


# ---------------------------------------------------------------- Loop


def _used_names(graph: Any) -> tuple[set[str], set[str]]:
    """(names used, names defined) by a graph's nodes, nested subgraphs included."""
    used: set[str] = set()
    defined: set[str] = {i.name for i in graph.input} | {i.name for i in graph.initializer}
    for node in graph.node:
        used.update(n for n in node.input if n)
        defined.update(n for n in node.output if n)
        for a in node.attribute:
            for g in ([a.g] if a.type == a.GRAPH else []) + list(a.graphs):
                u, d = _used_names(g)
                used |= u - d
    used.update(o.name for o in graph.output)
    return used, defined


def loop_module(node: Any, graph: Any) -> tuple[Any, list[str]]:
    """(torch module, ONNX input names it takes: M, cond, carried..., outer values the body reads)."""
    import onnx
    from onnx import helper

    body = next(a.g for a in node.proto.attribute if a.name == "body")
    used, defined = _used_names(body)
    outer = graph.proto
    outer_inits = {i.name: i for i in outer.initializer}
    free = sorted(used - defined)
    copied = [outer_inits[n] for n in free if n in outer_inits]
    passed = [n for n in free if n not in outer_inits]
    infos = dict(graph.value_info)

    def info(name: str) -> Any:
        if name in infos:
            return infos[name]
        return helper.make_value_info(name, onnx.TypeProto())

    # every body output through its own Identity: onnx2torch returns one value per producing node
    outs, nodes, out_infos = [], list(body.node), []
    for k, o in enumerate(body.output):
        name = f"{o.name}__portkit_out{k}"
        nodes.append(helper.make_node("Identity", [o.name], [name]))
        vi = onnx.ValueInfoProto()
        vi.CopyFrom(o)
        vi.name = name
        out_infos.append(vi)
        outs.append(name)
    g = helper.make_graph(nodes, "loop_body", list(body.input) + [info(n) for n in passed], out_infos,
                          list(body.initializer) + copied)
    opsets = [helper.make_opsetid(d, v) for d, v in (OPSETS or {"": 13}).items()]
    model = helper.make_model(g, opset_imports=opsets)
    model.ir_version = 8
    import onnx2torch

    converted = onnx2torch.convert(model)
    n_carried = len(body.input) - 2
    n_scan = len(body.output) - 1 - n_carried
    ins = list(node.input_values) + ["", ""]
    module = _loop_class()(converted, bool(ins[0]), bool(ins[1]), n_carried, n_scan)
    return module, [n for n in ins[:2] if n] + list(node.input_values)[2:] + passed


def _loop_class() -> Any:
    import torch
    from torch import nn

    class Loop(nn.Module):
        def __init__(self, body: Any, has_trip: bool, has_cond: bool, n_carried: int, n_scan: int) -> None:
            super().__init__()
            self.body, self.has_trip, self.has_cond = body, has_trip, has_cond
            self.n_carried, self.n_scan = n_carried, n_scan

        def forward(self, *values: Any) -> Any:
            trip = values[0] if self.has_trip else None
            cond = values[int(self.has_trip)] if self.has_cond else None
            rest = values[int(self.has_trip) + int(self.has_cond):]
            carried, free = list(rest[:self.n_carried]), list(rest[self.n_carried:])
            limit = None if trip is None else int(trip)  # traced: the trip count of the example
            keep = True if cond is None else bool(cond)
            cond_t = torch.tensor(True) if cond is None else cond
            scans: list[list[Any]] = [[] for _ in range(self.n_scan)]
            i = 0
            while keep and (limit is None or i < limit):
                outs = self.body(torch.tensor(i, dtype=torch.int64), cond_t, *carried, *free)
                outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
                cond_t, carried = outs[0], outs[1:1 + self.n_carried]
                for s, v in zip(scans, outs[1 + self.n_carried:], strict=True):
                    s.append(v)
                keep = bool(cond_t)
                i += 1
                if limit is None and i > 1_000_000:
                    raise RuntimeError("ONNX Loop without a trip count ran 1e6 steps")
            results = carried + [torch.stack(s, 0) for s in scans]
            return results[0] if len(results) == 1 else tuple(results)

    return Loop


# ---------------------------------------------------------------- ReverseSequence


def reverse_sequence_module(node: Any) -> Any:
    import torch
    from torch import nn

    class ReverseSequence(nn.Module):
        def __init__(self, batch_axis: int, time_axis: int) -> None:
            super().__init__()
            self.batch_axis, self.time_axis = batch_axis, time_axis

        def forward(self, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
            xt = x if self.batch_axis == 0 else x.transpose(0, 1)  # [batch, time, ...]
            steps = torch.arange(xt.shape[1], device=x.device).unsqueeze(0)  # [1, time]
            n = lens.to(torch.int64).unsqueeze(1)  # [batch, 1]
            index = torch.where(steps < n, n - 1 - steps, steps)  # [batch, time]: past a row's length, kept
            index = index.reshape(*index.shape, *[1] * (xt.dim() - 2)).expand_as(xt)
            out = torch.gather(xt, 1, index)
            return out if self.batch_axis == 0 else out.transpose(0, 1)

    batch_axis, time_axis = int(_attr(node, "batch_axis", 1)), int(_attr(node, "time_axis", 0))
    if {batch_axis, time_axis} != {0, 1}:
        raise NotImplementedError(f"ReverseSequence with batch_axis={batch_axis}, time_axis={time_axis}")
    return ReverseSequence(batch_axis, time_axis)
