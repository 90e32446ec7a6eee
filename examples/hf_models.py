"""Tiny Hugging Face transformers built from configs (random weights, no downloads), as portkit factories.

Each factory returns an eval-mode `torch.nn.Module` whose forward takes plain tensors and returns plain
tensors (not ModelOutput dicts), so it traces (torch.jit.trace), exports (torch.onnx) and converts:

    text   forward(input_ids, attention_mask) -> last_hidden_state (encoders) or logits (causal LMs)
    vision forward(pixel_values) -> logits

Name them by reference from the repository root (or put this folder on PYTHONPATH):

    portkit convert examples.hf_models:bert_tiny --to onnx
    portkit convert examples.hf_models:gpt2_tiny --to onnx --model-args '{"vocab_size": 500}'

Every factory takes the config fields as keyword arguments (`--model-args`), plus `seed` for the random
init. Text models declare their inputs (`input_specs`: int64 ids and mask, batch and sequence dynamic) and
the vocabulary size (`input_ranges`), so no --input-shape is needed; portkit's validation feeds token ids
below the vocabulary size and 0/1 masks with one row padded.

Needs `transformers` (`pip install 'portkit[hf]'`).
"""
from __future__ import annotations

from typing import Any

import torch

__all__ = [
    "TextModel",
    "VisionModel",
    "albert_tiny",
    "bert_tiny",
    "distilbert_tiny",
    "gpt2_tiny",
    "llama_tiny",
    "roberta_tiny",
    "trace_text_model",
    "vit_tiny",
]

SEQUENCE = 16  # the example sequence length (the exported models take any length up to max positions)


class TextModel(torch.nn.Module):
    """(input_ids, attention_mask) -> one tensor (`output`: "last_hidden_state" or "logits")."""

    def __init__(self, model: Any, output: str, sequence: int = SEQUENCE, causal: bool = False,
                 mask: str = "wrapper") -> None:
        super().__init__()
        self.model = model
        self.output = output
        self.causal = causal
        # "wrapper": the 4-D additive mask is built here from the 0/1 mask with plain tensor ops (what
        # export wrappers do; transformers passes 4-D masks through), "model": transformers builds it
        # (its vmap-style index arithmetic exports, but onnx2torch / onnx2tf take less of it)
        self.mask = mask
        self.vocab_size = int(model.get_input_embeddings().num_embeddings)
        dyn = [[0, "batch"], [1, "sequence"]]
        self.input_specs = [{"name": "input_ids", "shape": [1, sequence], "dtype": "int64", "dynamic_axes": dyn},
                            {"name": "attention_mask", "shape": [1, sequence], "dtype": "int64",
                             "dynamic_axes": dyn}]
        self.input_ranges = {"input_ids": [0, self.vocab_size]}

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.model.get_input_embeddings()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask
        if self.mask == "wrapper":
            keep = attention_mask[:, None, None, :].to(torch.float32)  # (N, 1, 1, S): 1 keeps a key
            if self.causal:
                pos = torch.cumsum(torch.ones_like(input_ids[0]), 0)  # 1..S (Range-free: exports plainly)
                causal = (pos[None, :] < pos[:, None] + 1).to(torch.float32)  # key <= query
                keep = keep * causal[None, None]  # (N, 1, S, S)
            mask = (1.0 - keep) * torch.finfo(torch.float32).min
        out = self.model(input_ids=input_ids, attention_mask=mask, return_dict=True)
        return out[self.output]


class VisionModel(torch.nn.Module):
    """pixel_values (N, 3, H, W) float32 -> logits."""

    def __init__(self, model: Any, image_size: int) -> None:
        super().__init__()
        self.model = model
        self.input_shape = (1, 3, image_size, image_size)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values, return_dict=True)["logits"]


def _text_config(**kw: Any) -> dict[str, Any]:
    base = dict(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=64, max_position_embeddings=128)
    base.update(kw)
    return base


def _build(model_cls: Any, config: Any, seed: int) -> Any:
    torch.manual_seed(seed)
    model = model_cls(config)
    return model.eval()


def _config(cls_name: str, defaults: dict[str, Any], **kw: Any) -> Any:
    import transformers

    kw.setdefault("attn_implementation", "eager")  # plain matmul + softmax: exports to every target
    return getattr(transformers, cls_name)(**{**defaults, **kw})


def bert_tiny(seed: int = 0, **config: Any) -> TextModel:
    """BERT encoder (2 layers, hidden 32, vocab 1000) -> last_hidden_state (N, S, 32)."""
    from transformers import BertModel

    cfg = _config("BertConfig", _text_config(), **config)
    return TextModel(_build(BertModel, cfg, seed), "last_hidden_state").eval()


def roberta_tiny(seed: int = 0, **config: Any) -> TextModel:
    """RoBERTa encoder -> last_hidden_state. Positions start after the padding index (max positions + 2)."""
    from transformers import RobertaModel

    cfg = _config("RobertaConfig", _text_config(max_position_embeddings=130, pad_token_id=1), **config)
    return TextModel(_build(RobertaModel, cfg, seed), "last_hidden_state").eval()


def distilbert_tiny(seed: int = 0, **config: Any) -> TextModel:
    """DistilBERT encoder -> last_hidden_state."""
    from transformers import DistilBertModel

    defaults = dict(vocab_size=1000, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=128)
    cfg = _config("DistilBertConfig", defaults, **config)
    return TextModel(_build(DistilBertModel, cfg, seed), "last_hidden_state").eval()


def albert_tiny(seed: int = 0, **config: Any) -> TextModel:
    """ALBERT encoder (shared layers, factorised embedding 16) -> last_hidden_state."""
    from transformers import AlbertModel

    cfg = _config("AlbertConfig", _text_config(embedding_size=16), **config)
    return TextModel(_build(AlbertModel, cfg, seed), "last_hidden_state").eval()


def gpt2_tiny(seed: int = 0, **config: Any) -> TextModel:
    """GPT-2 causal LM (2 layers, 32 wide, vocab 1000), no KV cache -> logits (N, S, vocab)."""
    from transformers import GPT2LMHeadModel

    defaults = dict(vocab_size=1000, n_embd=32, n_layer=2, n_head=2, n_positions=128, use_cache=False,
                    bos_token_id=0, eos_token_id=0)
    cfg = _config("GPT2Config", defaults, **config)
    return TextModel(_build(GPT2LMHeadModel, cfg, seed), "logits", causal=True).eval()


def llama_tiny(seed: int = 0, **config: Any) -> TextModel:
    """Llama causal LM (2 layers, 32 wide, 2 heads / 1 KV head, RoPE), use_cache=False -> logits."""
    from transformers import LlamaForCausalLM

    defaults = dict(vocab_size=1000, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128, use_cache=False)
    cfg = _config("LlamaConfig", defaults, **config)
    return TextModel(_build(LlamaForCausalLM, cfg, seed), "logits", causal=True).eval()


def vit_tiny(seed: int = 0, image_size: int = 32, **config: Any) -> VisionModel:
    """ViT classifier on 32×32 images (patch 8, 2 layers, hidden 32, 10 classes) -> logits (N, 10)."""
    from transformers import ViTForImageClassification

    defaults = dict(image_size=image_size, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2,
                    num_attention_heads=2, intermediate_size=64, num_labels=10)
    cfg = _config("ViTConfig", defaults, **config)
    return VisionModel(_build(ViTForImageClassification, cfg, seed), image_size).eval()


def text_inputs(model: TextModel, batch: int = 2, sequence: int = SEQUENCE, seed: int = 0,
                pad_last: int = 4) -> dict[str, torch.Tensor]:
    """int64 token ids below the vocabulary size and a 0/1 mask whose last row ends in `pad_last` pads."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, model.vocab_size, (batch, sequence), generator=g, dtype=torch.int64)
    mask = torch.ones(batch, sequence, dtype=torch.int64)
    if pad_last:
        mask[-1, -pad_last:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def trace_text_model(model: TextModel, path: str, batch: int = 2, sequence: int = SEQUENCE) -> dict[str, Any]:
    """A bare `torch.jit.trace(model, (ids, mask)).save(path)`, as users do; returns the example inputs
    as numpy arrays (save them with numpy.savez for `portkit convert path --inputs feeds.npz`)."""
    feeds = text_inputs(model, batch, sequence)
    with torch.no_grad():
        torch.jit.trace(model, (feeds["input_ids"], feeds["attention_mask"]), check_trace=False).save(path)
    return {k: v.numpy() for k, v in feeds.items()}


FACTORIES = {"bert": bert_tiny, "roberta": roberta_tiny, "distilbert": distilbert_tiny, "albert": albert_tiny,
             "gpt2": gpt2_tiny, "llama": llama_tiny, "vit": vit_tiny}


def save_traced(name: str, path: str, batch: int = 2, sequence: int = SEQUENCE, **config: Any) -> dict[str, Any]:
    """Build FACTORIES[name](**config) and save it traced bare at `path` (see trace_text_model)."""
    return trace_text_model(FACTORIES[name](**config), path, batch, sequence)
