"""`--locate`: where two models that should agree first part.

ONNX against ONNX compares tensors by name, in bounded memory (portkit.locate.onnx_pair). Every other
pairing of ONNX, TFLite, TorchScript, PyTorch eager and Keras reads each side's intermediate tensors in
its own runtime (portkit.locate.probes) and matches them by provenance and value, layouts included
(portkit.locate.align). `--reduce` cuts the ONNX subgraph around the divergence (portkit.locate.reduce);
portkit.locate.inject writes the faults the tests and benchmarks/bench_locate.py look for.
"""
from __future__ import annotations

from typing import Any

from ..artifact import Artifact
from ..formats import Format
from ..options import ValidateOptions
from .onnx_pair import DEFAULT_CHUNK, locate_onnx_pair

__all__ = ["DEFAULT_CHUNK", "locate_divergence"]


def locate_divergence(reference: Artifact, candidate: Artifact, opts: ValidateOptions | None = None,
                      result: Any = None, *, chunk: int = DEFAULT_CHUNK,
                      pool: Any = None) -> dict[str, Any]:
    """The first tensor where `candidate` departs from `reference`, with every compared tensor's error."""
    opts = opts or ValidateOptions()
    if reference.format is Format.ONNX and candidate.format is Format.ONNX:
        rep = locate_onnx_pair(reference, candidate, opts, result, chunk=chunk)
        if rep.get("compared") or rep.get("first_divergence"):
            return rep
        # no shared tensor names (a re-exported or optimised model): match by value instead
    from .cross import locate_across

    return locate_across(reference, candidate, opts, result, pool)
