"""PyTorch runtime: eager modules (by `module:factory` reference, a pickle with --allow-pickle, or a Hugging
Face checkpoint folder through portkit.hf) and TorchScript. Also the loading helpers the torch converters share,
so both see the same model."""
from __future__ import annotations

import importlib
import inspect
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..artifact import Artifact, HopRecord
from ..errors import BadInput, require
from ..formats import Format
from ..signature import InputSpec, ModelSignature, SignatureMissing, TensorSpec, merge_input_specs
from .base import Feeds, Runner, contiguous

SIGNATURE_FILE = "portkit.json"  # stored inside TorchScript archives portkit writes (torch.jit extra_files)


def load_module(artifact: Artifact) -> Any:
    """Return an eval-mode nn.Module / ScriptModule for a TORCH or TORCHSCRIPT artifact."""
    torch = require("torch", "PyTorch models")
    md = artifact.record
    if artifact.format is Format.HF:
        from ..hf import load as load_checkpoint

        return load_checkpoint(artifact.location, md.task, md.allow_unsafe)
    if artifact.format is Format.TORCHSCRIPT:
        extra = {SIGNATURE_FILE: ""}
        try:
            module = torch.jit.load(artifact.location, map_location="cpu", _extra_files=extra).eval()
        except Exception as e:
            raise BadInput(f"TorchScript archive does not load: {str(e).splitlines()[0][:200]}",
                           path=artifact.location, hint="the file may be truncated or not TorchScript") from e
        # the signature portkit stored in the archive, read by this same load: a second torch.jit.load
        # only for it costs as much as the model's own load
        _SCRIPT_SIGNATURES[_file_key(artifact.location)] = _stored_signature(extra[SIGNATURE_FILE])
        return module
    if ":" in artifact.location and not Path(artifact.location).exists():
        built = _BUILT.pop(reference_key(artifact.location, artifact.metadata), None)
        if built is not None:
            return built.eval()
        module = _build_from_reference(artifact.location, md.model_args)
        if md.weights:
            _load_weights(module, md.weights)
        return module.eval()
    if not md.allow_pickle:
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


# TorchScript signatures read by load_module's torch.jit.load, by (path, mtime, size)
_SCRIPT_SIGNATURES: dict[tuple[str, int, int], ModelSignature | None] = {}
# module:factory models built by the causal-LM probe (portkit.generative.source.probe) that turned out not to be
# one: the first load of the same reference in this worker (the one-pass hop) takes it instead of building it
# again; later loads (validation's reference) build their own, so a hop cannot leave its changes in them
_BUILT: dict[str, Any] = {}


def _file_key(path: str) -> tuple[str, int, int]:
    st = Path(path).stat()
    return (str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


def reference_key(location: str, md: dict[str, Any]) -> str:
    """What identifies a module:factory's build: the reference, its arguments and weights."""
    record = HopRecord.from_metadata(md)
    return json.dumps([location, record.model_args, record.weights], sort_keys=True, default=str)


def hand_over(location: str, md: dict[str, Any], module: Any) -> None:
    """Keep a built module:factory model for the next load of the same reference in this worker."""
    _BUILT[reference_key(location, md)] = module


def _stored_signature(text: str) -> ModelSignature | None:
    return ModelSignature.from_dict(json.loads(text)) if text else None


def _import_file(path: str) -> Any:
    """A module from a file (`path/to/models.py:factory` references), registered under a stable name so
    the classes it defines can be found again (tracing, torch.export)."""
    import hashlib
    import importlib.util

    resolved = Path(path).resolve()
    name = f"portkit_user_{resolved.stem}_{hashlib.sha1(str(resolved).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    if str(resolved.parent) not in sys.path:
        sys.path.insert(0, str(resolved.parent))  # its own sibling imports work as in a script
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _build_from_reference(ref: str, model_args: dict[str, Any]) -> Any:
    mod_name, _, attr = ref.rpartition(":")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # let users name modules of their own project
    try:
        obj: Any = _import_file(mod_name) if mod_name.endswith(".py") else importlib.import_module(mod_name)
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
        if _is_safetensors(weights):  # a .safetensors file (what save_pretrained and timm write): no pickle
            from safetensors.torch import load_file

            state = load_file(weights, device="cpu")
        else:
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


def _is_safetensors(path: str) -> bool:
    """safetensors files start with an 8-byte header length, then the JSON header: `{"`."""
    try:
        with open(path, "rb") as f:
            head = f.read(10)
    except OSError:
        return False
    return len(head) == 10 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000


def forward_parameters(module: Any) -> list[str] | None:
    """The names of forward()'s tensor arguments (a ScriptModule's from its schema), or None when unknown.
    Required arguments, then optional ones (HF models take input_ids, attention_mask, ... all optional)."""
    schema = getattr(getattr(module, "forward", None), "schema", None)
    if schema is not None:  # TorchScript: the schema keeps the traced function's argument names
        return [a.name for a in schema.arguments if a.name != "self"]
    try:
        params = [p for p in inspect.signature(module.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return None
    return [p.name for p in params]


def _required_count(module: Any) -> int:
    schema = getattr(getattr(module, "forward", None), "schema", None)
    if schema is not None:
        return sum(1 for a in schema.arguments if a.name != "self" and not a.has_default_value())
    try:
        return sum(1 for p in inspect.signature(module.forward).parameters.values()
                   if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty)
    except (TypeError, ValueError):
        return 1


def forward_input_names(module: Any, count: int) -> list[str]:
    names = (forward_parameters(module) or [])[:count]
    if len(names) != count:
        names = ["input"] if count == 1 else [f"input_{i}" for i in range(count)]
    return names


def read_script_signature(path: str) -> ModelSignature | None:
    """The signature portkit stored in a TorchScript archive (None when it holds none); read by the
    load_module of the same file when there was one."""
    try:
        key = _file_key(path)
    except OSError:
        return None
    if key in _SCRIPT_SIGNATURES:
        return _SCRIPT_SIGNATURES[key]
    torch = require("torch")
    extra = {SIGNATURE_FILE: ""}
    try:
        torch.jit.load(path, map_location="cpu", _extra_files=extra)
    except Exception:  # noqa: BLE001
        return None
    _SCRIPT_SIGNATURES[key] = sig = _stored_signature(extra[SIGNATURE_FILE])
    return sig


def user_specs(artifact: Artifact) -> tuple[InputSpec, ...]:
    """What the command says about the inputs (--input-shape/--input-dtype/--dynamic-axis, or borrowed from
    another model): the record's input_specs."""
    return artifact.record.input_specs


def data_specs(artifact: Artifact) -> tuple[InputSpec, ...]:
    """Specs taken from the command's --inputs data (the record's data_specs), for models declaring none."""
    return artifact.record.data_specs


def module_specs(module: Any) -> tuple[InputSpec, ...]:
    """A module's own `input_specs` attribute: InputSpecs or dicts {name, shape, dtype, dynamic_axes}."""
    declared = getattr(module, "input_specs", None)
    if not declared or callable(declared):
        return ()
    try:
        return tuple(s if isinstance(s, InputSpec) else InputSpec.from_dict(dict(s)) for s in declared)
    except (TypeError, ValueError, KeyError):
        return ()


def module_ranges(module: Any, inputs: tuple[TensorSpec, ...]) -> dict[str, list[float]]:
    """Valid ranges of integer inputs: a module's `input_ranges` attribute, else token ids below the size
    of its input embedding (`get_input_embeddings()`, as Hugging Face models have) for the first int input."""
    declared = getattr(module, "input_ranges", None)
    if isinstance(declared, dict):
        return {str(k): [float(v[0]), float(v[1])] for k, v in declared.items()}
    getter = getattr(module, "get_input_embeddings", None)
    ints = [s.name for s in inputs if s.dtype.startswith(("int", "uint")) and "mask" not in s.name.lower()]
    if callable(getter) and ints:
        try:
            rows = int(getter().num_embeddings)
        except Exception:  # noqa: BLE001 - a hint only
            return {}
        return {ints[0]: [0.0, float(rows)]}
    return {}


def input_specs(artifact: Artifact, module: Any) -> tuple[TensorSpec, ...]:
    """Input specs from the artifact's own signature, a stored TorchScript signature (with the command's
    shapes/dtypes applied), the command's specs, or the module's `input_shape` attribute."""
    if artifact.signature and artifact.signature.inputs:
        return artifact.signature.inputs
    given = user_specs(artifact)
    dynamic = artifact.record.dynamic is not False
    if artifact.format is Format.TORCHSCRIPT:
        sig = read_script_signature(artifact.location)
        if sig is not None:
            return _apply_specs(sig.inputs, given, dynamic)
    params = forward_parameters(module)
    declared = module_specs(module)
    if not dynamic:  # --static: the module's own dynamic axes are fixed at their example sizes too
        declared = tuple(replace(d, dynamic_axes=()) for d in declared)
    if declared:  # the module says what it takes (an `input_specs` attribute); the command's specs win
        given = merge_input_specs(given, declared) if given else declared
    data = data_specs(artifact)
    if not dynamic:  # --static: the data's sizes as they are
        data = tuple(replace(d, dynamic_axes=()) for d in data)
    if data:
        if len(given) == 1 and not given[0].name and len(data) == 1:
            given = (replace(given[0], name=data[0].name),)
        given = merge_input_specs(given, data) if given else data
    named = [s for s in given if s.name]
    if named and params and all(s.name in params for s in named):
        ordered = sorted(named, key=lambda s: params.index(s.name))  # positional order of forward()
    else:
        ordered = list(given)
    if len(ordered) == 1 and not ordered[0].name:
        ordered = [replace(ordered[0], name=forward_input_names(module, 1)[0])]
    if not ordered or any(s.shape is None for s in ordered):
        shape = getattr(module, "input_shape", None) or getattr(module, "example_input_shape", None)
        if shape is not None and len(ordered) <= 1:
            first = ordered[0] if ordered else InputSpec(forward_input_names(module, 1)[0])
            ordered = [first.merged(InputSpec(first.name, tuple(shape)))]
        else:
            message, hint = _missing_message(module, given)
            raise SignatureMissing(message, hint=hint, path=artifact.location)
    inferred = _graph_dtypes(artifact, module, ordered)
    return tuple(TensorSpec(s.name, s.dtype or inferred.get(s.name, "float32"), s.symbolic_shape(dynamic) or ())
                 for s in ordered)


def _graph_dtypes(artifact: Artifact, module: Any, specs: list[InputSpec]) -> dict[str, str]:
    """Integer dtypes a TorchScript graph shows for inputs the command gave no dtype (ids reaching an
    embedding, an index, a mask); each stated in the record's input_notes, which the hop prints as a note."""
    untyped = [s.name for s in specs if not s.dtype]
    if artifact.format is not Format.TORCHSCRIPT or not untyped:
        return {}
    from .script_inputs import infer_input_dtypes

    found = {k: v for k, v in infer_input_dtypes(module).items() if k in untyped}
    if found:
        artifact.note(input_notes=tuple(f"input '{k}' is {d} ({why} in the TorchScript graph; "
                                        f"--input-dtype {k}=... overrides)" for k, (d, why) in found.items()))
    return {k: d for k, (d, _) in found.items()}


def _missing_message(module: Any, given: tuple[InputSpec, ...]) -> tuple[str, str]:
    params = forward_parameters(module) or ["input"]
    names = params[:max(_required_count(module), 1)]
    no_shape = [s.name for s in given if s.shape is None]
    if no_shape:
        names = [n for n in names if n in no_shape] or no_shape
    example = []
    for n in names:
        token = any(w in n for w in ("ids", "mask", "token"))
        example.append(f"--input-shape {n}={'1,16' if token else '1,3,224,224'}"
                       + (f" --input-dtype {n}=int64" if token else ""))
    what = f"forward({', '.join(params)})"
    if no_shape:
        return (f"the PyTorch model's input(s) {', '.join(no_shape)} have no shape ({what})",
                f"pass {' '.join(example)}, or --inputs DATA.npz")
    return (f"the PyTorch model does not declare its inputs ({what})",
            f"pass {' '.join(example)} (your sizes), or --inputs DATA.npz with one array per input")


def _apply_specs(specs: tuple[TensorSpec, ...], given: tuple[InputSpec, ...],
                 dynamic: bool) -> tuple[TensorSpec, ...]:
    """A stored signature with the command's shapes/dtypes/dynamic axes applied."""
    out = []
    for i, s in enumerate(specs):
        g = next((x for x in given if x.name == s.name), None) or (
            next((x for x in given if not x.name), None) if i == 0 else None)
        if g is None:
            out.append(s if dynamic else _fixed(s))
            continue
        shape = g.symbolic_shape(dynamic) if g.shape is not None else s.shape
        if g.shape is None and g.dynamic_axes:
            shape = tuple(dict(g.dynamic_axes).get(a, d) for a, d in enumerate(s.shape))
        out.append(TensorSpec(s.name, g.dtype or s.dtype, tuple(shape), s.layout))
    return tuple(out)


def _fixed(spec: TensorSpec) -> TensorSpec:
    """--static on a stored signature: named dims fixed at the example sizes (batch 1, others the default)."""
    from portkit.inputs import DEFAULT_DYNAMIC_DIM

    shape = tuple(d if isinstance(d, int) and d > 0 else (1 if a == 0 else DEFAULT_DYNAMIC_DIM)
                  for a, d in enumerate(spec.shape))
    return TensorSpec(spec.name, spec.dtype, shape, spec.layout)


def flatten_outputs(out: Any) -> list[Any]:
    """A forward()'s tensors in order, from nested tuples, lists and dicts (ModelOutput too)."""
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in flatten_outputs(o)]
    if isinstance(out, dict):
        return [t for v in out.values() for t in flatten_outputs(v)]
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
        else:  # probe to learn the outputs (at the command's sizes, so a wrong one fails here, named)
            outputs = self._probe(artifact, inputs)
        self.signature = ModelSignature(inputs, outputs)

    def _probe(self, artifact: Artifact, inputs: tuple[TensorSpec, ...]) -> tuple[TensorSpec, ...]:
        """Output specs from a run at batch 1 (the command's sizes for other axes); when inputs have dynamic
        non-batch axes, a second run with those one longer tells which output axes follow them (named
        after the input axis of the same size, e.g. `sequence`)."""
        from ..inputs import dim_key, make_inputs

        sizes = {s.name: s.shape for s in (*data_specs(artifact), *user_specs(artifact))
                 if s.name and s.shape is not None}
        sig = ModelSignature(inputs)
        ranges = {k: (v[0], v[1]) for k, v in module_ranges(self.module, inputs).items()}  # ids < vocab
        feeds = make_inputs(sig, batch=1, shapes=sizes or None, ranges=ranges)
        try:
            probe = self._forward(feeds)
        except Exception as e:  # noqa: BLE001 - torch raises RuntimeError/TypeError/IndexError...
            raise rejected_inputs(e, feeds, artifact.location) from e
        batch = bool(inputs) and inputs[0].batch_dynamic
        shapes: list[list[Any]] = [(["batch"] if batch and a.ndim else []) + list(a.shape[1 if batch else 0:])
                                   for a in probe]
        symbols = {dim_key(s, ax): int(feeds[s.name].shape[ax]) for s in inputs for ax in s.dynamic_dims if ax}
        if symbols:
            try:
                longer = self._forward(make_inputs(sig, batch=1, dims={k: v + 1 for k, v in symbols.items()},
                                                  ranges=ranges))
            except Exception:  # noqa: BLE001 - only a finer signature; the first probe ran
                longer = None
            for shape, a, b in zip(shapes, probe, longer or []):
                for ax in range(1 if batch else 0, min(a.ndim, b.ndim)):
                    if a.shape[ax] != b.shape[ax]:
                        shape[ax] = next((k for k, v in symbols.items() if v == a.shape[ax]), f"d{ax}")
        named = list(getattr(self.module, "output_names", None) or [])  # a checkpoint's output fields
        names = named if len(named) == len(probe) else output_names(len(probe))
        return tuple(TensorSpec(n, str(a.dtype), tuple(sh)) for n, a, sh in zip(names, probe, shapes))

    def _forward(self, feeds: Feeds) -> list[np.ndarray]:
        torch = self.torch
        args = [torch.from_numpy(contiguous(feeds[s.name])) for s in self._inputs]
        with torch.inference_mode():
            out = self.module(*args)
        return [t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t) for t in flatten_outputs(out)]

    def run(self, feeds: Feeds) -> Feeds:
        try:
            outs = self._forward(feeds)
        except Exception as e:  # noqa: BLE001 - one line naming what was fed, not TorchScript's traceback
            raise rejected_inputs(e, feeds) from e
        return dict(zip([o.name for o in self.signature.outputs], outs))

    def prepare_timed(self, feeds: Feeds, **_: Any) -> Any:  # bench: tensors built once, outside the loop
        args = [self.torch.from_numpy(contiguous(feeds[s.name])) for s in self._inputs]
        module = self.module
        return lambda: module(*args)

    def timing_context(self) -> Any:
        return self.torch.inference_mode()


def rejected_inputs(err: Exception, feeds: Feeds, path: str | None = None) -> BadInput:
    """The one-line error for inputs a model refuses (wrong rank/size/dtype): what was tried, what to change."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    # TorchScript's interpreter wraps the real message in a serialized traceback: its last line says it
    cause = lines[-1] if lines and "TorchScript interpreter" in lines[0] else (lines[0] if lines else "")
    cause = cause[:200] or type(err).__name__
    tried = ", ".join(f"{k} shape {list(np.shape(v))} {np.asarray(v).dtype}" for k, v in feeds.items())
    names = list(feeds) or ["NAME"]
    return BadInput(f"the model rejects the inputs tried ({tried}): {cause}", path=path,
                    hint=f"change --input-shape {names[0]}=DIMS / --input-dtype {names[0]}=DTYPE "
                         f"(or the arrays in --inputs) to what forward() takes")


def load(artifact: Artifact, **options: Any) -> TorchRunner:
    return TorchRunner(artifact, **options)
