"""Weight quantization of a causal LM's cache ONNX: onnxruntime's MatMulNBits (blockwise int8 weights,
dequantized in the kernel; activations and the cache stay float32).

`--quantize dynamic` on `portkit convert LM --to onnx`: every MatMul whose weight is an initializer (the
q/k/v/o projections, the MLP, the LM head; not attention's activation × activation products) becomes
MatMulNBits with 8-bit symmetric weights in blocks of BLOCK along the input axis. The result is judged by
generation (portkit.generative.check): next-token agreement over the float reference's streams, the
perplexity of those streams, and the greedy tokens, beside the size change."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import BadInput, converting

__all__ = ["BLOCK", "KINDS", "check_kind", "quantize_weights"]

BLOCK = 32
KINDS = {"dynamic": 8}  # --quantize kind -> weight bits (int4 would need a kind the options do not name yet)


def check_kind(kind: str | None, target: str, location: str) -> None:
    """Never a silently float result: what the cache exports cannot quantize is exit 2."""
    if not kind:
        return
    if target != "onnx" or kind not in KINDS:
        raise BadInput(f"--quantize {kind}: a causal LM exported with its cache quantizes to onnx with --quantize "
                       "dynamic (int8 weights, onnxruntime MatMulNBits) only", path=location,
                       hint="use --to onnx --quantize dynamic, or --no-cache to quantize the one-pass graph")


def quantize_weights(path: str, kind: str) -> dict[str, Any]:
    """Rewrite the ONNX at `path` in place with MatMulNBits weights; what to record in the sidecar."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    before = Path(path).stat().st_size
    with converting("onnx → MatMulNBits weight quantization", alternative="drop --quantize"):
        q = MatMulNBitsQuantizer(onnx.load(path), bits=KINDS[kind], block_size=BLOCK, is_symmetric=True)
        q.process()
        nodes = sum(1 for n in q.model.model.graph.node if n.op_type == "MatMulNBits")
        q.model.save_model_to_file(path, use_external_data_format=False)
    return {"quantized": kind, "quantization": {"tool": "onnxruntime MatMulNBits", "bits": KINDS[kind],
                                                "block_size": BLOCK, "symmetric": True, "nodes": nodes,
                                                "bytes_before": before, "bytes_after": Path(path).stat().st_size}}
