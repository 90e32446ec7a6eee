"""onnx2torch converters portkit installs over (or beside) onnx2torch's own, for the ONNX → TorchScript edge.

1. Shape arithmetic that survives `torch.jit.trace`. onnx2torch's `Shape` is `torch.tensor(x.shape)` and its
   Reshape / Expand / ConstantOfShape / Tile / Range / GatherND turn shape tensors into Python ints (`torch.Size(t)`,
   `.item()`): under tracing both become constants, so the TorchScript bakes the example's batch and sequence
   into every reshape of a transformer and fails at any other size. Here `Shape` is
   `torch._shape_as_tensor` (traced as `aten::_shape_as_tensor`) and the consumers pass the shape tensor's
   0-dim elements as sizes, which the tracer records as `aten::Int` of the computed value: the traced
   TorchScript keeps every dynamic dim. Eager results are the same as onnx2torch's.
2. Flatten as ONNX defines it at every axis (onnx2torch's fails at axis 0 and axis == rank), and CumSum
   with ONNX's default `reverse=0` (onnx2torch's defaults to 1: RoBERTa's position ids came out reversed),
   and LayerNormalization shaped from its scale (onnx2torch's takes the inferred input shape, [0] where a
   Reshape to -1 left it unknown), and Clip with bounds computed at run time (onnx2torch takes constants
   only) or of an integer tensor (onnx2torch's reads the bounds as floats: the result came out float).
3. What Keras recurrent layers become, which onnx2torch has no converter for: ONNX `LSTM`, `GRU`, `Loop`
   and `ReverseSequence` (converters/_onnx2torch_rnn.py).
4. ConvTranspose with asymmetric pads, `auto_pad=SAME_*` or `output_shape` (Keras' Conv2DTranspose with
   padding="same"), which onnx2torch refuses (converters/_onnx2torch_conv.py).

`install()` registers them in onnx2torch's converter registry (replacing the entries for the same op and
version); it is idempotent and runs in the worker of the ONNX → TorchScript hop only.
"""
from __future__ import annotations

from typing import Any

_INSTALLED = False


def install(model: Any = None) -> None:
    """Register portkit's converters; `model`: the ONNX model about to be converted (its opsets are those
    a Loop body is converted at)."""
    global _INSTALLED
    if model is not None:
        from . import _onnx2torch_rnn

        _onnx2torch_rnn.OPSETS.clear()
        _onnx2torch_rnn.OPSETS.update({o.domain: o.version for o in model.opset_import})
    if _INSTALLED:
        return
    from onnx2torch.node_converters import registry

    for (op, versions), factory in {**_converters(), **_more_converters()}.items():
        for version in versions:
            desc = registry.OperationDescription(domain="", operation_type=op, version=version)
            registry._CONVERTER_REGISTRY[desc] = factory  # noqa: SLF001 - onnx2torch has no public override
    _INSTALLED = True


def _more_converters() -> dict[tuple[str, tuple[int, ...]], Any]:
    """ConvTranspose with the paddings onnx2torch refuses; ReverseSequence (Keras' Bidirectional RNNs)."""
    from onnx2torch.node_converters.registry import get_converter
    from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node

    from ._onnx2torch_conv import conv_transpose
    from ._onnx2torch_rnn import reverse_sequence_module

    stock = {v: get_converter("ConvTranspose", v) for v in (1, 11)}
    out: dict[tuple[str, tuple[int, ...]], Any] = {
        ("ConvTranspose", (v,)): (lambda node, graph, s=stock[v]: conv_transpose(node, graph, s)) for v in stock}
    out[("ReverseSequence", (10,))] = lambda node, graph: OperationConverterResult(
        torch_module=reverse_sequence_module(node), onnx_mapping=onnx_mapping_from_node(node))
    return out


def _converters() -> dict[tuple[str, tuple[int, ...]], Any]:
    import torch
    from onnx2torch.utils.common import OnnxMapping, OperationConverterResult, onnx_mapping_from_node
    from torch import nn

    def sizes(shape: torch.Tensor) -> list[Any]:
        """A 1-D shape tensor as a list of 0-dim tensors: sizes the tracer keeps symbolic."""
        return list(shape.reshape(-1).unbind(0))

    class Shape(nn.Module):
        def __init__(self, start: int = 0, end: int | None = None) -> None:
            super().__init__()
            self.start, self.end = start, end

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch._shape_as_tensor(x)[self.start:self.end].to(x.device)

    class Reshape(nn.Module):
        def forward(self, x: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
            dims = sizes(shape)
            # allowzero=0: a 0 copies the input's dim (the positions of zeros are static in practice)
            return torch.reshape(x, [x.size(i) if bool(d == 0) else d for i, d in enumerate(dims)])

    class Expand(nn.Module):
        def forward(self, x: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
            # ONNX Expand broadcasts both ways (a 1 in `shape` keeps x's dim), as multiplying by ones does
            return x * torch.ones(sizes(shape), dtype=x.dtype, device=x.device)

    class Tile(nn.Module):
        def forward(self, x: torch.Tensor, repeats: torch.Tensor) -> torch.Tensor:
            return x.repeat(sizes(repeats))

    class ConstantOfShape(nn.Module):
        def __init__(self, value: torch.Tensor) -> None:
            super().__init__()
            self.register_buffer("value", value.reshape(()))

        def forward(self, shape: torch.Tensor) -> torch.Tensor:
            return self.value.expand(sizes(shape)).clone()

    class Range(nn.Module):
        def forward(self, start: torch.Tensor, limit: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
            return torch.arange(start.reshape(()), limit.reshape(()), delta.reshape(()), dtype=start.dtype,
                                device=start.device)

    class GatherND(nn.Module):
        def forward(self, data: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
            m = indices.shape[-1]
            flat = indices.reshape(-1, m).transpose(0, 1)
            picked = data[tuple(flat.unbind(0))]
            return picked.reshape(list(indices.shape[:-1]) + list(data.shape[m:]))

    def gather_nd(node: Any, graph: Any) -> Any:
        if node.attributes.get("batch_dims", 0) != 0:
            raise NotImplementedError("GatherND with batch_dims != 0 is not implemented")
        return OperationConverterResult(torch_module=GatherND(), onnx_mapping=onnx_mapping_from_node(node))

    class Flatten(nn.Module):
        """ONNX Flatten: always 2-D, (prod of dims before axis, prod of the rest); onnx2torch's fails on
        axis 0 and on axis == rank (a [B, S] mask flattened at axis 2 is [B*S, 1])."""

        def __init__(self, axis: int) -> None:
            super().__init__()
            self.axis = axis

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            axis = self.axis + x.dim() if self.axis < 0 else self.axis
            if axis == 1 and x.dim() >= 2:
                return torch.flatten(x, 1)
            lead: Any = 1
            for d in x.shape[:axis]:
                lead = lead * d
            return x.reshape(lead, -1) if axis < x.dim() else x.reshape(lead, 1)

    def flatten(node: Any, graph: Any) -> Any:
        return OperationConverterResult(torch_module=Flatten(node.attributes.get("axis", 1)),
                                        onnx_mapping=onnx_mapping_from_node(node))

    class CumSum(nn.Module):
        """ONNX CumSum; onnx2torch's reads a missing `reverse` attribute as 1 (the default is 0), so RoBERTa's
        position ids (a cumsum of the padding mask) came out reversed."""

        def __init__(self, exclusive: bool, reverse: bool) -> None:
            super().__init__()
            self.exclusive, self.reverse = exclusive, reverse

        def forward(self, x: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
            dim = int(axis.reshape(()))
            if self.reverse:
                x = torch.flip(x, [dim])
            y = torch.cumsum(x, dim, dtype=x.dtype)
            if self.exclusive:
                y = y - x
            return torch.flip(y, [dim]) if self.reverse else y

    def cumsum(node: Any, graph: Any) -> Any:
        attrs = node.attributes
        return OperationConverterResult(
            torch_module=CumSum(bool(attrs.get("exclusive", 0)), bool(attrs.get("reverse", 0))),
            onnx_mapping=onnx_mapping_from_node(node))

    from onnx2torch.node_converters.registry import get_converter

    onnx_layernorm = get_converter("LayerNormalization", 17)

    def layer_norm(node: Any, graph: Any) -> Any:
        """onnx2torch builds nn.LayerNorm with normalized_shape from the inferred input shape, which is [0]
        where a Reshape to -1 leaves the normalized dims unknown (MobileViT): take it from the scale."""
        ins = list(node.input_values)
        axis = node.attributes.get("axis", -1)
        scale = graph.initializers.get(ins[1]) if len(ins) > 1 else None
        bias = graph.initializers.get(ins[2]) if len(ins) > 2 and ins[2] else None
        if scale is None or (len(ins) > 2 and ins[2] and bias is None) or axis >= 0:
            return onnx_layernorm(node, graph)
        weight = scale.to_torch()
        if weight.dim() != -axis:
            return onnx_layernorm(node, graph)
        module = nn.LayerNorm(tuple(weight.shape), eps=node.attributes.get("epsilon", 1e-5),
                              elementwise_affine=True, bias=bias is not None)
        with torch.no_grad():
            module.weight.copy_(weight)
            if bias is not None:
                module.bias.copy_(bias.to_torch())
        return OperationConverterResult(torch_module=module,
                                        onnx_mapping=OnnxMapping(inputs=(ins[0],), outputs=node.output_values))

    onnx_clip = get_converter("Clip", 13)

    class Clip(nn.Module):
        """Clip whose bounds are computed at run time (EdgeNeXt: clamp(min=eps) of a norm's tensor eps);
        onnx2torch takes constant bounds only."""

        def __init__(self, has_min: bool, has_max: bool) -> None:
            super().__init__()
            self.has_min, self.has_max = has_min, has_max

        def forward(self, x: torch.Tensor, *bounds: torch.Tensor) -> torch.Tensor:
            it = iter(bounds)
            low = next(it).reshape(()) if self.has_min else None
            high = next(it).reshape(()) if self.has_max else None
            return torch.clamp(x, low, high)

    class IntClip(nn.Module):
        """Clip of an integer tensor by constant bounds, kept integer: onnx2torch's reads the bounds as
        floats, and torch.clamp of an int64 tensor by float bounds is a float tensor (DeBERTa-v2's clamped
        relative positions at a dynamic sequence, then GatherElements' indices: "got torch.float32")."""

        def __init__(self, low: int | None, high: int | None) -> None:
            super().__init__()
            self.low, self.high = low, high

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.clamp(x, self.low, self.high)

    def clip(node: Any, graph: Any) -> Any:
        ins = list(node.input_values) + ["", ""]
        bounds = [b for b in ins[1:3] if b]
        if all(b in graph.initializers for b in bounds):
            values = {b: graph.initializers[b].to_torch() for b in bounds}
            if not any(v.dtype.is_floating_point for v in values.values()) and bounds:
                low, high = (int(values[b].reshape(())) if b else None for b in ins[1:3])
                return OperationConverterResult(torch_module=IntClip(low, high),
                                                onnx_mapping=OnnxMapping(inputs=(ins[0],),
                                                                         outputs=node.output_values))
            return onnx_clip(node, graph)
        return OperationConverterResult(torch_module=Clip(bool(ins[1]), bool(ins[2])),
                                        onnx_mapping=OnnxMapping(inputs=(ins[0], *bounds),
                                                                 outputs=node.output_values))

    def simple(module_cls: type) -> Any:
        def convert(node: Any, graph: Any) -> Any:
            return OperationConverterResult(torch_module=module_cls(), onnx_mapping=onnx_mapping_from_node(node))
        return convert

    def shape(node: Any, graph: Any) -> Any:
        attrs = node.attributes
        return OperationConverterResult(torch_module=Shape(attrs.get("start", 0), attrs.get("end", None)),
                                        onnx_mapping=onnx_mapping_from_node(node))

    def reshape(node: Any, graph: Any) -> Any:
        if node.attributes.get("allowzero", 0) == 1:
            raise NotImplementedError('Reshape "allowzero=1" is not implemented')
        return OperationConverterResult(torch_module=Reshape(), onnx_mapping=onnx_mapping_from_node(node))

    def constant_of_shape(node: Any, graph: Any) -> Any:
        value = node.attributes.get("value")
        value = value.to_torch() if value is not None else torch.tensor(0.0, dtype=torch.float32)
        return OperationConverterResult(torch_module=ConstantOfShape(value), onnx_mapping=onnx_mapping_from_node(node))

    def recurrent(kind: str) -> Any:
        def convert(node: Any, graph: Any) -> Any:
            from . import _onnx2torch_rnn

            if kind == "Loop":
                module, inputs = _onnx2torch_rnn.loop_module(node, graph)
            else:
                module, inputs = _onnx2torch_rnn.module_for(kind, node, graph)
            return OperationConverterResult(torch_module=module,
                                            onnx_mapping=OnnxMapping(inputs=inputs, outputs=node.output_values))
        return convert

    return {
        ("Shape", (1, 13, 15)): shape,
        ("Reshape", (5, 13, 14)): reshape,
        ("Expand", (8, 13)): simple(Expand),
        ("Tile", (6, 13)): simple(Tile),
        ("ConstantOfShape", (9,)): constant_of_shape,
        ("Range", (11,)): simple(Range),
        ("GatherND", (11, 12, 13)): gather_nd,
        ("Flatten", (9, 11, 13)): flatten,
        ("CumSum", (11, 14)): cumsum,
        ("LayerNormalization", (17,)): layer_norm,
        ("Clip", (11, 12, 13)): clip,
        ("LSTM", (7, 14)): recurrent("LSTM"),
        ("GRU", (7, 14)): recurrent("GRU"),
        ("Loop", (1, 11, 13, 16)): recurrent("Loop"),
    }
