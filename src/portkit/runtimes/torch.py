"""PyTorch runtime: eager modules (by `module:factory` reference, or a pickle with --allow-pickle) and
TorchScript. Also the loading helpers the torch converters share, so both see the same model."""
from __future__ import annotations

import importlib
import inspect
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..artifact import Artifact
from ..errors import BadInput, require
from ..formats import Format
from ..signature import ModelSignature, TensorSpec
from .base import Feeds, Runner, contiguous

SIGNATURE_FILE = "portkit.json"  # stored inside TorchScript archives portkit writes (torch.jit extra_files)


def load_module(artifact: Artifact) -> Any:
    """Return an eval-mode nn.Module / ScriptModule for a TORCH or TORCHSCRIPT artifact."""
    torch = require("torch", "PyTorch models")
    md = artifact.metadata
    if artifact.format is Format.TORCHSCRIPT:
        try:
            return torch.jit.load(artifact.location, map_location="cpu").eval()
        except Exception as e:
            raise BadInput(f"TorchScript archive does not load: {str(e).splitlines()[0][:200]}",
                           path=artifact.location, hint="the file may be truncated or not TorchScript") from e
    if ":" in artifact.location and not Path(artifact.location).exists():
        module = _build_from_reference(artifact.location, md.get("model_args") or {})
        if md.get("weights"):
            _load_weights(module, md["weights"])
        return module.eval()
    if not md.get("allow_pickle"):
        raise BadInput("this is a pickled PyTorch file; loading it would run arbitrary code",
                       path=artifact.location,
                       hint="name the model by reference (pkg.module:factory --weights state_dict.pt), "
                            "or pass --allow-pickle if you trust the file")
    obj = torch.load(artifact.location, map_location="cpu", weights_only=False)
    if not isinstance(obj, torch.nn.Module):
        raise BadInput(f"the pickle holds a {type(obj).__name__}, not a torch.nn.Module",
                       path=artifact.location,
                       hint="a state_dict needs its architecture: pkg.module:factory --weights FILE")
    return obj.eval()


def _build_from_reference(ref: str, model_args: dict[str, Any]) -> Any:
    mod_name, _, attr = ref.partition(":")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # let users name modules of their own project
    try:
        obj: Any = importlib.import_module(mod_name)
    except ImportError as e:
        raise BadInput(f"cannot import module '{mod_name}' ({e})", path=ref,
                       hint="run from the folder holding it or add it to PYTHONPATH") from e
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise BadInput(f"module '{mod_name}' has no attribute '{attr}'", path=ref,
                           hint="name a class or a factory function returning an nn.Module")
        obj = getattr(obj, part)
    try:
        module = obj(**model_args)
    except TypeError as e:
        raise BadInput(f"calling {ref}(**model_args) failed: {e}", path=ref,
                       hint="check --model-args") from e
    torch = require("torch")
    if not isinstance(module, torch.nn.Module):
        raise BadInput(f"{ref} returned a {type(module).__name__}, not a torch.nn.Module", path=ref,
                       hint="name a class or a factory function returning an nn.Module")
    return module


def _load_weights(module: Any, weights: str) -> None:
    torch = require("torch")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)  # never unpickles code
    except FileNotFoundError as e:
        raise BadInput("weights file not found", path=weights, hint="check --weights") from e
    except Exception as e:
        raise BadInput(f"weights file does not load safely: {str(e).splitlines()[0][:200]}", path=weights,
                       hint="save a plain state_dict with torch.save(model.state_dict(), path)") from e
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    try:
        module.load_state_dict(state)
    except (RuntimeError, TypeError) as e:
        raise BadInput(f"weights do not fit the model: {str(e).splitlines()[0][:200]}", path=weights,
                       hint="check --model-args (e.g. num_classes)") from e


def forward_input_names(module: Any, count: int) -> list[str]:
    try:
        params = [p for p in inspect.signature(module.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        names = [p.name for p in params][:count]
    except (TypeError, ValueError):
        names = []
    if len(names) != count:
        names = ["input"] if count == 1 else [f"input_{i}" for i in range(count)]
    return names


def read_script_signature(path: str) -> ModelSignature | None:
    torch = require("torch")
    extra = {SIGNATURE_FILE: ""}
    try:
        torch.jit.load(path, map_location="cpu", _extra_files=extra)
    except Exception:  # noqa: BLE001
        return None
    if not extra[SIGNATURE_FILE]:
        return None
    return ModelSignature.from_dict(json.loads(extra[SIGNATURE_FILE]))


def input_specs(artifact: Artifact, module: Any) -> tuple[TensorSpec, ...]:
    """Input specs from --input-shape (metadata 'input_shapes'), a stored signature, or the module."""
    if artifact.signature and artifact.signature.inputs:
        return artifact.signature.inputs
    shapes: dict[str, Any] = artifact.metadata.get("input_shapes") or {}
    if artifact.format is Format.TORCHSCRIPT:
        sig = read_script_signature(artifact.location)
        if sig is not None:
            if shapes:
                return _apply_shapes(sig.inputs, shapes, artifact)
            return sig.inputs
    if not shapes:
        shape = getattr(module, "input_shape", None) or getattr(module, "example_input_shape", None)
        if shape is None:
            raise BadInput("a PyTorch model does not declare its input shape", path=artifact.location,
                           hint="pass --input-shape 1,3,224,224 (or name=shape per input)")
        shapes = {"": tuple(shape)}
    names = [n for n in shapes if n] or forward_input_names(module, len(shapes))
    if "" in shapes:
        names = forward_input_names(module, 1)
        shapes = {names[0]: shapes[""]}
    dtypes = artifact.metadata.get("input_dtypes") or {}
    return tuple(TensorSpec(n, dtypes.get(n, "float32"), _batch_dynamic(tuple(shapes[n]), artifact))
                 for n in names)


def _apply_shapes(specs: tuple[TensorSpec, ...], shapes: dict[str, Any],
                  artifact: Artifact) -> tuple[TensorSpec, ...]:
    out = []
    for i, s in enumerate(specs):
        shape = shapes.get(s.name) or (shapes.get("") if i == 0 else None)
        out.append(s.with_shape(_batch_dynamic(tuple(shape), artifact)) if shape else s)
    return tuple(out)


def _batch_dynamic(shape: tuple[Any, ...], artifact: Artifact) -> tuple[Any, ...]:
    # --dynamic (the default) makes the batch axis symbolic; --static keeps the numbers given.
    if artifact.metadata.get("dynamic", True) and shape and isinstance(shape[0], int):
        return ("batch",) + tuple(shape[1:])
    return tuple(shape)


def _flatten(out: Any) -> list[Any]:
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _flatten(o)]
    if isinstance(out, dict):
        return [t for v in out.values() for t in _flatten(v)]
    return [out]


def output_names(count: int) -> list[str]:
    return ["output"] if count == 1 else [f"output_{i}" for i in range(count)]


class TorchRunner(Runner):
    name = "torch"

    def __init__(self, artifact: Artifact, threads: int | None = None, **_: Any) -> None:
        self.torch = require("torch", "running PyTorch models")
        if threads:
            self.torch.set_num_threads(threads)
        self.module = load_module(artifact)
        inputs = input_specs(artifact, self.module)
        stored = read_script_signature(artifact.location) if artifact.format is Format.TORCHSCRIPT else None
        self._inputs = inputs
        if stored is not None and stored.outputs:
            outputs = stored.outputs
        else:  # probe once to learn the outputs
            from ..inputs import make_inputs

            probe = self._forward(make_inputs(ModelSignature(inputs), batch=1))
            names = output_names(len(probe))
            outputs = tuple(TensorSpec(n, str(a.dtype), ("batch",) + a.shape[1:] if inputs and
                                       inputs[0].batch_dynamic else a.shape) for n, a in zip(names, probe))
        self.signature = ModelSignature(inputs, outputs)

    def _forward(self, feeds: Feeds) -> list[np.ndarray]:
        torch = self.torch
        args = [torch.from_numpy(contiguous(feeds[s.name])) for s in self._inputs]
        with torch.inference_mode():
            out = self.module(*args)
        return [t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t) for t in _flatten(out)]

    def run(self, feeds: Feeds) -> Feeds:
        outs = self._forward(feeds)
        return dict(zip([o.name for o in self.signature.outputs], outs))

    def prepare_timed(self, feeds: Feeds, **_: Any) -> Any:  # bench: tensors built once, outside the loop
        args = [self.torch.from_numpy(contiguous(feeds[s.name])) for s in self._inputs]
        module = self.module
        return lambda: module(*args)

    def timing_context(self) -> Any:
        return self.torch.inference_mode()


def load(artifact: Artifact, **options: Any) -> TorchRunner:
    return TorchRunner(artifact, **options)
