"""Generative models: decoder LLMs exported with their key/value cache and judged by what they generate.

    detect      which sources are causal LMs (a save_pretrained folder's config.json; a module:factory
                returning a transformers model that can generate), read without loading a framework
    source      (worker side, torch) load the LM, its reference generation (transformers' `generate`),
                export with the cache (ONNX: torch.onnx dynamo; TFLite: litert-torch generative;
                ExecuTorch: executorch.extension.llm's static cache, XNNPACK)
    runners     a greedy generate loop per runtime (onnxruntime here; LiteRT and ExecuTorch in workers)
    check       validation by generation: tokens, first divergence, per-step logits errors
    convert     `portkit convert` for a causal LM: export, one-pass logits check, generation check

Importing this package loads no framework.
"""
from __future__ import annotations
