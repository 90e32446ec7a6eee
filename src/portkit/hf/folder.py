"""A Hugging Face checkpoint folder read without any framework: its config, its weights files, its task.

`read(path)` checks what can be checked before a worker starts — the weights named by the folder exist
(every shard of a sharded index), custom modelling code (`auto_map`) is refused without --allow-unsafe —
so those mistakes are one line, exit 2, and nothing of the folder's code ran.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BadInput

__all__ = ["TASKS", "Checkpoint", "details", "id_ranges", "parameters", "read", "task_of"]

# the tasks portkit exports (pipeline names); `--task` takes one of these
TASKS = (
    "feature-extraction", "fill-mask", "text-classification", "token-classification", "question-answering",
    "multiple-choice", "text-generation", "text2text-generation", "image-classification",
    "semantic-segmentation", "object-detection", "audio-classification", "automatic-speech-recognition",
    "zero-shot-image-classification",
)
# architectures[0]'s suffix → task (the longest suffix that matches wins)
_SUFFIX_TASKS = (
    ("ForMaskedLM", "fill-mask"), ("ForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "token-classification"), ("ForQuestionAnswering", "question-answering"),
    ("ForMultipleChoice", "multiple-choice"), ("ForCausalLM", "text-generation"),
    ("LMHeadModel", "text-generation"), ("ForConditionalGeneration", "text2text-generation"),
    ("ForImageClassification", "image-classification"),
    ("ForImageClassificationWithTeacher", "image-classification"),
    ("ForSemanticSegmentation", "semantic-segmentation"), ("ForObjectDetection", "object-detection"),
    ("ForAudioClassification", "audio-classification"), ("ForCTC", "automatic-speech-recognition"),
    ("ForSpeechSeq2Seq", "automatic-speech-recognition"), ("ForPreTraining", "feature-extraction"),
)
_SPEECH_TYPES = {"whisper", "wav2vec2", "hubert", "wavlm", "speech_to_text", "data2vec-audio", "unispeech",
                 "sew", "wav2vec2-bert", "seamless_m4t"}
_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
            "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint folder: `library` is "transformers" or "timm"; `weights` the files the model loads from."""

    path: Path
    config: dict[str, Any]
    library: str
    weights: tuple[Path, ...]

    @property
    def architecture(self) -> str:
        if self.library == "timm":
            return str(self.config.get("architecture", "?"))
        archs = self.config.get("architectures") or []
        return str(archs[0]) if archs else str(self.config.get("model_type", "?"))

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type") or "")

    @property
    def custom_code(self) -> dict[str, Any]:
        return dict(self.config.get("auto_map") or {})

    @property
    def dtype(self) -> str:
        return str(self.config.get("dtype") or self.config.get("torch_dtype") or "float32")

    def files(self) -> list[str]:
        return sorted(p.name for p in self.path.iterdir() if p.is_file())


def parameters(ckpt: Checkpoint) -> int | None:
    """How many parameters the safetensors weights hold, from their headers alone (no framework)."""
    import struct

    total = 0
    for f in ckpt.weights:
        if f.suffix != ".safetensors":
            return None
        try:
            with f.open("rb") as fh:
                (n,) = struct.unpack("<Q", fh.read(8))
                header = json.loads(fh.read(n))
        except (OSError, ValueError, struct.error):
            return None
        for name, t in header.items():
            if name != "__metadata__":
                count = 1
                for d in t.get("shape", []):
                    count *= int(d)
                total += count
    return total


def id_ranges(ckpt: Checkpoint) -> dict[str, list[float]]:
    """Valid ranges of the id inputs, from the config alone (validation feeds ids below them everywhere a
    route's end-to-end check runs the folder, as the loaded module's `input_ranges` does in its worker)."""
    if ckpt.library != "transformers":
        return {}
    text = ckpt.config.get("text_config") or ckpt.config
    out: dict[str, list[float]] = {}
    vocab = text.get("vocab_size") or ckpt.config.get("vocab_size")
    if isinstance(vocab, int) and vocab > 0:
        out["input_ids"] = [0.0, float(vocab)]
        if ckpt.config.get("is_encoder_decoder"):
            out["decoder_input_ids"] = [0.0, float(vocab)]
    types = text.get("type_vocab_size")
    if isinstance(types, int) and types > 1:
        out["token_type_ids"] = [0.0, float(types)]
    return out


def details(ckpt: Checkpoint, task: str) -> dict[str, Any]:
    """What `portkit inspect` shows of a folder beside its signature."""
    params = parameters(ckpt)
    return {"library": ckpt.library, "architecture": ckpt.architecture, "task": task,
            **({"parameters": f"{params:,}"} if params is not None else {}), "dtype": ckpt.dtype,
            "files": ", ".join(ckpt.files())}


def read(path: str | Path, allow_unsafe: bool = False) -> Checkpoint:
    """The folder's config and weights, checked. Raises BadInput (exit 2) naming what is wrong."""
    folder = Path(path)
    config_file = folder / "config.json"
    try:
        config = json.loads(config_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInput(f"config.json does not load ({str(e)[:160]})", path=config_file,
                       hint="save the model again with save_pretrained()") from e
    library = "timm" if "architecture" in config and "architectures" not in config else "transformers"
    if library == "transformers" and config.get("auto_map") and not allow_unsafe:
        names = ", ".join(f"{k}={v}" for k, v in list(config["auto_map"].items())[:3])
        raise BadInput(f"config.json names custom modelling code (auto_map: {names}); portkit does not run a "
                       "folder's own Python code unless told to", path=folder,
                       hint="read the folder's .py files; if you trust them, pass --allow-unsafe "
                            "(transformers' trust_remote_code)")
    return Checkpoint(folder, config, library, _weights(folder))


def _weights(folder: Path) -> tuple[Path, ...]:
    for name in _WEIGHTS:
        f = folder / name
        if not f.is_file():
            continue
        if not name.endswith(".index.json"):
            return (f,)
        try:
            shards = sorted(set(json.loads(f.read_text())["weight_map"].values()))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, AttributeError) as e:
            raise BadInput(f"the shard index does not load ({type(e).__name__}: {str(e)[:120]})", path=f,
                           hint="save the model again with save_pretrained()") from e
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise BadInput(f"weights shard '{missing[0]}' is missing ({len(missing)} of {len(shards)} shards "
                           f"named by {name} are absent)", path=folder / missing[0],
                           hint=f"copy every shard {name} names into {folder}")
        return tuple(folder / s for s in shards)
    others = [p.name for p in folder.glob("*") if p.suffix in (".h5", ".msgpack", ".ckpt")]
    also = f" (it holds {', '.join(sorted(others))}: TensorFlow/Flax weights portkit does not load)" if others else ""
    raise BadInput(f"no PyTorch weights in the folder{also}: expected model.safetensors, a sharded "
                   "model.safetensors.index.json, or pytorch_model.bin", path=folder,
                   hint="copy the weights beside config.json, or save the model with save_pretrained()")


def task_of(ckpt: Checkpoint, override: str | None = None) -> str:
    """The task to export: `override` (--task) when given, else from architectures[0]'s suffix (a bare
    `...Model` is feature-extraction; timm checkpoints are image classifiers)."""
    if override:
        task = override.strip().lower().replace("_", "-")
        aliases = {"seq2seq": "text2text-generation", "causal-lm": "text-generation", "asr":
                   "automatic-speech-recognition", "default": "feature-extraction", "encoder": "feature-extraction",
                   "sequence-classification": "text-classification", "masked-lm": "fill-mask"}
        task = aliases.get(task, task)
        if task not in TASKS:
            from ..formats import suggest

            raise BadInput(f"unknown task '{override}'", hint=suggest(task, list(TASKS)))
        return task
    if ckpt.library == "timm":
        return "image-classification"
    arch = ckpt.architecture
    found = max(((s, t) for s, t in _SUFFIX_TASKS if arch.endswith(s)), key=lambda st: len(st[0]), default=None)
    task = found[1] if found else "feature-extraction"
    if task == "text-classification" and ckpt.model_type in _SPEECH_TYPES:
        task = "audio-classification"
    if task == "text2text-generation" and ckpt.model_type in _SPEECH_TYPES:
        task = "automatic-speech-recognition"
    if arch.startswith("CLIP") and arch == "CLIPModel":
        task = "zero-shot-image-classification"
    return task
