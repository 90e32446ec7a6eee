"""What checking gates produces — a verdict per gate, the report, GateFailed — and the readers of measured
results (validation and bench results, as objects or their `--json` dicts) that the gates
(portkit.gates) and the regression check against a baseline (portkit.baseline) share."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import ValidationFailed

__all__ = ["CONFIDENCE", "GateFailed", "GateReport", "GateVerdict", "agreement_of", "ci_text", "error_of",
           "latency_series", "series_label", "validation_of"]

CONFIDENCE = 0.95


class GateFailed(ValidationFailed):
    """One or more gates failed (exit 1). `.report` is the GateReport, `.result` the measured result."""

    def __init__(self, report: GateReport, result: object | None = None) -> None:
        failed = [v for v in report.verdicts if not v.passed]
        names = "; ".join(
            f"{v.gate} on {v.target}: {v.measured_text()} (limit {v.limit_text()})" for v in failed
        )
        super().__init__(
            f"{len(failed)} of {len(report.verdicts)} gate(s) failed: {names}",
            result=result,
            hint="see the gate table above; loosen a limit only when the change is intended",
        )
        self.report = report



# ---------------------------------------------------------------- verdicts


@dataclass
class GateVerdict:
    gate: str  # max_error, min_agreement, max_latency_ms, max_size_mb, max_regression
    target: str  # what was measured: a file name, "name batch 1 cpu", ...
    limit: float | None
    measured: float | None  # None: not measured
    passed: bool
    unit: str = ""
    detail: str = ""  # how the verdict was decided (confidence intervals, baseline)
    stat: str | None = None  # p50/p99 for latency, the metric for regressions

    def limit_text(self) -> str:
        return "-" if self.limit is None else f"{_num(self.limit)}{self.unit}"

    def measured_text(self) -> str:
        return "not measured" if self.measured is None else f"{_num(self.measured)}{self.unit}"

    def name(self) -> str:
        return f"{self.gate} ({self.stat})" if self.stat else self.gate

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("limit", "measured"):
            if isinstance(d[k], float) and not math.isfinite(d[k]):
                d[k] = str(d[k])
        return d


@dataclass
class GateReport:
    verdicts: list[GateVerdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)

    def __bool__(self) -> bool:
        return self.passed

    def extend(self, other: GateReport) -> None:
        self.verdicts += other.verdicts
        self.notes += [n for n in other.notes if n not in self.notes]

    def failed(self) -> list[GateVerdict]:
        return [v for v in self.verdicts if not v.passed]

    COLUMNS = ("gate", "target", "limit", "measured", "verdict", "how decided")

    def rows(self) -> list[list[str]]:
        return [
            [v.name(), v.target, v.limit_text(), v.measured_text(), "pass" if v.passed else "FAIL", v.detail]
            for v in self.verdicts
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "verdicts": [v.to_dict() for v in self.verdicts], "notes": self.notes}

    def raise_if_failed(self, result: object | None = None) -> None:
        if not self.passed:
            raise GateFailed(self, result)


def _num(v: float | str) -> str:
    if isinstance(v, str) or (isinstance(v, float) and not math.isfinite(v)):
        return str(v)
    return f"{v:.4g}"



# ---------------------------------------------------------------- reading what was measured


def validation_of(d: Mapping[str, Any]) -> dict[str, Any] | None:
    """The end-to-end validation in a validate or convert result (a single hop's when there is one hop)."""
    if d.get("schema", "").startswith("portkit.validation"):
        return dict(d)
    if d.get("validation"):
        return d["validation"]
    hops = [h["validation"] for h in d.get("hops") or [] if h.get("validation")]
    return hops[-1] if hops else None


def agreement_of(v: Mapping[str, Any]) -> float | None:
    vals = [o["argmax_agreement"] for o in v.get("outputs") or [] if o.get("argmax_agreement") is not None]
    return min(vals) if vals else None


def error_of(v: Mapping[str, Any]) -> float | None:
    x = v.get("max_abs")
    if isinstance(x, str):
        return float(x)
    return x


def latency_series(result: Any) -> list[dict[str, Any]]:
    """Bench series as dicts, each with `ci_ms` for p50 and p99 (p99's from the raw samples if kept)."""
    out = []
    if isinstance(result, dict):
        for r in result.get("results") or []:
            r = dict(r)
            r.setdefault("ci_ms", {"p50": r.get("median_ci95_ms")})
            out.append(r)
        return out
    for m in result.measurements:
        d = m.to_dict()
        ci = {"p50": list(m.stats.median_ci95)}
        if m.samples_ns:  # numpy only here: `portkit convert` reads the gate flags without it
            import numpy as np

            from .stats import bootstrap_ci

            ci["p99"] = list(bootstrap_ci(np.asarray(m.samples_ns) / 1e6, 99, CONFIDENCE))
        d["ci_ms"] = ci
        out.append(d)
    return out


def series_label(r: Mapping[str, Any]) -> str:
    return f"{os.path.basename(str(r['model']))} batch {r['batch']} {r['provider']}"


def ci_text(ci: list[float] | tuple[float, float] | None) -> str:
    return f"[{ci[0]:.4g}, {ci[1]:.4g}]" if ci else "(no interval)"
