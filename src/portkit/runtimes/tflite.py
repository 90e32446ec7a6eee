"""TFLite runtime: LiteRT (`ai-edge-litert`), falling back to `tflite_runtime`, then `tf.lite`.

tflite-runtime 2.14 (its last release) crashes under numpy 2, so LiteRT comes first.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..artifact import Artifact
from ..errors import BadInput, MissingDependency
from ..signature import ModelSignature, TensorSpec
from .base import Feeds, Runner


def interpreter_class() -> tuple[Any, str]:
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[import-not-found]

        return Interpreter, "tflite_runtime"
    except ImportError:
        pass
    try:
        import tensorflow as tf

        return tf.lite.Interpreter, "tf.lite"
    except ImportError as e:
        raise MissingDependency("ai_edge_litert", "tf", purpose="running TFLite models") from e


def _spec(d: dict[str, Any]) -> TensorSpec:
    sig = d.get("shape_signature")
    shape = sig if sig is not None and len(sig) else d["shape"]
    dims = tuple(int(x) if int(x) >= 0 else ("batch" if i == 0 else None) for i, x in enumerate(shape))
    return TensorSpec(d["name"], np.dtype(d["dtype"]).name, dims)


class TFLiteRunner(Runner):
    def __init__(self, path: str, threads: int | None = None, **_: Any) -> None:
        cls, self.name = interpreter_class()
        try:
            self.interp = cls(model_path=path, num_threads=threads or None)
        except (ValueError, RuntimeError) as e:
            raise BadInput(f"TFLite model does not load: {str(e).splitlines()[0][:200]}", path=path,
                           hint="the file may be truncated") from e
        self._in = self.interp.get_input_details()
        self._out = self.interp.get_output_details()
        self.signature = ModelSignature(tuple(_spec(d) for d in self._in), tuple(_spec(d) for d in self._out))
        self._allocated: dict[int, tuple[int, ...]] = {}
        self.interp.allocate_tensors()

    def run(self, feeds: Feeds) -> Feeds:
        resized = False
        for d in self._in:
            arr = np.asarray(feeds[d["name"]])
            if tuple(arr.shape) != tuple(self.interp.get_input_details()[self._in.index(d)]["shape"]):
                self.interp.resize_tensor_input(d["index"], list(arr.shape), strict=False)
                resized = True
        if resized:
            self.interp.allocate_tensors()
        for d in self._in:
            arr = np.asarray(feeds[d["name"]])
            q = d.get("quantization") or (0.0, 0)
            if np.dtype(d["dtype"]).kind in "iu" and arr.dtype.kind == "f" and q[0]:
                arr = np.round(arr / q[0] + q[1])  # float feed for an integer-quantised input
            self.interp.set_tensor(d["index"], arr.astype(d["dtype"]))
        self.interp.invoke()
        return {d["name"]: np.array(self.interp.get_tensor(d["index"])) for d in self._out}

    def prepare_timed(self, feeds: Feeds, **_: Any) -> Any:
        """bench: resize/allocate once; the timed call sets the inputs, invokes, copies the outputs out
        (what onnxruntime's run and torch's forward also include)."""
        self.run(feeds)
        interp = self.interp
        sets = []
        for d in self._in:
            arr = np.asarray(feeds[d["name"]])
            q = d.get("quantization") or (0.0, 0)
            if np.dtype(d["dtype"]).kind in "iu" and arr.dtype.kind == "f" and q[0]:
                arr = np.round(arr / q[0] + q[1])
            sets.append((d["index"], np.ascontiguousarray(arr.astype(d["dtype"]))))
        outs = [d["index"] for d in self._out]
        set_tensor, invoke, get_tensor = interp.set_tensor, interp.invoke, interp.get_tensor

        def call() -> None:
            for i, a in sets:
                set_tensor(i, a)
            invoke()
            for o in outs:
                get_tensor(o)

        return call


def load(artifact: Artifact, **options: Any) -> TFLiteRunner:
    return TFLiteRunner(artifact.location, **options)
