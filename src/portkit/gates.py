"""Release gates: limits a converted model must meet, checked on the results of `convert`, `validate`,
`bench` and recipe runs, with a verdict table naming each gate, its limit and the measured value.

The verdicts and the report are portkit.gate_report's; regression against a baseline is portkit.baseline.
Gates read the `--json` schemas (dicts), so a result from this run, a worker process, an earlier `--json`
file or a run manifest are all read the same way. Latency gates never fail on noise: each decides from
a bootstrap 95 % confidence interval measured in the run — a gate fails only when the whole interval is
beyond the limit (or, against a baseline, entirely above the baseline's interval widened by the allowed
regression); an interval that straddles the limit passes and the verdict says "within noise".
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from .baseline import load_baseline, regression
from .errors import BadInput
from .gate_report import (
    GateFailed,
    GateReport,
    GateVerdict,
    agreement_of,
    ci_text,
    error_of,
    latency_series,
    series_label,
    validation_of,
)
from .options import check_rules, flag_of, option, rules_of

__all__ = [
    "Gates",
    "GateVerdict",
    "GateReport",
    "GateFailed",
    "agreement_of",
    "check",
    "error_of",
    "evaluate",
    "require_measurable",
    "parse_latency",
    "load_baseline",
    "validation_of",
    "LATENCY_STATS",
]

LATENCY_STATS = ("p50", "p99")


@dataclass(frozen=True)
class Gates:
    """Limits. None: not gated. `max_regression` is in percent and needs `baseline`. Each field with a `help`
    is a flag of the commands that can measure it (portkit.commands._gates), generated from its definition
    as the options' flags are (portkit.options.option)."""

    max_error: float | None = option(None, ge=0,  # max |diff| against the source
                                     help="Gate: fail (exit 1) when max |diff| against the source exceeds this.")
    min_agreement: float | None = option(None, ge=0, le=1,  # top-1 (argmax) agreement
                                         help="Gate: fail when top-1 agreement is below this (0..1).")
    # the command line's "5" (p50) or "p99=8" is parsed by Gates.of (parse_latency)
    max_latency_ms: float | None = option(None, ge=0, cli_type=str,
                                          help="Gate: p50 latency limit in ms, or p99=N; fails only when the whole "
                                               "95% CI is above it.")
    latency_stat: str = "p50"  # p50 or p99
    max_size_mb: float | None = option(None, ge=0,
                                       help="Gate: fail when the model is larger than this (MB, 1e6 bytes).")
    baseline: str | None = option(None, cli_type=Path,  # kept as text, as a --json result spells it
                                  help="Gate: an earlier --json result or run manifest to compare with.")
    max_regression: float | None = option(None, ge=0,
                                          help="Gate: allowed regression against --baseline, in percent.")

    def __post_init__(self) -> None:
        if isinstance(self.baseline, Path):
            object.__setattr__(self, "baseline", str(self.baseline))
        if self.latency_stat not in LATENCY_STATS:
            raise BadInput(f"unknown latency statistic '{self.latency_stat}'", hint="use p50 or p99")
        for f in fields(self):  # the API and recipes may hand anything: the rules below compare numbers
            v = getattr(self, f.name)
            if "ge" in rules_of(f) and v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                                          or math.isnan(v)):
                raise BadInput(f"gate {f.name} must be a number, got {v!r}", hint=f"e.g. {flag_of(f)} 1")
        if self.min_agreement is not None and not 0 <= self.min_agreement <= 1:
            raise BadInput(
                f"gate min_agreement must be between 0 and 1, got {self.min_agreement}",
                hint="e.g. 0.95 for 95 % top-1 agreement",
            )
        check_rules(self)  # each field's rules (ge=0), as every options dataclass
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


def _dict(result: Any) -> dict[str, Any]:
    return result if isinstance(result, dict) else result.to_dict()


# ---------------------------------------------------------------- measuring


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
    if art.format.value == "onnx" and not art.record.external_data:
        from .onnxutil import external_data_files, load

        try:
            art.note(external_data=tuple(external_data_files(load(p))))
        except Exception:  # noqa: BLE001 - size is best effort; the model itself was checked elsewhere
            pass
    return art.size_bytes()


def _latency_verdict(r: Mapping[str, Any], gates: Gates) -> GateVerdict:
    stat = gates.latency_stat
    value = r["latency_ms"][stat]
    ci = (r.get("ci_ms") or {}).get(stat)
    limit = float(gates.max_latency_ms)  # type: ignore[arg-type]
    if ci is None:
        passed, how = value <= limit, f"point value (no {stat} interval recorded)"
    elif ci[0] > limit:
        passed, how = False, f"95% CI {ci_text(ci)} ms entirely above the limit"
    elif ci[1] <= limit:
        passed, how = True, f"95% CI {ci_text(ci)} ms at or below the limit"
    else:
        passed, how = True, f"within noise: 95% CI {ci_text(ci)} ms contains the limit"
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
        series = latency_series(bench) if bench is not None else []
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


