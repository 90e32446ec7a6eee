"""Hugging Face checkpoint folders (`Format.HF`): transformers' save_pretrained() folders and timm's.

How another module gets a model from a folder:

    from portkit.hf import folder, load          # folder: stdlib only; load: imports torch (a worker)

    ckpt = folder.read(path, allow_unsafe=False) # config + weights checked; auto_map refused (BadInput,
                                                 # exit 2 naming --allow-unsafe); a missing shard named
    task = folder.task_of(ckpt, "text-generation")   # --task, else from architectures[0]
    module = load(path, task=task)               # in a worker: eval, float32, offline (HF_HUB_OFFLINE=1)
    module.model                                 # the transformers / timm model itself
    module.input_specs                           # [{"name", "shape", "dtype", "dynamic_axes"}]: int64 ids
                                                 # [batch, sequence], pixel_values [batch, C, H, W], ...
    module.input_ranges                          # {"input_ids": [0, vocab)} and other id inputs
    module.output_names                          # the output fields, in order: ["logits"], ...
    module(*tensors)                             # positional tensors in input_specs order → tuple

Everything that takes a torch module (runtimes.torch.load_module, the torch→* converters) takes an HF
artifact through this: `Artifact(path, Format.HF, None, {"task": ..., "allow_unsafe": ...})`.
"""
from __future__ import annotations

from typing import Any

__all__ = ["load"]


def load(path: Any, task: str | None = None, allow_unsafe: bool = False) -> Any:
    from .model import load as _load

    return _load(path, task, allow_unsafe)
