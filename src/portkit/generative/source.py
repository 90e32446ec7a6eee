"""Worker side (torch): load a causal LM, generate with transformers' own `generate`, export it with its
key/value cache. Called through portkit.workers, never imported by the parent process."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..artifact import Artifact, HopRecord
from ..formats import Format
from .detect import hf_config, is_causal_config

__all__ = ["CacheModel", "TorchGenerator", "cache_names", "export_onnx", "load_lm", "probe", "reference"]

_LOADED: dict[str, Any] = {}  # the warm worker keeps the model for every call of one command


def _key(location: str, metadata: dict[str, Any]) -> str:
    record = HopRecord.from_metadata(metadata)
    return json.dumps([location, record.model_args or None, record.weights], sort_keys=True, default=str)


def load_lm(location: str, metadata: dict[str, Any]) -> Any:
    """The transformers model behind the source: a save_pretrained folder (safetensors only, offline, no
    remote code) or a `module:factory` (its result, or the `.model` it wraps)."""
    key = _key(location, metadata)
    if key in _LOADED:
        return _LOADED[key]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if hf_config(location) is not None:  # portkit.hf's loader: offline, float32, eager attention
        from ..hf import load

        unsafe = HopRecord.from_metadata(metadata).allow_unsafe
        model = load(location, task="text-generation", allow_unsafe=unsafe).model
        model.config.use_cache = True  # hf's one-pass module turns it off; generation needs it
    else:
        from ..runtimes.torch import load_module

        model = load_module(Artifact(location, Format.TORCH, None, dict(metadata)))
        if not _can_generate(model) and _can_generate(getattr(model, "model", None)):
            model = model.model
    model = model.eval()
    _LOADED[key] = model
    return model


def _can_generate(model: Any) -> bool:
    cfg = getattr(model, "config", None)
    can = getattr(model, "can_generate", None)
    return bool(cfg is not None and callable(can) and can() and not getattr(cfg, "is_encoder_decoder", False))


def probe(location: str, metadata: dict[str, Any]) -> dict[str, Any] | None:
    """What the exports need to know (layers, cache shapes, vocabulary, context), or None when the source
    is no causal LM (it then converts as a one-pass graph)."""
    cfg = hf_config(location)
    if cfg is not None and not is_causal_config(location):
        return None
    model = load_lm(location, metadata)
    if not _can_generate(model):
        if cfg is None:  # a module:factory: the one-pass hop in this worker takes this build, not a second one
            from ..runtimes.torch import hand_over

            hand_over(location, metadata, _LOADED.pop(_key(location, metadata)))
        return None
    import torch

    with torch.no_grad():
        out = model(input_ids=torch.zeros(1, 1, dtype=torch.int64), use_cache=True)
    layers = [(int(k.shape[1]), int(k.shape[3]), int(v.shape[3])) for k, v in _cache_tensors(out.past_key_values)]
    config = model.config
    context = (getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
               or getattr(config, "max_sequence_length", None))
    return {"layers": len(layers), "kv_heads": [h for h, _, _ in layers], "head_dim": [d for _, d, _ in layers],
            "value_dim": [d for _, _, d in layers], "vocab": int(out.logits.shape[-1]),
            "context": int(context) if context else None, "model_type": getattr(config, "model_type", "?"),
            "architecture": type(model).__name__}


def _cache_tensors(cache: Any) -> list[tuple[Any, Any]]:
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return [(k, v) for k, v in cache]  # a legacy tuple of (key, value)


def reference(location: str, metadata: dict[str, Any], prompts: list[list[int]], steps: int) -> list[dict[str, Any]]:
    """transformers' `generate` (greedy, with its cache) from each prompt: the new tokens, the raw logits
    of every step, and the one-pass logits over the prompt (the first hop check)."""
    import torch
    from transformers import GenerationConfig

    model = load_lm(location, metadata)
    gen = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=steps, min_new_tokens=0,
                           eos_token_id=None, pad_token_id=0, use_cache=True)
    # `generate` fills the values a config leaves None from the model's own generation config, so eos=None
    # alone would still stop at the model's end-of-sequence token (a GPT-2 prompt then checked 11 steps of
    # 32); the runners generate every step, so the reference must too
    own = model.generation_config
    saved_eos = own.eos_token_id
    own.eos_token_id = None
    results = []
    try:
        with torch.no_grad():
            for prompt in prompts:
                ids = torch.tensor([prompt], dtype=torch.int64)
                mask = torch.ones_like(ids)
                out = model.generate(input_ids=ids, attention_mask=mask, generation_config=gen,
                                     output_logits=True, return_dict_in_generate=True)
                one_pass = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[0]
                results.append({"tokens": out.sequences[0, len(prompt):].tolist(),
                                "logits": np.stack([s[0].float().numpy() for s in out.logits]),
                                "prefill": one_pass.float().numpy()})
    finally:
        own.eos_token_id = saved_eos
    return results


class TorchGenerator:
    """torch eager with transformers' own DynamicCache: the reference row of `portkit bench` (the runner
    contract of portkit.generative.runners.greedy)."""

    def __init__(self, location: str, metadata: dict[str, Any], threads: int | None = None) -> None:
        import inspect

        import torch

        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        self.model = load_lm(location, metadata)
        # transformers 5 names the argument `cache` (`past_key_values` still works, with a warning per call)
        self.kwarg = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"
        self.cache: Any = None

    def step(self, ids: np.ndarray, first: bool) -> np.ndarray:
        from transformers import DynamicCache

        if first:
            self.cache = DynamicCache(config=self.model.config)
        with self.torch.no_grad():
            out = self.model(input_ids=self.torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64)),
                             use_cache=True, **{self.kwarg: self.cache})
        return out.logits[0].float().numpy()

    def close(self) -> None:
        self.cache = None


def cache_names(layers: int) -> tuple[list[str], list[str]]:
    """The past inputs and present outputs, named as Optimum and onnxruntime-genai name them."""
    past = [f"past_key_values.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    present = [f"present.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    return past, present


def _cache_model(model: Any, layers: int) -> Any:
    import torch
    from transformers import DynamicCache

    class CacheModel(torch.nn.Module):
        """(input_ids, attention_mask, position_ids, past...) -> (logits, present...): the past tensors
        are put in a DynamicCache, the model appends this call's keys/values, the grown cache comes out."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, position_ids: Any, past: list[Any]) -> Any:
            cache = DynamicCache(config=self.model.config)
            for i in range(layers):
                cache.update(past[2 * i], past[2 * i + 1], i)
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             past_key_values=cache, use_cache=True)
            return (out.logits, *[t for kv in _cache_tensors(out.past_key_values) for t in kv])

    return CacheModel().eval()


CacheModel = _cache_model  # the wrapper's factory, for the ExecuTorch/LiteRT paths and tests


def export_onnx(location: str, metadata: dict[str, Any], output: str, opset: int | None) -> dict[str, Any]:
    """torch.onnx (dynamo) export of the model with its cache: dynamic batch, sequence, past and total
    length; the first call takes empty past tensors (past length 0)."""
    import torch

    info = probe(location, metadata)
    assert info is not None
    model = load_lm(location, metadata)
    n = info["layers"]
    batch, seq, past_len = 2, 3, 7  # distinct sizes: no axis is mistaken for another (0/1 would specialise)
    ids = torch.randint(0, info["vocab"], (batch, seq))
    mask = torch.ones(batch, past_len + seq, dtype=torch.int64)
    pos = torch.arange(past_len, past_len + seq)[None].repeat(batch, 1)
    past = []
    for i in range(n):
        past += [torch.randn(batch, info["kv_heads"][i], past_len, info["head_dim"][i]),
                 torch.randn(batch, info["kv_heads"][i], past_len, info["value_dim"][i])]
    dim = torch.export.Dim
    b, s, p, t = dim("batch"), dim("sequence"), dim("past_sequence"), dim("total_sequence")
    shapes = ({0: b, 1: s}, {0: b, 1: t}, {0: b, 1: s}, [{0: b, 2: p}] * (2 * n))
    past_names, present_names = cache_names(n)
    tmp = Path(output)
    with torch.no_grad():
        program = torch.onnx.export(
            _cache_model(model, n), (ids, mask, pos, past), dynamic_shapes=shapes, dynamo=True,
            input_names=["input_ids", "attention_mask", "position_ids", *past_names],
            output_names=["logits", *present_names], opset_version=opset or 18, verbose=False)
    program.save(str(tmp))
    return {"generative": {**info, "cache": "dynamic", "inputs": ["input_ids", "attention_mask", "position_ids",
                                                                 *past_names],
                           "outputs": ["logits", *present_names]}, "opset": opset or 18}
