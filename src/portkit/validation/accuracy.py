"""Labelled accuracy: a task metric beside the numeric comparison (top-1 of each runner on the user's
labelled data, and the delta between source and result)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..artifact import Artifact
from ..errors import BadInput
from ..runtimes import Runner
from ..signature import ModelSignature
from .mapping import candidate_feeds, plan_mapping, static_batch
from .result import ValidationResult

__all__ = ["accuracy", "accuracy_delta"]

# ------------------------------------------------------------------------------ task metric (accuracy)

def _predictions(out: np.ndarray) -> np.ndarray:
    out = np.asarray(out)
    flat = out.reshape(out.shape[0], -1) if out.ndim else out.reshape(1, 1)
    if flat.shape[1] > 1:
        return np.argmax(flat, axis=-1)
    return (flat[:, 0] > (0.5 if flat.min() >= 0 else 0.0)).astype(np.int64)  # one logit / probability


def accuracy(runner: Runner, data: str | Path | dict[str, np.ndarray], *, candidate: Artifact | None = None,
             reference_signature: ModelSignature | None = None, output: str | None = None,
             batch_size: int = 64) -> tuple[float, int]:
    """Top-1 accuracy of `runner` on labelled data (.npz with the inputs + a 'labels' array).

    `candidate` (with `reference_signature`) maps the data's input names and layouts to this runner the
    way validation does (e.g. NCHW data fed to an onnx2tf NHWC model). Returns (accuracy, samples)."""
    arrays = _load_labelled(data)
    labels = np.asarray(arrays.pop("labels")).reshape(-1)
    sig = runner.signature
    if candidate is not None and reference_signature is not None:
        scratch = ValidationResult("", "")
        plan = plan_mapping(reference_signature, sig, candidate, scratch)
        ref_inputs = [s.name for s in reference_signature.inputs]
        out_name = plan.out_map[output or reference_signature.outputs[0].name]
        out_perm = (plan.out_layout.get(output or reference_signature.outputs[0].name) or {}).get("perm")
    else:
        plan = None
        ref_inputs = [s.name for s in sig.inputs]
        out_name = output or sig.outputs[0].name
        out_perm = None
    if len(ref_inputs) == 1 and ref_inputs[0] not in arrays and len(arrays) == 1:
        arrays = {ref_inputs[0]: next(iter(arrays.values()))}
    missing = [n for n in ref_inputs if n not in arrays]
    if missing:
        raise BadInput(f"eval data has no array for input(s) {missing}", path=str(data),
                       hint="keys must be the model's input names plus 'labels'")
    n = len(labels)
    step = 1 if static_batch(sig) == 1 else batch_size
    correct = 0
    for i in range(0, n, step):
        feeds = {k: np.asarray(arrays[k][i:i + step]) for k in ref_inputs}
        if plan is not None:
            feeds = candidate_feeds(feeds, plan)
        out = runner.run(feeds)[out_name]
        if out_perm:  # candidate layout back to the reference's
            out = np.transpose(out, np.argsort(out_perm))
        correct += int(np.sum(_predictions(out) == labels[i:i + step]))
    return (correct / n if n else 0.0), n


def _load_labelled(data: str | Path | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if isinstance(data, dict):
        arrays = dict(data)
    else:
        p = Path(data)
        if not p.is_file():
            raise BadInput("eval data not found", path=p, hint="pass an .npz with the inputs and 'labels'")
        try:
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (ValueError, OSError) as e:
            raise BadInput(f"eval data does not load ({e})", path=p, hint="save it with numpy.savez") from e
    if "labels" not in arrays:
        raise BadInput("eval data has no 'labels' array", path=str(data) if not isinstance(data, dict) else None,
                       hint="save it with numpy.savez(path, <input>=x, labels=y)")
    return arrays


def accuracy_delta(ref: Runner, cand: Runner, candidate: Artifact, data: str | Path,
                   max_drop: float = 0.01) -> dict[str, Any]:
    """Accuracy of source and result on labelled data, and the change (result − source)."""
    ref_acc, n = accuracy(ref, data)
    cand_acc, _ = accuracy(cand, data, candidate=candidate, reference_signature=ref.signature)
    delta = cand_acc - ref_acc
    return {"data": str(data), "samples": n, "source_accuracy": ref_acc, "result_accuracy": cand_acc,
            "delta": delta, "max_drop": max_drop, "passed": delta >= -max_drop}
