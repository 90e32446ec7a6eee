"""`--keep-float auto`: int8 with the most sensitive layers kept in float, a few at a time, until the gate
holds (`--min-agreement`, `--max-error`, `--max-drop` on the labelled `--eval-data`; else the quantized
validation criteria) or `--keep-float-max` layers (default 10 % of the quantized layers) are float.

Runs in the parent, like the other post-route steps: each try is the ordinary quantizing hop (in a worker)
with `keep_float` set, judged by the ordinary quantized validation on the same held-back data (the
calibration set or --inputs), so what the search accepts is what the final check sees. The ranking comes
from portkit.quantsense (per-tensor, per-channel quantization noise on the calibration data).
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..artifact import Artifact
from ..errors import ValidationFailed
from ..options import ConvertOptions, ValidateOptions
from ..quantsense import counted, default_limit, keep_float_sets

__all__ = ["choose", "gate_text", "passes", "sensitivity_of", "table_lines"]

Log = Callable[[str], None]
TABLE_ROWS = 8  # the most sensitive layers shown in the log (all of them are in the metadata)


def sensitivity_of(float_path: str, qdq_path: str, calibration: str) -> dict[str, Any]:
    """In a worker: quantsense.onnx_sensitivity on the calibration data."""
    from .. import onnxutil
    from ..quantsense import onnx_sensitivity
    from .calibration import calibration_batches

    batches = calibration_batches(calibration, onnxutil.signature(onnxutil.load(float_path)))
    return onnx_sensitivity(float_path, qdq_path, batches)


def passes(v: Any, gates: Any) -> bool:
    """The validation passed and every accuracy gate set (min_agreement, max_error) holds on it."""
    from ..gate_report import agreement_of, error_of

    if v is None or not v:
        return False
    if gates is None:
        return True
    d = v.to_dict()
    if gates.min_agreement is not None:
        a = agreement_of(d)
        if a is None or a < gates.min_agreement:
            return False
    if gates.max_error is not None:
        e = error_of(d)
        if e is None or e > gates.max_error:
            return False
    return True


def gate_text(gates: Any, max_drop: float | None = None) -> str:
    parts = []
    if gates is not None and gates.min_agreement is not None:
        parts.append(f"min_agreement {gates.min_agreement:g}")
    if gates is not None and gates.max_error is not None:
        parts.append(f"max_error {gates.max_error:g}")
    if max_drop is not None:
        parts.append(f"max_drop {max_drop:g}")
    return " and ".join(parts) or "the quantized validation criteria"


def _measure(v: Any) -> dict[str, Any]:
    from ..gate_report import agreement_of, error_of

    d = v.to_dict()
    return {"agreement": agreement_of(d), "max_abs": error_of(d), "passed": bool(v)}


def _latency_ms(path: str, feeds: dict[str, Any], runs: int = 20) -> float:
    """Median onnxruntime CPU latency of one calibration batch (a comparison within this run, not a bench)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t) * 1e3)
    return round(sorted(times)[len(times) // 2], 4)


def table_lines(sens: dict[str, Any], kept: list[str]) -> list[str]:
    rows = sorted(((n, r) for n, r in sens["layers"].items() if r["sqnr_db"] is not None),
                  key=lambda x: x[1]["sqnr_db"])
    lines = [f"  {'layer':<28} {'op':<14} {'SQNR dB':>8}  kept"]
    for n, r in rows[:TABLE_ROWS]:
        lines.append(f"  {n[:28]:<28} {r['op'][:14]:<14} {r['sqnr_db']:>8.1f}  {'float' if n in kept else 'int8'}")
    return lines


def choose(edge: Any, current: Artifact, final: Path, opts: ConvertOptions, vopts: ValidateOptions | None,
           gates: Any, pool: Any, open_runner: Callable[..., Any], log: Log,
           eval_data: str | None = None) -> tuple[Artifact, dict[str, Any]]:
    """Run the quantizing hop `edge` on `current` with the fewest sensitive layers kept float that meet the
    gate; the winner is placed at `final` (returned with the record of the search). ONNX steps rank layers
    with portkit.quantsense in a worker; TFLite and ExecuTorch converters rank their own layers when asked
    for `keep_float=("auto",)` (full int8 plus `record.sensitivity`) and take names otherwise.
    `opts.max_drop` with labelled `eval_data`: each try's top-1 accuracy may fall at most that much below
    the float model's (`current`), a gate beside `gates`."""
    from ..hops import place, remove, run_hop, validate_pair
    from ..validation import accuracy
    from ..workers import family_of

    vopts = vopts or ValidateOptions(input_specs=opts.input_specs)
    onnx_step = edge.step is not None
    suffix = final.suffix if final.suffix else ""
    stem = final.name[: len(final.name) - len(suffix)] if suffix else final.name
    paths: list[Path] = []
    runners: dict[str, Any] = {}
    tries: list[dict[str, Any]] = []
    max_drop = opts.max_drop if eval_data else None
    base: list[float] = []  # the float model's accuracy on eval_data, measured once

    def drop(cand: Artifact) -> float:
        ref, got = runners[current.location], runners[cand.location]
        if not base:
            base.append(accuracy(ref, eval_data)[0])  # type: ignore[arg-type]
        return base[0] - accuracy(got, eval_data, candidate=cand,  # type: ignore[arg-type]
                                  reference_signature=ref.signature)[0]

    def judge(names: tuple[str, ...]) -> tuple[Artifact, bool]:
        path = final.parent / f"{stem}.try{len(tries)}{suffix}"
        paths.append(path)
        cand = run_hop(edge, current, path, dataclasses.replace(opts, keep_float=names), pool)
        lost = None
        try:
            v = validate_pair(current, cand, runners, vopts, open_runner)
            if max_drop is not None:
                lost = drop(cand)
        finally:
            r = runners.pop(cand.location, None)
            if r is not None:
                r.close()
        ok = passes(v, gates) and (lost is None or lost <= max_drop + 1e-9)
        shown = [] if names == ("auto",) else list(names)
        tries.append({"float_layers": shown, **_measure(v), **({} if lost is None else {"drop": lost}),
                      "gate": ok})
        m = tries[-1]
        agree = "-" if m["agreement"] is None else f"{m['agreement']:.3f}"
        log(f"  keep-float auto: {len(shown)} float layer(s) {shown or ''}: top-1 agreement {agree}, "
            f"max abs {m['max_abs']:.3g}" + ("" if lost is None else f", accuracy drop {lost:+.4f}")
            + f" — {'gate holds' if ok else 'not yet'}")
        return cand, ok

    try:
        full, ok = judge(() if onnx_step else ("auto",))
        record: dict[str, Any] = {"mode": "auto", "gate": gate_text(gates, max_drop), "tries": tries,
                                  "layers": []}
        if ok:
            return place(Path(full.location), final, full), record
        if onnx_step:
            sens = pool.get(family_of(edge.requires)).call_as(
                "int8 sensitivity (onnxruntime)", "portkit.prep.keep_float", "sensitivity_of",
                current.location, full.location, opts.calibration)
        else:
            sens = full.record.sensitivity or {"layers": {}, "tensors": [], "samples": 0}
        n_layers = counted(sens["layers"])
        limit = opts.keep_float_max or default_limit(n_layers)
        record.update(quantized_layers=n_layers, limit=limit, samples=sens["samples"],
                      sensitivity=[{"layer": n, **r} for n, r in sorted(
                          sens["layers"].items(), key=lambda x: (x[1]["sqnr_db"] is None, x[1]["sqnr_db"] or 0))],
                      tensors=sens["tensors"][:20])
        log(f"  per-layer sensitivity on {sens['samples']} calibration samples ({n_layers} quantized layers, "
            f"at most {limit} kept float):")
        for line in table_lines(sens, []):
            log(line)
        free = {n for n, r in sens["layers"].items() if r.get("free")}
        for names in keep_float_sets(sens["tensors"], limit, free):
            cand, ok = judge(tuple(names))
            if ok:
                record["layers"] = [n for n in names if n not in free]
                record["also_float"] = [n for n in names if n in free]  # pass-through ops between them
                # an eager module (module:factory) has no file: float is then left out of the comparison
                record["compare"] = {**({"float": {"bytes": _size(current.location)}}
                                        if _size(current.location) else {}),
                                     "int8": {"bytes": _size(full.location)}}
                if onnx_step:
                    record["compare"] = _compare(current.location, full.location, opts)
                return place(Path(cand.location), final, cand), record
        top = max(tries, key=lambda t: (-t.get("drop", 0), t["agreement"] or 0, -(t["max_abs"] or 0)))
        lost = "" if "drop" not in top else f", accuracy drop {top['drop']:.4f}"
        raise ValidationFailed(
            f"--keep-float auto: the {gate_text(gates, max_drop)} gate is not met with up to {limit} of "
            f"{n_layers} layers in float (best: top-1 agreement {top['agreement']}, max abs "
            f"{top['max_abs']:.3g}{lost} with {len(top['float_layers'])} float)",
            path=str(final), hint="raise --keep-float-max, loosen the gate, or give more calibration data; "
                                  "nothing was written")
    finally:
        for r in runners.values():
            r.close()
        for p in paths:
            if p != final:
                remove(p)
                remove(Artifact(str(p), current.format).sidecar())


def _size(path: str) -> int:
    from ..gates import size_of

    return size_of(path) or 0


def _compare(float_path: str, full_path: str, opts: ConvertOptions) -> dict[str, Any]:
    """Size and latency of the float model and full int8 (the result's are added once it is written)."""
    from .. import onnxutil
    from .calibration import calibration_batches

    feeds = calibration_batches(opts.calibration, onnxutil.signature(onnxutil.load(float_path)))[0]
    return {name: {"bytes": Path(p).stat().st_size, "latency_ms": _latency_ms(p, feeds)}
            for name, p in (("float", float_path), ("int8", full_path))}


def finish_record(record: dict[str, Any], result_path: str, opts: ConvertOptions, log: Log) -> dict[str, Any]:
    """Add the result's size/latency to the comparison and log it."""
    from .. import onnxutil
    from .calibration import calibration_batches

    cmp = record.get("compare")
    if not cmp:
        return record
    if "latency_ms" not in cmp.get("float", {}):  # TFLite/ExecuTorch: sizes only (bench measures latency)
        cmp["result"] = {"bytes": _size(result_path)}
        log("  size: " + ", ".join(f"{k} {v['bytes'] / 1024:.1f} KB" for k, v in cmp.items()))
        return record
    feeds = calibration_batches(opts.calibration, onnxutil.signature(onnxutil.load(result_path)))[0]
    cmp["result"] = {"bytes": Path(result_path).stat().st_size, "latency_ms": _latency_ms(result_path, feeds)}
    log("  size / latency (onnxruntime CPU, one calibration batch): " + ", ".join(
        f"{k} {v['bytes'] / 1024:.1f} KB {v['latency_ms']:.3f} ms" for k, v in cmp.items()))
    return record
