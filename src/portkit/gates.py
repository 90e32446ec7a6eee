"""Release gates: limits a converted model must meet, checked on the results of `convert`, `validate`,
`bench` and recipe runs, with a verdict table naming each gate, its limit and the measured value.

Gates read the `--json` schemas (dicts), so a result from this run, a worker process, an earlier `--json`
file or a run manifest are all read the same way. Latency gates never fail on noise: each decides from
a bootstrap 95 % confidence interval measured in the run — a gate fails only when the whole interval is
beyond the limit (or, against a baseline, entirely above the baseline's interval widened by the allowed
regression); an interval that straddles the limit passes and the verdict says "within noise".
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BadInput, ValidationFailed
from .stats import bootstrap_ci

__all__ = [
    "Gates",
    "GateVerdict",
    "GateReport",
    "GateFailed",
    "check",
    "evaluate",
    "require_measurable",
    "parse_latency",
    "load_baseline",
    "attach",
    "LATENCY_STATS",
]

LATENCY_STATS = ("p50", "p99")
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


@dataclass(frozen=True)
class Gates:
    """Limits. None: not gated. `max_regression` is in percent and needs `baseline`."""

    max_error: float | None = None  # max |diff| against the source
    min_agreement: float | None = None  # top-1 (argmax) agreement, 0..1
    max_latency_ms: float | None = None
    latency_stat: str = "p50"  # p50 or p99
    max_size_mb: float | None = None
    baseline: str | None = None  # an earlier --json result or run manifest
    max_regression: float | None = None  # percent, against `baseline`

    def __post_init__(self) -> None:
        if self.latency_stat not in LATENCY_STATS:
            raise BadInput(f"unknown latency statistic '{self.latency_stat}'", hint="use p50 or p99")
        for name in ("max_error", "max_latency_ms", "max_size_mb", "max_regression"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, (int, float)) or v < 0 or math.isnan(v)):
                raise BadInput(f"gate {name} must be a number ≥ 0, got {v!r}")
        if self.min_agreement is not None and not 0 <= self.min_agreement <= 1:
            raise BadInput(
                f"gate min_agreement must be between 0 and 1, got {self.min_agreement}",
                hint="e.g. 0.95 for 95 % top-1 agreement",
            )
        if (self.baseline is None) != (self.max_regression is None):
            raise BadInput(
                "--baseline and --max-regression go together",
                hint="e.g. --baseline previous.json --max-regression 10",
            )

    @classmethod
    def of(cls, value: Gates | Mapping[str, Any] | None) -> Gates:
        if value is None:
            return cls()
        if isinstance(value, Gates):
            return value
        known = {f.name for f in fields(cls)}
        unknown = set(value) - known
        if unknown:
            raise BadInput(f"unknown gate(s): {sorted(unknown)}", hint=f"valid: {sorted(known)}")
        data = dict(value)
        lat = data.get("max_latency_ms")
        if isinstance(lat, (str, Mapping)):
            data["latency_stat"], data["max_latency_ms"] = parse_latency(lat)
        return cls(**data)

    @property
    def any(self) -> bool:
        return any(
            getattr(self, n) is not None
            for n in ("max_error", "min_agreement", "max_latency_ms", "max_size_mb", "baseline")
        )

    def merged(self, other: Gates | Mapping[str, Any] | None) -> Gates:
        """These gates with the ones set in `other` replacing them."""
        o = Gates.of(other)
        data = asdict(self)
        data.update({k: v for k, v in asdict(o).items() if v is not None and k != "latency_stat"})
        if o.max_latency_ms is not None:
            data["latency_stat"] = o.latency_stat
        return Gates(**data)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def parse_latency(value: str | float | Mapping[str, float]) -> tuple[str, float]:
    """`5` / `"5"` → (p50, 5.0); `"p99=8"`, `"p99:8"` or `{"p99": 8}` → (p99, 8.0)."""
    if isinstance(value, Mapping):
        if len(value) != 1:
            raise BadInput(f"max_latency_ms takes one statistic, got {dict(value)}", hint="e.g. {p99: 8}")
        ((stat, limit),) = value.items()
    elif isinstance(value, (int, float)):
        stat, limit = "p50", value
    else:
        text = value.strip()
        stat, sep, limit = text.replace(":", "=").partition("=")
        if not sep:
            stat, limit = "p50", text
    stat = str(stat).strip().lower()
    if stat not in LATENCY_STATS:
        raise BadInput(f"unknown latency statistic '{stat}'", hint="write --max-latency-ms 5 (p50) or p99=8")
    try:
        return stat, float(limit)
    except (TypeError, ValueError) as e:
        raise BadInput(f"bad latency limit '{value}'", hint="write --max-latency-ms 5 (p50) or p99=8") from e


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


def attach(result: Any, report: GateReport) -> Any:
    """Record `report` on a result object: `result.gates`, and a "gates" key in `result.to_dict()` so the
    Python result keeps the `--json` schema."""
    base = type(result).to_dict
    result.gates = report
    result.to_dict = lambda: {**base(result), "gates": report.to_dict()}
    return result


def _dict(result: Any) -> dict[str, Any]:
    return result if isinstance(result, dict) else result.to_dict()


# ---------------------------------------------------------------- measuring


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


def size_of(path: str | Path) -> int | None:
    """Bytes on disk of a model (a folder's files summed; ONNX external data included)."""
    from .artifact import Artifact
    from .formats import sniff

    p = Path(path)
    if not p.exists():
        return None
    try:
        art = Artifact(str(p), sniff(p))
    except BadInput:
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size
    art.read_sidecar_metadata()
    if art.format.value == "onnx" and "external_data" not in art.metadata:
        from .onnxutil import external_data_files, load

        try:
            art.metadata["external_data"] = list(external_data_files(load(p)))
        except Exception:  # noqa: BLE001 - size is best effort; the model itself was checked elsewhere
            pass
    return art.size_bytes()


def _latency_series(result: Any) -> list[dict[str, Any]]:
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
        if m.samples_ns:
            ci["p99"] = list(bootstrap_ci(np.asarray(m.samples_ns) / 1e6, 99, CONFIDENCE))
        d["ci_ms"] = ci
        out.append(d)
    return out


def series_label(r: Mapping[str, Any]) -> str:
    return f"{os.path.basename(str(r['model']))} batch {r['batch']} {r['provider']}"


def _ci_text(ci: list[float] | tuple[float, float] | None) -> str:
    return f"[{ci[0]:.4g}, {ci[1]:.4g}]" if ci else "(no interval)"


def _latency_verdict(r: Mapping[str, Any], gates: Gates) -> GateVerdict:
    stat = gates.latency_stat
    value = r["latency_ms"][stat]
    ci = (r.get("ci_ms") or {}).get(stat)
    limit = float(gates.max_latency_ms)  # type: ignore[arg-type]
    if ci is None:
        passed, how = value <= limit, f"point value (no {stat} interval recorded)"
    elif ci[0] > limit:
        passed, how = False, f"95% CI {_ci_text(ci)} ms entirely above the limit"
    elif ci[1] <= limit:
        passed, how = True, f"95% CI {_ci_text(ci)} ms at or below the limit"
    else:
        passed, how = True, f"within noise: 95% CI {_ci_text(ci)} ms contains the limit"
    return GateVerdict("max_latency_ms", series_label(r), limit, value, passed, " ms", how, stat)


MEASURED_BY = {  # which command measures which gate
    "convert": {"max_error", "min_agreement", "max_size_mb", "max_latency_ms"},
    "validate": {"max_error", "min_agreement", "max_size_mb"},
    "bench": {"max_latency_ms", "max_size_mb"},
}
_HINT = {
    "max_error": "use it on `portkit convert` or `portkit validate`",
    "min_agreement": "use it on `portkit convert` or `portkit validate`",
    "max_latency_ms": "use it on `portkit bench` (or `portkit convert`, which then benchmarks the result)",
}


def require_measurable(gates: Gates, kind: str) -> None:
    """Refuse, before any work, a gate that `kind` does not measure (exit 2)."""
    for name in ("max_error", "min_agreement", "max_latency_ms", "max_size_mb"):
        if getattr(gates, name) is not None and name not in MEASURED_BY[kind]:
            raise BadInput(f"`portkit {kind}` does not measure the {name} gate", hint=_HINT.get(name))


def evaluate(
    gates: Gates | Mapping[str, Any] | None,
    *,
    validation: Mapping[str, Any] | None = None,
    bench: Any = None,
    sizes: list[tuple[str, str | None]] | None = None,
    label: str = "model",
    kind: str = "convert",
) -> GateReport:
    """Check every gate set in `gates` on what was measured: a validation dict, a bench result (object or
    dict) and model files [(name, path)] for the size gate. A gate with nothing to measure fails and says
    so."""
    g = Gates.of(gates)
    report = GateReport()
    if not g.any:
        return report
    v = validation_of(validation) if validation else None
    if g.max_error is not None:
        e = error_of(v) if v else None
        report.verdicts.append(
            GateVerdict(
                "max_error",
                label,
                g.max_error,
                e,
                e is not None and e <= g.max_error,
                "",
                "max |diff| over every output and case" if v else "no validation ran",
            )
        )
    if g.min_agreement is not None:
        a = agreement_of(v) if v else None
        report.verdicts.append(
            GateVerdict(
                "min_agreement",
                label,
                g.min_agreement,
                a,
                a is not None and a >= g.min_agreement,
                "",
                "lowest top-1 agreement over outputs and cases"
                if a is not None
                else (
                    "no validation ran"
                    if not v
                    else "no classifier-like output (top-1 agreement needs a class axis)"
                ),
            )
        )
    if g.max_latency_ms is not None:
        series = _latency_series(bench) if bench is not None else []
        report.verdicts += [_latency_verdict(r, g) for r in series] or [
            GateVerdict(
                "max_latency_ms",
                label,
                g.max_latency_ms,
                None,
                False,
                " ms",
                "nothing was benchmarked",
                g.latency_stat,
            )
        ]
        report.notes.append(
            "latency gates decide from bootstrap 95% confidence intervals measured in this run: "
            "a gate fails only when the whole interval is above its limit"
        )
    sized = [(name, size_of(path) if path else None) for name, path in sizes or []]
    if g.max_size_mb is not None:
        for name, size in sized or [(label, None)]:
            mb = None if size is None else size / 1e6
            report.verdicts.append(
                GateVerdict(
                    "max_size_mb",
                    name,
                    g.max_size_mb,
                    mb,
                    mb is not None and mb <= g.max_size_mb,
                    " MB",
                    "bytes on disk / 1e6" if mb is not None else "file not found",
                )
            )
    if g.baseline is not None:
        report.extend(
            regression(
                load_baseline(g.baseline),
                float(g.max_regression or 0.0),
                validation=v,
                bench=bench,
                sizes=sized,
                label=label,
                kind=kind,
            )
        )
    return report


def check(result: Any, gates: Gates | Mapping[str, Any] | None, *, kind: str) -> GateReport:
    """Check `gates` on the result of a command (`kind`: convert, validate or bench), object or dict."""
    d = _dict(result)
    if kind == "bench":
        models = list(dict.fromkeys(str(r["model"]) for r in d.get("results") or []))
        return evaluate(
            gates,
            bench=result,
            sizes=[(os.path.basename(m), m) for m in models],
            label=", ".join(os.path.basename(m) for m in models) or "model",
            kind=kind,
        )
    path = str(d.get("output") or d.get("candidate"))
    return evaluate(
        gates, validation=d, sizes=[(os.path.basename(path), path)], label=os.path.basename(path), kind=kind
    )


# ---------------------------------------------------------------- baselines


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
    for r in _latency_series(bench) if bench is not None else []:
        old = _match_series(r, base.latency, label)
        if old is None:
            continue
        ci = (r.get("ci_ms") or {}).get("p50") or [r["latency_ms"]["p50"]] * 2
        old_ci = old.get("median_ci95_ms") or [old["latency_ms"]["p50"]] * 2
        limit = old_ci[1] * f
        passed = ci[0] <= limit
        how = (
            f"{src}: p50 {old['latency_ms']['p50']:.4g} ms, 95% CI {_ci_text(old_ci)}; limit = its CI top "
            f"+ {pct:g}%; this run's CI {_ci_text(ci)} "
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
