"""Validation bundles: the inputs and the source model's outputs, saved beside a converted artifact so that
`portkit verify ARTIFACT` can re-check it later (in a deployment pipeline) without the source framework.

Layout, next to `model.tflite`:

    model.tflite.bundle/
      manifest.json   schema "portkit.bundle/1": artifact name + sha256, source, cases (label, batch,
                      seed), the source signature, the artifact's mapping metadata, tolerances
      inputs.npz      `<input>__<case>` arrays (loadable with `portkit validate --inputs`)
      outputs.npz     `<output>__<case>`: the source model's outputs on those inputs
"""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from .artifact import Artifact
from .errors import BadInput
from .hashing import sha256_of
from .options import ValidateOptions
from .signature import ModelSignature

__all__ = ["SCHEMA", "bundle_dir", "read_bundle", "verify", "write_bundle"]

SCHEMA = "portkit.bundle/1"
_KEEP_METADATA = ("layout", "renamed", "quantized", "route", "input_ranges")


def bundle_dir(artifact: str | Path) -> Path:
    p = Path(artifact)
    return p.parent / (p.name + ".bundle")


def write_bundle(source: Artifact, output: Artifact, vopts: ValidateOptions | None = None,
                 route: list[str] | None = None) -> Path:
    """Run the source on validation inputs (random by the source signature, or the user's data) and save
    inputs, outputs and a manifest in `<artifact>.bundle/`. Written to a temp folder, renamed at the end."""
    import shutil

    from .inputs import infer_ranges
    from .runtimes import open_runner
    from .validation import ValidationResult, make_cases
    from .versions import PORTKIT

    vopts = vopts or ValidateOptions()
    scratch = ValidationResult(source.location, output.location)
    with open_runner(source) as ref:
        sig = ref.signature
        names = {s.name for s in sig.inputs}
        ranges = {k: v for k, v in {**infer_ranges(output), **infer_ranges(source)}.items() if k in names}
        cases = make_cases(sig, vopts, scratch, ranges)
        outs = [ref.run(c.feeds) for c in cases]
    final = bundle_dir(output.location)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.savez(tmp / "inputs.npz", **{f"{k}__{i}": v for i, c in enumerate(cases) for k, v in c.feeds.items()})
    np.savez(tmp / "outputs.npz", **{f"{k}__{i}": np.asarray(v) for i, o in enumerate(outs) for k, v in o.items()})
    manifest = {
        "schema": SCHEMA, "portkit_version": PORTKIT,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "artifact": Path(output.location).name, "format": output.format.value,
        "sha256": sha256_of(output.location), "source": source.location,
        "source_format": source.format.value, "route": route or [],
        "signature": sig.to_dict(), "input_source": scratch.input_source,
        "cases": [{"label": c.label, "batch": c.batch, "seed": c.seed} for c in cases],
        "metadata": {k: v for k, v in output.record.to_metadata().items() if k in _KEEP_METADATA},
        "tolerances": {"atol": vopts.atol, "rtol": vopts.rtol,
                       "per_output": {k: list(v) for k, v in vopts.per_output.items()}},
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


def read_bundle(path: str | Path) -> tuple[dict[str, Any], list[dict[str, np.ndarray]], list[dict[str, np.ndarray]]]:
    """(manifest, inputs per case, reference outputs per case)."""
    d = Path(path)
    mf = d / "manifest.json"
    if not mf.is_file():
        raise BadInput("no validation bundle here (manifest.json missing)", path=d,
                       hint="create one with `portkit convert ... --bundle`")
    try:
        manifest = json.loads(mf.read_text())
    except json.JSONDecodeError as e:
        raise BadInput(f"bundle manifest does not parse ({e})", path=mf, hint="re-create the bundle") from e
    if manifest.get("schema") != SCHEMA:
        raise BadInput(f"unsupported bundle schema {manifest.get('schema')!r}", path=mf,
                       hint=f"this portkit reads {SCHEMA}")
    n = len(manifest.get("cases") or [])
    sets = []
    for name in ("inputs.npz", "outputs.npz"):
        try:
            with np.load(d / name, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            raise BadInput(f"bundle file {name} does not load ({e})", path=d / name,
                           hint="re-create the bundle") from e
        per: list[dict[str, np.ndarray]] = [{} for _ in range(n)]
        for k, v in arrays.items():
            base, _, idx = k.rpartition("__")
            if idx.isdigit() and int(idx) < n:
                per[int(idx)][base] = v
        sets.append(per)
    return manifest, sets[0], sets[1]


def verify(artifact: str, bundle: str | Path | None = None) -> Any:
    """Run `artifact` on the bundle's inputs and compare with the saved source outputs."""
    from .formats import sniff
    from .runtimes import open_runner
    from .signature import SignatureMissing, specs_from_signature
    from .validation import Case, ValidationResult, candidate_feeds, compare_case, failed_case, plan_mapping

    d = Path(bundle) if bundle else bundle_dir(artifact)
    if not d.is_dir():
        raise BadInput("no validation bundle found beside the artifact", path=d,
                       hint="create one with `portkit convert ... --bundle`, or pass --bundle DIR")
    manifest, inputs, outputs = read_bundle(d)
    cand = Artifact(str(artifact), sniff(artifact))
    cand.read_sidecar_metadata()
    cand.merge(manifest.get("metadata") or {})
    tol = manifest.get("tolerances") or {}
    opts = ValidateOptions(atol=tol.get("atol"), rtol=tol.get("rtol"),
                           per_output={k: tuple(v) for k, v in (tol.get("per_output") or {}).items()})
    rsig = ModelSignature.from_dict(manifest["signature"])
    result = ValidationResult(f"bundle {d} (outputs of {manifest.get('source')})", str(artifact),
                              input_source=str(d / "inputs.npz"))
    if manifest.get("sha256") and Path(artifact).exists() and sha256_of(artifact) != manifest["sha256"]:
        result.warnings.append("the artifact changed since the bundle was written (sha256 differs)")
    try:
        runner = open_runner(cand)
    except SignatureMissing:  # a bare TorchScript file: the bundle's inputs say what it takes
        cand.note(input_specs=specs_from_signature(rsig.inputs))
        result.notes.append(f"{Path(artifact).name} declares no inputs: using the bundle's")
        runner = open_runner(cand)
    with runner:
        plan = plan_mapping(rsig, runner.signature, cand, result)
        for info, feeds, ref_out in zip(manifest["cases"], inputs, outputs):
            case = Case(info["label"], int(info["batch"]), feeds, info.get("seed"))
            result.cases.append(case.label)
            if case.seed is not None:
                result.seeds[case.label] = case.seed
            try:
                cand_out = runner.run(candidate_feeds(feeds, plan, result.notes))
            except Exception as e:  # noqa: BLE001 - reported as a failed case
                failed_case(result, rsig, plan, case, "artifact", e)
                continue
            compare_case(result, rsig, plan, opts, case, ref_out, cand_out)
    result.batches = sorted({int(c["batch"]) for c in manifest["cases"]})
    return result
