"""SavedModel runtime: the `serving_default` signature (inputs and outputs by their signature names)."""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..artifact import Artifact
from ..errors import BadInput, require
from ..signature import ModelSignature, TensorSpec
from .base import Feeds, Runner

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
SERVING = "serving_default"


def _spec(name: str, ts: Any) -> TensorSpec:
    dims = [None if d is None else int(d) for d in ts.shape.as_list()] if ts.shape.rank is not None else []
    shape = tuple(("batch" if i == 0 else f"d{i}") if d is None else d for i, d in enumerate(dims))
    return TensorSpec(name, ts.dtype.name, shape, "NHWC" if len(shape) == 4 else None)


class SavedModelRunner(Runner):
    name = "tensorflow"

    def __init__(self, path: str, threads: int | None = None, signature: str = SERVING, **_: Any) -> None:
        tf = require("tensorflow", "running SavedModels")
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        try:
            self.loaded = tf.saved_model.load(path)
        except (OSError, ValueError) as e:
            raise BadInput(f"SavedModel does not load: {str(e).splitlines()[0][:200]}", path=path,
                           hint="check the folder is a complete SavedModel") from e
        sigs = dict(self.loaded.signatures)
        if signature not in sigs:
            raise BadInput(f"SavedModel has no signature '{signature}' (has {sorted(sigs)})", path=path,
                           hint="export it with a serving_default signature")
        self.fn = sigs[signature]
        _, kwargs = self.fn.structured_input_signature
        self._tf = tf
        ins = tuple(_spec(k, v) for k, v in sorted(kwargs.items(), key=lambda kv: _order(self.fn, kv[0])))
        outs = tuple(_spec(k, v) for k, v in self.fn.structured_outputs.items())
        self.signature = ModelSignature(ins, outs)

    def run(self, feeds: Feeds) -> Feeds:
        tf = self._tf
        args = {s.name: tf.constant(np.asarray(feeds[s.name]), dtype=s.dtype) for s in self.signature.inputs}
        out = self.fn(**args)
        return {s.name: out[s.name].numpy() for s in self.signature.outputs}


def _order(fn: Any, name: str) -> int:
    """Keep the signature's positional order (the order of the concrete function's inputs)."""
    names = [t.name.split(":")[0] for t in fn.inputs]
    return names.index(name) if name in names else len(names)


def load(artifact: Artifact, **options: Any) -> SavedModelRunner:
    return SavedModelRunner(artifact.location, **options)
