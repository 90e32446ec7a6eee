"""LiteRT: export with litert-torch's generative path (prefill + decode signatures over a static KV cache,
the layout LiteRT-LM runs) and a greedy runner over those signatures.

`export_tflite` runs in the torch worker (litert-torch); `generate` in the tf worker (LiteRT's
interpreter). The runner does what LiteRT-LM does: prefill the prompt but its last token in windows of the
prefill signature's length (padding masked out), then decode the last prompt token and every generated
one; the cache tensors a signature returns are the next call's inputs."""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import numpy as np

from ..errors import BadInput

__all__ = ["PREFILL", "LiteRtGenerator", "export_tflite", "generate", "streams"]

PREFILL = 32  # the prefill signature's window (prompts are prefilled in windows of this many tokens)


def export_tflite(location: str, metadata: dict[str, Any], output: str, cache_length: int,
                  quantize: str | None = None) -> dict[str, Any]:
    """litert_torch.generative.export_hf's text prefill/decode export of the loaded model (no LiteRT-LM
    bundle: the .tflite itself): float32 weights, or with `quantize` (dynamic) litert-torch's own
    quantization step with ai-edge-quantizer's recipe (portkit.generative.quantize)."""
    import torch
    from litert_torch.generative.export_hf.core import export_lib, exportable_module

    from .quantize import KINDS, float_bytes, record
    from .source import load_lm, probe

    info = probe(location, metadata)
    assert info is not None
    import copy

    model = copy.deepcopy(load_lm(location, metadata))  # litert-torch patches the model it exports
    work = tempfile.mkdtemp(prefix="portkit-litert-")
    try:
        cfg = exportable_module.ExportableModuleConfig(
            model=location, output_dir=work, work_dir=work, prefill_lengths=[PREFILL], cache_length=cache_length,
            quantization_recipe=KINDS["tflite"][quantize] if quantize else None,  # applied after the conversion
            bundle_litert_lm=False, keep_temporary_files=True)
        # export_text_prefill_decode_model switches the (copied) model to litert-torch's attention itself
        config = model.config
        if getattr(config, "num_key_value_heads", None) is None:
            # litert-torch sizes its cache by num_key_value_heads, which configs without grouped-query
            # attention (GPT-2: n_head) do not have; there every head has its own key/value head
            config.num_key_value_heads = config.num_attention_heads
        arts = export_lib.SourceModelArtifacts(model=model, model_config=config, text_model_config=config,
                                               tokenizer=None)
        cfg = export_lib.update_export_config(cfg, arts)
        with torch.no_grad():
            out = export_lib.export_text_prefill_decode_model(arts, cfg, export_lib.ExportedModelArtifacts())
        path = out.prefill_decode_model_path
        # litert-torch quantizes the float .tflite it wrote (NAME.tflite → NAME_quantized.tflite): weigh that one
        plain = path.removesuffix("_quantized.tflite") + ".tflite"
        before = os.path.getsize(plain) if quantize and plain != path and os.path.exists(plain) else None
        shutil.move(path, output)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    facts = record(quantize, "tflite", bytes_before=before or float_bytes(model), float_file=before is not None) \
        if quantize else {}
    return {"generative": {**info, "cache": "static", "cache_length": cache_length, "prefill": PREFILL,
                           "signatures": [f"prefill_{PREFILL}", "decode"]}, **facts}


class LiteRtGenerator:
    """LiteRT's interpreter over the prefill/decode signatures; the cache tensors go in and out of each call."""

    def __init__(self, path: str, threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interp = Interpreter(model_path=path, num_threads=threads)
        sigs = self.interp.get_signature_list()
        prefills = sorted(s for s in sigs if s.startswith("prefill"))
        if "decode" not in sigs or not prefills:
            raise BadInput("the TFLite model has no prefill/decode signatures", path=path,
                           hint="export it with `portkit convert SOURCE --to tflite` (cache by default)")
        self.prefill = self.interp.get_signature_runner(prefills[0])
        self.decode = self.interp.get_signature_runner("decode")
        details = self.decode.get_input_details()
        self.cache_names = [n for n in details if n.startswith("kv_cache")]
        self.shapes = {n: tuple(details[n]["shape"]) for n in self.cache_names}
        self.cache_length = int(details["mask"]["shape"][-1])
        self.window = int(self.prefill.get_input_details()["tokens"]["shape"][-1])

    def _mask(self, positions: np.ndarray) -> np.ndarray:
        """Additive mask (1, 1, q, cache): query at position p sees the cache slots 0..p."""
        slots = np.arange(self.cache_length)[None, :]
        keep = slots <= positions[:, None]
        return np.where(keep, 0.0, np.finfo(np.float32).min).astype(np.float32)[None, None]

    def step(self, ids: np.ndarray, first: bool) -> np.ndarray:
        """The runner contract (portkit.generative.runners.greedy): the prompt's ids on the first call, one id
        after. The prompt but its last token is prefilled in windows; the last goes through decode, whose
        logits (1, vocab) are the prompt's last position (the prefill signature returns none)."""
        ids = np.asarray(ids).reshape(-1)
        if first:
            self.cache = {n: np.zeros(s, np.float32) for n, s in self.shapes.items()}
            self.position = 0
            head = ids[:-1]
            for start in range(0, len(head), self.window):
                chunk = head[start:start + self.window]
                tokens = np.zeros((1, self.window), np.int32)
                tokens[0, :len(chunk)] = chunk
                pos = np.arange(start, start + self.window, dtype=np.int32)
                out = self.prefill(tokens=tokens, input_pos=pos, mask=self._mask(pos), **self.cache)
                self.cache = {n: out[n] for n in self.cache_names}
            self.position = len(head)
        if self.position + 1 > self.cache_length:
            raise BadInput(f"{self.position + 1} positions need more cache slots than the model's {self.cache_length}",
                           hint="pass fewer --tokens, or convert with a larger --cache-length")
        pos = np.array([self.position], np.int32)
        out = self.decode(tokens=np.array([[int(ids[-1])]], np.int32), input_pos=pos, mask=self._mask(pos),
                          **self.cache)
        self.cache = {n: out[n] for n in self.cache_names}
        self.position += 1
        return np.asarray(out["logits"], np.float32).reshape(1, -1)

    def close(self) -> None:
        self.cache = {}

    def run(self, prompt: list[int], steps: int) -> dict[str, Any]:
        from .runners import greedy

        if len(prompt) + steps > self.cache_length:
            raise BadInput(f"{len(prompt)} prompt tokens + {steps} generated need {len(prompt) + steps} cache "
                           f"slots; the model's cache holds {self.cache_length}",
                           hint="pass fewer --tokens, or convert with a larger --cache-length")
        return greedy(self.step, prompt, steps).to_dict()


def generate(path: str, prompts: list[list[int]], steps: int) -> list[dict[str, Any]]:
    """Greedy generation from each prompt (in the tf worker)."""
    lm = LiteRtGenerator(path)
    return [lm.run(p, steps) for p in prompts]


def streams(path: str, prompts: list[list[int]], tokens: list[list[int]]) -> list[np.ndarray]:
    """Teacher-forced logits over each prompt + the reference's tokens (in the tf worker): the prompt as
    generation takes it, then each reference token through decode."""
    from .runners import teacher_forced

    lm = LiteRtGenerator(path)
    return [teacher_forced(lm.step, p, t) for p, t in zip(prompts, tokens, strict=True)]
