"""onnxruntime runner (in-process: onnxruntime imports no framework).

Providers are asked for by short name (cpu, cuda, tensorrt). A provider that is not installed, or that the
session dropped at load (onnxruntime-gpu without a usable GPU falls back to CPU with only a log line), is a
RuntimeUnavailable (exit 5). Where each node really ran is read from onnxruntime's session profile
(`placement()`), so a CUDA run whose nodes fell back to the CPU is reported as such, never as "CUDA".
"""
from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from ..artifact import Artifact
from ..errors import BadInput, RuntimeUnavailable, require
from ..signature import ModelSignature, TensorSpec
from .base import Feeds, Runner, contiguous

# what loading a model here imports, warmed while a worker converts (portkit.runtimes.warm_imports); onnx
# itself only where validation reads an integer input's range from the graph (portkit.inputs.infer_ranges)
LIBRARIES = ("onnxruntime",)

_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int16)": "int16", "tensor(int8)": "int8",
    "tensor(uint8)": "uint8", "tensor(bool)": "bool", "tensor(bfloat16)": "bfloat16",
    "tensor(string)": "str",
}
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
             "tensorrt": "TensorrtExecutionProvider"}
SHORT = {v: k for k, v in PROVIDERS.items()}
_GPU_HINT = "install onnxruntime-gpu (pip install 'portkit[gpu]') on a machine with an NVIDIA GPU and CUDA"


def _spec(arg: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else (d or None) for d in (arg.shape or []))
    return TensorSpec(arg.name, _ORT_TYPES.get(arg.type, arg.type), shape)


def provider_chain(providers: Sequence[str]) -> list[str]:
    """Full onnxruntime names; a GPU provider gets CPU appended as onnxruntime's own fallback."""
    wanted = [PROVIDERS.get(p.lower(), p) for p in providers]
    if "CPUExecutionProvider" not in wanted:
        wanted.append("CPUExecutionProvider")
    return wanted


def session(path: str, providers: Sequence[str] = ("cpu",), threads: int | None = None,
            enable_profiling: bool = False, profile_prefix: str | None = None, **_: Any):
    ort = require("onnxruntime", "running ONNX models")
    wanted = provider_chain(providers)
    available = ort.get_available_providers()
    missing = [p for p in wanted if p not in available]
    if missing:
        raise RuntimeUnavailable(
            f"requested execution provider {missing[0]}, available providers are {available}",
            hint=_GPU_HINT if ("CUDA" in missing[0] or "Tensorrt" in missing[0]) else None)
    so = ort.SessionOptions()
    # a model that fails to run raises with the reason, which portkit reports in one line; onnxruntime's
    # own "[E:onnxruntime:...]" copy on stderr is only noise beside it, except with --debug
    so.log_severity_level = 3 if os.environ.get("PORTKIT_DEBUG") else 4
    if threads:
        so.intra_op_num_threads = threads
    if enable_profiling:
        so.enable_profiling = True
        if profile_prefix:
            so.profile_file_prefix = profile_prefix
    try:
        sess = ort.InferenceSession(path, sess_options=so, providers=wanted)
    except Exception as e:
        first = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        if any(p != "CPUExecutionProvider" for p in wanted) and ("CUDA" in str(e) or "cuda" in str(e)):
            raise RuntimeUnavailable(f"onnxruntime could not start {wanted[0]}: {first}", path=path,
                                     hint="check the NVIDIA driver, CUDA and cuDNN libraries") from e
        raise BadInput(f"onnxruntime cannot load the model: {first}", path=path,
                       hint="check the model with `portkit inspect`") from e
    dropped = [p for p in wanted if p not in sess.get_providers()]
    if dropped:  # onnxruntime-gpu without a usable GPU silently keeps only the CPU provider
        raise RuntimeUnavailable(
            f"onnxruntime dropped {dropped[0]} when loading the session (it kept {sess.get_providers()}); "
            "the run would silently happen on the CPU", path=path, hint=_GPU_HINT)
    return sess


def parse_profile(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Node placement from onnxruntime's profile (chrome-trace JSON): nodes per provider and the CPU ones."""
    nodes: dict[str, tuple[str, str]] = {}
    for ev in events:
        if ev.get("cat") != "Node":
            continue
        args = ev.get("args") or {}
        prov = args.get("provider")
        if not prov:
            continue
        name = ev.get("name", "")
        for suffix in ("_kernel_time", "_fence_before", "_fence_after"):
            name = name.removesuffix(suffix)
        nodes[name] = (args.get("op_name", "?"), prov)
    per_provider = Counter(SHORT.get(p, p) for _, p in nodes.values())
    return {"nodes": len(nodes), "per_provider": dict(per_provider),
            "cpu_nodes": sorted(f"{n} ({op})" for n, (op, p) in nodes.items() if p == "CPUExecutionProvider"),
            "cpu_ops": dict(Counter(op for op, p in nodes.values() if p == "CPUExecutionProvider"))}


def classify(requested: str, placement: dict[str, Any] | None) -> str:
    """The provider a run may honestly be called: 'cuda', 'cuda+cpu' (partial fallback) or 'cpu'."""
    if requested == "cpu" or placement is None:
        return requested
    per = placement.get("per_provider") or {}
    on_requested = per.get(requested, 0)
    on_cpu = per.get("cpu", 0)
    if on_requested == 0:
        return "cpu"
    return f"{requested}+cpu" if on_cpu else requested


class OnnxRunner(Runner):
    name = "onnxruntime"

    def __init__(self, path: str, providers: Sequence[str] = ("cpu",), threads: int | None = None,
                 **options: Any) -> None:
        self.path = path
        self.providers = [p.lower() for p in providers]
        self.threads = threads
        self.sess = session(path, providers, threads, **options)
        self.signature = ModelSignature(tuple(_spec(a) for a in self.sess.get_inputs()),
                                        tuple(_spec(a) for a in self.sess.get_outputs()))
        self._out_names = [o.name for o in self.signature.outputs]
        self._placement: dict[str, Any] | None = None
        self._io_binding = False

    @property
    def device(self) -> str:
        return "cuda" if self.providers[0] in ("cuda", "tensorrt") else "cpu"

    def run(self, feeds: Feeds) -> Feeds:
        feeds = {k: contiguous(v) for k, v in feeds.items()}
        outs = self.sess.run(self._out_names, feeds)
        return dict(zip(self._out_names, outs))

    def placement(self, feeds: Feeds) -> dict[str, Any]:
        """Run once in a profiling session (a separate one: profiling must not slow the timed session)."""
        with tempfile.TemporaryDirectory(prefix="portkit-prof-") as tmp:
            sess = session(self.path, self.providers, self.threads, enable_profiling=True,
                           profile_prefix=os.path.join(tmp, "ort"))
            sess.run(self._out_names, {k: contiguous(v) for k, v in feeds.items()})
            with open(sess.end_profiling()) as f:
                events = json.load(f)
        placement = parse_profile(events)
        placement["provider"] = classify(self.providers[0], placement)
        self._placement = placement
        return placement

    def prepare_timed(self, feeds: Feeds, io_binding: bool = False, **_: Any) -> Callable[[], Any]:
        feeds = {k: contiguous(v) for k, v in feeds.items()}
        self._io_binding = io_binding
        if not io_binding:
            run, names = self.sess.run, self._out_names
            return lambda: run(names, feeds)
        return self._bound(feeds)

    def _bound(self, feeds: Feeds) -> Callable[[], Any]:
        """IO binding: inputs copied to the device once, outputs preallocated there, so the timed call
        holds no host<->device copy."""
        ort = require("onnxruntime")
        device = self.device
        probe = self.sess.run(self._out_names, feeds)  # learn the output shapes at this batch
        binding = self.sess.io_binding()
        self._keep = []  # OrtValues must outlive the binding
        for name, arr in feeds.items():
            v = ort.OrtValue.ortvalue_from_numpy(arr, device, 0)
            self._keep.append(v)
            binding.bind_ortvalue_input(name, v)
        for name, ref in zip(self._out_names, probe):
            v = ort.OrtValue.ortvalue_from_shape_and_type(list(ref.shape), ref.dtype, device, 0)
            self._keep.append(v)
            binding.bind_ortvalue_output(name, v)
        run = self.sess.run_with_iobinding
        if device == "cpu":
            return lambda: run(binding)
        sync = binding.synchronize_outputs

        def call() -> None:
            run(binding)
            sync()

        return call

    @property
    def bound_values(self) -> list[Any]:
        """The device buffers (OrtValues) the last io-binding `prepare_timed` bound: inputs, then outputs."""
        return list(self._keep)

    def describe_timed(self) -> dict[str, Any]:
        d: dict[str, Any] = {"providers": self.sess.get_providers(), "io_binding": self._io_binding}
        if self._placement is not None:
            d["placement"] = self._placement
        return d

    def close(self) -> None:
        self.sess = None  # type: ignore[assignment]
        self._keep = []


def load(artifact: Artifact, **options: Any) -> OnnxRunner:
    return OnnxRunner(artifact.location, **options)
