"""Model inputs: random by dtype and range, or the user's data (.npz, a folder of .npy)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import BadInput
from .signature import Dim, ModelSignature, TensorSpec

__all__ = ["make_inputs", "load_inputs", "concrete_shape", "DEFAULT_DYNAMIC_DIM"]

DEFAULT_DYNAMIC_DIM = 32  # for non-batch dynamic dims without a user shape: divisible by a CNN's stride 32


def concrete_shape(spec: TensorSpec, batch: int, overrides: dict[str, tuple[Dim, ...]] | None = None,
                   index: int = 0) -> tuple[int, ...]:
    shape: tuple[Dim, ...] = spec.shape
    if overrides:
        given = overrides.get(spec.name) or (overrides.get("") if index == 0 else None)
        if given and len(given) == len(shape):
            # a user shape fills dynamic dims, but a symbolic batch axis stays swept by `batch`
            shape = tuple(s if i == 0 and not isinstance(s, int) else (g if isinstance(g, int) else s)
                          for i, (g, s) in enumerate(zip(given, shape)))
    out = []
    for i, d in enumerate(shape):
        out.append(d if isinstance(d, int) and d > 0 else (batch if i == 0 else DEFAULT_DYNAMIC_DIM))
    return tuple(out)


def _random(spec: TensorSpec, shape: tuple[int, ...], rng: np.random.Generator,
            ranges: dict[str, tuple[float, float]] | None) -> np.ndarray:
    dtype = spec.dtype
    lo_hi = (ranges or {}).get(spec.name)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith(("int", "uint")):
        lo, hi = lo_hi or (0, 10)  # small non-negative ints: safe as indices / token ids
        return rng.integers(int(lo), int(hi), size=shape).astype(dtype)
    lo, hi = lo_hi or (-1.0, 1.0)
    data = rng.uniform(lo, hi, size=shape)
    return data.astype("float32" if dtype == "bfloat16" else dtype)


def make_inputs(signature: ModelSignature, batch: int = 1, seed: int = 0,
                shapes: dict[str, tuple[Dim, ...]] | None = None,
                ranges: dict[str, tuple[float, float]] | None = None) -> dict[str, np.ndarray]:
    """Random inputs for every input of `signature`; dynamic batch axes take `batch`."""
    rng = np.random.default_rng(seed)
    return {s.name: _random(s, concrete_shape(s, batch, shapes, i), rng, ranges)
            for i, s in enumerate(signature.inputs)}


def load_inputs(path: str | Path) -> list[dict[str, np.ndarray]]:
    """User data as a list of feed dicts. `.npz`: keys are input names, one sample set (or `name__0`,
    `name__1` ... for several); a folder: `name.npy` files, or sub-folders of them, one per sample set."""
    p = Path(path)
    if not p.exists():
        raise BadInput("input data not found", path=p, hint="pass an .npz file or a folder of .npy files")
    try:
        if p.is_dir():
            subdirs = sorted(d for d in p.iterdir() if d.is_dir())
            dirs = subdirs or [p]
            sets = [{f.stem: np.load(f, allow_pickle=False) for f in sorted(d.glob("*.npy"))} for d in dirs]
        else:
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            sets = _split_sets(arrays)
    except (ValueError, OSError) as e:
        raise BadInput(f"input data does not load ({e})", path=p,
                       hint="save with numpy.savez / numpy.save (no pickled objects)") from e
    sets = [s for s in sets if s]
    if not sets:
        raise BadInput("input data holds no arrays", path=p, hint="keys/file names must be input names")
    return sets


def _split_sets(arrays: dict[str, Any]) -> list[dict[str, np.ndarray]]:
    if not any("__" in k for k in arrays):
        return [arrays]
    sets: dict[int, dict[str, np.ndarray]] = {}
    for k, v in arrays.items():
        name, _, idx = k.rpartition("__")
        if not idx.isdigit():
            name, idx = k, "0"
        sets.setdefault(int(idx), {})[name] = v
    return [sets[i] for i in sorted(sets)]
