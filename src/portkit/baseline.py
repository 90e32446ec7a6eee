"""Regression against a baseline: an earlier `--json` result or run manifest read into what it measured
(latency series, sizes, validation errors and agreements), and the `max_regression` gate's verdicts
comparing this run with it — latency decided from confidence intervals, so noise never fails a run."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BadInput
from .gate_report import (
    GateReport,
    GateVerdict,
    agreement_of,
    ci_text,
    error_of,
    latency_series,
    series_label,
    validation_of,
)

__all__ = ["Baseline", "load_baseline", "regression"]


@dataclass
class Baseline:
    """What an earlier result measured: latency series, sizes by file name, validations by file name."""

    path: str
    latency: list[dict[str, Any]] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    errors: dict[str, float] = field(default_factory=dict)
    agreements: dict[str, float] = field(default_factory=dict)


def load_baseline(path: str | Path) -> Baseline:
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError as e:
        raise BadInput(
            "baseline file not found",
            path=p,
            hint="write one with --json > FILE (or use a run's manifest.json)",
        ) from e
    except (OSError, ValueError) as e:  # JSONDecodeError, UnicodeDecodeError (a binary file) are ValueErrors
        raise BadInput(
            f"baseline is not a portkit JSON result ({str(e)[:120]})",
            path=p,
            hint="use the output of --json or a run's manifest.json",
        ) from e
    if not isinstance(data, dict):
        raise BadInput("baseline is not a portkit JSON result", path=p)
    b = Baseline(str(p))
    _collect(data, b, p.parent)
    if not (b.latency or b.sizes or b.errors):
        raise BadInput(
            "baseline holds no measurement portkit knows",
            path=p,
            hint="use the output of `portkit bench/convert/validate --json` or a manifest.json",
        )
    return b


def _collect(d: Mapping[str, Any], b: Baseline, root: Path) -> None:
    schema = str(d.get("schema", ""))
    if schema.startswith("portkit.manifest"):
        for m in d.get("models") or []:
            for a in m.get("artifacts") or []:
                label = f"{m.get('name')}/{a.get('name')}"
                names = (label, os.path.basename(a.get("path") or ""))
                if a.get("size_bytes") is not None:
                    for n in names:
                        b.sizes[n] = a["size_bytes"]
                v = a.get("validation")
                if v:
                    for n in names:
                        _validation(v, n, b)
                if a.get("bench"):
                    b.latency += [{**r, "artifact": label} for r in a["bench"].get("results") or []]
        return
    if schema.startswith("portkit.bench"):
        b.latency += d.get("results") or []
        return
    if schema.startswith("portkit.validation"):
        _validation(d, os.path.basename(str(d.get("candidate"))), b)
        return
    if "route" in d and "output" in d:  # a convert result
        name = os.path.basename(str(d["output"]))
        if d.get("size_bytes") is not None:
            b.sizes[name] = d["size_bytes"]
        v = validation_of(d)
        if v:
            _validation(v, name, b)


def _validation(v: Mapping[str, Any], name: str, b: Baseline) -> None:
    e = error_of(v)
    if e is not None:
        b.errors[name] = e
    a = agreement_of(v)
    if a is not None:
        b.agreements[name] = a


def _pick(table: Mapping[str, Any], *names: str) -> Any:
    """The baseline entry for an artifact: by its recipe label (model/target) or file name, else the only
    entry there is."""
    for name in names:
        if name in table:
            return table[name]
    if len(set(table.values())) == 1:
        return next(iter(table.values()))
    return None


def _match_series(r: Mapping[str, Any], base: list[dict[str, Any]], label: str) -> dict[str, Any] | None:
    key = (r.get("batch"), r.get("requested_provider", r.get("provider")))
    same = [x for x in base if (x.get("batch"), x.get("requested_provider", x.get("provider"))) == key]
    by_label = [x for x in same if x.get("artifact") == label]
    if by_label:
        return by_label[0]
    by_name = [x for x in same if os.path.basename(str(x["model"])) == os.path.basename(str(r["model"]))]
    if by_name:
        return by_name[0]
    models = {str(x["model"]) for x in base}
    return same[0] if len(models) == 1 and same else None


def regression(
    base: Baseline,
    pct: float,
    *,
    validation: Mapping[str, Any] | None = None,
    bench: Any = None,
    sizes: list[tuple[str, int | None]] | None = None,
    label: str = "model",
    kind: str = "run",
) -> GateReport:
    """Compare with an earlier result: latency (p50, noise-aware), size, validation error and agreement."""
    report = GateReport()
    f = 1.0 + pct / 100.0
    src = f"baseline {os.path.basename(base.path)}"
    for r in latency_series(bench) if bench is not None else []:
        old = _match_series(r, base.latency, label)
        if old is None:
            continue
        ci = (r.get("ci_ms") or {}).get("p50") or [r["latency_ms"]["p50"]] * 2
        old_ci = old.get("median_ci95_ms") or [old["latency_ms"]["p50"]] * 2
        limit = old_ci[1] * f
        passed = ci[0] <= limit
        how = (
            f"{src}: p50 {old['latency_ms']['p50']:.4g} ms, 95% CI {ci_text(old_ci)}; limit = its CI top "
            f"+ {pct:g}%; this run's CI {ci_text(ci)} "
            + (
                "entirely above → regression"
                if not passed
                else ("overlaps: within noise" if ci[1] > limit else "at or below")
            )
        )
        report.verdicts.append(
            GateVerdict(
                "max_regression",
                series_label(r),
                limit,
                r["latency_ms"]["p50"],
                passed,
                " ms",
                how,
                "p50 latency",
            )
        )
        if len(report.notes) == 0:
            report.notes.append(
                "latency regressions are decided from bootstrap 95% confidence intervals of the "
                "medians: only a run whose whole interval is above the baseline's (plus the "
                "allowed regression) fails"
            )
    for name, size in sizes or []:
        old_size = _pick(base.sizes, label, name)
        if old_size is None or size is None:
            continue
        limit = old_size * f / 1e6
        report.verdicts.append(
            GateVerdict(
                "max_regression",
                name,
                limit,
                size / 1e6,
                size <= old_size * f,
                " MB",
                f"{src}: {old_size / 1e6:.4g} MB + {pct:g}%",
                "size",
            )
        )
    if validation:
        name = sizes[0][0] if sizes else label
        old_e, e = _pick(base.errors, label, name), error_of(validation)
        if old_e is not None and e is not None:
            # a floor keeps float32 round-off (1e-7 against 2e-7) from counting as a regression
            limit = old_e * f + 1e-6
            report.verdicts.append(
                GateVerdict(
                    "max_regression",
                    name,
                    limit,
                    e,
                    e <= limit,
                    "",
                    f"{src}: max |diff| {old_e:.4g} + {pct:g}% (+1e-6)",
                    "error",
                )
            )
        old_a, a = _pick(base.agreements, label, name), agreement_of(validation)
        if old_a is not None and a is not None:
            limit = old_a * (1 - pct / 100.0)
            report.verdicts.append(
                GateVerdict(
                    "max_regression",
                    name,
                    limit,
                    a,
                    a >= limit,
                    "",
                    f"{src}: top-1 agreement {old_a:.4g} − {pct:g}%",
                    "agreement",
                )
            )
    if not report.verdicts:
        report.verdicts.append(
            GateVerdict(
                "max_regression",
                label,
                pct,
                None,
                False,
                "%",
                f"{src} has no measurement comparable with this {kind} result",
            )
        )
    return report
