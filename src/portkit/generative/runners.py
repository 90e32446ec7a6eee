"""Greedy generation with the cache, one runner per runtime, all with the same contract:

    generate(prompt, steps) -> Generation(tokens, logits of every step, one-pass logits over the prompt)

The onnxruntime runner works in this process (onnxruntime needs no worker); the LiteRT and ExecuTorch
runners live in `litert` / `executorch` modules called in workers. Each step feeds what Optimum's and
onnxruntime-genai's loops feed: the new ids, a mask over past + new, their positions, the past tensors
(empty on the first call)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import BadInput

__all__ = ["Generation", "OnePassOrtGenerator", "OrtGenerator", "greedy", "teacher_forced"]


@dataclass
class Generation:
    tokens: list[int]
    logits: np.ndarray  # (steps, vocab): the raw logits each token was chosen from
    prefill: np.ndarray  # (prompt length, vocab): the first call's logits over the prompt
    seconds: list[float] = field(default_factory=list)  # per call: [prefill, decode 1, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "logits": self.logits, "prefill": self.prefill, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Generation:
        return cls(list(d["tokens"]), np.asarray(d["logits"]), np.asarray(d["prefill"]), list(d.get("seconds", [])))


def greedy(step: Any, prompt: list[int], steps: int) -> Generation:
    """Run `step(ids (1, S) int64, first: bool) -> logits (S, vocab)` greedily: the prompt, then one token
    at a time; the step function owns its cache."""
    tokens: list[int] = []
    seconds: list[float] = []
    ids = np.asarray([prompt], dtype=np.int64)
    prefill = None
    rows = []
    for i in range(steps):
        t = time.perf_counter()
        logits = np.asarray(step(ids, i == 0), dtype=np.float32)
        seconds.append(time.perf_counter() - t)
        if prefill is None:
            prefill = logits
        last = logits[-1]
        rows.append(last)
        tokens.append(int(np.argmax(last)))
        ids = np.asarray([[tokens[-1]]], dtype=np.int64)
    return Generation(tokens, np.stack(rows) if rows else np.zeros((0, 0), np.float32),
                      prefill if prefill is not None else np.zeros((0, 0), np.float32), seconds)


def teacher_forced(step: Any, prompt: list[int], tokens: list[int]) -> np.ndarray:
    """The logits (len(tokens), vocab) a runner gives at each of `tokens`' steps when it is fed the prompt and
    then `tokens` (not its own choices), one call each, as generation runs: a quantized result's check."""
    rows = [np.asarray(step(np.asarray([prompt], np.int64), True), np.float32)[-1]]
    for t in tokens[:-1]:
        rows.append(np.asarray(step(np.asarray([[t]], np.int64), False), np.float32)[-1])
    return np.stack(rows)


class OrtGenerator:
    """onnxruntime with the graph's own cache: present outputs become the next call's past inputs."""

    def __init__(self, path: str, threads: int | None = None) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
        self.session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        inputs = {i.name: i for i in self.session.get_inputs()}
        self.past = [n for n in inputs if n.startswith("past_key_values.")]
        outputs = [o.name for o in self.session.get_outputs()]
        self.present = [n.replace("past_key_values.", "present.") for n in self.past]
        missing = [n for n in ["input_ids", "logits", *self.present] if n not in inputs and n not in outputs]
        if not self.past or missing:
            raise BadInput(f"the ONNX model has no key/value cache (missing {', '.join(missing) or 'past inputs'})",
                           path=path, hint="export it with `portkit convert SOURCE --to onnx` (cache by default)")
        self.with_mask = "attention_mask" in inputs
        self.with_positions = "position_ids" in inputs
        self.shapes = {n: inputs[n].shape for n in self.past}  # (batch, heads, past, head_dim)
        self.state: dict[str, np.ndarray] = {}

    def _empty(self) -> dict[str, np.ndarray]:
        return {n: np.zeros((1, int(s[1]), 0, int(s[3])), np.float32) for n, s in self.shapes.items()}

    def step(self, ids: np.ndarray, first: bool) -> np.ndarray:
        if first:
            self.state = self._empty()
        past_len = next(iter(self.state.values())).shape[2]
        feed: dict[str, np.ndarray] = {"input_ids": ids, **self.state}
        if self.with_mask:
            feed["attention_mask"] = np.ones((ids.shape[0], past_len + ids.shape[1]), np.int64)
        if self.with_positions:
            feed["position_ids"] = np.arange(past_len, past_len + ids.shape[1], dtype=np.int64)[None].repeat(
                ids.shape[0], 0)
        out = self.session.run(["logits", *self.present], feed)
        self.state = dict(zip(self.past, out[1:], strict=True))
        return out[0][0]

    def generate(self, prompt: list[int], steps: int) -> Generation:
        return greedy(self.step, prompt, steps)

    def close(self) -> None:
        self.state = {}


class OnePassOrtGenerator:
    """onnxruntime over a graph without a cache (`--no-cache`: ids, mask -> logits): every step runs the
    whole sequence again. What the cache saves is measured against this (benchmarks/bench_generate.py)."""

    def __init__(self, path: str, threads: int | None = None) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
        self.session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.output = self.session.get_outputs()[0].name
        self.ids = np.zeros((1, 0), np.int64)

    def step(self, ids: np.ndarray, first: bool) -> np.ndarray:
        self.ids = np.asarray(ids, np.int64) if first else np.concatenate([self.ids, ids], axis=1)
        n = self.ids.shape[1]
        feeds = {"input_ids": self.ids, "attention_mask": np.ones((1, n), np.int64),
                 "position_ids": np.arange(n, dtype=np.int64)[None]}
        logits = self.session.run([self.output], {k: feeds[k] for k in self.inputs})[0][0]
        return logits[-ids.shape[1]:]

    def close(self) -> None:
        self.ids = np.zeros((1, 0), np.int64)

