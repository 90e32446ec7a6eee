"""Running a recipe: each model's targets converted, validated, benchmarked, gated and exported.

Models are independent jobs. `jobs=1` runs them one after another in this process; `jobs=N` hands them
to a `concurrent.futures.ProcessPoolExecutor` with the spawn context (frameworks and onnxruntime do not
survive fork); `executor="ray"` submits the same function as Ray tasks. A job gets plain data (the checked
recipe as a dict and a model index) and returns its manifest entry as plain data, so all three executors
give the same manifest. Conversion hops and framework runtimes run in worker processes as everywhere in
portkit; a job's failure is recorded in the manifest, never lost.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portkit.errors import BadInput, MissingDependency, PortkitError, ValidationFailed

from .loading import load_recipe, parse_recipe
from .schema import Recipe, effective, effective_gates

__all__ = ["RunResult", "run_recipe", "run_model", "EXECUTORS"]

Log = Callable[[str], None]
EXECUTORS = ("process", "ray")
DEFAULT_OUT = "portkit-out"


@dataclass
class RunResult:
    """A finished run: `.manifest` (also OUT/manifest.json), truthy when every step and gate passed."""

    manifest: dict[str, Any]
    out: Path

    @property
    def manifest_path(self) -> Path:
        return self.out / "manifest.json"

    @property
    def passed(self) -> bool:
        return bool(self.manifest["passed"])

    def __bool__(self) -> bool:
        return self.passed

    @property
    def gates(self) -> list[dict[str, Any]]:
        return list(self.manifest["gates"])

    def failed_gates(self) -> list[dict[str, Any]]:
        return [v for v in self.manifest["gates"] if not v["passed"]]

    def artifacts(self) -> list[dict[str, Any]]:
        return [a for m in self.manifest["models"] for a in m["artifacts"]]

    def to_dict(self) -> dict[str, Any]:
        return self.manifest


# ---------------------------------------------------------------- one model (runs in any executor)


def _error(e: BaseException) -> dict[str, Any]:
    if isinstance(e, PortkitError):
        return {"type": type(e).__name__, "exit_code": e.exit_code, "message": e.one_line()}
    return {"type": type(e).__name__, "exit_code": 3, "message": f"{type(e).__name__}: {e}"}


def _step(status: str, seconds: float, message: str = "", **extra: Any) -> dict[str, Any]:
    return {"status": status, "seconds": round(seconds, 3), "message": message, **extra}


def _bench_path(path: Path, fmt: str) -> tuple[str | None, str]:
    """The file to benchmark for an artifact, and a note: a web bundle is benchmarked as itself, its model run
    by onnxruntime in Python (its runtime in portkit.formats.FORMATS), not in a browser."""
    if fmt != "web":
        return str(path), ""
    return str(path), "web bundle benchmarked with onnxruntime (CPU) in Python, not in a browser"


def _target(recipe: Recipe, mi: int, ti: int, out: Path, log: Log) -> dict[str, Any]:
    from portkit.conversion import convert, default_output, source_artifact
    from portkit.formats import Format
    from portkit.gates import evaluate
    from portkit.manifest import sha256_of
    from portkit.options import ValidateOptions, convert_options

    model = recipe.models[mi]
    t = model.targets[ti]
    vstep = effective(recipe, model, t, "validate")
    bstep = effective(recipe, model, t, "bench")
    gates = effective_gates(recipe, model, t)
    fmt = Format(t.to)
    # every option comes from its one definition (portkit.options): the model's loading options, the
    # target's conversion options, the validate step's options
    copts = convert_options(**model.loading(recipe.resolve), **t.option_values(recipe.resolve))
    vopts = ValidateOptions(**vstep.option_values(recipe.resolve), seed=recipe.seed, input_specs=copts.input_specs)
    source = recipe.resolve(model.source)
    folder = out / model.name / t.label
    name = default_output(source_artifact(source, copts), fmt).name
    dest = folder / name
    entry: dict[str, Any] = {
        "name": t.label,
        "format": t.to,
        "path": None,
        "sha256": None,
        "size_bytes": None,
        "route": None,
        "producer": None,
        "tool_versions": {},
        "metadata": {},
        "options": t.model_dump(
            exclude_none=True, by_alias=True, exclude={"validate_", "bench", "gates", "export"}
        ),
        "conversion": None,
        "validation": None,
        "bench": None,
        "gates": None,
        "exports": {},
        "steps": {},
        "error": None,
        "passed": False,
    }
    log(f"{t.label}: convert to {t.to}" + (f" ({t.quantize})" if t.quantize else ""))
    t0 = time.perf_counter()
    conv = None
    try:
        conv = convert(
            source,
            fmt,
            dest,
            copts,
            validate=vstep.enabled,
            via=Format(t.via) if t.via else None,
            validate_opts=vopts,
            clean=t.clean,
            log=log,
            eval_data=recipe.resolve(vstep.eval_data),
            gates=gates,  # what --keep-float auto searches for
        )
        entry["steps"]["convert"] = _step("ok", time.perf_counter() - t0, " → ".join(conv.route))
    except ValidationFailed as e:  # the output is kept; its validation failed
        conv = e.result if e.result is not None and hasattr(e.result, "output") else None
        entry["steps"]["convert"] = _step("ok", time.perf_counter() - t0)
        entry["error"] = _error(e)
    except PortkitError as e:
        entry["steps"]["convert"] = _step(
            "error", time.perf_counter() - t0, e.one_line(), type=type(e).__name__
        )
        entry["error"] = _error(e)
        log(f"{t.label}: {e.one_line()}")
        return entry
    d = conv.to_dict()
    path = Path(conv.output.location)
    md = conv.output.metadata
    entry.update(
        path=os.path.relpath(path, out),
        sha256=sha256_of(path),
        size_bytes=d["size_bytes"],
        route=d["route"],
        producer=conv.output.record.producer,
        tool_versions=conv.output.record.versions,
        metadata={k: v for k, v in md.items() if k not in ("versions", "producer")},
        conversion={k: d[k] for k in ("route", "hops", "failed_routes", "seconds", "accuracy", "signature")},
        validation=_validation(d),
    )
    if vstep.enabled:
        v = entry["validation"]
        entry["steps"]["validate"] = _step(
            "ok" if v and v["passed"] else "failed", 0.0, (v or {}).get("summary", "no validation result")
        )
    measured = None
    if bstep is not None and bstep.enabled:
        measured = _bench(recipe, model, bstep, path, t.to, entry, log, conv.output.record.tensors)
    report = evaluate(
        gates,
        validation=entry["validation"],
        bench=measured,
        sizes=[(path.name, str(path))],
        label=f"{model.name}/{t.label}",
        kind="run",
    )
    entry["gates"] = report.to_dict() if report.verdicts else None
    if report.verdicts:
        failed = [v for v in report.verdicts if not v.passed]
        log(
            f"{t.label}: gates {len(report.verdicts) - len(failed)}/{len(report.verdicts)} passed"
            + (
                ": " + "; ".join(f"{v.name()} {v.measured_text()} (limit {v.limit_text()})" for v in failed)
                if failed
                else ""
            )
        )
    if t.export and t.export.triton and t.export.triton.enabled:
        _export_triton(model.name, t, path, out, entry, log)
    entry["passed"] = (
        entry["error"] is None
        and (not vstep.enabled or bool((entry["validation"] or {}).get("passed")))
        and report.passed
        and all(s["status"] in ("ok", "skipped") for s in entry["steps"].values())
    )
    return entry


def _in_target_terms(specs: Any, tensors: Any) -> tuple[Any, ...]:
    """Input specs said of the source, in a converted model's terms: its names, its layout (NHWC)."""
    from dataclasses import replace

    out = []
    for s in specs:
        if s.shape is None:
            out.append(replace(s, name=tensors.name("inputs", s.name) if s.name else s.name))
            continue
        ((name, shape),) = tensors.shapes("inputs", {s.name: s.shape}).items()
        out.append(replace(s, name=name, shape=shape))
    return tuple(out)


def _validation(d: dict[str, Any]) -> dict[str, Any] | None:
    from portkit.gates import validation_of

    return validation_of(d)


def _bench(
    recipe: Recipe, model: Any, bstep: Any, path: Path, fmt: str, entry: dict[str, Any], log: Log,
    tensors: Any,
) -> Any:
    from portkit.benchmark import bench

    t0 = time.perf_counter()
    target, note = _bench_path(path, fmt)
    if target is None:
        entry["steps"]["bench"] = _step("skipped", 0.0, note)
        return None
    loading = model.loading(recipe.resolve)
    if bstep.reference:  # the source first: bench feeds the target the same data through its layout
        models = [recipe.resolve(model.source), target]
    else:  # the target alone: the recipe's input specs are the source's, said in the target's layout
        models = [target]
        loading["input_specs"] = _in_target_terms(loading["input_specs"], tensors)
    try:
        result = bench(
            models,
            **bstep.option_values(),
            seed=recipe.seed,
            log=log,
            keep_samples=True,
            **loading,
        )
    except PortkitError as e:
        entry["steps"]["bench"] = _step(
            "error", time.perf_counter() - t0, e.one_line(), type=type(e).__name__
        )
        return None
    d = result.to_dict()
    if note:
        d["notes"] = [*d.get("notes", []), note]
    entry["bench"] = d
    mine = [r for r in d["results"] if r["model"] == target]
    entry["steps"]["bench"] = _step(
        "ok",
        time.perf_counter() - t0,
        ", ".join(f"batch {r['batch']} {r['provider']}: p50 {r['latency_ms']['p50']:.3f} ms" for r in mine),
    )
    if bstep.reference:  # gates judge the target, not the source it was compared with
        result.measurements = [m for m in result.measurements if m.model == target]
    return result


def _export_triton(model_name: str, t: Any, path: Path, out: Path, entry: dict[str, Any], log: Log) -> None:
    from portkit.serving import export_triton

    spec = t.export.triton
    t0 = time.perf_counter()
    try:
        options = {**spec.option_values(), "name": spec.name or f"{model_name}-{t.label}"}
        res = export_triton(path, out / "triton", **options)
    except PortkitError as e:
        entry["steps"]["triton"] = _step(
            "error", time.perf_counter() - t0, e.one_line(), type=type(e).__name__
        )
        return
    d = res.to_dict()
    d = {
        **d,
        **{k: os.path.relpath(d[k], out) for k in ("repository", "model", "config")},
        "files": [os.path.relpath(f, out) for f in d["files"]],
    }
    entry["exports"]["triton"] = d
    entry["steps"]["triton"] = _step("ok", time.perf_counter() - t0, f"{d['model']} + {d['config']}")
    log(f"{t.label}: Triton repository entry {d['config']}")


def run_model(job: dict[str, Any]) -> dict[str, Any]:
    """One model's manifest entry. Plain data in and out: runs inline, in a spawned process or as a Ray
    task."""
    from portkit import ui
    from portkit.manifest import sha256_of

    if job.get("quiet"):
        ui.set_quiet(True)
    if job.get("isolated"):  # a process of its own: its stdout is the parent's result channel (--json)
        import sys

        sys.stdout.flush()
        os.dup2(2, 1)
    recipe = parse_recipe(job["recipe"], path=job["path"], base_dir=job["base_dir"], check_files=False)
    mi = job["index"]
    model = recipe.models[mi]
    out = Path(job["out"])

    def log(message: str) -> None:
        ui.progress(f"[{model.name}] {message}")

    source = recipe.resolve(model.source)
    entry: dict[str, Any] = {
        "name": model.name,
        "source": {"path": source, "sha256": sha256_of(source)},
        "artifacts": [],
        "error": None,
        "passed": False,
        "seconds": 0.0,
        "pid": os.getpid(),
    }
    t0 = time.perf_counter()
    try:
        for ti in range(len(model.targets)):
            entry["artifacts"].append(_target(recipe, mi, ti, out, log))
    except PortkitError as e:  # a problem with the model itself (e.g. its source cannot be read)
        entry["error"] = _error(e)
        log(e.one_line())
    entry["seconds"] = round(time.perf_counter() - t0, 3)
    entry["passed"] = entry["error"] is None and all(a["passed"] for a in entry["artifacts"])
    log("done: " + ("passed" if entry["passed"] else "FAILED"))
    return entry


# ---------------------------------------------------------------- the whole recipe


def _jobs(recipe: Recipe, out: Path, quiet: bool) -> list[dict[str, Any]]:
    data = recipe.model_dump(mode="json", by_alias=True, exclude_none=True)
    return [
        {
            "recipe": data,
            "path": recipe.path,
            "base_dir": recipe.base_dir,
            "index": i,
            "out": str(out),
            "quiet": quiet,
        }
        for i in range(len(recipe.models))
    ]


def _execute(jobs: list[dict[str, Any]], n: int, executor: str, log: Log) -> list[dict[str, Any]]:
    if executor == "ray":
        return _execute_ray(jobs, n, log)
    if n <= 1 or len(jobs) <= 1:
        return [run_model(j) for j in jobs]
    import concurrent.futures as cf
    import multiprocessing as mp

    workers = min(n, len(jobs))
    log(f"running {len(jobs)} models in {workers} processes")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(run_model, {**j, "isolated": True}) for j in jobs]
        return [_collect(f, j) for f, j in zip(futures, jobs, strict=True)]


def _collect(future: Any, job: dict[str, Any]) -> dict[str, Any]:
    try:
        return future.result()
    except Exception as e:  # noqa: BLE001 - a crashed job is recorded in the manifest, not lost
        m = job["recipe"]["models"][job["index"]]
        return {
            "name": m["name"],
            "source": {"path": m["source"], "sha256": None},
            "artifacts": [],
            "error": _error(e),
            "passed": False,
            "seconds": 0.0,
        }


def _execute_ray(jobs: list[dict[str, Any]], n: int, log: Log) -> list[dict[str, Any]]:
    try:
        import ray
    except ImportError as e:
        raise MissingDependency("ray", "ray", purpose="--executor ray") from e
    if not ray.is_initialized():
        # RAY_ADDRESS (or `ray start`) joins a cluster; otherwise a local instance with n CPUs
        kwargs: dict[str, Any] = {} if os.environ.get("RAY_ADDRESS") else {"num_cpus": max(1, n),
                                                                            "include_dashboard": False}
        ray.init(ignore_reinit_error=True, log_to_driver=True, **kwargs)
    log(f"running {len(jobs)} models as Ray tasks")
    task = ray.remote(num_cpus=1)(run_model)
    refs = [task.remote({**j, "isolated": True}) for j in jobs]
    out = []
    for ref, j in zip(refs, jobs, strict=True):
        try:
            out.append(ray.get(ref))
        except Exception as e:  # noqa: BLE001 - a failed task is recorded in the manifest
            m = j["recipe"]["models"][j["index"]]
            out.append(
                {
                    "name": m["name"],
                    "source": {"path": m["source"], "sha256": None},
                    "artifacts": [],
                    "error": _error(e),
                    "passed": False,
                    "seconds": 0.0,
                }
            )
    return out


def run_recipe(
    recipe: str | Path | Recipe,
    *,
    out: str | Path | None = None,
    jobs: int = 1,
    executor: str = "process",
    junit: str | Path | None = None,
    report: str | Path | None = None,
    log: Log | None = None,
    quiet: bool | None = None,
) -> RunResult:
    """See portkit.api.run."""
    from datetime import datetime, timezone

    from portkit import ui
    from portkit.manifest import (
        SCHEMA,
        environment,
        summary,
        tool_versions,
        write_html,
        write_json,
        write_junit,
    )
    from portkit.versions import PORTKIT

    if executor not in EXECUTORS:
        raise BadInput(f"unknown executor '{executor}'", hint=f"valid: {', '.join(EXECUTORS)}")
    if jobs < 1:
        raise BadInput("--jobs must be 1 or more")
    if executor == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise MissingDependency("ray", "ray", purpose="--executor ray")
    r = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)  # every check before any work
    log = log or (lambda _m: None)
    out_dir = Path(out) if out is not None else Path(r.resolve(r.out) if r.out else DEFAULT_OUT)
    out_dir = out_dir.resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput("the output folder is a file", path=out_dir, hint="choose another --out")
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    quiet = ui.is_quiet() if quiet is None else quiet  # children inherit --quiet
    log(f"recipe {r.path}: {len(r.models)} model(s) → {out_dir}")
    models = _execute(_jobs(r, out_dir, quiet), jobs, executor, log)
    manifest: dict[str, Any] = {
        "schema": SCHEMA,
        "portkit": PORTKIT,
        "recipe": {"path": r.path, "sha256": r.sha256, "name": r.name},
        "created": started.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - t0, 3),
        "seed": r.seed,
        "executor": {"kind": executor if (jobs > 1 or executor == "ray") else "inline", "jobs": jobs},
        "out": str(out_dir),
        "tools": tool_versions(),
        "environment": environment(),
        "passed": False,
        "summary": {},
        "notes": [],
        "models": models,
        "gates": [],
    }
    for m in models:
        for a in m["artifacts"]:
            for v in (a.get("gates") or {}).get("verdicts") or []:
                manifest["gates"].append({"artifact": f"{m['name']}/{a['name']}", **v})
            for n in (a.get("gates") or {}).get("notes") or []:
                if n not in manifest["notes"]:
                    manifest["notes"].append(n)
    manifest["passed"] = bool(models) and all(m["passed"] for m in models)
    manifest["summary"] = summary(manifest)
    write_json(manifest, out_dir / "manifest.json")
    write_html(manifest, out_dir / "report.html")
    if junit:
        write_junit(manifest, junit)
    if report:
        write_html(manifest, report)
    return RunResult(manifest, out_dir)
