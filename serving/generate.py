"""Text generation over the Open Inference Protocol: a generative artifact (an ONNX with past/present
key/values, a .tflite with prefill/decode signatures, a .pte with a static cache — what `portkit convert`
writes for a causal LM) served as a model that takes token ids and returns the ids it generates.

    POST /v2/models/NAME/infer
    {"inputs": [{"name": "input_ids", "datatype": "INT64", "shape": [1, 5], "data": [...]}],
     "parameters": {"max_new_tokens": 16}}
    -> {"outputs": [{"name": "output_ids", "datatype": "INT64", "shape": [1, 16], "data": [...]}]}

Greedy decoding with the artifact's own cache, by the runner portkit's validation and bench use for its
runtime (portkit.generative.generators): onnxruntime in the server's process, LiteRT and ExecuTorch in a warm
worker process. Exactly `max_new_tokens` tokens per prompt (no stop token); each row of a [batch, sequence]
input is one prompt. A request the model cannot hold (a prompt + max_new_tokens past the static cache or the
model's context, an id past the vocabulary) is a 400 with one line, before anything runs."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from portkit.artifact import Artifact
from portkit.errors import BadInput, PortkitError
from portkit.formats import Format
from portkit.signature import ModelSignature, TensorSpec

from .options import ServeOptions
from .protocol import ProtocolError, oip_datatype, oip_shape

__all__ = ["DEFAULT_NEW_TOKENS", "GenerativeModel", "generative"]

INPUT, OUTPUT = "input_ids", "output_ids"
DEFAULT_NEW_TOKENS = 16
MAX_NEW_TOKENS = 4096  # the bound where the model names none (a dynamic cache without a recorded context)
RUNNERS = "portkit.generative.generators"
RUNTIMES = {Format.ONNX: "onnxruntime", Format.TFLITE: "LiteRT", Format.EXECUTORCH: "executorch (XNNPACK)"}
_WORKER_FAMILY = {Format.TFLITE: "tf", Format.EXECUTORCH: "torch"}
PLATFORMS = {Format.ONNX: "onnxruntime_onnx", Format.TFLITE: "tensorflow_lite", Format.EXECUTORCH: "executorch"}


def generative(path: str) -> Artifact | None:
    """The artifact when portkit serves `path` as text generation (a cache ONNX, or a file whose sidecar
    says portkit exported it with a cache), else None."""
    from portkit.generative.convert import generative_artifact

    art = generative_artifact(path)
    return art if art is not None and art.format in RUNTIMES else None


class GenerativeModel:
    """What the app needs of a served model (ServedModel's face), for text generation."""

    generates = True
    max_batch = 1  # requests are not merged: each is its own greedy loop over the model's one cache
    batchable = False

    def __init__(self, source: Any, art: Artifact, options: ServeOptions) -> None:
        self.name, self.source, self.version = source.name, source, "1"
        self.runtime = RUNTIMES[art.format]
        self.location = art.location
        self._key = f"serve {self.name} {id(self)}"  # the held runner's name (two models may share a file)
        gen = art.record.generative or {}
        self._pool = None
        if options.provider != "cpu":
            raise BadInput(f"--provider {options.provider}: generative models are served on the CPU",
                           path=source.path, hint="drop --provider")
        try:
            if art.format is Format.ONNX:  # in this process, as every served ONNX
                from portkit.generative.generators import hold

                held = hold(self._key, "onnx", self.location, options.threads)
            else:
                from portkit.workers import WorkerPool

                self._pool = WorkerPool()
                held = self._worker().call_as(f"load {source.path}", RUNNERS, "hold", self._key,
                                              art.format.value, self.location, options.threads)
        except BaseException:
            self.close()
            raise
        # positions a request may take: the static cache's slots, else the context the export recorded
        self.capacity: int | None = held.get("cache_length") or gen.get("context")
        self.vocab: int | None = held.get("vocab") or gen.get("vocab")
        self.signature = ModelSignature(
            (TensorSpec(INPUT, "int64", ("batch", "sequence")),),
            (TensorSpec(OUTPUT, "int64", ("batch", "generated")),))
        self._executor: ThreadPoolExecutor | None = None
        self.on_batch = None  # set by the app: rows -> metrics

    def _worker(self) -> Any:
        assert self._pool is not None
        return self._pool.get(_WORKER_FAMILY[self.source.format])

    async def start(self) -> None:
        # one generation at a time: the runner owns one cache
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"portkit-{self.name}")

    async def stop(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        else:
            from portkit.generative.generators import release

            release(self._key)

    def check(self, feeds: dict[str, np.ndarray], parameters: dict[str, Any]) -> tuple[list[list[int]], int]:
        """The prompts and max_new_tokens of a request, or a 400 naming what the model cannot take."""
        steps = parameters.get("max_new_tokens", DEFAULT_NEW_TOKENS)
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise ProtocolError(400, f"parameter max_new_tokens must be a positive integer, got {steps!r}")
        ids = feeds[INPUT]
        if ids.shape[1] == 0:
            raise ProtocolError(400, f"input '{INPUT}' is empty: give at least one prompt token")
        length = int(ids.shape[1])
        if self.capacity is not None and length + steps > self.capacity:
            kind = "context" if self.source.format is Format.ONNX else "static cache"
            what = f"{self.capacity} positions (its {kind})"
            if length >= self.capacity:
                raise ProtocolError(400, f"a prompt of {length} tokens is too long for model '{self.name}': it "
                                         f"holds {what}, prompt and generated tokens together")
            raise ProtocolError(400, f"max_new_tokens {steps} is too many after a prompt of {length} tokens: model "
                                     f"'{self.name}' holds {what}, so at most {self.capacity - length}")
        if self.capacity is None and steps > MAX_NEW_TOKENS:
            raise ProtocolError(400, f"max_new_tokens {steps} is over this server's limit of {MAX_NEW_TOKENS}")
        if ids.size and (int(ids.min()) < 0 or (self.vocab is not None and int(ids.max()) >= self.vocab)):
            bad = int(ids.min()) if int(ids.min()) < 0 else int(ids.max())
            raise ProtocolError(400, f"token id {bad} is outside the vocabulary of model '{self.name}' "
                                     f"(ids 0..{self.vocab - 1 if self.vocab is not None else '?'})")
        return [[int(t) for t in row] for row in ids], steps

    def _generate(self, prompts: list[list[int]], steps: int) -> np.ndarray:
        if self._pool is None:
            from portkit.generative.generators import generate_held

            tokens = generate_held(self._key, prompts, steps)
        else:
            tokens = self._worker().call_as(f"generate with {self.name}", RUNNERS, "generate_held", self._key,
                                            prompts, steps)
        return np.asarray(tokens, dtype=np.int64).reshape(len(prompts), steps)

    async def infer(self, feeds: dict[str, np.ndarray], parameters: dict[str, Any] | None = None
                    ) -> dict[str, np.ndarray]:
        if self._executor is None:
            raise RuntimeError(f"model '{self.name}' was not started")
        prompts, steps = self.check(feeds, parameters or {})
        loop = asyncio.get_running_loop()
        try:
            out = await loop.run_in_executor(self._executor, self._generate, prompts, steps)
        except PortkitError as e:
            raise ProtocolError(400 if isinstance(e, BadInput) else 500, e.one_line()) from e
        if self.on_batch:
            self.on_batch(len(prompts))
        return {OUTPUT: out}

    def metadata(self) -> dict[str, Any]:
        def tensors(specs):  # noqa: ANN001, ANN202
            return [{"name": t.name, "datatype": oip_datatype(t.dtype), "shape": oip_shape(t)} for t in specs]

        return {"name": self.name, "versions": [self.version],
                "platform": PLATFORMS.get(self.source.format, "portkit"),
                "inputs": tensors(self.signature.inputs), "outputs": tensors(self.signature.outputs)}

    def config(self) -> dict[str, Any]:
        from .triton import config_dict

        cfg = config_dict(self.name, self.signature, 0, platform=PLATFORMS.get(self.source.format, "portkit"),
                          max_delay_us=0)
        # Triton's model parameters are strings: what a client needs to know to ask well
        cfg["parameters"] = {"task": {"string_value": "text-generation"},
                             "max_new_tokens_default": {"string_value": str(DEFAULT_NEW_TOKENS)},
                             **({"max_positions": {"string_value": str(self.capacity)}} if self.capacity else {}),
                             **({"vocab_size": {"string_value": str(self.vocab)}} if self.vocab else {})}
        return cfg
