"""The coverage corpus's models, built from code with seeded random weights (no downloads, ever).

PyTorch models are referenced by portkit as `benchmarks.corpus_models:<factory>` with `model_args`, so
every worker that loads the source (conversion, validation) builds the same weights (seed 0). Keras models
are built by `keras_file` inside a worker and saved as `.keras`; the subclassed one is registered here and
loaded with `custom_objects="benchmarks.corpus_models"`.

Each factory imports its framework inside: importing this module costs nothing.
"""
from __future__ import annotations

from typing import Any

SEED = 0


def _seed() -> Any:
    import torch

    torch.manual_seed(SEED)
    return torch


def _meaningful(m: Any, shape: tuple[int, ...]) -> Any:
    """Random init that makes the comparison mean something. Freshly built, many image models compute
    nearly nothing in eval mode: BatchNorm's running statistics are 0/1 while the activations are not, so
    the signal shrinks layer by layer (mobilenet_v2's outputs were ~5e-10, efficientnet_b0's ~7e-14: any
    conversion agrees with them within 1e-4), and some heads start at zero (torchvision's ViT head: an
    all-zero output). So: weights left at zero get a small random init, and BatchNorm statistics are
    measured on two seeded random batches (train mode, no gradients) before eval. Still seeded: every
    worker that builds the model gets the same weights."""
    import torch

    gen = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() >= 2 and not p.any():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
        norms = [b for b in m.modules() if isinstance(b, torch.nn.modules.batchnorm._BatchNorm)]
        if norms:
            for b in norms:
                b.reset_running_stats()
                b.momentum = None  # a plain average over the calibration batches
            m.train()
            for _ in range(2):
                m(torch.rand((8, *shape[1:]), generator=gen) * 2 - 1)
    return m.eval()


# ---------------------------------------------------------------- torchvision


def torchvision_model(arch: str, size: int = 64) -> Any:
    """A torchvision architecture (10 classes). `vit_tiny` / `swin_tiny` are torchvision's
    VisionTransformer / SwinTransformer classes at a small configuration (the B/T sizes are 86M/28M)."""
    _seed()
    import torchvision

    if arch == "vit_tiny":
        m = torchvision.models.VisionTransformer(image_size=size, patch_size=16, num_layers=2, num_heads=2,
                                                 hidden_dim=64, mlp_dim=128, num_classes=10)
    elif arch == "swin_tiny":
        m = torchvision.models.SwinTransformer(patch_size=[4, 4], embed_dim=24, depths=[2, 2], num_heads=[2, 4],
                                               window_size=[4, 4], stochastic_depth_prob=0.0, num_classes=10)
    else:
        kwargs: dict[str, Any] = {"weights": None, "num_classes": 10}
        if arch in ("googlenet", "inception_v3"):
            kwargs.update(aux_logits=False, init_weights=True)
        m = getattr(torchvision.models, arch)(**kwargs)
    m.input_shape = (1, 3, size, size)
    return _meaningful(m, m.input_shape)


# ---------------------------------------------------------------- timm


def timm_model(name: str, size: int = 64) -> Any:
    _seed()
    import timm

    kwargs: dict[str, Any] = {"pretrained": False, "num_classes": 10}
    if any(name.startswith(p) for p in ("vit_", "deit_", "mixer_")):
        kwargs["img_size"] = size
    m = _meaningful(timm.create_model(name, **kwargs), (1, 3, size, size))
    m.input_shape = (1, 3, size, size)
    return m


# ---------------------------------------------------------------- vision models beyond the corpus (issue 28)

# (name, factory, args): timm architectures whose ONNX onnx2tf failed on, at their own input size, and two
# torchvision ones at sizes other than the torchvision family's 64 (swin_t) or in its full form (shufflenet)
VISION_EXTRA = (
    ("ghostnetv2_100", "timm_model", {"name": "ghostnetv2_100", "size": 224}),
    ("edgenext_xx_small", "timm_model", {"name": "edgenext_xx_small", "size": 256}),
    ("efficientvit_b0", "timm_model", {"name": "efficientvit_b0", "size": 224}),
    ("tiny_vit_5m_224", "timm_model", {"name": "tiny_vit_5m_224", "size": 224}),
    ("swin_t@224", "torchvision_model", {"arch": "swin_t", "size": 224}),
    ("shufflenet_v2_x0_5@64", "torchvision_model", {"arch": "shufflenet_v2_x0_5", "size": 64}),
)


def user_traced(arch: str, size: int, out: str) -> str:
    """A torchvision model traced as a user does (`torch.jit.trace` in eval mode under no_grad, no portkit
    involved): nn.MultiheadAttention takes its fused fast path, so the trace of a ViT holds
    `aten::_native_multi_head_attention`."""
    import warnings

    torch = _seed()
    m = torchvision_model(arch, size)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.jit.trace(m, torch.rand(m.input_shape) * 2 - 1, check_trace=False).save(out)
    return out


# ---------------------------------------------------------------- Hugging Face transformers (tiny configs)

HF_TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


def _hf_config(kind: str) -> tuple[Any, str]:
    import transformers as tr

    vocab = 100
    if kind == "bert":
        return tr.BertConfig(vocab_size=vocab, max_position_embeddings=64, **HF_TINY), "text"
    if kind == "distilbert":
        return tr.DistilBertConfig(vocab_size=vocab, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                                   max_position_embeddings=64), "text"
    if kind == "roberta":
        return tr.RobertaConfig(vocab_size=vocab, max_position_embeddings=72, pad_token_id=1, **HF_TINY), "text"
    if kind == "albert":
        return tr.AlbertConfig(vocab_size=vocab, embedding_size=16, max_position_embeddings=64, **HF_TINY), "text"
    if kind == "gpt2":
        return tr.GPT2Config(vocab_size=vocab, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                             use_cache=False), "text"
    if kind == "llama":
        return tr.LlamaConfig(vocab_size=vocab, max_position_embeddings=64, num_key_value_heads=2, use_cache=False,
                              **HF_TINY), "text"
    if kind == "vit":
        return tr.ViTConfig(image_size=32, patch_size=8, num_channels=3, **HF_TINY), "image"
    if kind == "convnext":
        return tr.ConvNextConfig(num_channels=3, hidden_sizes=[16, 32], depths=[1, 1], num_stages=2,
                                 image_size=32), "image"
    raise ValueError(f"unknown HF corpus model {kind!r}")


def hf_model(kind: str) -> Any:
    """A tiny HF model (AutoModel of its config) returning its last hidden state as one tensor."""
    torch = _seed()
    import transformers as tr

    config, modality = _hf_config(kind)
    inner = tr.AutoModel.from_config(config, attn_implementation="eager").eval()

    if modality == "text":
        class Text(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = inner
                dyn = [[0, "batch"], [1, "sequence"]]
                # int64 ids and mask, batch and sequence dynamic; ids below the vocabulary (portkit reads these)
                self.input_specs = [{"name": n, "shape": [1, 16], "dtype": "int64", "dynamic_axes": dyn}
                                    for n in ("input_ids", "attention_mask")]
                self.input_ranges = {"input_ids": [0, config.vocab_size]}

            def forward(self, input_ids: Any, attention_mask: Any) -> Any:
                return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

        return Text().eval()

    class Image(torch.nn.Module):
        input_shape = (1, 3, 32, 32)

        def __init__(self) -> None:
            super().__init__()
            self.model = inner

        def forward(self, pixel_values: Any) -> Any:
            return self.model(pixel_values=pixel_values).last_hidden_state

    return Image().eval()


def hf_modality(kind: str) -> str:
    return {"vit": "image", "convnext": "image"}.get(kind, "text")


# ---------------------------------------------------------------- Keras

KERAS_APPS = {  # name -> input size (the smallest each accepts comfortably)
    "MobileNet": 32, "MobileNetV2": 32, "MobileNetV3Small": 32, "ResNet50": 32, "DenseNet121": 32,
    "EfficientNetB0": 32, "EfficientNetV2B0": 32, "VGG16": 32, "Xception": 75, "NASNetMobile": 32,
}
KERAS_OWN = ("conv1d", "lstm", "gru", "subclassed")
# functional models a user writes whose export failed (issue 28): attention block, upsampling, bidirectional RNN
KERAS_EXTRA = ("mha-block", "conv2d-transpose", "bidirectional-gru")


def _register(keras: Any) -> Any:
    @keras.saving.register_keras_serializable(package="portkit_corpus")
    class SubclassedNet(keras.Model):
        """A subclassed model: two branches (Conv1D and Dense) joined, its own get_config."""

        def __init__(self, units: int = 16, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.units = units
            self.conv = keras.layers.Conv1D(units, 3, padding="same", activation="relu")
            self.pool = keras.layers.GlobalAveragePooling1D()
            self.dense = keras.layers.Dense(units, activation="tanh")
            self.head = keras.layers.Dense(5)

        def call(self, x: Any) -> Any:
            return self.head(self.pool(self.conv(x)) + self.dense(keras.ops.mean(x, axis=1)))

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "units": self.units}

    return SubclassedNet


def custom_objects() -> dict[str, Any]:
    import keras

    cls = _register(keras)
    return {"portkit_corpus>SubclassedNet": cls, "SubclassedNet": cls}


def _keras_calibrated(keras: Any, model: Any, size: int) -> Any:
    """Keras applications made to compute something (see `_meaningful`: with the initial 0/1 statistics
    MobileNet's outputs did not depend on the input at all), and conditioned like a trained model:
    BatchNormalization statistics measured on 32 seeded random images, a variance no smaller than a tenth of
    the layer's median (a channel nearly dead on the calibration batch would otherwise amplify rounding by
    1e3: TF against TF disagreed by 0.4 on EfficientNetB0's logits), and the classifier scaled so the logits
    have a standard deviation of about one (as a trained model's do; ResNet50's were ±66)."""
    import numpy as np

    x = np.random.default_rng(SEED + 1).uniform(-1, 1, (32, size, size, 3)).astype(np.float32)
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    if norms:
        momenta = [layer.momentum for layer in norms]
        for layer in norms:
            layer.momentum = 0.0  # the moving statistics become this batch's
        model(x, training=True)
        for layer, m in zip(norms, momenta, strict=True):
            layer.momentum = m
            var = np.asarray(layer.moving_variance)
            layer.moving_variance.assign(np.maximum(var, 0.1 * float(np.median(var))))
    head = model.layers[-1]
    if isinstance(head, keras.layers.Dense):
        spread = float(np.std(np.asarray(model(x, training=False))))
        if spread > 0:
            head.kernel.assign(np.asarray(head.kernel) / spread)
            head.bias.assign(np.asarray(head.bias) / spread)
    return model


def condition_keras(keras: Any, model: Any, size: int) -> Any:
    """`_keras_calibrated` for the test suite's Keras applications (tests/tf_models.py)."""
    return _keras_calibrated(keras, model, size)


def keras_file(kind: str, name: str, out: str) -> str:
    """Build a Keras model (an application with weights=None, or one of KERAS_OWN) and save it as .keras."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(SEED)
    if kind == "app":
        size = KERAS_APPS[name]
        # logits, not softmax: ten probabilities of ~0.1 agree with anything within 1e-4
        kwargs: dict[str, Any] = {"weights": None, "input_shape": (size, size, 3), "classes": 10,
                                  "classifier_activation": None}
        if name.startswith("MobileNetV3") or name.startswith("EfficientNetV2"):
            kwargs["include_preprocessing"] = False
        model = _keras_calibrated(keras, getattr(keras.applications, name)(**kwargs), size)
    elif name == "conv1d":
        model = keras.Sequential([keras.Input((32, 8)), keras.layers.Conv1D(16, 3, activation="relu"),
                                  keras.layers.MaxPooling1D(2), keras.layers.Conv1D(16, 3, padding="same"),
                                  keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(4)])
    elif name == "lstm":
        model = keras.Sequential([keras.Input((16, 8)), keras.layers.LSTM(16, return_sequences=True),
                                  keras.layers.LSTM(8), keras.layers.Dense(3)])
    elif name == "gru":
        model = keras.Sequential([keras.Input((16, 8)), keras.layers.GRU(16), keras.layers.Dense(3)])
    elif name == "mha-block":
        inp = keras.Input((16, 32))
        x = keras.layers.LayerNormalization()(inp + keras.layers.MultiHeadAttention(2, 16)(inp, inp))
        x = keras.layers.LayerNormalization()(x + keras.layers.Dense(32)(keras.layers.Dense(64, "relu")(x)))
        model = keras.Model(inp, keras.layers.Dense(4)(keras.layers.GlobalAveragePooling1D()(x)))
    elif name == "conv2d-transpose":
        model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(8, 3, strides=2, padding="same",
                                                                                activation="relu"),
                                  keras.layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu"),
                                  keras.layers.Conv2D(2, 3, padding="same")])
    elif name == "bidirectional-gru":
        model = keras.Sequential([keras.Input((16, 8)), keras.layers.Bidirectional(keras.layers.GRU(16)),
                                  keras.layers.Dense(3)])
    elif name == "subclassed":
        model = _register(keras)()
        model(np.zeros((1, 16, 8), np.float32))
    else:
        raise ValueError(f"unknown Keras corpus model {name!r}")
    model.save(out)
    return out


# ---------------------------------------------------------------- text models at a fixed / dynamic sequence

SEQ = 16  # the fixed sequence length of the text-seq family (a mobile app's usual choice)
TEXT_SEQ = ("bert", "bert-cls", "roberta", "xlm-roberta", "albert", "distilbert", "electra", "deberta-v2",
            "mobilebert", "mpnet", "bart", "t5-encoder", "clip-text", "gpt2", "opt", "llama", "qwen2", "mistral",
            "phi", "gemma")
CAUSAL = {"gpt2", "opt", "llama", "qwen2", "mistral", "phi", "gemma"}


def _text_seq_inner(kind: str) -> Any:
    import transformers as tr

    t = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    v = 100
    dec = dict(vocab_size=v, max_position_embeddings=64, use_cache=False, **t)
    table: dict[str, Any] = {
        "bert": lambda: tr.BertModel(tr.BertConfig(vocab_size=v, max_position_embeddings=64, **t)),
        "bert-cls": lambda: tr.BertForSequenceClassification(
            tr.BertConfig(vocab_size=v, max_position_embeddings=64, num_labels=3, **t)),
        "roberta": lambda: tr.RobertaModel(tr.RobertaConfig(vocab_size=v, max_position_embeddings=72, pad_token_id=1,
                                                            **t)),
        "xlm-roberta": lambda: tr.XLMRobertaModel(tr.XLMRobertaConfig(vocab_size=v, max_position_embeddings=72,
                                                                      pad_token_id=1, **t)),
        "albert": lambda: tr.AlbertModel(tr.AlbertConfig(vocab_size=v, embedding_size=16, max_position_embeddings=64,
                                                         **t)),
        "distilbert": lambda: tr.DistilBertModel(tr.DistilBertConfig(vocab_size=v, dim=32, n_layers=2, n_heads=2,
                                                                     hidden_dim=64, max_position_embeddings=64)),
        "electra": lambda: tr.ElectraModel(tr.ElectraConfig(vocab_size=v, embedding_size=16,
                                                            max_position_embeddings=64, **t)),
        "deberta-v2": lambda: tr.DebertaV2Model(tr.DebertaV2Config(
            vocab_size=v, max_position_embeddings=64, relative_attention=True, position_buckets=8,
            pos_att_type=["p2c", "c2p"], **t)),
        "mobilebert": lambda: tr.MobileBertModel(tr.MobileBertConfig(
            vocab_size=v, max_position_embeddings=64, hidden_size=32, embedding_size=16, intra_bottleneck_size=16,
            true_hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
            num_feedforward_networks=1)),
        "mpnet": lambda: tr.MPNetModel(tr.MPNetConfig(vocab_size=v, max_position_embeddings=72, **t)),
        "bart": lambda: tr.BartModel(tr.BartConfig(
            vocab_size=v, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
            decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64)),
        "t5-encoder": lambda: tr.T5EncoderModel(tr.T5Config(vocab_size=v, d_model=32, d_kv=16, d_ff=64, num_layers=2,
                                                            num_heads=2, relative_attention_num_buckets=8)),
        "clip-text": lambda: tr.CLIPTextModel(tr.CLIPTextConfig(
            vocab_size=v, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            max_position_embeddings=64, bos_token_id=0, eos_token_id=2)),
        "gpt2": lambda: tr.GPT2LMHeadModel(tr.GPT2Config(vocab_size=v, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                                                         use_cache=False, bos_token_id=0, eos_token_id=0)),
        "opt": lambda: tr.OPTForCausalLM(tr.OPTConfig(vocab_size=v, max_position_embeddings=64, hidden_size=32,
                                                      num_hidden_layers=2, num_attention_heads=2, ffn_dim=64,
                                                      word_embed_proj_dim=32, use_cache=False)),
        "llama": lambda: tr.LlamaForCausalLM(tr.LlamaConfig(num_key_value_heads=1, **dec)),
        "qwen2": lambda: tr.Qwen2ForCausalLM(tr.Qwen2Config(num_key_value_heads=1, **dec)),
        "mistral": lambda: tr.MistralForCausalLM(tr.MistralConfig(num_key_value_heads=1, sliding_window=None, **dec)),
        "phi": lambda: tr.PhiForCausalLM(tr.PhiConfig(**dec)),
        "gemma": lambda: tr.GemmaForCausalLM(tr.GemmaConfig(num_key_value_heads=1, head_dim=16, **dec)),
    }
    model = table[kind]()
    model.config._attn_implementation = "eager"  # plain matmul + softmax: what every target takes
    return model.eval()


def text_seq_model(kind: str, fixed: bool = True) -> Any:
    """A tiny transformers text model (examples/hf_models.TextModel: ids + 0/1 mask → one tensor, the 4-D
    mask built from plain tensor ops as export wrappers do) declaring int64 inputs [batch, SEQ] with the
    sequence fixed (`fixed`) or dynamic."""
    torch = _seed()
    from examples.hf_models import TextModel

    inner = _text_seq_inner(kind)
    if kind == "bart":  # the decoder reads the ids too: one (ids, mask) signature for the whole family
        class Seq2Seq(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.m = inner

            def get_input_embeddings(self) -> Any:
                return self.m.get_input_embeddings()

            def forward(self, input_ids: Any, attention_mask: Any, return_dict: bool = True) -> Any:
                out = self.m(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=input_ids)
                return {"last_hidden_state": out.last_hidden_state}

        inner = Seq2Seq().eval()
    out = "logits" if kind in CAUSAL or kind.endswith("-cls") else "last_hidden_state"
    # T5 / CLIP / BART / OPT / DeBERTa build their own masks from the 0/1 mask (they take no 4-D additive one;
    # OPT derives its positions from the 0/1 mask; DeBERTa-v2 reads a 4-D mask as 0/1 and, given the additive
    # one, masked every key: all-zero rows, NaN where padded — which every candidate then "matched")
    mask = "model" if kind in ("bart", "t5-encoder", "clip-text", "opt", "deberta-v2") else "wrapper"
    m = TextModel(inner, out, sequence=SEQ, causal=kind in CAUSAL, mask=mask).eval()
    dyn = [[0, "batch"]] if fixed else [[0, "batch"], [1, "sequence"]]
    m.input_specs = [{"name": n, "shape": [1, SEQ], "dtype": "int64", "dynamic_axes": dyn}
                     for n in ("input_ids", "attention_mask")]
    return m


def text_seq_traced(kind: str, out: str) -> str:
    """text_seq_model traced bare (`torch.jit.trace(m, (ids, mask)).save(out)`), as users do."""
    import warnings

    torch = _seed()
    from examples.hf_models import text_inputs

    m = text_seq_model(kind)
    feeds = text_inputs(m, 2, SEQ)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.jit.trace(m, (feeds["input_ids"], feeds["attention_mask"]), check_trace=False).save(out)
    return out


# ---------------------------------------------------------------- decoders (causal LMs with their cache)

# family `decoders`: one save_pretrained folder per decoder architecture, tiny but with the structure that
# goes wrong in cache exports (grouped-query attention: 4 query heads over 2 key/value heads; rotary
# positions; each architecture's own norms, biases, partial rotary, q/k norms), converted with the
# cache to onnx / tflite / executorch and judged by greedy generation against transformers' `generate`.
# Weights: at transformers' default init (std 0.02) the logits spread ~0.16 and GPT-2, Gemma, SmolLM3 and
# Starcoder2 generate one token over and over (tied embeddings: the last hidden state is mostly the input's
# embedding, so the input token wins), which proves little about a cache; std 0.1 and an untied head give
# 5-27 distinct tokens in 32 steps for every architecture, logits spread ~0.8.
_DEC_INIT = dict(initializer_range=0.1, tie_word_embeddings=False)
_DEC_COMMON = dict(vocab_size=256, max_position_embeddings=128, use_cache=True, pad_token_id=0, bos_token_id=1,
                   eos_token_id=2, **_DEC_INIT)
_DEC_T = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)
_GQA = dict(num_key_value_heads=2)
# names end in -kv: `--only NAME` also matches text-seq's one-pass gpt2, llama, ...
DECODERS: dict[str, tuple[str, str, dict[str, Any]]] = {  # name -> (model class, config class, config fields)
    "gpt2-kv": ("GPT2LMHeadModel", "GPT2Config", dict(vocab_size=256, n_positions=128, n_embd=64, n_layer=2,
                                                   n_head=4, bos_token_id=1, eos_token_id=2, **_DEC_INIT)),
    "llama-kv": ("LlamaForCausalLM", "LlamaConfig", dict(**_GQA, **_DEC_COMMON, **_DEC_T)),
    "qwen2-kv": ("Qwen2ForCausalLM", "Qwen2Config", dict(**_GQA, **_DEC_COMMON, **_DEC_T)),
    # multi-query attention here (one key/value head), grouped-query elsewhere
    "mistral-kv": ("MistralForCausalLM", "MistralConfig", dict(num_key_value_heads=1, sliding_window=None,
                                                            **_DEC_COMMON, **_DEC_T)),
    "phi-kv": ("PhiForCausalLM", "PhiConfig", dict(**_GQA, **_DEC_COMMON, **_DEC_T)),
    "gemma-kv": ("GemmaForCausalLM", "GemmaConfig", dict(**_GQA, head_dim=16, **_DEC_COMMON, **_DEC_T)),
    "qwen3-kv": ("Qwen3ForCausalLM", "Qwen3Config", dict(**_GQA, head_dim=16, **_DEC_COMMON, **_DEC_T)),
    "phi3-kv": ("Phi3ForCausalLM", "Phi3Config", dict(**_GQA, **_DEC_COMMON, **_DEC_T)),
    "olmo2-kv": ("Olmo2ForCausalLM", "Olmo2Config", dict(**_GQA, **_DEC_COMMON, **_DEC_T)),
    "smollm3-kv": ("SmolLM3ForCausalLM", "SmolLM3Config", dict(**_GQA, **_DEC_COMMON, **_DEC_T)),
    "granite-kv": ("GraniteForCausalLM", "GraniteConfig", dict(**_GQA, **_DEC_COMMON, **_DEC_T)),
    "starcoder2-kv": ("Starcoder2ForCausalLM", "Starcoder2Config", dict(**_GQA, sliding_window=None, **_DEC_COMMON,
                                                                     **_DEC_T)),
}


def decoder_folder(kind: str, out: str) -> str:
    """Write the tiny `kind` decoder as a save_pretrained folder (seeded random weights); returns its path."""
    _seed()
    import transformers as tr

    model_cls, config_cls, fields = DECODERS[kind]
    model = getattr(tr, model_cls)(getattr(tr, config_cls)(**fields)).eval()
    model.save_pretrained(out)
    return out
