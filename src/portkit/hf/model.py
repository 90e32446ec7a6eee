"""A checkpoint folder as a plain torch module (runs where torch runs: a worker, never the CLI process).

`load(path, task=None, allow_unsafe=False)` returns a wrapped nn.Module: forward takes plain tensors in
the order of its `input_specs` and returns a tuple named by its `output_names` — every tensor field of the
model's output (logits, last_hidden_state, pooler_output, start_logits/end_logits, ...), not only the first.
Nothing is downloaded: HF_HUB_OFFLINE is set and from_pretrained reads the folder only
(`local_files_only=True`); the folder's own code runs only with allow_unsafe (trust_remote_code).
"""
from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Any

from ..errors import BadInput, require
from .folder import Checkpoint, read, task_of

__all__ = ["load", "offline"]

SEQUENCE = 16  # example sequence length (the axis stays dynamic)
AUDIO_SAMPLES = 1600  # example raw-audio length for input_values models (0.1 s at 16 kHz)

_AUTO = {
    "feature-extraction": "AutoModel", "fill-mask": "AutoModelForMaskedLM",
    "text-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "question-answering": "AutoModelForQuestionAnswering", "multiple-choice": "AutoModelForMultipleChoice",
    "text-generation": "AutoModelForCausalLM", "text2text-generation": "AutoModelForSeq2SeqLM",
    "image-classification": "AutoModelForImageClassification",
    "semantic-segmentation": "AutoModelForSemanticSegmentation",
    "object-detection": "AutoModelForObjectDetection", "audio-classification": "AutoModelForAudioClassification",
    "zero-shot-image-classification": "AutoModel",
}


def offline() -> None:
    """Nothing of the hub is ever reached from this process (set before transformers/timm import)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def _torch() -> Any:
    import torch

    return torch


def _module_class() -> type:
    torch = _torch()

    class _CheckpointModule(torch.nn.Module):
        """forward(*tensors) → tuple of the model's output fields, named by `output_names`."""

        def __init__(self, model: Any, task: str, specs: list[dict[str, Any]], ranges: dict[str, list[float]],
                     keyword: bool = True) -> None:
            super().__init__()
            self.model = model
            self.task = task
            self.input_specs = specs
            self.input_ranges = ranges
            self.input_names = [s["name"] for s in specs]
            self.output_names: list[str] = []
            self.keyword = keyword  # transformers takes keywords; timm one positional tensor

        def get_input_embeddings(self) -> Any:
            getter = getattr(self.model, "get_input_embeddings", None)
            return getter() if callable(getter) else None

        def fields(self, *tensors: Any) -> dict[str, Any]:
            if not self.keyword:
                return {"logits": self.model(*tensors)}
            out = self.model(**dict(zip(self.input_names, tensors)), return_dict=True)
            return {k: v for k, v in out.items() if isinstance(v, torch.Tensor) and k != "loss"}

        def forward(self, *tensors: Any) -> tuple[Any, ...]:
            out = self.fields(*tensors)
            return tuple(out[k] for k in self.output_names)

    return _CheckpointModule


def _wrap(model: Any, task: str, specs: list[dict[str, Any]], ranges: dict[str, list[float]],
          keyword: bool = True) -> Any:
    """The wrapper, its forward spelled with the inputs' own names: exporters bind example arguments and
    dynamic shapes to forward's parameters (a `*tensors` forward reads as one argument) and portkit names
    the graph's inputs after them."""
    base = _module_class()
    names = [s["name"] for s in specs]
    assert all(n.isidentifier() for n in names), names  # our own spec names, never the folder's text
    args = ", ".join(names)
    scope: dict[str, Any] = {}
    exec(f"def forward(self, {args}):\n    return type(self).__mro__[1].forward(self, {args})", scope)  # noqa: S102
    cls = type("CheckpointModule", (base,), {"forward": scope["forward"], "__module__": __name__})
    return cls(model, task, specs, ranges, keyword)


def load(path: str | Path, task: str | None = None, allow_unsafe: bool = False) -> Any:
    """The folder's model, eval mode, float32, wrapped (see the module docstring)."""
    offline()
    ckpt = read(path, allow_unsafe)
    task = task_of(ckpt, task)
    if ckpt.library == "timm":
        module = _timm(ckpt)
    else:
        module = _transformers(ckpt, task, allow_unsafe)
    module.eval()
    _name_outputs(module)
    return module


def _timm(ckpt: Checkpoint) -> Any:
    timm = require("timm", "timm checkpoints")
    pcfg = ckpt.config.get("pretrained_cfg") or {}
    size = list(pcfg.get("input_size") or [3, 224, 224])
    try:
        model = timm.create_model(f"local-dir:{ckpt.path.resolve()}", pretrained=True)
    except RuntimeError as e:
        if "Unknown model" in str(e):
            raise BadInput(f"timm {timm.__version__} does not know the architecture '{ckpt.architecture}'",
                           path=ckpt.path, hint="upgrade timm (pip install -U timm)") from e
        raise BadInput(f"the timm checkpoint does not load: {str(e).splitlines()[0][:200]}", path=ckpt.path,
                       hint="save it again with timm's save_for_hf / push_to_hf_hub") from e
    specs = [{"name": "pixel_values", "shape": [1, *size], "dtype": "float32", "dynamic_axes": [[0, "batch"]]}]
    return _wrap(model.float(), "image-classification", specs, {}, keyword=False)


def _transformers(ckpt: Checkpoint, task: str, allow_unsafe: bool) -> Any:
    tr = require("transformers", "Hugging Face checkpoints")
    torch = _torch()
    arch = ckpt.architecture
    cls = getattr(tr, arch, None) if task == task_of(ckpt) else None
    if cls is None and not ckpt.custom_code and ckpt.model_type not in tr.CONFIG_MAPPING:
        raise BadInput(f"transformers {tr.__version__} does not know the architecture '{arch}' (model_type "
                       f"'{ckpt.model_type}')", path=ckpt.path,
                       hint="upgrade transformers (pip install -U transformers), or pass --allow-unsafe if "
                            "the folder carries its own modelling code")
    speech_ctc = task == "automatic-speech-recognition" and not ckpt.config.get("is_encoder_decoder")
    auto_name = "AutoModelForCTC" if speech_ctc else (
        "AutoModelForSpeechSeq2Seq" if task == "automatic-speech-recognition" else _AUTO.get(task, "AutoModel"))
    loader = cls or getattr(tr, auto_name)
    kwargs: dict[str, Any] = {"local_files_only": True, "dtype": torch.float32}
    if ckpt.custom_code:
        kwargs["trust_remote_code"] = allow_unsafe
    try:
        model = loader.from_pretrained(str(ckpt.path), attn_implementation="eager", **kwargs)
    except (ValueError, TypeError) as e:
        if "attn_implementation" not in str(e) and "eager" not in str(e):
            raise _load_error(e, ckpt, task, loader) from e
        model = loader.from_pretrained(str(ckpt.path), **kwargs)
    except (OSError, KeyError, RuntimeError) as e:
        raise _load_error(e, ckpt, task, loader) from e
    model.config.use_cache = False  # the plain single pass: no cache outputs (issue 25 adds the cached export)
    model.config.return_dict = True
    encoder_only = task == "feature-extraction" and bool(getattr(model.config, "is_encoder_decoder", False))
    if encoder_only:
        model = model.get_encoder()  # a speech/seq2seq checkpoint's encoder (Whisper's audio encoder)
    specs, ranges = _inputs(model, ckpt, task, encoder_only)
    return _wrap(model, task, specs, ranges)


def _load_error(e: BaseException, ckpt: Checkpoint, task: str, loader: Any) -> BadInput:
    line = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)[:240]
    return BadInput(f"{getattr(loader, '__name__', loader)} cannot load the folder for task {task}: {line}",
                    path=ckpt.path, hint="check the folder's files, or pass --task for another head")


def _preprocessor(ckpt: Checkpoint) -> dict[str, Any]:
    f = ckpt.path / "preprocessor_config.json"
    try:
        return dict(json.loads(f.read_text())) if f.is_file() else {}
    except (OSError, ValueError):
        return {}


def _image_size(ckpt: Checkpoint, config: Any) -> tuple[int, int, int]:
    vision = getattr(config, "vision_config", None) or config
    channels = int(getattr(vision, "num_channels", 3) or 3)
    size = _preprocessor(ckpt).get("crop_size") or _preprocessor(ckpt).get("size")
    if isinstance(size, dict) and "height" in size and "width" in size:
        return channels, int(size["height"]), int(size["width"])
    if isinstance(size, int):
        return channels, size, size
    side = getattr(vision, "image_size", None) or 224
    side = side if isinstance(side, (list, tuple)) else (side, side)
    return channels, int(side[0]), int(side[1])


def _inputs(model: Any, ckpt: Checkpoint, task: str,
            encoder_only: bool) -> tuple[list[dict[str, Any]], dict[str, list[float]]]:
    """The inputs forward() takes that the task feeds, with shapes, dtypes, dynamic axes and id ranges."""
    config = model.config
    params = set(inspect.signature(model.forward).parameters)
    main = getattr(model, "main_input_name", "input_ids")
    text = {"batch_axes": [[0, "batch"], [1, "sequence"]]}
    specs: list[dict[str, Any]] = []
    ranges: dict[str, list[float]] = {}

    def ids(name: str, rows: int) -> None:
        specs.append({"name": name, "shape": [1, SEQUENCE], "dtype": "int64", "dynamic_axes": text["batch_axes"]})
        if rows:
            ranges[name] = [0.0, float(rows)]

    text_cfg = getattr(config, "text_config", None) or config
    vocab = int(getattr(text_cfg, "vocab_size", 0) or 0)
    if "input_ids" in params and main == "input_ids":
        ids("input_ids", vocab)
        if "attention_mask" in params:
            ids("attention_mask", 0)
        types = int(getattr(text_cfg, "type_vocab_size", 0) or 0)
        if "token_type_ids" in params and types > 1:
            ids("token_type_ids", types)
    if "pixel_values" in params:
        c, h, w = _image_size(ckpt, config)
        specs.append({"name": "pixel_values", "shape": [1, c, h, w], "dtype": "float32",
                      "dynamic_axes": [[0, "batch"]]})
    if main == "input_features" and "input_features" in params:
        mels = int(getattr(config, "num_mel_bins", 80))
        frames = 2 * int(getattr(config, "max_source_positions", 1500))  # Whisper takes exactly this many
        specs.append({"name": "input_features", "shape": [1, mels, frames], "dtype": "float32",
                      "dynamic_axes": [[0, "batch"]]})
    if main == "input_values" and "input_values" in params:
        specs.append({"name": "input_values", "shape": [1, AUDIO_SAMPLES], "dtype": "float32",
                      "dynamic_axes": [[0, "batch"]]})
    if not encoder_only and getattr(config, "is_encoder_decoder", False) and "decoder_input_ids" in params:
        ids("decoder_input_ids", int(getattr(config, "vocab_size", 0) or vocab))
        if main != "input_ids":  # a speech seq2seq: the decoder's sequence is its own axis
            specs[-1]["dynamic_axes"] = [[0, "batch"], [1, "decoder_sequence"]]
    if task == "multiple-choice":
        for s in specs:
            s["shape"] = [1, 2, SEQUENCE]
            s["dynamic_axes"] = [[0, "batch"], [2, "sequence"]]
    if not specs:
        raise BadInput(f"cannot tell the inputs of {type(model).__name__} (forward takes "
                       f"{', '.join(sorted(params))[:200]})", path=ckpt.path,
                       hint="pass --task for a head portkit knows (portkit inspect lists the tasks)")
    return specs, ranges


def _name_outputs(module: Any) -> None:
    """One run at the example sizes names the outputs (the model's own output fields, in its order)."""
    torch = _torch()
    from ..inputs import make_inputs
    from ..signature import InputSpec, ModelSignature, TensorSpec

    specs = [InputSpec.from_dict(s) for s in module.input_specs]
    sig = ModelSignature(tuple(TensorSpec(s.name, s.dtype or "float32", s.symbolic_shape(True) or ())
                               for s in specs))
    ranges = {k: (v[0], v[1]) for k, v in module.input_ranges.items()}
    feeds = make_inputs(sig, batch=1, ranges=ranges)
    with torch.inference_mode():
        out = module.fields(*[torch.from_numpy(feeds[s.name]) for s in sig.inputs])
    module.output_names = list(out)
