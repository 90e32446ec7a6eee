"""`portkit bench` on generative models: time to first token, prefill tokens/s at prompt lengths 32 and 128,
decode tokens/s and peak memory, side by side for torch eager (with transformers' cache) and each artifact
run with its own cache by portkit's runner for its runtime (the runners validation uses).

Each model is measured in a fresh worker process of its own, one after the other, so that its peak memory
is its own: the process's resident set once the runtime is imported is the baseline, the kernel's peak
counter is reset there (/proc/self/clear_refs), and `peak_mb` is the peak above that baseline while the
model loads, prefills and decodes (`process_peak_mb` is the whole process's).

    TTFT            median wall time of the first call over a prompt (empty cache → logits of its last
                    position): the prompt's prefill, `--iterations` times (default 5) after one untimed call
    prefill tok/s   prompt length / TTFT
    decode tok/s    1 / the median time of one decode call (one token in, its logits out, the cache
                    grown by one), over DECODE tokens generated after a prompt of the longest length that
                    leaves room for them in the model's context or static cache

A length the model cannot hold (a static cache or context shorter than the prompt) is reported as absent,
with a note, never run."""
from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..artifact import HopRecord
from ..errors import BadInput
from .generators import open_generator

__all__ = ["DECODE", "LENGTHS", "GenBenchResult", "GenMeasurement", "bench_generative", "generative_models",
           "measure"]

LENGTHS = (32, 128)
DECODE = 64
REPEATS = 5
SCHEMA = "portkit.bench.generate/1"
RUNTIMES = {"torch": "torch eager + DynamicCache", "onnx": "onnxruntime", "onnx-nocache": "onnxruntime, no cache",
            "executorch": "executorch (XNNPACK)", "tflite": "LiteRT"}
_IMPORTS = {"torch": ("torch", "transformers"), "onnx": ("onnxruntime",), "onnx-nocache": ("onnxruntime",),
            "executorch": ("torch", "executorch.runtime"), "tflite": ("ai_edge_litert.interpreter",)}


# ---------------------------------------------------------------- worker side

def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak resident set (VmHWM) to the current one (Linux: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _capacity(gen: Any, given: int | None) -> int | None:
    """Positions the model holds: a static cache's slots, else the context the parent read, else the model's."""
    own = getattr(gen, "cache_length", None)
    if own:
        return int(own)
    if given:
        return given
    cfg = getattr(getattr(gen, "model", None), "config", None)
    return getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)


def measure(kind: str, location: str, metadata: dict[str, Any], lengths: Sequence[int] = LENGTHS,
            decode: int = DECODE, repeats: int = REPEATS, threads: int | None = None, capacity: int | None = None,
            decode_context: int | None = None, seed: int = 0) -> dict[str, Any]:
    """(In a fresh worker) time one model's prefill at each prompt length and its decode; its peak memory."""
    import importlib

    for name in _IMPORTS[kind]:
        importlib.import_module(name)
    gc.collect()
    base = _status_kb("VmRSS")
    peak_reset = _reset_peak()
    t = time.perf_counter()
    gen = open_generator(kind, location, metadata, threads)
    load_s = time.perf_counter() - t
    vocab = int(np.asarray(gen.step(np.zeros((1, 1), np.int64), True)).shape[-1])  # also the first warm-up
    cap = _capacity(gen, capacity)
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    ttft: dict[str, float | None] = {}
    for n in lengths:
        if cap and n > cap:
            ttft[str(n)] = None
            notes.append(f"prompt {n}: longer than the model's {cap} positions")
            continue
        prompt = rng.integers(0, vocab, size=(1, n)).astype(np.int64)
        gen.step(prompt, True)  # untimed: first call at this shape
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            gen.step(prompt, True)
            times.append(time.perf_counter() - t)
        ttft[str(n)] = float(np.median(times)) * 1e3
    fits = [n for n in lengths if not cap or n + decode <= cap]
    context = decode_context or (max(fits) if fits else min(lengths))
    steps = max(1, min(decode, cap - context) if cap else decode)
    if decode_context is None and not fits:
        notes.append(f"decode: {steps} tokens after a prompt of {context} (the model holds {cap} positions)")
    prompt = rng.integers(0, vocab, size=(1, context)).astype(np.int64)
    logits = gen.step(prompt, True)
    token = int(np.argmax(logits[-1]))
    step_s = []
    for _ in range(steps):
        t = time.perf_counter()
        logits = gen.step(np.array([[token]], np.int64), False)
        step_s.append(time.perf_counter() - t)
        token = int(np.argmax(logits[-1]))
    peak = _status_kb("VmHWM")
    gen.close()
    decode_ms = float(np.median(step_s)) * 1e3
    return {"ttft_ms": ttft, "prefill_tps": {k: (int(k) / (v / 1e3) if v else None) for k, v in ttft.items()},
            "decode_ms": decode_ms, "decode_tps": 1e3 / decode_ms, "decode_context": context, "decode_tokens": steps,
            "peak_mb": (peak - base) / 1024 if peak_reset and peak and base else None,
            "process_peak_mb": peak / 1024 if peak else None, "baseline_mb": base / 1024 if base else None,
            "load_s": load_s, "vocab": vocab, "capacity": cap, "repeats": repeats, "notes": notes}


# ---------------------------------------------------------------- parent side

@dataclass
class GenMeasurement:
    model: str
    format: str
    runtime: str
    values: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    ratio: float | None = None  # decode tok/s over the first model's

    @property
    def label(self) -> str:
        return f"{os.path.basename(self.model)} [{self.runtime}]"

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "format": self.format, "runtime": self.runtime, **self.values,
                "decode_vs_first": self.ratio, "notes": self.notes + self.values.get("notes", [])}


@dataclass
class GenBenchResult:
    measurements: list[GenMeasurement]
    environment: dict[str, Any]
    options: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    generative = True  # portkit bench renders this table instead of the latency one

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "environment": self.environment, "options": self.options,
                "results": [m.to_dict() for m in self.measurements], "notes": self.notes}

    @property
    def table_columns(self) -> list[str]:
        lengths = self.options["lengths"]
        return ["model", "runtime", f"TTFT ms ({lengths[0]})", *[f"prefill tok/s ({n})" for n in lengths],
                "decode tok/s", "decode vs first", "peak MB"]

    def table_rows(self) -> list[list[str]]:
        def num(v: float | None, fmt: str) -> str:
            return "-" if v is None else format(v, fmt)

        rows = []
        for m in self.measurements:
            v = m.values
            first = str(self.options["lengths"][0])
            name = os.path.basename(m.model.rstrip("/")) or m.model
            rows.append([name, m.runtime, num(v["ttft_ms"].get(first), ".2f"),
                         *[num(v["prefill_tps"].get(str(n)), ",.0f") for n in self.options["lengths"]],
                         num(v["decode_tps"], ",.1f"), "-" if m.ratio is None else f"{m.ratio:.2f}×",
                         num(v["peak_mb"], ",.0f")])
        return rows

    def to_markdown(self) -> str:
        cols = self.table_columns
        out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        out += ["| " + " | ".join(r) + " |" for r in self.table_rows()]
        env = self.environment
        out += ["", f"CPU: {env.get('cpu')} ({env.get('usable_cores')} usable cores), threads: {env.get('threads')}, "
                f"load average (1 min) {env.get('load_average_1m')}"]
        out += [f"- {n}" for n in self.notes + [f"{m.label}: {n}" for m in self.measurements
                                                 for n in m.to_dict()["notes"]]]
        return "\n".join(out) + "\n"


def _kind(model: str) -> tuple[str, str, dict[str, Any]] | None:
    """(kind, location, metadata) of a model a generation bench takes, else None."""
    from .convert import generative_artifact
    from .detect import hf_config, is_causal_config

    if hf_config(model) is not None:
        return ("torch", str(Path(model).resolve()), {}) if is_causal_config(model) else None
    art = generative_artifact(model)
    if art is None:
        return None
    return art.format.value, art.location, art.metadata


def generative_models(models: Sequence[str]) -> list[tuple[str, str, dict[str, Any]]] | None:
    """The models as generation-bench entries, or None when none is generative (the latency bench). A mix of
    generative and other models is exit 2."""
    kinds = [_kind(m) for m in models]
    if not any(kinds):
        return None
    bad = [m for m, k in zip(models, kinds) if k is None]
    if bad:
        raise BadInput(f"{bad[0]} is not a generative model, and the others are: a generation bench compares "
                       "causal LMs with their cache", path=bad[0],
                       hint="bench it separately, or give causal-LM folders / artifacts exported with a cache")
    return [k for k in kinds if k is not None]


def _reference(entries: list[tuple[str, str, dict[str, Any]]], notes: list[str]) -> list[tuple[str, str, dict]]:
    """torch eager first: the one given, else the source an artifact's sidecar names (when it is still there)."""
    if any(k == "torch" for k, _, _ in entries):
        return sorted(entries, key=lambda e: e[0] != "torch")
    for _, location, md in entries:
        source = HopRecord.from_metadata(md).source or {}
        where = source.get("location")
        if where and (Path(where).is_dir() or (":" in where and not Path(where).exists())):  # folder or factory
            notes.append(f"torch eager reference: {where} (the source {Path(location).name}'s sidecar names)")
            return [("torch", where, {k: source.get(k) for k in ("weights", "model_args")}), *entries]
    notes.append("no torch eager reference: give the causal-LM folder as a model too")
    return entries


def bench_generative(models: Sequence[str], *, threads: int | None = None, repeats: int | None = None,
                     lengths: Sequence[int] = LENGTHS, decode: int = DECODE, seed: int = 0,
                     log: Callable[[str], None] | None = None) -> GenBenchResult:
    """Measure each model (torch eager first) in its own fresh worker; one result, one table."""
    from ..environment import environment
    from ..workers import Worker

    log = log or (lambda _m: None)
    entries = generative_models(models)
    if entries is None:
        raise BadInput("no generative model to benchmark", hint="give a causal-LM folder or an artifact with a cache")
    notes: list[str] = []
    entries = _reference(entries, notes)
    out: list[GenMeasurement] = []
    for kind, location, md in entries:
        info = md.get("generative") or {}
        capacity = info.get("cache_length") or info.get("context")
        log(f"generation bench: {Path(location).name} [{RUNTIMES[kind]}]")
        worker = Worker(f"{kind} bench worker")
        try:
            values = worker.call_as(f"bench {Path(location).name} ({RUNTIMES[kind]})", "portkit.generative.bench",
                                    "measure", kind, location, md, tuple(lengths), decode, repeats or REPEATS,
                                    threads, capacity, None, seed)
        finally:
            worker.close()
        out.append(GenMeasurement(location, "hf" if kind == "torch" else kind, RUNTIMES[kind], values))
    base = out[0].values["decode_tps"] if out else None
    for m in out:
        m.ratio = m.values["decode_tps"] / base if base else None
    opts = {"lengths": list(lengths), "decode_tokens": decode, "repeats": repeats or REPEATS, "threads": threads,
            "seed": seed}
    return GenBenchResult(out, environment(threads), opts, notes)
