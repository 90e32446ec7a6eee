"""onnx2torch converter for ONNX `ConvTranspose` with the paddings onnx2torch refuses.

onnx2torch builds `nn.ConvTransposeNd` with symmetric `pads` only ("ConvTranspose with non symmetrical padding
is not implemented") and no `auto_pad=SAME_*` or `output_shape`: Keras' `Conv2DTranspose(padding="same",
strides=2)` exported by tf2onnx has pads like [0, 0, 1, 1] (TensorFlow crops the extra row and column at the
end). Here the transposed convolution runs unpadded (every position an input reaches) and the result is
cropped — or, for `output_padding` and a larger `output_shape`, extended with zeros — to what ONNX defines:

    full     = (in - 1) * stride + (kernel - 1) * dilation + 1
    out      = full + output_padding - pad_begin - pad_end
    y        = crop(full result)[pad_begin : pad_begin + out] + bias

With `output_shape` or `auto_pad=SAME_UPPER/SAME_LOWER` (out = in * stride) the pads follow from the input size
at run time, split as the ONNX specification says (SAME_UPPER puts the odd one at the end). Symmetric pads and
no `output_shape` keep onnx2torch's own converter.
"""
from __future__ import annotations

from typing import Any


def _split(total: int, upper: bool) -> tuple[int, int]:
    """ONNX: SAME_UPPER pads begin total//2, end the rest; otherwise (SAME_LOWER, NOTSET with output_shape)
    begin the rest, end total//2."""
    return (total // 2, total - total // 2) if upper else (total - total // 2, total // 2)


def conv_transpose(node: Any, graph: Any, stock: Any) -> Any:
    """The onnx2torch converter result for a ConvTranspose node; `stock`: onnx2torch's own converter."""
    import torch
    from onnx2torch.utils.common import OnnxMapping, OperationConverterResult
    from torch import nn

    attrs = node.attributes
    ins = list(node.input_values)
    auto_pad = attrs.get("auto_pad", "NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if ins[1] not in graph.initializers or (len(ins) > 2 and ins[2] and ins[2] not in graph.initializers):
        return stock(node, graph)  # computed weights: onnx2torch's converter says what it cannot do
    weight = graph.initializers[ins[1]].to_torch()
    rank = weight.dim() - 2
    pads = list(attrs.get("pads", [0] * 2 * rank))
    output_shape = attrs.get("output_shape")
    if auto_pad in ("NOTSET", "VALID") and output_shape is None and pads[:rank] == pads[rank:]:
        return stock(node, graph)
    bias = graph.initializers[ins[2]].to_torch() if len(ins) > 2 and ins[2] else None
    strides = list(attrs.get("strides", [1] * rank))
    dilations = list(attrs.get("dilations", [1] * rank))
    out_pad = list(attrs.get("output_padding", [0] * rank))
    groups = int(attrs.get("group", 1))
    kernel = list(weight.shape[2:])
    cls = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}.get(rank)
    if cls is None:
        raise NotImplementedError(f"ConvTranspose with spatial rank {rank} is not implemented")
    conv = cls(weight.shape[0], weight.shape[1] * groups, kernel, stride=strides, dilation=dilations,
               groups=groups, bias=False)
    with torch.no_grad():
        conv.weight.copy_(weight)
    if auto_pad == "VALID":
        pads = [0] * 2 * rank
    # the output size per spatial axis: None = from pads; else from output_shape / SAME (needs the input size)
    target = None
    if output_shape is not None:
        target = list(output_shape)[-rank:]
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        target = "same"
    module = _CroppedConvTranspose(conv, bias, pads, out_pad, strides, dilations, kernel, target,
                                   auto_pad == "SAME_UPPER")
    return OperationConverterResult(torch_module=module,
                                    onnx_mapping=OnnxMapping(inputs=(ins[0],), outputs=node.output_values))


def _class() -> Any:
    import torch
    from torch import nn

    class CroppedConvTranspose(nn.Module):
        def __init__(self, conv: Any, bias: Any, pads: list[int], out_pad: list[int], strides: list[int],
                     dilations: list[int], kernel: list[int], target: Any, upper: bool) -> None:
            super().__init__()
            self.conv = conv
            self.register_buffer("bias", None if bias is None else bias.reshape(1, -1, *[1] * len(kernel)))
            self.pads, self.out_pad, self.strides = pads, out_pad, strides
            self.dilations, self.kernel, self.target, self.upper = dilations, kernel, target, upper

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            rank = len(self.kernel)
            begin, end = list(self.pads[:rank]), list(self.pads[rank:])
            if self.target is not None:
                for i in range(rank):
                    size = int(x.shape[2 + i])
                    full = (size - 1) * self.strides[i] + (self.kernel[i] - 1) * self.dilations[i] + 1
                    want = size * self.strides[i] if self.target == "same" else int(self.target[i])
                    begin[i], end[i] = _split(full + self.out_pad[i] - want, self.upper)
            # F.pad: the last axis first; a negative amount crops, a positive one appends zeros
            amounts: list[int] = []
            for i in reversed(range(rank)):
                amounts += [-begin[i], self.out_pad[i] - end[i]]
            y = torch.nn.functional.pad(y, amounts)
            return y if self.bias is None else y + self.bias

    return CroppedConvTranspose


def _CroppedConvTranspose(*args: Any) -> Any:  # noqa: N802 - a class built lazily (torch is imported inside)
    return _class()(*args)
