"""Weight quantization of a causal LM exported with its cache, with each runtime's own weight-quantized kernels
(activations and the cache stay float32 in the artifact's inputs and outputs):

    onnx        after the export, onnxruntime's MatMulNBitsQuantizer: every MatMul whose weight is an
                initializer (the q/k/v/o projections, the MLP, the LM head; not attention's activation ×
                activation products) becomes MatMulNBits, symmetric weights in blocks of BLOCK along the input
                axis (the kernel dequantizes them): `dynamic` 8 bits, `int4` 4 bits
    executorch  before the export, ExecuTorch's LLM source transform (extension.llm.export.quantize, torchao):
                every nn.Linear's weight quantized, activations quantized on the fly per token, lowered to
                XNNPACK's dynamically quantized linear kernels: `dynamic` 8da8w (int8 per channel), `int4`
                8da4w (int4 in groups of BLOCK)
    tflite      litert-torch's own quantization step of its generative export (ai-edge-quantizer's recipe
                `dynamic_wi8_afp32`: int8 channelwise weights, activations quantized on the fly): `dynamic`

The result is judged by generation (portkit.generative.check): next-token agreement over the float
reference's streams, the perplexity of those streams, and the greedy tokens, beside the size change."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import BadInput, converting

__all__ = ["BLOCK", "KINDS", "check_kind", "float_bytes", "quantize_pte_model", "quantize_weights"]

BLOCK = 32  # ORT's MatMulNBits and ExecuTorch's 8da4w both default to blocks/groups of 32 for LLM weights
# target -> --quantize kind -> what that runtime's quantizer is told
KINDS: dict[str, dict[str, Any]] = {
    "onnx": {"dynamic": 8, "int4": 4},  # MatMulNBits bits
    "executorch": {"dynamic": "8da8w", "int4": "8da4w"},  # extension.llm.export.quantize qlinear_config
    "tflite": {"dynamic": "dynamic_wi8_afp32"},  # ai-edge-quantizer recipe (litert-torch's quantization_recipe)
}
TOOLS = {"onnx": "onnxruntime MatMulNBits", "executorch": "torchao via executorch extension.llm (XNNPACK)",
         "tflite": "ai-edge-quantizer via litert-torch"}


def check_kind(kind: str | None, target: str, location: str) -> None:
    """Never a silently float result: what the runtime has no weight-quantized kernels for is exit 2."""
    if not kind:
        return
    if kind not in KINDS.get(target, {}):
        takes = "; ".join(f"--to {t} --quantize {' / '.join(k)}" for t, k in KINDS.items())
        raise BadInput(f"--quantize {kind}: a causal LM exported with its cache has no {kind} weights on {target} "
                       f"(it quantizes with {takes})", path=location,
                       hint="pick one of those, or --no-cache to quantize the one-pass graph")


def describe(kind: str, target: str) -> str:
    """One line for the log: what `kind` stores on `target`."""
    what = KINDS[target][kind]
    if target == "onnx":
        return f"int{what} weights in blocks of {BLOCK} ({TOOLS[target]})"
    if target == "executorch":
        weights = f"int4 weights in groups of {BLOCK}" if what == "8da4w" else "int8 weights per channel"
        return f"{what} ({weights}, int8 activations per token; {TOOLS[target]})"
    return f"{what} ({TOOLS[target]})"


def record(kind: str, target: str, **facts: Any) -> dict[str, Any]:
    """The sidecar's `quantized` (switches validation to the quantized criteria) and `quantization` facts."""
    return {"quantized": kind, "quantization": {"tool": TOOLS[target], "scheme": KINDS[target][kind], **facts}}


def float_bytes(model: Any) -> int:
    """The float32 size of a torch model's parameters (tied ones once): the size a float export stores."""
    return sum(p.numel() * 4 for p in model.parameters())


def quantize_pte_model(model: Any, kind: str) -> None:
    """(torch worker) ExecuTorch's own LLM quantization, in place, before torch.export: torchao tensor
    subclasses that XNNPACK's partitioner lowers to its dynamically quantized linear kernels."""
    import contextlib
    import io

    from executorch.extension.llm.export.quantize import quantize_model_

    with contextlib.redirect_stdout(io.StringIO()):  # it prints a line per config
        quantize_model_(model, qlinear_config=KINDS["executorch"][kind],
                        qlinear_group_size=BLOCK if kind == "int4" else None, skip_incompatible_shapes=True)


def quantize_weights(path: str, kind: str) -> dict[str, Any]:
    """Rewrite the ONNX at `path` in place with MatMulNBits weights; what to record in the sidecar."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    bits = KINDS["onnx"][kind]
    before = Path(path).stat().st_size
    with converting("onnx → MatMulNBits weight quantization", alternative="drop --quantize"):
        q = MatMulNBitsQuantizer(onnx.load(path), bits=bits, block_size=BLOCK, is_symmetric=True)
        q.process()
        nodes = sum(1 for n in q.model.model.graph.node if n.op_type == "MatMulNBits")
        q.model.save_model_to_file(path, use_external_data_format=False)
    return record(kind, "onnx", bits=bits, block_size=BLOCK, symmetric=True, nodes=nodes, bytes_before=before,
                  bytes_after=Path(path).stat().st_size)
