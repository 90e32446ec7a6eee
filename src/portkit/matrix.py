"""`portkit matrix MODEL`: convert one model to every other format by the best route, validate each.

Each target is converted on its own (its own folder under the output directory, so intermediates of
different routes never collide) with the same options; a failing target is recorded and the others go on.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import PortkitError, ValidationFailed
from .formats import Format, sniff

__all__ = ["MATRIX_FORMATS", "MatrixRow", "MatrixResult", "matrix"]

# the formats of the matrix: every ordered pair of these is a route
MATRIX_FORMATS: tuple[Format, ...] = (Format.KERAS, Format.KERAS_H5, Format.SAVEDMODEL, Format.TORCHSCRIPT,
                                      Format.ONNX, Format.TFLITE)


@dataclass
class MatrixRow:
    target: str
    route: str = ""
    status: str = "ok"  # ok | FAILED (validation) | error (conversion or loading)
    max_abs: float | None = None
    max_rel: float | None = None
    size_bytes: int = 0
    seconds: float = 0.0
    output: str = ""
    message: str = ""
    exit_code: int = 0

    @property
    def passed(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "route": self.route, "status": self.status, "passed": self.passed,
                "max_abs": self.max_abs, "max_rel": self.max_rel, "size_bytes": self.size_bytes,
                "seconds": round(self.seconds, 2), "output": self.output, "message": self.message}


@dataclass
class MatrixResult:
    source: str
    source_format: str
    output_dir: str
    rows: list[MatrixRow] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed_count(self) -> int:
        return sum(r.passed for r in self.rows)

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(r.passed for r in self.rows)

    def __bool__(self) -> bool:
        return self.passed

    def summary(self) -> str:
        return f"{self.passed_count}/{len(self.rows)} routes converted and validated"

    def exit_code(self) -> int:
        codes = [r.exit_code for r in self.rows if not r.passed]
        return 0 if not codes else (1 if all(c == 1 for c in codes) else max(codes))

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "source_format": self.source_format, "output_dir": self.output_dir,
                "passed": self.passed, "passed_count": self.passed_count, "total": len(self.rows),
                "seconds": round(self.seconds, 2), "rows": [r.to_dict() for r in self.rows]}


def targets_for(source: Format, formats: tuple[Format, ...] = MATRIX_FORMATS) -> list[Format]:
    return [f for f in formats if f is not source]


def _stem(model: str) -> str:
    name = Path(model).name if Path(model).exists() else model.rpartition(":")[2]
    for suffix in (".ts.pt", ".weights.h5", ".keras", ".onnx", ".tflite", ".pt2", ".pte", ".pt", ".pth", ".h5",
                   ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def matrix(model: str | Path, output_dir: str | Path | None = None, *,
           targets: list[Format | str] | None = None, log: Callable[[str], None] | None = None,
           atol: float | None = None, rtol: float | None = None, inputs: str | None = None,
           **options: Any) -> MatrixResult:
    """Convert `model` to every other matrix format (or `targets`) by the best route and validate each.

    `options` are ConvertOptions fields (weights, input_specs, allow_unsafe, ...), used for every target.
    Returns a MatrixResult (truthy when every route passed); never raises for one failing target.
    """
    from .conversion import convert, source_artifact
    from .options import ValidateOptions, convert_options, user_path

    log = log or (lambda _m: None)
    model = str(model)
    src_fmt = sniff(model)
    copts = convert_options(**options)
    vopts = ValidateOptions(atol=atol, rtol=rtol, inputs=user_path(inputs), input_specs=copts.input_specs)
    # bad options and a source no route can load (a pickle without --allow-pickle) fail once, before any work
    source_artifact(model, copts)
    out_dir = Path(output_dir) if output_dir else Path(f"{_stem(model)}_matrix")
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = [t if isinstance(t, Format) else Format.parse(t) for t in targets] if targets else \
        targets_for(src_fmt)
    result = MatrixResult(model, src_fmt.value, str(out_dir))
    t0 = time.perf_counter()
    stem = _stem(model)
    for target in wanted:
        folder = out_dir / target.value
        out = folder / (f"{stem}{target.suffix}" if target.suffix else f"{stem}_savedmodel")
        row = MatrixRow(target.value, output=str(out))
        log(f"matrix: {src_fmt.value} → {target.value}")
        t = time.perf_counter()
        try:
            res = convert(model, target, out, copts, validate_opts=vopts, log=log)
            _fill(row, res)
        except ValidationFailed as e:
            row.status, row.message, row.exit_code = "FAILED", e.one_line(), e.exit_code
            if e.result is not None:
                _fill(row, e.result)
                row.status = "FAILED"
        except PortkitError as e:
            row.status, row.message, row.exit_code = "error", e.one_line(), e.exit_code
        row.seconds = time.perf_counter() - t
        log(f"matrix: {src_fmt.value} → {target.value}: {row.status}"
            + (f" ({row.message})" if row.message else ""))
        result.rows.append(row)
    result.seconds = time.perf_counter() - t0
    return result


def _fill(row: MatrixRow, res: Any) -> None:
    row.route = res.route[0] if res.route else ""
    checks = [h.validation for h in res.hops if h.validation is not None]
    checks += [res.validation] if res.validation is not None else []
    # a failed validation is falsy: test for presence, or a failing route would show its last hop's errors
    final = res.validation if res.validation is not None else (res.hops[-1].validation if res.hops else None)
    if final is not None:
        row.max_abs, row.max_rel = final.max_abs, final.max_rel
    row.size_bytes = res.output.size_bytes()
    row.output = res.output.location
    if not all(bool(v) for v in checks):
        row.status, row.exit_code = "FAILED", 1
