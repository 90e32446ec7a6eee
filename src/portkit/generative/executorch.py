"""ExecuTorch: a causal LM as a static-cache program lowered to XNNPACK, and a greedy runner over it.

`export_pte` and `generate` run in the torch worker (ExecuTorch's AOT stack and its pybindings runtime
both need torch). The program follows ExecuTorch's LLM runner convention: one `forward(tokens (1, S) int64,
input_pos (S,) int64) -> logits (1, S, vocab)` method with a dynamic S up to the prefill window, the
key/value cache held in the program as mutable buffers of `cache_length` slots (transformers' StaticCache,
exported through its `TorchExportableModuleWithStaticCache` recipe), and the constant methods ExecuTorch's
runner reads (`get_max_seq_len`, `get_vocab_size`, `use_kv_cache`, `enable_dynamic_shape`).

The runner prefills the prompt in windows of at most `PREFILL` tokens and then decodes one token per call,
each call told its positions; `input_pos[0]` resets the cache's fill counter, so one loaded program
generates from many prompts (slots past the current position are masked causally, never read)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadInput

__all__ = ["PREFILL", "PteGenerator", "export_pte", "generate", "streams"]

PREFILL = 128  # the largest prefill call: ExecuTorch plans memory (logits included) for this many tokens


def _static_module(model: Any, cache_length: int) -> Any:
    """transformers' static-cache export recipe, with the cache tensors read through the module's buffers.

    The recipe registers the StaticCache's tensors as buffers, but its layers keep their own references to
    the real tensors; a non-strict torch.export swaps the module's buffers for traced ones only, so the layers'
    tensors would be lifted as constants aliasing the buffers (ExecuTorch's lowering then fails in
    aot_autograd's dedupe: "expected compiled_fn to be GraphModule") and the cache writes would be lost.
    Pointing the layers at the buffers at the top of forward makes every write a buffer mutation."""
    from transformers.integrations.executorch import TorchExportableModuleWithStaticCache

    class StaticCacheLM(TorchExportableModuleWithStaticCache):
        def forward(self, tokens: Any, input_pos: Any) -> Any:  # ExecuTorch's LLM runner argument names
            for i, layer in enumerate(self.static_cache.layers):
                layer.keys = getattr(self, f"key_cache_{i}")
                layer.values = getattr(self, f"value_cache_{i}")
                layer.cumulative_length = getattr(self, f"cumulative_length_{i}")
            return super().forward(input_ids=tokens, cache_position=input_pos)

    return StaticCacheLM(model, batch_size=1, max_cache_len=cache_length).eval()


def export_pte(location: str, metadata: dict[str, Any], output: str, cache_length: int,
               quantize: str | None = None) -> dict[str, Any]:
    """torch.export of the static-cache module (dynamic token count 1..PREFILL), lowered to XNNPACK with
    `to_edge_transform_and_lower`, written as a .pte. `quantize` (dynamic / int4): ExecuTorch's LLM weight
    quantization (8da8w / 8da4w, portkit.generative.quantize) of a copy of the model first."""
    import torch
    from executorch.exir import to_edge_transform_and_lower

    from ..converters.pt2_to_executorch import xnnpack_partitioner  # tanh-GELUs kept off XNNPACK
    from ..errors import converting
    from .source import load_lm, probe

    info = probe(location, metadata)
    assert info is not None
    model = load_lm(location, metadata)
    facts: dict[str, Any] = {}
    if quantize:  # on a copy: the warm worker's model generates the float reference
        import copy

        from .quantize import float_bytes, quantize_pte_model, record

        before = float_bytes(model)
        model = copy.deepcopy(model)
        with converting(f"causal LM → executorch --quantize {quantize} (torchao)", alternative="drop --quantize"):
            quantize_pte_model(model, quantize)
        facts = record(quantize, "executorch", bytes_before=before)
    gen = model.generation_config
    saved = (gen.cache_implementation, gen.use_cache)
    window = min(PREFILL, cache_length)
    with converting("causal LM → executorch (static kv cache, XNNPACK)", alternative="--to onnx"):
        try:
            gen.cache_implementation, gen.use_cache = "static", True  # what the recipe asserts
            module = _static_module(model, cache_length)
        finally:  # the warm worker's model generates the reference with its own dynamic cache
            gen.cache_implementation, gen.use_cache = saved
        seq = torch.export.Dim("tokens", min=1, max=window)
        example = (torch.zeros(1, min(3, window), dtype=torch.int64), torch.arange(min(3, window)))
        with torch.no_grad():
            program = torch.export.export(module, example, dynamic_shapes=({1: seq}, {0: seq}), strict=False)
        constants = {"get_max_seq_len": cache_length, "get_max_context_len": cache_length,
                     "get_vocab_size": info["vocab"], "get_n_layers": info["layers"], "use_kv_cache": True,
                     "enable_dynamic_shape": True}
        lowered = to_edge_transform_and_lower(program, partitioner=[xnnpack_partitioner()],
                                              constant_methods=constants).to_executorch()
        with open(output, "wb") as f:
            lowered.write_to_file(f)
    from ..versions import versions

    return {"generative": {**info, "cache": "static", "cache_length": cache_length, "prefill": window,
                           "method": "forward(tokens, input_pos) -> logits"},
            "backend": "XnnpackBackend", "versions": versions("torch", "executorch", "transformers"), **facts}


class PteGenerator:
    """ExecuTorch's runtime (pybindings) over a generative .pte: the cache lives in the program."""

    def __init__(self, path: str, threads: int | None = None) -> None:
        import torch
        from executorch.runtime import Runtime, Verification

        self.torch = torch
        if threads:  # ExecuTorch's own threadpool (XNNPACK's kernels) and torch's (the portable ops)
            from executorch.extension.pybindings import portable_lib

            portable_lib._unsafe_reset_threadpool(threads)
            torch.set_num_threads(threads)
        try:
            self.program = Runtime.get().load_program(Path(path), verification=Verification.Minimal)
            self.method = self.program.load_method("forward")
        except Exception as e:
            why = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            raise BadInput(f".pte program does not load: {why}", path=path,
                           hint="convert the model with `portkit convert SOURCE --to executorch`") from e
        names = set(self.program.method_names)
        meta = self.method.metadata
        if "use_kv_cache" not in names or meta.num_inputs() != 2:
            raise BadInput("the .pte is no generative program with a key/value cache (no use_kv_cache method, or "
                           "not forward(tokens, input_pos))", path=path,
                           hint="export it with `portkit convert SOURCE --to executorch` (cache by default)")
        self.cache_length = int(self._constant("get_max_seq_len"))
        self.window = int(meta.input_tensor_meta(0).sizes()[-1])  # the planned (largest) token count
        self.position = 0

    def _constant(self, name: str) -> Any:
        out = self.program.load_method(name).execute([])[0]
        return out.item() if hasattr(out, "item") else out

    def step(self, ids: np.ndarray, first: bool) -> np.ndarray:
        """Logits (S, vocab) for the new ids; the prompt goes in windows of the planned token count."""
        torch = self.torch
        if first:
            self.position = 0
        tokens = torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))
        n = tokens.shape[1]
        if self.position + n > self.cache_length:
            raise BadInput(f"{self.position + n} positions need more cache slots than the program's "
                           f"{self.cache_length}", hint="pass fewer --tokens, or convert with a larger --cache-length")
        rows = []
        for start in range(0, n, self.window):
            chunk = tokens[:, start:start + self.window].contiguous()
            pos = torch.arange(self.position, self.position + chunk.shape[1], dtype=torch.int64)
            rows.append(self.method.execute([chunk, pos])[0][0].numpy().copy())
            self.position += chunk.shape[1]
        return rows[0] if len(rows) == 1 else np.concatenate(rows)

    def generate(self, prompt: list[int], steps: int) -> Any:
        from .runners import greedy

        if len(prompt) + steps > self.cache_length:
            raise BadInput(f"{len(prompt)} prompt tokens + {steps} generated need {len(prompt) + steps} cache "
                           f"slots; the program's cache holds {self.cache_length}",
                           hint="pass fewer --tokens, or convert with a larger --cache-length")
        return greedy(self.step, prompt, steps)

    def close(self) -> None:
        self.method = self.program = None


def generate(path: str, prompts: list[list[int]], steps: int) -> list[dict[str, Any]]:
    """Greedy generation from each prompt (in the torch worker)."""
    gen = PteGenerator(path)
    try:
        return [gen.generate(p, steps).to_dict() for p in prompts]
    finally:
        gen.close()


def streams(path: str, prompts: list[list[int]], tokens: list[list[int]]) -> list[np.ndarray]:
    """Teacher-forced logits over each prompt + the reference's tokens (in the torch worker)."""
    from .runners import teacher_forced

    gen = PteGenerator(path)
    try:
        return [teacher_forced(gen.step, p, t) for p, t in zip(prompts, tokens, strict=True)]
    finally:
        gen.close()
