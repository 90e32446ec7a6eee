"""The numerical check every normalisation ends with: the rewritten model against the original with
onnxruntime on the same random (dtype- and range-aware) inputs."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConversionFailed

CHECK_RTOL = 1e-4  # the rewrites are exact up to float rounding (a decomposed Gelu rounds differently)


CHECK_ATOL = 1e-5


MAX_CHECK_BYTES = 1_500_000_000  # larger models cannot be handed to onnxruntime as one protobuf


def check_equivalent(original: Any, rewritten: Any, *, hop: str = "normalize",
                     shapes: dict[str, tuple[Any, ...]] | None = None,
                     ranges: dict[str, tuple[float, float]] | None = None, batch: int = 2,
                     seed: int = 0) -> list[str]:
    """Run both models with onnxruntime on the same random inputs; raise ConversionFailed if any output
    differs by more than float rounding. Returns a note on what was checked (or why it could not be)."""
    from .. import onnxutil
    from ..inputs import make_inputs

    if original.ByteSize() > MAX_CHECK_BYTES:
        return ["normalize check skipped: model too large to hand to onnxruntime in memory"]
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return ["normalize check skipped: onnxruntime is not installed"]
    feeds = make_inputs(onnxutil.signature(original), batch=batch, seed=seed, shapes=shapes, ranges=ranges)
    try:
        ref = run(original, feeds)
    except Exception as e:  # noqa: BLE001 - the tool may still take what onnxruntime cannot run
        return [f"normalize check skipped: onnxruntime cannot run the original ({type(e).__name__})"]
    try:
        got = run(rewritten, feeds)
    except Exception as e:
        raise ConversionFailed(f"{hop}: graph normalisation produced a model onnxruntime cannot run: "
                               f"{str(e).splitlines()[0][:300]}", hint="report this as a portkit bug") from e
    for name, r in ref.items():
        c = got.get(name)
        if c is None or c.shape != r.shape or not close(r, c):
            err = float(np.max(np.abs(r.astype(np.float64) - c.astype(np.float64)))) \
                if c is not None and c.shape == r.shape else float("inf")
            raise ConversionFailed(f"{hop}: graph normalisation changed output '{name}' (max abs {err:.3g})",
                                   hint="report this as a portkit bug; --debug shows the rewrites")
    return [f"normalize check: {len(ref)} output(s) equal within rtol {CHECK_RTOL:g} at batch {batch}"]


def run(model: Any, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    wanted = {i.name for i in sess.get_inputs()}
    return dict(zip(names, (np.asarray(v) for v in sess.run(names, {k: v for k, v in feeds.items()
                                                                      if k in wanted})), strict=True))


def close(r: np.ndarray, c: np.ndarray) -> bool:
    if r.dtype.kind not in "fc":
        return bool(np.array_equal(r, c))
    r64, c64 = r.astype(np.float64), c.astype(np.float64)
    if not np.array_equal(np.isnan(r64), np.isnan(c64)):
        return False
    fin = np.isfinite(r64) & np.isfinite(c64)
    if not np.array_equal(r64[~fin & ~np.isnan(r64)], c64[~fin & ~np.isnan(r64)]):
        return False
    scale = float(np.max(np.abs(r64[fin]))) if fin.any() else 0.0
    return bool(np.all(np.abs(r64[fin] - c64[fin]) <= CHECK_ATOL * max(scale, 1.0) + CHECK_RTOL * np.abs(r64[fin])))

