"""A small fp16 cast pass, used only where onnxruntime.transformers.float16 cannot be imported.

Float32 initializers and Constant tensors become float16, Cast-to-float32 nodes cast to float16, and (with
keep_io_types) float32 graph inputs/outputs stay float32 behind Cast nodes. Good for plain CNN/MLP graphs;
onnxruntime's converter also handles ops whose inputs must stay float32, so it is preferred.
"""
from __future__ import annotations

from typing import Any

__all__ = ["cast_to_fp16"]


def cast_to_fp16(model: Any, keep_io_types: bool = True, **_: Any) -> Any:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    f32, f16 = TensorProto.FLOAT, TensorProto.FLOAT16

    def half(t: Any) -> Any:
        arr = numpy_helper.to_array(t).astype(np.float16)
        return numpy_helper.from_array(arr, t.name)

    for i, t in enumerate(list(g.initializer)):
        if t.data_type == f32:
            g.initializer[i].CopyFrom(half(t))
    for node in g.node:
        for a in node.attribute:
            if node.op_type == "Constant" and a.type == onnx.AttributeProto.TENSOR and a.t.data_type == f32:
                a.t.CopyFrom(half(a.t))
            if node.op_type == "Cast" and a.name == "to" and a.i == f32:
                a.i = f16
    del g.value_info[:]
    casts_in, casts_out = [], []
    for vi in g.input:
        if vi.type.tensor_type.elem_type != f32:
            continue
        if keep_io_types:
            new = vi.name + "_fp16"
            for node in g.node:
                node.input[:] = [new if x == vi.name else x for x in node.input]
            casts_in.append(helper.make_node("Cast", [vi.name], [new], to=f16, name=f"{vi.name}_to_fp16"))
        else:
            vi.type.tensor_type.elem_type = f16
    for vo in g.output:
        if vo.type.tensor_type.elem_type != f32:
            continue
        if keep_io_types:
            new = vo.name + "_fp16"
            for node in g.node:
                node.output[:] = [new if x == vo.name else x for x in node.output]
                node.input[:] = [new if x == vo.name else x for x in node.input]
            casts_out.append(helper.make_node("Cast", [new], [vo.name], to=f32, name=f"{vo.name}_to_fp32"))
        else:
            vo.type.tensor_type.elem_type = f16
    nodes = casts_in + list(g.node) + casts_out
    del g.node[:]
    g.node.extend(nodes)
    return model
