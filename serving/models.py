"""The models a server holds: a runner each, a thread pool for its inferences and, when the batch axis is
dynamic, a Batcher. ONNX runs in-process with onnxruntime; other formats (TFLite, ...) run in a warm
worker process through portkit.runtimes.open_runner, one call at a time."""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portkit.artifact import Artifact
from portkit.errors import BadInput, PortkitError
from portkit.formats import Format, sniff
from portkit.runtimes import Runner
from portkit.runtimes.borrow import open_borrowing
from portkit.signature import ModelSignature

from .batching import Batcher, Feeds, rows_of
from .options import ServeOptions
from .protocol import ProtocolError, oip_datatype, oip_shape

PLATFORMS = {
    Format.ONNX: "onnxruntime_onnx",
    Format.TFLITE: "tensorflow_lite",
    Format.SAVEDMODEL: "tensorflow_savedmodel",
    Format.TORCHSCRIPT: "pytorch_libtorch",
}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
VERSION = "1"
# Handing an execution to a thread and back costs the event loop and the runtime thread ~0.1 ms of CPU
# (wake-ups, GIL hand-over), more than a small model's whole inference: measured, it cut a tiny model's
# served rate on one core by ~40 %. Executions predicted shorter than this run on the event loop itself.
INLINE_BELOW_S = 0.001


@dataclass(frozen=True)
class ModelSource:
    name: str
    path: Path
    format: Format


def model_sources(models: list[str], name: str | None = None) -> list[ModelSource]:
    """`path` or `name=path` per model; names default to the file name without its suffix."""
    if not models:
        raise BadInput("no model given", hint="portkit serve model.onnx [more.onnx ...]")
    if name and len(models) > 1:
        raise BadInput("--name applies to a single model", hint="name several models as NAME=PATH")
    out: list[ModelSource] = []
    for text in models:
        given, path = None, text
        if "=" in text and not Path(text).exists():
            given, _, path = text.partition("=")
        fmt = sniff(path)
        model_name = given or name or _stem(Path(path))
        if not _NAME.match(model_name):
            raise BadInput(f"bad model name '{model_name}'", hint="use letters, digits, '_', '-' and '.'")
        if any(s.name == model_name for s in out):
            raise BadInput(f"two models are named '{model_name}'", hint="name them as NAME=PATH")
        out.append(ModelSource(model_name, Path(path), fmt))
    return out


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".onnx", ".tflite"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem or name


class ServedModel:
    def __init__(self, source: ModelSource, options: ServeOptions,
                 others: list[ModelSource] | None = None) -> None:
        self.name = source.name
        self.source = source
        self.version = VERSION
        runner_opts: dict[str, Any] = {}
        if options.threads:
            runner_opts["threads"] = options.threads
        if source.format is Format.ONNX:
            runner_opts["providers"] = (
                (options.provider,) if options.provider == "cpu" else (options.provider, "cpu")
            )
        elif options.provider != "cpu":
            raise BadInput(f"--provider {options.provider} applies to ONNX models only", path=source.path)
        art = Artifact(str(source.path), source.format)
        art.read_sidecar_metadata()
        # a model declaring no inputs (a bare TorchScript file) borrows those of another model served here
        lenders = [Artifact(str(o.path), o.format) for o in others or [] if o.path != source.path]
        for lender in lenders:
            lender.read_sidecar_metadata()
        self.notes: list[str] = []
        self.runner: Runner = open_borrowing(art, lenders, log=_note, notes=self.notes, **runner_opts)
        self.signature: ModelSignature = self.runner.signature
        self.in_process = source.format is Format.ONNX
        # onnxruntime sessions run concurrently; a worker process answers one call at a time
        self.concurrency = max(1, options.concurrency) if self.in_process else 1
        self.batchable = bool(self.signature.inputs) and all(
            t.batch_dynamic for t in (*self.signature.inputs, *self.signature.outputs)
        )
        self.max_batch = options.max_batch if self.batchable else 1
        self._max_delay_s = options.max_delay_ms / 1000.0
        self._executor: ThreadPoolExecutor | None = None
        self._cost = ExecutionCost()
        self.batcher: Batcher | None = None
        self.on_batch = None  # set by the app: rows -> metrics

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"portkit-{self.name}")
        self.batcher = Batcher(
            self._execute,
            max_batch=max(1, self.max_batch),
            max_delay_s=self._max_delay_s,
            slots=self.concurrency,
            on_batch=lambda rows: self.on_batch and self.on_batch(rows),
        )
        if self.max_batch > 1:
            self.batcher.start()

    async def stop(self) -> None:
        if self.batcher is not None:
            await self.batcher.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def close(self) -> None:
        self.runner.close()

    async def infer(self, feeds: Feeds, parameters: dict[str, Any] | None = None) -> Feeds:
        """The model's outputs for `feeds` (request parameters are not read: a tensor model has none)."""
        if self.batcher is None:
            raise RuntimeError(f"model '{self.name}' was not started")
        return await self.batcher.submit(feeds)

    def _timed_run(self, feeds: Feeds, rows: int) -> Feeds:
        started = time.perf_counter()
        out = self.runner.run(feeds)
        self._cost.observe(rows, time.perf_counter() - started)
        return out

    async def _execute(self, feeds: Feeds) -> Feeds:
        rows = rows_of(feeds)
        try:
            if self.in_process and self._cost.predict(rows) < INLINE_BELOW_S:
                return self._timed_run(feeds, rows)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._timed_run, feeds, rows)
        except PortkitError as e:
            raise ProtocolError(400 if isinstance(e, BadInput) else 500, e.one_line()) from e
        except Exception as e:  # noqa: BLE001 - the runtime's own error types (ORT InvalidArgument, ...)
            status = 400 if type(e).__name__ in ("InvalidArgument", "ValueError") else 500
            text = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            raise ProtocolError(status, f"inference failed: {text}") from e

    def metadata(self) -> dict[str, Any]:
        def tensors(specs):  # noqa: ANN001, ANN202
            return [{"name": t.name, "datatype": oip_datatype(t.dtype), "shape": oip_shape(t)} for t in specs]

        return {
            "name": self.name,
            "versions": [self.version],
            "platform": PLATFORMS.get(self.source.format, "portkit"),
            "inputs": tensors(self.signature.inputs),
            "outputs": tensors(self.signature.outputs),
        }

    def config(self) -> dict[str, Any]:
        """Triton's JSON model configuration (GET /v2/models/NAME/config), as Triton would report it."""
        from .triton import config_dict

        return config_dict(
            self.name,
            self.signature,
            self.max_batch if self.max_batch > 1 else 0,
            platform=PLATFORMS.get(self.source.format, "portkit"),
            max_delay_us=int(self._max_delay_s * 1e6),
        )


class ExecutionCost:
    """Predicts an execution's duration from earlier ones of about the same size: a moving average of
    seconds per row for each power-of-two band of rows (1, 2-3, 4-7, ...), times the rows. A band run
    fewer than WARMUP times predicts infinity (a thread), so a size never seen never blocks the loop."""

    WARMUP = 3  # the first runs of a session are slow (allocations, kernel selection): not a guide

    def __init__(self) -> None:
        self._seen: dict[int, int] = {}
        self._per_row_s: dict[int, float] = {}

    def observe(self, rows: int, seconds: float) -> None:
        band, per_row = max(1, rows).bit_length(), seconds / max(1, rows)
        seen = self._seen[band] = self._seen.get(band, 0) + 1
        if seen <= self.WARMUP:
            self._per_row_s[band] = per_row
        else:
            self._per_row_s[band] += 0.2 * (per_row - self._per_row_s[band])

    def predict(self, rows: int) -> float:
        band = max(1, rows).bit_length()
        if self._seen.get(band, 0) < self.WARMUP:
            return float("inf")
        return self._per_row_s[band] * max(1, rows)


def _note(text: str) -> None:
    import sys

    print(f"portkit: {text}", file=sys.stderr)


def load_models(sources: list[ModelSource], options: ServeOptions) -> dict[str, Any]:
    """A ServedModel per source, or a GenerativeModel for a causal LM exported with its cache (text
    generation: token ids in, generated ids out; serving.generate)."""
    from .generate import GenerativeModel, generative

    models: dict[str, Any] = {}
    try:
        for s in sources:
            art = generative(str(s.path)) if s.format in (Format.ONNX, Format.TFLITE, Format.EXECUTORCH) else None
            models[s.name] = GenerativeModel(s, art, options) if art is not None else ServedModel(s, options, sources)
    except BaseException:
        for m in models.values():
            m.close()
        raise
    return models
