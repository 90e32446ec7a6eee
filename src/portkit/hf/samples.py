"""Real inputs from a checkpoint folder, for validation beside the random ones: sample sentences tokenized
by the folder's own tokenizer (tokenizer.json, read with the `tokenizers` library: no framework), padded,
and images sized and normalised as its preprocessor_config.json (timm: its config's pretrained_cfg) says.
A model compared on these sees what it will see in use — real token ids, [CLS]/[SEP], padding — not only
uniform noise."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..signature import ModelSignature

__all__ = ["SENTENCES", "sample_feeds"]

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Hello world!",
    "Portable models are checked against their source on real text, with padding, before anyone ships them.",
    "Is this the right way to the station?",
)
IMAGES = 3


def sample_feeds(folder: str | Path, sig: ModelSignature) -> tuple[dict[str, np.ndarray] | None, str]:
    """(feeds for every input of `sig`, a note saying what they are), or (None, why not)."""
    path = Path(folder)
    names = {s.name: s for s in sig.inputs}
    feeds: dict[str, np.ndarray] = {}
    what = []
    if "input_ids" in names:
        text = _tokenized(path, sig)
        if text is None:
            return None, "no tokenizer.json in the folder: random token ids only"
        feeds.update(text)
        what.append(f"{len(SENTENCES)} sample sentences tokenized by the folder's tokenizer")
    if "pixel_values" in names:
        images = _images(path, names["pixel_values"].shape)
        if images is None:
            return None, "no preprocessor_config.json with a mean/std in the folder: random pixels only"
        feeds["pixel_values"] = images
        what.append(f"{IMAGES} images normalised by the folder's image processor")
    if not feeds or set(names) - set(feeds):
        return None, "no real inputs for " + ", ".join(sorted(set(names) - set(feeds)))
    rows = {int(a.shape[0]) for a in feeds.values()}
    if len(rows) > 1:  # text and images of a two-tower model: as many of each
        n = min(rows)
        feeds = {k: v[:n] for k, v in feeds.items()}
    return {k: feeds[k] for k in names}, " and ".join(what)


def _tokenized(path: Path, sig: ModelSignature) -> dict[str, np.ndarray] | None:
    file = path / "tokenizer.json"
    if not file.is_file():
        return None
    try:
        from tokenizers import Tokenizer
    except ImportError:
        return None
    try:
        tok = Tokenizer.from_file(str(file))
        config = _json(path / "tokenizer_config.json")
        pad = config.get("pad_token")
        pad = pad.get("content") if isinstance(pad, dict) else pad
        pad_id = tok.token_to_id(pad) if isinstance(pad, str) else None
        length = _length(sig, config)  # every sentence padded to the length random cases use: a target
        # whose sequence axis came out fixed runs these too
        tok.enable_padding(pad_id=pad_id if pad_id is not None else 0, pad_token=pad or "[PAD]", length=length)
        tok.enable_truncation(max_length=length)
        enc = tok.encode_batch(list(SENTENCES))
    except Exception:  # noqa: BLE001 - a tokenizer that does not load leaves validation on random inputs
        return None
    names = {s.name for s in sig.inputs}
    ids = np.array([e.ids for e in enc], np.int64)
    out = {"input_ids": ids, "attention_mask": np.array([e.attention_mask for e in enc], np.int64),
           "token_type_ids": np.array([e.type_ids for e in enc], np.int64), "decoder_input_ids": ids}
    return {k: v for k, v in out.items() if k in names}


def _length(sig: ModelSignature, config: dict[str, Any]) -> int:
    from ..inputs import DEFAULT_DYNAMIC_DIM

    spec = next(s for s in sig.inputs if s.name == "input_ids")
    fixed = spec.shape[-1] if len(spec.shape) > 1 and isinstance(spec.shape[-1], int) else None
    limit = config.get("model_max_length")
    limit = int(limit) if isinstance(limit, (int, float)) and 0 < limit < 100_000 else DEFAULT_DYNAMIC_DIM
    return min(fixed or DEFAULT_DYNAMIC_DIM, limit)


def _images(path: Path, shape: tuple[Any, ...]) -> np.ndarray | None:
    """Smooth synthetic pictures (gradients and rings, uint8 like a decoded photo), rescaled and normalised
    as the image processor does."""
    config = _json(path / "preprocessor_config.json")
    timm = _json(path / "config.json").get("pretrained_cfg") or {}
    if "image_mean" not in config and "mean" in timm:  # a timm folder: its pretrained_cfg normalises
        config = {"image_mean": timm["mean"], "image_std": timm.get("std", [1.0, 1.0, 1.0])}
    if "image_mean" not in config or len(shape) != 4 or not all(isinstance(d, int) for d in shape[1:]):
        return None
    c, h, w = (int(d) for d in shape[1:])
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    pics = []
    for k in range(IMAGES):
        r = np.hypot(y - h * (0.3 + 0.2 * k), x - w * (0.6 - 0.15 * k))
        chans = [np.sin(r / (2.0 + k)) * 0.5 + 0.5, x / max(w - 1, 1), (y / max(h - 1, 1)) ** (1 + k)]
        pics.append(np.stack([chans[i % 3] for i in range(c)]) * 255.0)
    u8 = np.round(np.stack(pics)).astype(np.uint8).astype(np.float32)
    scale = float(config.get("rescale_factor", 1 / 255)) if config.get("do_rescale", True) else 1.0
    mean = np.array(config.get("image_mean"), np.float32).reshape(-1, 1, 1)[:c]
    std = np.array(config.get("image_std", [1.0] * c), np.float32).reshape(-1, 1, 1)[:c]
    out = u8 * scale
    if config.get("do_normalize", True):
        out = (out - mean) / std
    return out.astype(np.float32)


def _json(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
