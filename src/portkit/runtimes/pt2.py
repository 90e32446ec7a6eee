"""torch.export runtime: a `.pt2` ExportedProgram archive, run as `torch.export.load(path).module()`.

The signature comes from the archive's `portkit.json` extra file when portkit wrote it, else from the
program itself: user inputs/outputs of the graph signature, shapes and dtypes from the placeholders'
fake tensors, symbolic sizes as named dynamic dims (one name per symbol, so inputs sharing a sequence
length share a name; a symbol first seen on axis 0 is `batch`).
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..artifact import Artifact
from ..errors import BadInput, require
from ..signature import Dim, ModelSignature, TensorSpec
from .base import Feeds, Runner, contiguous
from .torch import flatten_outputs

__all__ = ["SIGNATURE_FILE", "Pt2Runner", "load", "load_program", "program_signature", "save_program"]

SIGNATURE_FILE = "portkit.json"  # extra file portkit writes into the archives it produces


def load_program(path: str) -> tuple[Any, ModelSignature | None]:
    """(ExportedProgram, the signature portkit stored in it or None)."""
    torch = require("torch", "torch.export (.pt2) programs")
    extra = {SIGNATURE_FILE: ""}
    try:
        program = torch.export.load(path, extra_files=extra)
    except Exception as e:
        raise BadInput(f".pt2 archive does not load: {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}",
                       path=path, hint="the file may be truncated, or written by a newer torch") from e
    stored = None
    if extra.get(SIGNATURE_FILE):
        try:
            stored = ModelSignature.from_dict(json.loads(extra[SIGNATURE_FILE]))
        except (json.JSONDecodeError, KeyError, TypeError):
            stored = None
    return program, stored


def save_program(program: Any, path: str, signature: ModelSignature | None) -> None:
    import torch

    extra = {SIGNATURE_FILE: json.dumps(signature.to_dict())} if signature is not None else None
    torch.export.save(program, path, extra_files=extra)


def output_names(count: int) -> list[str]:
    """The names portkit gives PyTorch outputs (the same as the eager/TorchScript runner's)."""
    return ["output"] if count == 1 else [f"output_{i}" for i in range(count)]


def program_signature(program: Any) -> ModelSignature:
    """Inputs/outputs of an ExportedProgram from its graph (no stored signature needed)."""
    gs = program.graph_signature
    user_in = list(gs.user_inputs)
    vals: dict[str, Any] = {}
    out_vals: list[Any] = []
    for node in program.graph.nodes:
        if node.op == "placeholder":
            vals[node.name] = node.meta.get("val")
        elif node.op == "output":
            args = node.args[0] if node.args else ()
            out_vals = [getattr(a, "meta", {}).get("val") for a in args]
    n_user_out = len(gs.user_outputs)
    out_vals = out_vals[len(out_vals) - n_user_out:] if n_user_out else out_vals
    names: dict[str, str] = {}

    def dims(val: Any) -> tuple[Dim, ...]:
        out: list[Dim] = []
        for axis, d in enumerate(getattr(val, "shape", ())):
            if isinstance(d, int):
                out.append(d)
                continue
            key = str(d)
            try:
                out.append(int(key))
                continue
            except ValueError:
                pass
            if key not in names:
                names[key] = "batch" if axis == 0 and "batch" not in names.values() else f"d{len(names)}"
            out.append(names[key])
        return tuple(out)

    def dtype(val: Any) -> str:
        t = getattr(val, "dtype", None)
        return str(t).replace("torch.", "") if t is not None else "float32"

    inputs = tuple(TensorSpec(n, dtype(vals.get(n)), dims(vals.get(n))) for n in user_in)
    outputs = tuple(TensorSpec(n, dtype(v), dims(v)) for n, v in zip(output_names(len(out_vals)), out_vals))
    return ModelSignature(inputs, outputs)


class Pt2Runner(Runner):
    name = "torch.export"

    def __init__(self, artifact: Artifact, threads: int | None = None, **_: Any) -> None:
        self.torch = require("torch", "running .pt2 programs")
        if threads:
            self.torch.set_num_threads(threads)
        program, stored = load_program(artifact.location)
        self.program = program
        self.module = program.module()
        derived = program_signature(program)
        self.signature = stored if stored is not None and stored.inputs else derived
        if self.signature.inputs and len(self.signature.inputs) != len(derived.inputs):
            self.signature = derived  # a stale stored signature: trust the program

    def _args(self, feeds: Feeds) -> list[Any]:
        missing = [s.name for s in self.signature.inputs if s.name not in feeds]
        if missing:
            raise BadInput(f"no data for input(s) {missing} of the .pt2 program",
                           hint=f"inputs: {[s.name for s in self.signature.inputs]}")
        return [self.torch.from_numpy(contiguous(feeds[s.name])) for s in self.signature.inputs]

    def run(self, feeds: Feeds) -> Feeds:
        with self.torch.inference_mode():
            out = self.module(*self._args(feeds))
        arrays = [t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t) for t in flatten_outputs(out)]
        names = [o.name for o in self.signature.outputs] or output_names(len(arrays))
        if len(names) != len(arrays):
            names = output_names(len(arrays))
        return dict(zip(names, arrays))

    def prepare_timed(self, feeds: Feeds, **_: Any) -> Any:
        args = self._args(feeds)
        module = self.module
        return lambda: module(*args)

    def timing_context(self) -> Any:
        return self.torch.inference_mode()


def load(artifact: Artifact, **options: Any) -> Pt2Runner:
    return Pt2Runner(artifact, **options)
