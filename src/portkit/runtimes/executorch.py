"""ExecuTorch runtime: a `.pte` program run with ExecuTorch's Python runtime (`executorch.runtime`),
the same C++ runtime (and XNNPACK kernels) that runs it on a phone.

A .pte keeps no tensor names: the signature comes from the artifact (portkit's sidecar
`NAME.pte.portkit.json` written when portkit produced the file), else from the method's metadata
(`input_i` / `output_i`, the sizes memory was planned for).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..artifact import Artifact
from ..errors import BadInput, require
from ..signature import ModelSignature, TensorSpec
from .base import Feeds, Runner, contiguous

__all__ = ["ExecuTorchRunner", "load"]

_DTYPES = {"Float": "float32", "Double": "float64", "Half": "float16", "Long": "int64", "Int": "int32",
           "Bool": "bool", "Byte": "uint8", "Char": "int8", "BFloat16": "bfloat16"}


def _sidecar_signature(path: str) -> ModelSignature | None:
    side = Path(path).parent / (Path(path).name + ".portkit.json")
    try:
        data = json.loads(side.read_text())
        return ModelSignature.from_dict(data["signature"]) if data.get("signature") else None
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return None


def _meta_specs(meta: Any, kind: str, count: int) -> tuple[TensorSpec, ...]:
    out = []
    for i in range(count):
        info = meta.input_tensor_meta(i) if kind == "input" else meta.output_tensor_meta(i)
        dtype = _DTYPES.get(str(info.dtype()).split(".")[-1], "float32")
        name = kind if count == 1 and kind == "output" else f"{kind}_{i}"
        out.append(TensorSpec(name, dtype, tuple(int(d) for d in info.sizes())))
    return tuple(out)


class ExecuTorchRunner(Runner):
    name = "executorch"

    def __init__(self, artifact: Artifact, threads: int | None = None, **_: Any) -> None:
        self.torch = require("torch", "running ExecuTorch programs")
        require("executorch", "running ExecuTorch programs")
        from executorch.runtime import Runtime, Verification

        try:
            program = Runtime.get().load_program(Path(artifact.location), verification=Verification.Minimal)
            self.method = program.load_method("forward")
        except Exception as e:
            why = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            raise BadInput(f".pte program does not load: {why}",
                           path=artifact.location, hint="the file may be truncated or need newer kernels") from e
        self._program = program
        sig = artifact.signature or _sidecar_signature(artifact.location)
        meta = self.method.metadata
        n_in, n_out = meta.num_inputs(), meta.num_outputs()
        if sig is None or len(sig.inputs) != n_in:
            sig = ModelSignature(_meta_specs(meta, "input", n_in), _meta_specs(meta, "output", n_out))
        self.signature = sig
        # memory is planned for an upper bound of every dynamic axis (the batch: what export's range left;
        # torch.export + ExecuTorch 1.5 may plan fewer rows than the Dim's max): larger batches run in parts
        planned = {int(meta.input_tensor_meta(i).sizes()[0]) for i in range(n_in)
                   if len(meta.input_tensor_meta(i).sizes()) and sig.inputs[i].batch_dynamic}
        self.max_batch = min(planned) if planned else None

    def _args(self, feeds: Feeds) -> list[Any]:
        return [self.torch.from_numpy(contiguous(np.asarray(feeds[s.name]))) for s in self.signature.inputs]

    def run(self, feeds: Feeds) -> Feeds:
        rows = {int(np.shape(v)[0]) for v in feeds.values() if np.ndim(v)}
        n = rows.pop() if len(rows) == 1 else None
        if self.max_batch and n and n > self.max_batch:
            step = self.max_batch
            parts = [self.run({k: v[i:i + step] for k, v in feeds.items()}) for i in range(0, n, step)]
            return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        outs = self.method.execute(self._args(feeds))
        arrays = [o.detach().cpu().numpy().copy() if hasattr(o, "detach") else np.asarray(o) for o in outs]
        names = [o.name for o in self.signature.outputs]
        if len(names) != len(arrays):
            names = ["output"] if len(arrays) == 1 else [f"output_{i}" for i in range(len(arrays))]
        return dict(zip(names, arrays))

    def prepare_timed(self, feeds: Feeds, **_: Any) -> Any:
        rows = {int(np.shape(v)[0]) for v in feeds.values() if np.ndim(v)}
        if self.max_batch and rows and max(rows) > self.max_batch:
            raise BadInput(f"this .pte takes batches up to {self.max_batch} (the memory it was planned for)",
                           hint=f"benchmark with --batch {self.max_batch} or less")
        args = self._args(feeds)
        execute = self.method.execute
        return lambda: execute(args)


def load(artifact: Artifact, **options: Any) -> ExecuTorchRunner:
    return ExecuTorchRunner(artifact, **options)
