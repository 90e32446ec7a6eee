"""Validation by generation: the source's greedy tokens (transformers' `generate` with its cache) against
the artifact's, generated with its own cache by portkit's runner for its runtime.

A float result must generate the same tokens from every prompt; where a prompt's tokens part, the report
names the step and both tokens. Logits are compared step by step while the two sequences still agree
(after a divergence the contexts differ and so may every logit). The one-pass logits over the prompt (the
first call, past length 0) stay as the first check, by tolerance."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .runners import Generation

__all__ = ["GenerationCheck", "PromptReport", "compare", "prompts_for"]

PROMPT_LENGTHS = (5, 12, 23)  # three prompts of different lengths: 1-token, short and longer prefill cases differ


def prompts_for(vocab: int, seed: int = 0, lengths: tuple[int, ...] = PROMPT_LENGTHS) -> list[list[int]]:
    """Fixed random token prompts below the vocabulary size (a tokenizer-free model has no text)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, vocab, size=n).tolist() for n in lengths]


@dataclass
class PromptReport:
    prompt_length: int
    steps: int
    identical: int  # leading steps whose tokens agree
    first_divergence: dict[str, int] | None  # {"step", "expected", "got"}
    max_abs: float  # logits, over the agreeing steps
    max_rel: float
    top1: float  # steps whose candidate argmax is the reference's token, over the agreeing steps
    prefill_abs: float
    prefill_rel: float
    prefill_ok: bool
    error: str | None = None  # the candidate failed to run: where and why
    # a quantized candidate: run teacher-forced over the reference's stream (prompt + its generated tokens)
    agreement: float | None = None  # positions whose candidate argmax is the reference's next token
    perplexity: tuple[float, float] | None = None  # of the reference's tokens: (reference, candidate)

    @property
    def passed(self) -> bool:
        if self.agreement is not None:  # quantized: judged by the check's pooled agreement, not tokens
            return self.error is None
        return self.first_divergence is None and self.prefill_ok and self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"passed": self.passed}


@dataclass
class GenerationCheck:
    reference: str
    candidate: str
    steps: int
    prompts: list[PromptReport] = field(default_factory=list)
    atol: float = 1e-4
    rtol: float = 1e-4
    warnings: list[str] = field(default_factory=list)
    criteria: str = "generation"
    quantized: str | None = None  # the kind: judged by token agreement (portkit.validation's quantized criteria)
    min_agreement: float = 0.0

    @property
    def agreement(self) -> float | None:
        """Pooled over every prompt's positions (a quantized check)."""
        rows = [(p.agreement, p.steps) for p in self.prompts if p.agreement is not None]
        total = sum(n for _, n in rows)
        return sum(a * n for a, n in rows) / total if total else None

    @property
    def passed(self) -> bool:
        if self.quantized:
            agreement = self.agreement
            return (bool(self.prompts) and all(p.passed for p in self.prompts) and agreement is not None
                    and agreement >= self.min_agreement)
        return bool(self.prompts) and all(p.passed for p in self.prompts)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def max_abs(self) -> float:
        return max((max(p.max_abs, p.prefill_abs) for p in self.prompts), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((max(p.max_rel, p.prefill_rel) for p in self.prompts), default=0.0)

    def first_failure(self) -> tuple[int, PromptReport] | None:
        return next(((i, p) for i, p in enumerate(self.prompts) if not p.passed), None)

    def summary(self) -> str:
        counts = ", ".join(f"{p.identical}/{p.steps}" for p in self.prompts)
        if self.quantized and not any(p.error for p in self.prompts):
            ppl = [p.perplexity for p in self.prompts if p.perplexity]
            ref, cand = (float(np.mean([a for a, _ in ppl])), float(np.mean([b for _, b in ppl]))) if ppl else (0, 0)
            return (f"{'agrees' if self.passed else 'DISAGREES'} ({self.quantized}): next-token agreement "
                    f"{self.agreement or 0:.3f} over the reference's streams (min {self.min_agreement:g}); "
                    f"perplexity {ref:.4g} → {cand:.4g}; greedy identical steps {counts}")
        bad = self.first_failure()
        if bad is None:
            return (f"generates the same tokens: {counts} identical steps over {len(self.prompts)} prompts; "
                    f"logits max abs {self.max_abs:.3g}, max rel {self.max_rel:.3g}")
        i, p = bad
        if p.error:
            return f"the candidate failed to run on prompt {i + 1} (length {p.prompt_length}): {p.error}"
        if p.first_divergence is not None:
            d = p.first_divergence
            return (f"generation parts at step {d['step']} of prompt {i + 1} (length {p.prompt_length}): "
                    f"expected token {d['expected']}, got {d['got']} ({counts} identical steps)")
        return (f"one-pass logits over prompt {i + 1} (length {p.prompt_length}) differ: max abs "
                f"{p.prefill_abs:.3g} (atol {self.atol:g}, rtol {self.rtol:g})")

    def to_dict(self) -> dict[str, Any]:
        return {"criteria": self.criteria, "reference": self.reference, "candidate": self.candidate,
                "passed": self.passed, "steps": self.steps, "summary": self.summary(),
                "max_abs": self.max_abs, "max_rel": self.max_rel, "atol": self.atol, "rtol": self.rtol,
                "prompts": [p.to_dict() for p in self.prompts], "warnings": self.warnings,
                **({"quantized": self.quantized, "agreement": self.agreement, "min_agreement": self.min_agreement}
                   if self.quantized else {})}


def _errors(ref: np.ndarray, cand: np.ndarray) -> tuple[float, float]:
    if ref.size == 0 or ref.shape != cand.shape:
        return (float("inf"), float("inf")) if ref.shape != cand.shape else (0.0, 0.0)
    diff = np.abs(ref.astype(np.float64) - cand.astype(np.float64))
    rel = diff / np.maximum(np.abs(ref.astype(np.float64)), 1e-6)
    return float(diff.max()), float(rel.max())


def _perplexity(logits: np.ndarray, tokens: list[int]) -> float:
    x = logits.astype(np.float64)
    x = x - x.max(-1, keepdims=True)
    logp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    return float(np.exp(-np.mean(logp[np.arange(len(tokens)), tokens])))


def compare(reference: str, candidate: str, refs: list[Generation], cands: list[Generation | str],
            prompts: list[list[int]], atol: float | None = None, rtol: float | None = None,
            quantized: str | None = None, streams: list[np.ndarray | None] | None = None,
            min_agreement: float = 0.0) -> GenerationCheck:
    """`cands` holds a Generation per prompt, or the error text where the candidate failed to run. A quantized
    candidate also gives `streams`: its logits at the reference's generation steps, run teacher-forced over
    the prompt + the reference's tokens (one call, empty cache)."""
    check = GenerationCheck(reference, candidate, len(refs[0].tokens) if refs else 0,
                            atol=1e-4 if atol is None else atol, rtol=1e-4 if rtol is None else rtol,
                            quantized=quantized, min_agreement=min_agreement)
    if quantized:
        check.criteria = f"generation, quantized:{quantized}"
    for prompt, ref, cand in zip(prompts, refs, cands, strict=True):
        if isinstance(cand, str):
            inf = float("inf")
            check.prompts.append(PromptReport(len(prompt), len(ref.tokens), 0, None, inf, inf, 0.0, inf, inf,
                                              False, cand))
            continue
        n = min(len(ref.tokens), len(cand.tokens))
        same = next((i for i in range(n) if ref.tokens[i] != cand.tokens[i]), n)
        diverge = None
        if same < len(ref.tokens):
            got = cand.tokens[same] if same < len(cand.tokens) else -1
            diverge = {"step": same, "expected": ref.tokens[same], "got": got}
        # the step that parts is compared too: its logits say how close the choice was
        upto = min(same + 1, n)
        max_abs, max_rel = _errors(ref.logits[:upto], cand.logits[:upto])
        top1 = float(np.mean(np.argmax(cand.logits[:upto], -1) == np.asarray(ref.tokens[:upto]))) if upto else 0.0
        # a runtime that prefills without logits (LiteRT's prefill signature) has the last position only
        one_pass = ref.prefill[-len(cand.prefill):] if 0 < len(cand.prefill) <= len(ref.prefill) else ref.prefill
        p_abs, p_rel = _errors(one_pass, cand.prefill)
        ok = one_pass.shape == cand.prefill.shape and bool(np.allclose(
            cand.prefill, one_pass, atol=check.atol, rtol=check.rtol))
        report = PromptReport(len(prompt), len(ref.tokens), same, diverge, max_abs, max_rel, top1, p_abs, p_rel, ok)
        stream = streams[len(check.prompts)] if streams else None
        if quantized and stream is not None and len(stream) == len(ref.tokens):
            report.agreement = float(np.mean(np.argmax(stream, -1) == np.asarray(ref.tokens)))
            report.perplexity = (_perplexity(ref.logits, ref.tokens), _perplexity(stream, ref.tokens))
        elif quantized:
            report.error = "no teacher-forced logits over the reference's stream"
        check.prompts.append(report)
    return check
