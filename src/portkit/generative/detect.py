"""Is a source a causal LM that portkit exports with its cache? Answered without loading a framework for a
folder (its config.json); a `module:factory` is asked in the torch worker (`source.probe`)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["CACHE_TARGETS", "hf_config", "is_causal_config"]

# the formats a causal LM goes to with its cache (the rest keep the one-pass graph)
CACHE_TARGETS = ("onnx", "tflite", "executorch")


def hf_config(location: str) -> dict[str, Any] | None:
    """The config.json of a save_pretrained folder (None for anything else)."""
    path = Path(location)
    cfg = path / "config.json"
    if not path.is_dir() or not cfg.is_file():
        return None
    try:
        data = json.loads(cfg.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_causal_config(location: str) -> bool:
    """A decoder-only LM: portkit.hf's task for the folder is text-generation and it is no encoder-decoder."""
    from ..hf.folder import read, task_of

    ckpt = read(location, allow_unsafe=True)  # only the config is read here; loading checks remote code
    return task_of(ckpt) == "text-generation" and not ckpt.config.get("is_encoder_decoder")
