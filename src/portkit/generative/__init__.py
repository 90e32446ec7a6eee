"""Generative models: decoder LLMs exported with their key/value cache and judged by what they generate.

    detect      which sources are causal LMs (a save_pretrained folder's config.json; a module:factory
                returning a transformers model that can generate), read without loading a framework
    source      (worker side, torch) load the LM (portkit.hf for folders), its reference generation
                (transformers' `generate`), the ONNX export with past/present (torch.onnx dynamo)
    litert      TFLite: litert-torch's generative prefill/decode export (torch worker) and a LiteRT greedy
                runner (tf worker)
    runners     the greedy loop and the onnxruntime runner (in this process)
    generators  a runner by kind (bench, serve); the runners `portkit serve` keeps open across requests
    check       validation by generation: tokens, first divergence, per-step logits errors
    convert     `portkit convert` for a causal LM: export, one-pass logits check, generation check

Importing this package loads no framework.
"""
from __future__ import annotations
