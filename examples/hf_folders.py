"""Tiny Hugging Face checkpoint folders, written as people keep them (no downloads, seeded random weights).

`save(kind, folder)` builds a tiny-config model of one architecture and writes it with `save_pretrained`
(config.json + model.safetensors), with a tokenizer (a WordLevel `tokenizers.Tokenizer` built offline,
wrapped in PreTrainedTokenizerFast) or an image processor beside it where the model takes text or images;
timm kinds (`timm-resnet18`, ...) are written with timm's own `save_for_hf`. Then, with nothing else:

    python -c "from examples.hf_folders import save; save('bert-cls', 'bert-cls')"
    portkit convert bert-cls --to onnx

`KINDS` lists them; tests and the coverage corpus (benchmarks/coverage.py, families hf-folders and
timm-folders) use the same builders.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

__all__ = ["KINDS", "SENTENCES", "TIMM_KINDS", "save"]

SEED = 0
VOCAB = 120
SENTENCES = ("the cat sat on the mat", "a model converts", "portkit checks every output of the model again and again",
             "hello world", "is the dog on the red mat or in the house")
_WORDS = sorted({w for s in SENTENCES for w in s.split()})
_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_T = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


def _tokenizer(folder: Path, vocab: int = VOCAB) -> None:
    """A WordLevel tokenizer over the sample sentences' words (ids < `vocab`), [CLS] … [SEP], padding."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = _SPECIAL + _WORDS
    assert len(words) <= vocab
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=64)
    fast.save_pretrained(str(folder))


def _image_processor(folder: Path, size: int) -> None:
    from transformers import ViTImageProcessor

    ViTImageProcessor(size={"height": size, "width": size}, image_mean=[0.5, 0.4, 0.3],
                      image_std=[0.25, 0.25, 0.25]).save_pretrained(str(folder))


def _text(cls: str, cfg: str, **kw: Any) -> tuple[str, str, dict[str, Any], str]:
    return cls, cfg, kw, "text"


def _image(cls: str, cfg: str, **kw: Any) -> tuple[str, str, dict[str, Any], str]:
    return cls, cfg, kw, "image"


_V = dict(vocab_size=VOCAB, max_position_embeddings=64)
_DEC = dict(vocab_size=VOCAB, max_position_embeddings=64, use_cache=False, pad_token_id=0, bos_token_id=2,
            eos_token_id=3)
# kind -> (model class, config class, config fields, what it reads)
KINDS: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "bert-cls": _text("BertForSequenceClassification", "BertConfig", num_labels=3, **_V, **_T),
    "bert": _text("BertModel", "BertConfig", **_V, **_T),
    "roberta-mlm": _text("RobertaForMaskedLM", "RobertaConfig", vocab_size=VOCAB, max_position_embeddings=72,
                         pad_token_id=0, **_T),
    "deberta-v2-cls": _text("DebertaV2ForSequenceClassification", "DebertaV2Config", num_labels=2, **_V, **_T),
    "electra-tok": _text("ElectraForTokenClassification", "ElectraConfig", num_labels=5, embedding_size=16,
                         **_V, **_T),
    "distilbert-qa": _text("DistilBertForQuestionAnswering", "DistilBertConfig", vocab_size=VOCAB, dim=32,
                           n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=64),
    "albert-cls": _text("AlbertForSequenceClassification", "AlbertConfig", num_labels=2, embedding_size=16,
                        **_V, **_T),
    "mobilebert-cls": _text("MobileBertForSequenceClassification", "MobileBertConfig", num_labels=2, **_V,
                            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                            embedding_size=16, intra_bottleneck_size=16, true_hidden_size=16,
                            num_feedforward_networks=1),
    "xlm-roberta": _text("XLMRobertaModel", "XLMRobertaConfig", vocab_size=VOCAB, max_position_embeddings=72,
                         pad_token_id=0, **_T),
    "mpnet": _text("MPNetModel", "MPNetConfig", vocab_size=VOCAB, max_position_embeddings=72, pad_token_id=0,
                   **_T),
    "t5": _text("T5ForConditionalGeneration", "T5Config", vocab_size=VOCAB, d_model=32, d_kv=16, d_ff=64,
                num_layers=2, num_heads=2, decoder_start_token_id=0, use_cache=False),
    "bart": _text("BartForConditionalGeneration", "BartConfig", vocab_size=VOCAB, d_model=32, encoder_layers=2,
                  decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                  decoder_ffn_dim=64, max_position_embeddings=64, use_cache=False, pad_token_id=0,
                  bos_token_id=2, eos_token_id=3, decoder_start_token_id=3, forced_eos_token_id=None),
    "gpt2-lm": _text("GPT2LMHeadModel", "GPT2Config", vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=2,
                  n_head=2, use_cache=False, bos_token_id=2, eos_token_id=3),
    "llama-lm": _text("LlamaForCausalLM", "LlamaConfig", num_key_value_heads=1, **_DEC, **_T),
    "qwen2": _text("Qwen2ForCausalLM", "Qwen2Config", num_key_value_heads=1, **_DEC, **_T),
    "mistral": _text("MistralForCausalLM", "MistralConfig", num_key_value_heads=1, sliding_window=None,
                     **_DEC, **_T),
    "phi": _text("PhiForCausalLM", "PhiConfig", **_DEC, **_T),
    "gemma": _text("GemmaForCausalLM", "GemmaConfig", num_key_value_heads=1, head_dim=16, **_DEC, **_T),
    "vit-cls": _image("ViTForImageClassification", "ViTConfig", image_size=32, patch_size=8, num_labels=10, **_T),
    "deit": _image("DeiTForImageClassification", "DeiTConfig", image_size=32, patch_size=8, num_labels=10, **_T),
    "swin": _image("SwinForImageClassification", "SwinConfig", image_size=32, patch_size=4, embed_dim=16,
                   depths=[1, 1], num_heads=[2, 2], window_size=4, num_labels=10),
    "convnext-cls": _image("ConvNextForImageClassification", "ConvNextConfig", image_size=32, hidden_sizes=[16, 32],
                       depths=[1, 1], num_stages=2, num_labels=10),
    "segformer": _image("SegformerForSemanticSegmentation", "SegformerConfig", image_size=32, num_encoder_blocks=2,
                        depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[16, 32], patch_sizes=[7, 3],
                        strides=[4, 2], num_attention_heads=[1, 2], mlp_ratios=[2, 2], decoder_hidden_size=32,
                        num_labels=4),
    "whisper-encoder": ("WhisperModel", "WhisperConfig",
                        dict(vocab_size=VOCAB, num_mel_bins=16, d_model=32, encoder_layers=2, decoder_layers=1,
                             encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                             decoder_ffn_dim=64, max_source_positions=32, max_target_positions=32,
                             use_cache=False, pad_token_id=0, bos_token_id=2, eos_token_id=3,
                             decoder_start_token_id=2), "audio"),
    "wav2vec2-cls": ("Wav2Vec2ForSequenceClassification", "Wav2Vec2Config",
                     dict(vocab_size=VOCAB, conv_dim=[16, 16], conv_stride=[5, 4], conv_kernel=[10, 8],
                          num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, num_labels=3,
                          do_stable_layer_norm=True, feat_extract_norm="layer", **_T), "audio"),
    "clip": ("CLIPModel", "CLIPConfig", dict(
        text_config=dict(vocab_size=VOCAB, max_position_embeddings=64, **_T),
        vision_config=dict(image_size=32, patch_size=8, **_T), projection_dim=16), "text+image"),
}
TIMM_KINDS = {"timm-resnet18": "resnet18", "timm-mobilenetv3": "mobilenetv3_small_050",
              "timm-efficientnet": "efficientnet_b0", "timm-convnext": "convnext_atto",
              "timm-vit": "vit_tiny_patch16_224", "timm-regnet": "regnetx_002", "timm-deit": "deit_tiny_patch16_224"}
TIMM_SIZE = 64


def _meaningful(model: Any, shape: tuple[int, ...]) -> Any:
    """Weights left at zero get a small random init and BatchNorm statistics come from seeded batches (as
    benchmarks/corpus_models does), so outputs depend on the input."""
    from benchmarks.corpus_models import _meaningful as meaningful

    return meaningful(model, shape)


def _normalised_statistics(model: Any, path: Path) -> bool:
    """BatchNorm statistics measured again on images as the folder's config normalises them (portkit's sample
    pictures, beside the seeded random batches), as a trained checkpoint's come from its normalised training
    images. With statistics from uniform noise alone, smooth normalised pictures grew efficientnet_b0's
    logits past 1e3, where float32 kernels of different runtimes part by more than 1e-4 relative. False
    when the model has no BatchNorm."""
    import torch

    from portkit.hf.samples import sample_feeds
    from portkit.signature import ModelSignature, TensorSpec

    norms = [b for b in model.modules() if isinstance(b, torch.nn.modules.batchnorm._BatchNorm)]
    feeds, _ = sample_feeds(path, ModelSignature((TensorSpec("pixel_values", "float32",
                                                             ("batch", 3, TIMM_SIZE, TIMM_SIZE)),)))
    if not norms or feeds is None:
        return False
    images = torch.from_numpy(feeds["pixel_values"])
    noise = torch.rand((8, 3, TIMM_SIZE, TIMM_SIZE), generator=torch.Generator().manual_seed(SEED + 2)) * 2 - 1
    with torch.no_grad():
        for b in norms:
            b.reset_running_stats()
            b.momentum = None  # a plain average over the batches
        model.train()
        model(torch.cat([images, noise]))
    model.eval()
    return True


def save(kind: str, folder: str | Path) -> str:
    """Write a tiny `kind` checkpoint folder; returns its path."""
    import torch

    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)
    if kind in TIMM_KINDS:
        import timm
        from timm.models import save_for_hf

        name = TIMM_KINDS[kind]
        kwargs: dict[str, Any] = {"img_size": TIMM_SIZE} if name.startswith(("vit_", "deit_")) else {}
        model = timm.create_model(name, pretrained=False, num_classes=10, **kwargs)
        model.pretrained_cfg = {**model.pretrained_cfg, "input_size": (3, TIMM_SIZE, TIMM_SIZE)}
        model = _meaningful(model, (1, 3, TIMM_SIZE, TIMM_SIZE))
        save_for_hf(model, str(path), model_args=kwargs or None, safe_serialization=True)
        if _normalised_statistics(model, path):
            save_for_hf(model, str(path), model_args=kwargs or None, safe_serialization=True)
        return str(path)
    import transformers as tr

    model_cls, config_cls, fields, reads = KINDS[kind]
    config = getattr(tr, config_cls)(**fields)
    model = getattr(tr, model_cls)(config).eval()
    size = int(getattr(getattr(config, "vision_config", config), "image_size", 32) or 32)
    if reads in ("image", "text+image"):
        model = _meaningful(model, (1, 3, size, size))
    model.save_pretrained(str(path))
    if "text" in reads:
        _tokenizer(path)
    if "image" in reads:
        _image_processor(path, size)
    return str(path)


def eager(folder: str, feeds: dict[str, Any]) -> dict[str, Any]:
    """transformers' own eager outputs for `feeds` (the class config.json names, loaded from the folder)."""
    import torch
    import transformers as tr

    config = tr.AutoConfig.from_pretrained(folder, local_files_only=True)
    model = getattr(tr, config.architectures[0]).from_pretrained(folder, local_files_only=True).eval()
    with torch.no_grad():
        out = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}, return_dict=True)
    return {k: v.numpy() for k, v in out.items() if isinstance(v, torch.Tensor)}


def state_dict_to_safetensors(src: str, dst: str) -> None:
    """A torch.save() state_dict rewritten as .safetensors (what save_pretrained and timm write)."""
    import torch
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in torch.load(src, weights_only=True).items()}, dst)
