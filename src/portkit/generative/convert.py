"""`portkit convert` for a causal LM: export with the key/value cache, then check by generation.

    onnx        torch.onnx (dynamo) of a wrapper that feeds past tensors to a transformers DynamicCache
                (portkit.generative.source.export_onnx)
    tflite      litert-torch's generative path (prefill + decode signatures, KV cache)
    executorch  transformers' static-cache export recipe (cache as program buffers), lowered to XNNPACK

The result is one hop (source → target), validated first by the one-pass logits over each prompt and
then by greedy generation against transformers' own `generate` (portkit.generative.check)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..artifact import Artifact
from ..errors import BadInput, ConversionFailed, PortkitError
from ..formats import Format
from ..hops import HopResult, remove, tmp_path
from ..options import ConvertOptions, ValidateOptions
from ..workers import WorkerPool
from .check import PROMPT_LENGTHS, GenerationCheck, compare, prompts_for
from .detect import CACHE_TARGETS, hf_config, is_causal_config
from .quantize import check_kind
from .runners import Generation

__all__ = ["causal_lm", "convert_lm", "generator_for", "validate_generation"]

SOURCE = "portkit.generative.source"
TOOLS = {"onnx": "torch.onnx dynamo + transformers DynamicCache",
         "tflite": "litert-torch generative (export_hf prefill/decode)",
         "executorch": "transformers StaticCache recipe + executorch (XNNPACK)"}
EXPORTS = {"onnx": (SOURCE, "export_onnx"), "tflite": ("portkit.generative.litert", "export_tflite"),
           "executorch": ("portkit.generative.executorch", "export_pte")}
DEFAULT_CACHE = 1024  # a static cache's default length when the model's context is longer


def causal_lm(location: str, md: dict[str, Any], to: Format, opts: ConvertOptions, pool: WorkerPool,
              vopts: ValidateOptions | None = None, validate: bool = False) -> dict[str, Any] | None:
    """The LM's shape facts when this conversion exports with a cache, else None (the one-pass route).
    `--cache` on a model that has none is exit 2; so are prompts + --tokens past a folder's context or the
    static cache (told by config.json, before anything loads)."""
    cfg = hf_config(location)
    asked = opts.cache is True
    if opts.cache is False:
        return None
    if cfg is not None and not is_causal_config(location):
        if asked:
            archs = ", ".join(cfg.get("architectures") or [cfg.get("model_type", "?")])
            raise BadInput(f"--cache: {archs} is not a causal (decoder-only) LM; it has no key/value cache",
                           path=location, hint="drop --cache (encoders convert as one pass)")
        return None
    if cfg is None and ":" not in location:
        if asked:
            raise BadInput("--cache needs a causal LM (a save_pretrained folder or a module:factory)",
                           path=location, hint="drop --cache")
        return None
    if to.value not in CACHE_TARGETS:
        if asked:
            raise BadInput(f"--cache: no cache export to {to.value}", hint=f"pick --to {' / '.join(CACHE_TARGETS)}")
        return None
    if cfg is not None:
        check_kind(opts.quantize, to.value, location)
    if cfg is not None:  # told by config.json, before anything loads
        told = {"context": cfg.get("max_position_embeddings") or cfg.get("n_positions")}
        static = cache_length(told, opts, location) if to is not Format.ONNX else None
        if validate:
            lengths = [[0] * n for n in PROMPT_LENGTHS]
            _check_context(told, lengths, (vopts or ValidateOptions()).tokens, location, static)
    try:
        info = pool.get("torch").call_as(f"load {location}", SOURCE, "probe", location, md)
    except PortkitError:
        if asked or cfg is not None:
            raise
        return None  # a factory that does not build: the one-pass route reports it as it always has
    if info is None and asked:
        raise BadInput("--cache: the model is not a causal LM that can generate (no key/value cache)",
                       path=location, hint="drop --cache (encoders convert as one pass)")
    if info is not None:
        check_kind(opts.quantize, to.value, location)
    return info


def cache_length(info: dict[str, Any], opts: ConvertOptions, location: str) -> int:
    """The static cache's length: --cache-length, else the model's context (at most DEFAULT_CACHE). A cache
    longer than the context is exit 2: positions past it have no embedding the model was built for."""
    ctx = info.get("context")
    if opts.cache_length is not None:
        if ctx and opts.cache_length > ctx:
            raise BadInput(f"--cache-length {opts.cache_length} is longer than the model's context of {ctx}",
                           path=location, hint=f"pass --cache-length {ctx} or less")
        return opts.cache_length
    return min(ctx or DEFAULT_CACHE, DEFAULT_CACHE)


def _check_context(info: dict[str, Any], prompts: list[list[int]], steps: int, location: str,
                   cache: int | None = None) -> None:
    longest = max(len(p) for p in prompts) + steps
    if cache is not None and longest > cache:
        raise BadInput(f"a prompt of {max(len(p) for p in prompts)} tokens + {steps} generated needs {longest} "
                       f"cache slots, more than the static cache's {cache}", path=location,
                       hint=f"pass --cache-length {longest} or more, or fewer --tokens")
    ctx = info.get("context")
    longest = max(len(p) for p in prompts) + steps
    if ctx and longest > ctx:
        raise BadInput(f"a prompt of {max(len(p) for p in prompts)} tokens + {steps} generated needs "
                       f"{longest} positions, more than the model's context of {ctx}", path=location,
                       hint=f"pass --tokens {max(1, ctx - max(len(p) for p in prompts))} or fewer")


def convert_lm(src: Artifact, info: dict[str, Any], to: Format, out: Path, opts: ConvertOptions, validate: bool,
               vopts: ValidateOptions | None, log: Any, pool: WorkerPool) -> tuple[Artifact, HopResult]:
    """Export with the cache and, unless validate=False, check by generation (the hop's validation).
    conversion.convert makes the ConversionResult (and raises ValidationFailed when the check fails)."""
    vopts = vopts or ValidateOptions()
    steps = vopts.tokens
    prompts = prompts_for(info["vocab"], vopts.seed)
    static = cache_length(info, opts, src.location) if to is not Format.ONNX else None
    if validate:
        _check_context(info, prompts, steps, src.location, static)
    t0 = time.perf_counter()
    edge = f"{src.format.value} → {to.value} (kv cache)"
    tool = TOOLS[to.value]
    log(f"{edge} with {tool} → {out}")
    tmp = tmp_path(out)
    try:
        module, func = EXPORTS[to.value]
        extra = opts.opset if to is Format.ONNX else static
        # executorch / tflite quantize inside their export (check_kind let only what the runtime has through)
        kw = {"quantize": opts.quantize} if opts.quantize and to is not Format.ONNX else {}
        if opts.quantize:
            from .quantize import TOOLS as QTOOLS
            from .quantize import describe

            log(f"  --quantize {opts.quantize}: {describe(opts.quantize, to.value)}")
            tool += f" + {QTOOLS[to.value]}"
        md = pool.get("torch").call_as(f"{edge} ({tool})", module, func, src.location, src.metadata,
                                       str(tmp.resolve()), extra, **kw)
        if not tmp.exists():
            raise ConversionFailed(f"{edge} produced no output", hint="run with --debug")
        if opts.quantize and to is Format.ONNX:
            from .quantize import quantize_weights

            md = {**md, **quantize_weights(str(tmp), opts.quantize)}
        if opts.quantize:
            q = md["quantization"]
            q["bytes_after"] = tmp.stat().st_size
            # the float file (.onnx; litert-torch's float .tflite); no float .pte exists: its parameters
            what = "" if to is Format.ONNX or q.get("float_file") else " parameters"
            log(f"  size {q['bytes_before'] / 1e6:.3g} MB float32{what} → {q['bytes_after'] / 1e6:.3g} MB "
                f"({q['bytes_after'] / q['bytes_before']:.2f}×)")
        remove(out)
        tmp.rename(out)
    except BaseException:
        remove(tmp)
        raise
    # the source, for `portkit bench`'s torch eager reference row and `portkit validate`
    where = str(Path(src.location).resolve()) if Path(src.location).exists() else src.location
    loading = {"weights": src.record.weights, "model_args": src.record.model_args}
    source = {"location": where, **{k: v for k, v in loading.items() if v}}
    art = Artifact(str(out), to, None, {"producer": "portkit.generative", **md, "source": source})
    hop = HopResult(edge, tool, str(out), time.perf_counter() - t0)
    if validate:
        check = validate_generation(src, art, prompts, steps, vopts, pool)
        hop.validation = check  # type: ignore[assignment]  # duck-typed: summary/max_abs/max_rel/to_dict
        log(f"  validate by generation: {'ok' if check else 'FAILED'} — {check.summary()}")
    return art, hop


class _WorkerGenerator:
    """A runtime that runs in a worker (LiteRT in the tf one, ExecuTorch in the torch one): all prompts in
    one call."""

    def __init__(self, pool: WorkerPool, family: str, module: str, path: str) -> None:
        self.worker, self.module, self.path = pool.get(family), module, path

    def generate_all(self, prompts: list[list[int]], steps: int) -> list[Generation]:
        raw = self.worker.call_as(f"generate with {Path(self.path).name}", self.module, "generate", self.path,
                                  prompts, steps)
        return [Generation.from_dict(r) for r in raw]

    def streams_all(self, prompts: list[list[int]], tokens: list[list[int]]) -> list[Any]:
        """Teacher-forced logits over each prompt + the reference's tokens (a quantized result's check)."""
        return self.worker.call_as(f"teacher-forced run of {Path(self.path).name}", self.module, "streams",
                                   self.path, prompts, tokens)

    def close(self) -> None:
        pass


def generator_for(art: Artifact, pool: WorkerPool | None = None) -> Any:
    """portkit's generate runner for an artifact's runtime."""
    if art.format is Format.ONNX:
        from .runners import OrtGenerator

        return OrtGenerator(art.location)
    if art.format is Format.TFLITE and pool is not None:
        return _WorkerGenerator(pool, "tf", "portkit.generative.litert", art.location)
    if art.format is Format.EXECUTORCH and pool is not None:
        return _WorkerGenerator(pool, "torch", "portkit.generative.executorch", art.location)
    raise BadInput(f"no generate runner for {art.format.value}", path=art.location,
                   hint="generate with an onnx, tflite or executorch artifact")


def validate_generation(src: Artifact, art: Artifact, prompts: list[list[int]], steps: int,
                        vopts: ValidateOptions, pool: WorkerPool) -> GenerationCheck:
    """Source (transformers' generate, in the torch worker) against the artifact's runner, prompt by prompt."""
    raw = pool.get("torch").call_as("reference generation", SOURCE, "reference", src.location, src.metadata,
                                    prompts, steps)
    refs = [Generation.from_dict(r) for r in raw]
    gen = generator_for(art, pool)
    cands: list[Generation | str] = []
    quantized = art.record.quantized
    streams: list[Any] = []
    if hasattr(gen, "generate_all"):
        try:
            cands += gen.generate_all(prompts, steps)
            if quantized:
                streams = gen.streams_all(prompts, [r.tokens for r in refs])
        except ConversionFailed as e:  # the runtime failed on the artifact (not portkit): a failed check
            cands = [e.message] * len(prompts)
        return _compare(src, art, refs, cands, prompts, vopts, quantized, streams)
    try:
        for p in prompts:
            try:
                cands.append(gen.generate(p, steps))
            except Exception as e:  # noqa: BLE001 - the runtime rejecting the artifact is a failed check
                from ..workers import raised_by_portkit

                if raised_by_portkit(e):
                    raise
                cands.append(f"{type(e).__name__}: {str(e).strip().splitlines()[-1][:200]}")
        if quantized:  # teacher-forced over each reference stream: the logits at its generation steps
            import numpy as np

            streams = [gen.step(np.asarray([p + ref.tokens[:-1]], np.int64), True)[len(p) - 1:]
                       for p, ref in zip(prompts, refs, strict=True)]
    finally:
        gen.close()
    return _compare(src, art, refs, cands, prompts, vopts, quantized, streams)


def _compare(src: Artifact, art: Artifact, refs: list[Generation], cands: list[Generation | str],
             prompts: list[list[int]], vopts: ValidateOptions, quantized: str | None,
             streams: list[Any]) -> GenerationCheck:
    if not quantized:
        return compare(src.location, art.location, refs, cands, prompts, vopts.atol, vopts.rtol)
    from ..validation.compare import QUANTIZED_CRITERIA

    return compare(src.location, art.location, refs, cands, prompts, vopts.atol, vopts.rtol, quantized=quantized,
                   streams=streams, min_agreement=QUANTIZED_CRITERIA[quantized][1])


def generative_artifact(location: str) -> Artifact | None:
    """An artifact portkit can generate with: an ONNX whose inputs take past key/values, or a file whose
    sidecar says portkit exported it with a cache."""
    from ..formats import sniff

    path = Path(location)
    if not path.is_file():
        return None
    fmt = sniff(location)
    art = Artifact(str(path.resolve()), fmt, None, {})
    art.read_sidecar_metadata()
    if art.record.generative:
        return art
    if fmt is Format.ONNX:
        import onnx

        graph = onnx.load(str(path), load_external_data=False).graph
        if any(i.name.startswith("past_key_values.") for i in graph.input):
            return art
    return None


def validate_lm(reference: str, candidate: str, vopts: ValidateOptions,
                reference_options: dict[str, Any] | None = None) -> GenerationCheck | None:
    """`portkit validate LM ARTIFACT`: the generation check, when the reference is a causal LM and the
    candidate generates with a cache; None otherwise (the one-pass comparison then runs)."""
    ref_is_lm = hf_config(reference) is not None or (":" in reference and not Path(reference).exists())
    if not ref_is_lm:
        return None
    cand = generative_artifact(candidate)
    if cand is None:
        return None
    md = {"weights": (reference_options or {}).get("weights"), "model_args": (reference_options or {}).get(
        "model_args") or {}}
    location = str(Path(reference).resolve()) if hf_config(reference) is not None else reference
    with WorkerPool() as pool:
        info = pool.get("torch").call_as(f"load {reference}", SOURCE, "probe", location, md)
        if info is None:
            return None
        src = Artifact(location, Format.TORCH, None, md)
        prompts = prompts_for(info["vocab"], vopts.seed)
        _check_context(info, prompts, vopts.tokens, reference)
        return validate_generation(src, cand, prompts, vopts.tokens, vopts, pool)
