"""The generate runner of each kind, opened by name (bench and serve), and the runners `portkit serve`
keeps open across requests: `hold` opens one under a key (in the worker of its runtime, or in the server's
process for onnxruntime), `generate_held` generates with it, `release` closes it."""
from __future__ import annotations

from typing import Any

from ..errors import BadInput
from .runners import OnePassOrtGenerator, OrtGenerator, greedy

__all__ = ["generate_held", "hold", "open_generator", "release"]


def open_generator(kind: str, location: str, metadata: dict[str, Any] | None = None, threads: int | None = None
                   ) -> Any:
    """The runner of a kind: torch (transformers' eager model with its DynamicCache; a folder or factory),
    onnx, onnx-nocache, executorch (.pte) or tflite (prefill/decode signatures). Each imports its runtime
    here: call it in the process (or worker) that may hold that runtime."""
    if kind == "torch":
        from .source import TorchGenerator

        return TorchGenerator(location, metadata or {}, threads)
    if kind == "onnx":
        return OrtGenerator(location, threads)
    if kind == "onnx-nocache":
        return OnePassOrtGenerator(location, threads)
    if kind == "executorch":
        from .executorch import PteGenerator

        return PteGenerator(location, threads)
    if kind == "tflite":
        from .litert import LiteRtGenerator

        return LiteRtGenerator(location, threads)
    raise BadInput(f"no generate runner for {kind}")


_HELD: dict[str, Any] = {}  # key -> an open generator (portkit serve keeps the runtime warm)


def _vocab(gen: Any) -> int | None:
    """The logits' width as the loaded model declares it (None where a dim is symbolic)."""
    try:
        if isinstance(gen, OrtGenerator):
            dim = next(o.shape[-1] for o in gen.session.get_outputs() if o.name == "logits")
        elif hasattr(gen, "decode"):  # LiteRT's decode signature
            dim = gen.decode.get_output_details()["logits"]["shape"][-1]
        else:  # ExecuTorch: the constant method its LLM runner reads
            dim = gen.program.load_method("get_vocab_size").execute([])[0]
        return int(dim)
    except Exception:  # noqa: BLE001 - unknown: requests are then not checked against it
        return None


def hold(key: str, kind: str, location: str, threads: int | None = None) -> dict[str, int | None]:
    """Open `location`'s generator and keep it under `key` for `generate_held`; returns what bounds a
    request: the static cache's slots (None for a dynamic cache) and the vocabulary size (None when not
    declared)."""
    release(key)
    gen = open_generator(kind, location, None, threads)
    _HELD[key] = gen
    return {"cache_length": getattr(gen, "cache_length", None), "vocab": _vocab(gen)}


def generate_held(key: str, prompts: list[list[int]], steps: int) -> list[list[int]]:
    """Greedy tokens from each prompt with the generator `hold` opened (one call at a time)."""
    gen = _HELD[key]
    return [greedy(gen.step, p, steps).tokens for p in prompts]


def release(key: str) -> None:
    gen = _HELD.pop(key, None)
    if gen is not None:
        gen.close()
