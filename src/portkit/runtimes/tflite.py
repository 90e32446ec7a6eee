"""TFLite runtime: LiteRT (`ai-edge-litert`), falling back to `tflite_runtime`, then `tf.lite`.

tflite-runtime 2.14 (its last release) crashes under numpy 2, so LiteRT comes first.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..artifact import Artifact
from ..errors import BadInput, MissingDependency
from ..signature import ModelSignature, TensorSpec
from .base import Feeds, Runner, contiguous

SERVING = "serving_default"


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


def _spec(d: dict[str, Any], name: str | None = None) -> TensorSpec:
    sig = d.get("shape_signature")
    shape = sig if sig is not None and len(sig) else d["shape"]
    dims = tuple(int(x) if int(x) >= 0 else ("batch" if i == 0 else f"d{i}") for i, x in enumerate(shape))
    dtype = np.dtype(d["dtype"]).name
    q = d.get("quantization") or (0.0, 0)
    if np.dtype(d["dtype"]).kind in "iu" and q[0]:
        dtype = "float32"  # int8 I/O is (de)quantized by the runner: callers see floats
    return TensorSpec(name or d["name"], dtype, dims)


class TFLiteRunner(Runner):
    """Runs through the `serving_default` signature when the model has one (clean input/output names, as
    converters write them), else through the raw tensor details."""

    def __init__(self, path: str, threads: int | None = None, **_: Any) -> None:
        cls, self.name = interpreter_class()
        try:
            self.interp = cls(model_path=path, num_threads=threads or None)
        except (ValueError, RuntimeError) as e:
            raise BadInput(f"TFLite model does not load: {str(e).splitlines()[0][:200]}", path=path,
                           hint="the file may be truncated") from e
        self.interp.allocate_tensors()
        sigs = self.interp.get_signature_list() if hasattr(self.interp, "get_signature_list") else {}
        self._sig_key = SERVING if SERVING in sigs else (next(iter(sigs)) if len(sigs) == 1 else None)
        all_in = {d["name"]: d for d in self.interp.get_input_details()}
        all_out = {d["name"]: d for d in self.interp.get_output_details()}
        if self._sig_key is not None:
            runner = self.interp.get_signature_runner(self._sig_key)
            rin, rout = runner.get_input_details(), runner.get_output_details()
            # signature name -> tensor details (with the full quantization / shape_signature info)
            self._in = [(n, _by_index(all_in, d["index"]) or d) for n, d in rin.items()]
            self._out = [(n, _by_index(all_out, d["index"]) or d) for n, d in rout.items()]
            self._in.sort(key=lambda nd: list(all_in).index(nd[1]["name"]) if nd[1]["name"] in all_in else 0)
        else:
            self._in = [(d["name"], d) for d in all_in.values()]
            self._out = [(d["name"], d) for d in all_out.values()]
        self.signature = ModelSignature(tuple(_spec(d, n) for n, d in self._in),
                                        tuple(_spec(d, n) for n, d in self._out))
        self.quantized_io = any(np.dtype(d["dtype"]).kind in "iu" and (d.get("quantization") or (0, 0))[0]
                                for _, d in self._in + self._out)

    @property
    def input_details(self) -> list[tuple[str, dict[str, Any]]]:
        """(signature name, interpreter tensor details) of each input, in the signature's order."""
        return list(self._in)

    @property
    def output_details(self) -> list[tuple[str, dict[str, Any]]]:
        """(signature name, interpreter tensor details) of each output, in the signature's order."""
        return list(self._out)

    def run(self, feeds: Feeds) -> Feeds:
        resized = False
        current = {d["index"]: tuple(d["shape"]) for d in self.interp.get_input_details()}
        for name, d in self._in:
            arr = np.asarray(feeds[name])
            if tuple(arr.shape) != current.get(d["index"]):
                self.interp.resize_tensor_input(d["index"], list(arr.shape), strict=False)
                resized = True
        if resized:
            self.interp.allocate_tensors()
        for name, d in self._in:
            arr = np.asarray(feeds[name])
            q = d.get("quantization") or (0.0, 0)
            if np.dtype(d["dtype"]).kind in "iu" and arr.dtype.kind == "f" and q[0]:
                info = np.iinfo(d["dtype"])
                arr = np.clip(np.round(arr / q[0] + q[1]), info.min, info.max)  # float feed, int8 input
            self.interp.set_tensor(d["index"], arr.astype(d["dtype"]))
        self.interp.invoke()
        out = {}
        for name, d in self._out:
            arr = np.array(self.interp.get_tensor(d["index"]))
            q = d.get("quantization") or (0.0, 0)
            if arr.dtype.kind in "iu" and q[0]:
                arr = ((arr.astype(np.float32) - q[1]) * q[0]).astype(np.float32)  # dequantize int8 outputs
            out[name] = arr
        return out

    def prepare_timed(self, feeds: Feeds, **_: Any) -> Any:
        """bench: resize/allocate and quantize once; the timed call sets the inputs, invokes and copies the
        outputs out (what onnxruntime's run and torch's forward include too)."""
        self.run(feeds)  # resizes and allocates for these shapes
        sets = []
        for name, d in self._in:
            arr = np.asarray(feeds[name])
            q = d.get("quantization") or (0.0, 0)
            if np.dtype(d["dtype"]).kind in "iu" and arr.dtype.kind == "f" and q[0]:
                info = np.iinfo(d["dtype"])
                arr = np.clip(np.round(arr / q[0] + q[1]), info.min, info.max)
            sets.append((d["index"], contiguous(arr.astype(d["dtype"]))))
        outs = [d["index"] for _, d in self._out]
        set_tensor, invoke, get_tensor = self.interp.set_tensor, self.interp.invoke, self.interp.get_tensor

        def call() -> None:
            for i, a in sets:
                set_tensor(i, a)
            invoke()
            for o in outs:
                get_tensor(o)

        return call


def _by_index(details: dict[str, dict[str, Any]], index: int) -> dict[str, Any] | None:
    return next((d for d in details.values() if d["index"] == index), None)


def load(artifact: Artifact, **options: Any) -> TFLiteRunner:
    return TFLiteRunner(artifact.location, **options)
