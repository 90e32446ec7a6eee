"""Validation's result types: one output's comparison (OutputReport) and a whole validation
(ValidationResult), whose `to_dict()` is the JSON schema documented in docs/validation.md."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..gate_report import GateReport

__all__ = ["SCHEMA", "OutputReport", "ValidationResult", "finite"]

SCHEMA = "portkit.validation/1"


@dataclass
class OutputReport:
    name: str
    candidate_name: str
    batch: int
    shape: list[int]
    dtype: str
    max_abs: float
    mean_abs: float
    max_rel: float  # max |diff| / max |ref|: relative to the output's scale
    cosine: float
    atol: float
    rtol: float
    passed: bool
    argmax_agreement: float | None = None  # classifier-like outputs (float, last dim > 1)
    nan_mismatch: int = 0  # elements finite on one side and NaN/Inf on the other
    required_atol: float = 0.0  # the smallest atol that would pass at this rtol
    p99_abs: float = 0.0
    reason: str = ""
    histogram: dict[str, list[float]] | None = None  # |diff| histogram (log10 edges) for reports
    case: str = ""  # "batch 2", "batch 1 · seq 7", "sample 3"
    required_rtol: float = 0.0  # the smallest rtol that would pass at this atol
    percentiles: dict[str, float] = field(default_factory=dict)  # |diff| quantiles: "p50" .. "p99.9"
    top_k_agreement: float | None = None  # mean overlap of the top-k classes (k = min(5, classes))
    criteria: str = "tolerance"  # or "quantized:int8" / "quantized:dynamic" / "quantized:fp16"
    min_cosine: float | None = None  # quantized criteria thresholds
    min_agreement: float | None = None
    candidate_dtype: str = ""
    failed_to_run: str = ""  # "candidate failed to run: <reason>" when a side raised instead of answering

    @property
    def severity(self) -> float:
        """How far from passing (>1 fails); used to pick the worst output."""
        if not np.isfinite(self.max_abs) or self.nan_mismatch:
            return float("inf")
        if self.min_cosine is not None:
            return (1.0 - self.cosine) / max(1.0 - self.min_cosine, 1e-12)
        return self.required_atol / max(self.atol, 1e-30) if self.required_atol else 0.0

    def to_dict(self) -> dict[str, Any]:
        return finite(asdict(self))


@dataclass
class ValidationResult:
    reference: str
    candidate: str
    outputs: list[OutputReport] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)
    seed: int = 0
    warnings: list[str] = field(default_factory=list)
    input_source: str = "random"
    cases: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # mappings applied from metadata, casts
    mapping: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # kind -> ref -> {to, by}
    criteria: str = "tolerance"
    seeds: dict[str, int] = field(default_factory=dict)  # case -> seed of its random inputs
    locate: dict[str, Any] | None = None  # first diverging node (see portkit.locate)
    gates: GateReport | None = None  # the gates checked on this result (portkit.gates), when any were set
    # per float output: how far the reference's rows of different random inputs lie apart (max |row - row 0|,
    # the smallest over cases): near 0, the output hardly depends on the input and the check proves little
    output_spread: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.outputs) and all(o.passed for o in self.outputs)

    def __bool__(self) -> bool:
        return self.passed

    def worst(self) -> OutputReport | None:
        failing = [o for o in self.outputs if not o.passed] or self.outputs
        return max(failing, key=lambda o: o.severity, default=None)

    def failing_outputs(self) -> list[str]:
        return sorted({o.name for o in self.outputs if not o.passed})

    def passing_outputs(self) -> list[str]:
        bad = set(self.failing_outputs())
        return sorted({o.name for o in self.outputs} - bad)

    @property
    def max_abs(self) -> float:
        return max((o.max_abs for o in self.outputs), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((o.max_rel for o in self.outputs), default=0.0)

    def summary(self) -> str:
        w = self.worst()
        if w is None:
            return "no outputs compared"
        if self.passed:
            return (f"equivalent: max abs {self.max_abs:.3g}, max rel {self.max_rel:.3g} "
                    f"over {len(self.outputs)} comparisons ({', '.join(self.cases) or 'one case'})")
        where = w.case or f"batch {w.batch}"
        if w.failed_to_run:  # there is nothing to compare: the reason is the whole story
            side, _, why = w.failed_to_run.partition(" failed to run: ")
            return f"{side} failed to run at {where}: {why}"
        if w.min_cosine is not None:
            text = (f"output '{w.name}' differs at {where}: cosine {w.cosine:.6f} (needs ≥ {w.min_cosine}), "
                    f"argmax agreement {_fmt(w.argmax_agreement)}, max abs {w.max_abs:.3g}, "
                    f"max rel {w.max_rel:.3g}{w.reason}")
        else:
            text = (f"output '{w.name}' differs at {where}: max abs {w.max_abs:.3g} "
                    f"(atol {w.atol:g}, rtol {w.rtol:g}; needs atol ≥ {w.required_atol:.3g} "
                    f"or rtol ≥ {w.required_rtol:.3g}){w.reason}")
        others = [n for n in self.failing_outputs() if n != w.name]
        if others:
            text += f"; also failing: {', '.join(others)}"
        ok = self.passing_outputs()
        if ok:
            text += f"; passing: {', '.join(ok)}"
        if self.locate and self.locate.get("first_divergence"):
            d = self.locate["first_divergence"]
            text += f"; first diverging node: '{d['node']}' ({d['op_type']})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "reference": self.reference, "candidate": self.candidate,
                "passed": self.passed, "criteria": self.criteria, "max_abs": finite(self.max_abs),
                "max_rel": finite(self.max_rel), "batches": self.batches, "cases": self.cases, "seed": self.seed,
                "seeds": self.seeds, "input_source": self.input_source, "warnings": self.warnings,
                "notes": self.notes, "mapping": self.mapping, "summary": self.summary(),
                "failing_outputs": self.failing_outputs(), "passing_outputs": self.passing_outputs(),
                "outputs": [o.to_dict() for o in self.outputs], "locate": finite(self.locate),
                "output_spread": self.output_spread,
                **({"gates": self.gates.to_dict()} if self.gates is not None else {})}


def finite(v: Any) -> Any:
    """Non-finite floats become the strings "inf" / "-inf" / "nan" so the JSON stays standard."""
    if isinstance(v, float) and not np.isfinite(v):
        return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [finite(x) for x in v]
    return v


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"
