"""onnxruntime runner (in-process: onnxruntime imports no framework)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..artifact import Artifact
from ..errors import BadInput, RuntimeUnavailable, require
from ..signature import ModelSignature, TensorSpec
from .base import Feeds, Runner

_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int16)": "int16", "tensor(int8)": "int8",
    "tensor(uint8)": "uint8", "tensor(bool)": "bool", "tensor(bfloat16)": "bfloat16",
    "tensor(string)": "str",
}
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
             "tensorrt": "TensorrtExecutionProvider"}


def _spec(arg: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else (d or None) for d in (arg.shape or []))
    return TensorSpec(arg.name, _ORT_TYPES.get(arg.type, arg.type), shape)


def session(path: str, providers: Sequence[str] = ("cpu",), threads: int | None = None,
            enable_profiling: bool = False, **_: Any):  # noqa: ANN201
    ort = require("onnxruntime", "running ONNX models")
    wanted = [PROVIDERS.get(p, p) for p in providers]
    available = ort.get_available_providers()
    missing = [p for p in wanted if p not in available]
    if missing:
        raise RuntimeUnavailable(
            f"requested execution provider {missing[0]}, available providers are {available}",
            hint="install onnxruntime-gpu (pip install 'portkit[gpu]') on a machine with CUDA"
            if "CUDA" in missing[0] or "Tensorrt" in missing[0] else None)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
    if enable_profiling:
        so.enable_profiling = True
    try:
        return ort.InferenceSession(path, sess_options=so, providers=wanted)
    except Exception as e:  # noqa: BLE001 - ORT raises its own Fail/InvalidGraph types
        raise BadInput(f"onnxruntime cannot load the model: {str(e).splitlines()[0][:300]}", path=path,
                       hint="check the model with `portkit inspect`") from e


class OnnxRunner(Runner):
    name = "onnxruntime"

    def __init__(self, path: str, providers: Sequence[str] = ("cpu",), threads: int | None = None,
                 **options: Any) -> None:
        self.sess = session(path, providers, threads, **options)
        self.signature = ModelSignature(tuple(_spec(a) for a in self.sess.get_inputs()),
                                        tuple(_spec(a) for a in self.sess.get_outputs()))
        self._out_names = [o.name for o in self.signature.outputs]

    def run(self, feeds: Feeds) -> Feeds:
        feeds = {k: np.ascontiguousarray(v) for k, v in feeds.items()}
        outs = self.sess.run(self._out_names, feeds)
        return dict(zip(self._out_names, outs))

    def close(self) -> None:
        self.sess = None  # type: ignore[assignment]


def load(artifact: Artifact, **options: Any) -> OnnxRunner:
    return OnnxRunner(artifact.location, **options)
