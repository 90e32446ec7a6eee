"""Calibration data for static int8 quantization: the user's .npz / folder of .npy, sliced into batches."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..inputs import load_inputs
from ..signature import ModelSignature

__all__ = ["MISSING_HINT", "calibration_batches", "require_calibration"]

MISSING_HINT = ("pass --calibration DATA (an .npz or a folder of .npy whose names are the model's inputs, "
                "~100 real samples), or use --quantize dynamic, which needs no data")
MAX_BATCH = 16


def require_calibration(calibration: str | None, kind: str) -> str:
    if not calibration:
        raise BadInput(f"--quantize {kind} (static, full-integer) needs calibration data", hint=MISSING_HINT)
    if not Path(calibration).exists():
        raise BadInput("calibration data not found", path=calibration, hint=MISSING_HINT)
    return calibration


def calibration_batches(data: str | Path, signature: ModelSignature) -> list[dict[str, np.ndarray]]:
    """Feed dicts of at most MAX_BATCH samples (1 where the model's batch axis is fixed at 1)."""
    names = [s.name for s in signature.inputs]
    sets = load_inputs(data)
    batches: list[dict[str, np.ndarray]] = []
    for s in sets:
        if len(names) == 1 and names[0] not in s and len(s) == 1:
            s = {names[0]: next(iter(s.values()))}  # one input, one array: the name does not matter
        missing = [n for n in names if n not in s]
        if missing:
            raise BadInput(f"calibration data has no array for input(s) {missing} (it has {sorted(s)})",
                           path=data, hint="name the arrays after the model's inputs")
        for spec in signature.inputs:
            arr = s[spec.name]
            if spec.shape and arr.ndim != len(spec.shape):
                if arr.ndim == len(spec.shape) - 1:  # one sample without its batch axis
                    s = {**s, spec.name: arr[None]}
                else:
                    raise BadInput(f"calibration array '{spec.name}' has shape {list(arr.shape)}, the "
                                   f"model expects {spec.shape_text()}", path=data,
                                   hint="save it with a batch axis")
            want = np.dtype(spec.dtype) if spec.dtype in ("float32", "float16", "int64", "int32") else None
            if want is not None and s[spec.name].dtype != want:
                s = {**s, spec.name: s[spec.name].astype(want)}
        step = 1 if any(sp.shape and sp.shape[0] == 1 for sp in signature.inputs) else MAX_BATCH
        n = int(s[names[0]].shape[0]) if names and s[names[0]].ndim else 1
        for i in range(0, n, step):
            batches.append({k: np.ascontiguousarray(s[k][i:i + step]) for k in names})
    if not batches:
        raise BadInput("calibration data holds no samples", path=data, hint=MISSING_HINT)
    return batches


class Reader:
    """onnxruntime.quantization CalibrationDataReader over the batches (duck-typed: get_next/rewind)."""

    def __init__(self, batches: list[dict[str, np.ndarray]]) -> None:
        self.batches = batches
        self._it: Iterator[dict[str, np.ndarray]] = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)
