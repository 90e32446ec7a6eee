"""Borrowed signatures: a model that declares no inputs (a bare `torch.jit.trace(m, x).save(...)` file, an
eager module) takes names, shapes and dtypes from another model of the same command.

validate, bench, matrix and recipes hold several models; when one of them cannot say what it takes and
the command did not say either, the first model that does lends its inputs (ONNX first: its file is read
in this process; other formats are opened in their runtime). A layout change or renaming the lender's
metadata records (onnx2tf's NCHW→NHWC) is undone first, so the borrower sees its own layout.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..artifact import Artifact
from ..formats import Format
from ..signature import InputSpec, ModelSignature, SignatureMissing, merge_input_specs, specs_from_signature
from . import Runner, open_runner

__all__ = ["borrow_inputs", "lend_specs", "open_borrowing"]

Log = Callable[[str], None]

_BORROWERS = (Format.TORCH, Format.TORCHSCRIPT)


def lend_specs(signature: ModelSignature, lender: Artifact) -> tuple[InputSpec, ...]:
    """The lender's inputs in the terms of the model it was converted from: its recorded layout permutation
    undone and recorded renames reversed (metadata 'layout' / 'renamed' map source names to its own)."""
    tensors = lender.record.tensors
    back = {v: k for k, v in tensors.renamed.get("inputs", {}).items()}
    out = []
    for spec in specs_from_signature(signature.inputs):
        name = back.get(spec.name, spec.name)
        perm = tensors.perm("inputs", name)
        shape = spec.shape
        if perm and shape is not None and len(perm) == len(shape):
            src: list[Any] = [None] * len(shape)
            for i, p in enumerate(perm):  # lender = transpose(source, perm): lender[i] is source[perm[i]]
                src[p] = shape[i]
            shape = tuple(src)
        out.append(InputSpec(name, shape, spec.dtype))
    return tuple(out)


def _declared(art: Artifact, runner: Runner | None) -> ModelSignature | None:
    if runner is not None:
        return runner.signature
    if art.format is Format.ONNX:
        from .. import onnxutil

        try:
            return onnxutil.signature(onnxutil.load(art.location))
        except Exception:  # noqa: BLE001 - an unreadable lender is reported when it is opened itself
            return None
    return None


def borrow_inputs(borrower: Artifact, others: Sequence[Artifact], runners: dict[str, Runner] | None = None,
                  log: Log | None = None, notes: list[str] | None = None) -> bool:
    """Give `borrower` the inputs of the first of `others` that declares them (ONNX files first, then the
    models already open in `runners`, then others opened for the purpose). True when one lent."""
    runners = runners or {}
    order = sorted((a for a in others if a.location != borrower.location),
                   key=lambda a: (a.format is not Format.ONNX, a.location not in runners))
    for lender in order:
        sig = _declared(lender, runners.get(lender.location))
        if sig is None and lender.format not in _BORROWERS:
            try:
                with open_runner(lender) as r:
                    sig = r.signature
            except Exception:  # noqa: BLE001 - the lender's own problems surface when it runs
                sig = None
        if sig is None or not sig.inputs or any(s.shape is None for s in specs_from_signature(sig.inputs)):
            continue
        lent = lend_specs(sig, lender)
        borrower.note(input_specs=merge_input_specs(borrower.record.input_specs, lent))
        text = ", ".join(f"{s.name} [{', '.join('?' if d is None else str(d) for d in s.shape or ())}] {s.dtype}"
                         for s in lent)
        note = (f"{Path(borrower.location).name} declares no inputs: using those of "
                f"{Path(lender.location).name} ({text})")
        if log:
            log(f"note: {note}")
        if notes is not None:
            notes.append(note)
        return True
    return False


def open_borrowing(art: Artifact, others: Sequence[Artifact], runners: dict[str, Runner] | None = None,
                   log: Log | None = None, notes: list[str] | None = None, **options: Any) -> Runner:
    """open_runner(art), except that a model declaring no inputs borrows them from `others` and is opened
    again; with no lender the original error (naming the flags to pass) stands."""
    try:
        return open_runner(art, **options)
    except SignatureMissing:
        if art.format not in _BORROWERS or not borrow_inputs(art, others, runners, log, notes):
            raise
    return open_runner(art, **options)
