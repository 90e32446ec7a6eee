"""Model inputs: random by dtype and range, or the user's data (.npz, a folder of .npy)."""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BadInput
from .signature import Dim, ModelSignature, TensorSpec

__all__ = [
    "DEFAULT_DYNAMIC_DIM",
    "SEQUENCE_SWEEP",
    "check_shapes",
    "concrete_shape",
    "dim_key",
    "infer_ranges",
    "is_mask",
    "load_inputs",
    "make_inputs",
    "padded_mask",
    "sweep_dims",
]

DEFAULT_DYNAMIC_DIM = 32  # for non-batch dynamic dims without a user shape: divisible by a CNN's stride 32
SEQUENCE_SWEEP = (1, 7)  # extra sizes tried for dynamic sequence-like axes (besides the default 32)


def dim_key(spec: TensorSpec, axis: int) -> str:
    """The name a dynamic axis is swept under: its symbolic name, or `input:axis` when it has none."""
    d = spec.shape[axis]
    return d if isinstance(d, str) and d else f"{spec.name}:{axis}"


def concrete_shape(spec: TensorSpec, batch: int, overrides: dict[str, tuple[Dim, ...]] | None = None,
                   index: int = 0, dims: dict[str, int] | None = None) -> tuple[int, ...]:
    shape: tuple[Dim, ...] = spec.shape
    if overrides:
        given = overrides.get(spec.name) or (overrides.get("") if index == 0 else None)
        if given and _fits(given, shape):
            # a user shape fills dynamic dims, but a symbolic batch axis stays swept by `batch`
            shape = tuple(s if i == 0 and not isinstance(s, int) else (g if isinstance(g, int) else s)
                          for i, (g, s) in enumerate(zip(given, shape)))
    out = []
    for i, d in enumerate(shape):
        if isinstance(d, int) and d > 0:
            out.append(d)
        elif i == 0:
            out.append(batch)
        else:
            out.append((dims or {}).get(dim_key(spec.with_shape(shape), i), DEFAULT_DYNAMIC_DIM))
    return tuple(out)


def _fits(given: tuple[Dim, ...], shape: tuple[Dim, ...]) -> bool:
    """A user shape fits a declared one: same rank, and the same size wherever both are fixed (the batch
    axis aside: a fixed-batch model is run in chunks of its batch)."""
    return len(given) == len(shape) and not any(
        i and isinstance(g, int) and isinstance(s, int) and g != s for i, (g, s) in enumerate(zip(given, shape)))


def check_shapes(signature: ModelSignature, shapes: dict[str, tuple[Dim, ...]] | None, path: str | None) -> None:
    """--input-shape against the inputs the user's model declares: a shape it cannot take is exit 2 naming
    the input, before any run. (Only for the model the user named: intermediates of a route may be in
    another layout, where the shape does not apply and is not used.)"""
    for i, spec in enumerate(signature.inputs):
        given = (shapes or {}).get(spec.name) or ((shapes or {}).get("") if i == 0 else None)
        if given and not _fits(given, spec.shape):
            raise BadInput(f"--input-shape {','.join(str(g) for g in given)} does not fit input '{spec.name}', "
                           f"which the model declares as {spec.shape_text()}", path=path,
                           hint=f"pass --input-shape {spec.name}=... with {len(spec.shape)} dims matching "
                                f"{spec.shape_text()} (names and ? are dynamic), or drop it")


def sweep_dims(signature: ModelSignature, overrides: dict[str, tuple[Dim, ...]] | None = None
               ) -> dict[str, tuple[int, ...]]:
    """Dynamic non-batch axes worth sweeping: those of sequence-like inputs (rank <= 3) that the user did
    not fix with --input-shape. Image-like inputs (rank 4+) keep the default size: a CNN's strides make
    arbitrary sizes meaningless."""
    out: dict[str, tuple[int, ...]] = {}
    for i, spec in enumerate(signature.inputs):
        if len(spec.shape) > 3:
            continue
        given = (overrides or {}).get(spec.name) or ((overrides or {}).get("") if i == 0 else None)
        for axis in spec.dynamic_dims:
            if axis == 0 or (given and len(given) == len(spec.shape) and isinstance(given[axis], int)):
                continue
            out.setdefault(dim_key(spec, axis), SEQUENCE_SWEEP)
    return out


_INDEX_PASSTHROUGH = {"Cast", "Identity", "Unsqueeze", "Squeeze", "Reshape", "Flatten", "Expand", "Tile"}


def infer_ranges(artifact: Any) -> dict[str, tuple[float, float]]:
    """Valid ranges of integer inputs: the record's `input_ranges`, or for ONNX an input that indexes an
    embedding table (Gather on a constant, reached through Cast/Reshape/...) gets [0, table rows)."""
    if artifact is None:
        return {}
    out: dict[str, tuple[float, float]] = {k: (float(v[0]), float(v[1]))
                                           for k, v in artifact.record.input_ranges.items()}
    kind = getattr(artifact.format, "value", None)
    sig = getattr(artifact, "signature", None)
    if kind == "onnx" and sig is not None and sig.inputs and \
            not any(s.dtype.startswith(("int", "uint")) for s in sig.inputs):
        return out  # only an integer input indexes a table: a float model's graph has nothing to tell
    if kind in ("onnx", "torchscript"):
        try:
            found = _onnx_ranges(artifact.location) if kind == "onnx" else _script_ranges(artifact.location)
        except Exception:  # noqa: BLE001 - a hint only; an unreadable model is reported by its runner
            found = {}
        out = {**found, **out}
    return out


def _script_ranges(path: str) -> dict[str, tuple[float, float]]:
    """`input_ranges` stored in a TorchScript archive's portkit.json (read as a zip: no torch import)."""
    import json
    import zipfile

    with zipfile.ZipFile(path) as z:
        member = next((n for n in z.namelist() if n.endswith("extra/portkit.json")), None)
        stored = json.loads(z.read(member)) if member else {}
    return {k: (float(v[0]), float(v[1])) for k, v in (stored.get("input_ranges") or {}).items()}


def _onnx_ranges(path: str) -> dict[str, tuple[float, float]]:
    import onnx

    model = onnx.load(path, load_external_data=False)
    g = model.graph
    consts = {t.name: list(t.dims) for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant" and n.output:
            for a in n.attribute:
                if a.name == "value":
                    consts[n.output[0]] = list(a.t.dims)
    inputs = {v.name for v in g.input if v.name not in consts}
    producer = {o: n for n in g.node for o in n.output}
    out: dict[str, tuple[float, float]] = {}
    for n in g.node:
        if n.op_type not in ("Gather", "GatherElements") or len(n.input) < 2 or n.input[0] not in consts:
            continue
        axis = next((a.i for a in n.attribute if a.name == "axis"), 0)
        table = consts[n.input[0]]
        if not table:
            continue
        rows = table[axis if axis >= 0 else axis + len(table)]
        src = n.input[1]
        for _ in range(8):  # walk back through shape-only ops to a graph input
            if src in inputs or src not in producer or producer[src].op_type not in _INDEX_PASSTHROUGH:
                break
            src = producer[src].input[0]
        if src in inputs and rows > 0:
            lo, hi = out.get(src, (0.0, float(rows)))
            out[src] = (lo, min(hi, float(rows)))
    return out


def _random(spec: TensorSpec, shape: tuple[int, ...], rng: np.random.Generator,
            ranges: dict[str, tuple[float, float]] | None) -> np.ndarray:
    dtype = spec.dtype
    lo_hi = (ranges or {}).get(spec.name)
    if is_mask(spec) and len(shape) >= 2 and lo_hi is None:
        return padded_mask(shape, dtype)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith(("int", "uint")):
        lo, hi = lo_hi or (0, 10)  # small non-negative ints: safe as indices / token ids
        return rng.integers(int(lo), int(hi), size=shape).astype(dtype)
    lo, hi = lo_hi or (-1.0, 1.0)
    data = rng.uniform(lo, hi, size=shape)
    return data.astype("float32" if dtype == "bfloat16" else dtype)


def is_mask(spec: TensorSpec) -> bool:
    """An attention/padding mask: an integer or bool input whose name says mask."""
    return "mask" in spec.name.lower() and (spec.dtype == "bool" or spec.dtype.startswith(("int", "uint")))


def padded_mask(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """1 everywhere except the end of the last row (a quarter of the sequence, at least one position when
    the sequence has two or more): padding that really masks, with every row keeping real tokens."""
    mask = np.ones(shape, dtype=dtype)
    seq = shape[-1]
    pad = max(1, seq // 4) if seq >= 2 else 0
    if pad:
        mask[(shape[0] - 1,) + (slice(None),) * (len(shape) - 2) + (slice(seq - pad, None),)] = 0
    return mask


def make_inputs(signature: ModelSignature, batch: int = 1, seed: int = 0,
                shapes: dict[str, tuple[Dim, ...]] | None = None,
                ranges: dict[str, tuple[float, float]] | None = None,
                dims: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """Random inputs for every input of `signature`; dynamic batch axes take `batch`, other dynamic axes
    the size `dims` gives their name (see dim_key), else DEFAULT_DYNAMIC_DIM. Floats are uniform in
    [-1, 1), ints in [0, 10) unless `ranges` says otherwise (e.g. [0, vocab)), bools are fair coins;
    masks (int/bool inputs named *mask*) are 1 with the end of the last row padded (0)."""
    rng = np.random.default_rng(seed)
    return {s.name: _random(s, concrete_shape(s, batch, shapes, i, dims), rng, ranges)
            for i, s in enumerate(signature.inputs)}


def load_inputs(path: str | Path) -> list[dict[str, np.ndarray]]:
    """User data as a list of feed dicts. `.npz`: keys are input names, one sample set (or `name__0`,
    `name__1` ... for several); a folder: `name.npy` files, or sub-folders of them, one per sample set."""
    p = Path(path)
    if not p.exists():
        raise BadInput("input data not found", path=p, hint="pass an .npz file or a folder of .npy files")
    if p.is_file() and p.stat().st_size == 0:
        raise BadInput("input data file is empty", path=p, hint="save it with numpy.savez(path, name=array)")
    try:
        if p.is_dir():
            subdirs = sorted(d for d in p.iterdir() if d.is_dir())
            dirs = subdirs or [p]
            sets = [{f.stem: np.load(f, allow_pickle=False) for f in sorted(d.glob("*.npy"))} for d in dirs]
        else:
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            sets = _split_sets(arrays)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise BadInput(f"input data does not load ({_first_line(e)})", path=p,
                       hint="save with numpy.savez / numpy.save (no pickled objects)") from e
    sets = [s for s in sets if s]
    if not sets:
        raise BadInput("input data holds no arrays", path=p, hint="keys/file names must be input names")
    return sets


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    if "pickled (object) data" in text:
        return "not an .npz/.npy of plain arrays (pickled objects are never loaded)"
    return text.splitlines()[0][:200]


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
