"""Tiny causal LMs for the generative tests, built in workers (the pytest process never imports torch)."""
from __future__ import annotations

import os
from typing import Any

TINY = dict(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=1, max_position_embeddings=128,
            # weights of a trained model's spread, not the init's 0.02: attention then decides the tokens
            # (at 0.02 the logits hardly depend on the context, and a broken cache would go unnoticed)
            initializer_range=0.25,
            # GELU's tanh approximation (Gemma's, Starcoder2's) rather than Llama's SiLU: ExecuTorch 1.5's XNNPACK
            # runs it as exact GELU unless portkit keeps it off the delegate (prefill logits 1.8e-3 off here)
            hidden_act="gelu_pytorch_tanh")


def save_tiny_llama(folder: str, seed: int = 0, **config: Any) -> dict[str, Any]:
    """A save_pretrained folder of a random-weight Llama (GQA: 2 heads, 1 KV head; RoPE)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**{**TINY, **config})).eval()
    model.save_pretrained(folder)
    return {**TINY, **config}


def hf_generate(folder: str, prompt: list[int], steps: int) -> list[int]:
    """transformers' own greedy generate, with its cache, as a user would call it."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=steps, do_sample=False,
                             eos_token_id=None, pad_token_id=0)
    return out[0, len(prompt):].tolist()


def save_and_generate(folder: str, prompt: list[int], steps: int) -> list[int]:
    """save_tiny_llama, then transformers' generate on it from the saved folder, in one worker (one spawn)."""
    save_tiny_llama(folder)
    return hf_generate(folder, prompt, steps)



def save_confident_tiny_llama(folder: str, seed: int = 0, **config: Any) -> dict[str, Any]:
    """The tiny Llama with a trained model's margins, built rather than trained (training, even this small,
    takes minutes on a loaded CI core): the LM head scores each token by its embedding's match with a fixed
    permutation of the input token's, so the residual stream's own token decides the next one by a wide margin,
    and the attention / MLP layers (random, spread 0.1) move the logits with the context. A random model's top
    two logits are close, and 4-bit weights then flip most choices; quantization tests need a model that is
    sure of something, as a trained one is."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = {**TINY, "initializer_range": 0.1, "tie_word_embeddings": False, "eos_token_id": None, **config}
    model = LlamaForCausalLM(LlamaConfig(**cfg)).eval()
    with torch.no_grad():
        emb = torch.randn(cfg["vocab_size"], cfg["hidden_size"])
        model.model.embed_tokens.weight.copy_(emb)
        perm = torch.randperm(cfg["vocab_size"])
        model.lm_head.weight.copy_(emb[perm] / cfg["hidden_size"] ** 0.5)
    model.save_pretrained(folder)
    return cfg
