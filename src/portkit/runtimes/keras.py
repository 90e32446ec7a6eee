"""Keras runtime: `.keras`, legacy H5 and JSON architecture + weights (`--weights`).

Loading is safe by default: a model holding a `Lambda` layer (Python code in the file) is refused unless
the user passes `--allow-unsafe`; `--custom-objects pkg.module` imports a module that registers custom
layers (and may define `CUSTOM_OBJECTS = {...}`). Models written by Keras 2 / tf-keras (onnx2tf builds
those) are loaded with `tf_keras`, everything else with Keras 3.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..artifact import Artifact
from ..errors import BadInput, require
from ..formats import Format
from ..signature import ModelSignature, TensorSpec, spec_shapes
from .base import Feeds, Runner

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def model_config_text(artifact: Artifact) -> tuple[str, str]:
    """(architecture JSON text, keras version that wrote it or '') read from the file, without Keras."""
    path = artifact.path
    if artifact.format is Format.KERAS:
        with zipfile.ZipFile(path) as z:
            cfg = z.read("config.json").decode()
            meta = json.loads(z.read("metadata.json")) if "metadata.json" in z.namelist() else {}
        return cfg, str(meta.get("keras_version", ""))
    if artifact.format is Format.KERAS_H5:
        import h5py

        with h5py.File(path, "r") as f:
            cfg = f.attrs.get("model_config")
            ver = f.attrs.get("keras_version", "")
        def dec(v):
            return (v.decode() if isinstance(v, bytes) else str(v))
        return dec(cfg or ""), dec(ver)
    text = path.read_text()
    return text, str(json.loads(text).get("keras_version", ""))


def flavour(cfg: str, version: str) -> str:
    """'tf_keras' for files written by Keras 2 / tf-keras with tf-keras-only layers, else 'keras'."""
    if '"tf_keras.' in cfg or "TFOpLambda" in cfg or "SlicingOpLambda" in cfg:
        return "tf_keras"
    return "keras"


def _custom_objects(module_name: str | None) -> dict[str, Any]:
    if not module_name:
        return {}
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        mod = importlib.import_module(module_name)
    except ImportError as e:
        raise BadInput(f"cannot import --custom-objects module '{module_name}' ({e})",
                       hint="run from the folder holding it or add it to PYTHONPATH") from e
    objs = getattr(mod, "CUSTOM_OBJECTS", None) or getattr(mod, "custom_objects", None)
    if callable(objs):
        objs = objs()
    return dict(objs or {})


def _check_safe(cfg: str, artifact: Artifact) -> None:
    if artifact.record.allow_unsafe:
        return
    if '"class_name": "Lambda"' in cfg or '"class_name":"Lambda"' in cfg:
        raise BadInput("the model holds a Lambda layer, whose Python code would run on loading "
                       "(Keras safe_mode refuses it)", path=artifact.location,
                       hint="pass --allow-unsafe if you trust the file, or replace the Lambda by a custom "
                            "layer registered with --custom-objects")


def load_keras_model(artifact: Artifact) -> tuple[Any, str]:
    """(model, flavour): the Keras model of a KERAS / KERAS_H5 / KERAS_JSON artifact."""
    md = artifact.record
    try:
        cfg, version = model_config_text(artifact)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise BadInput(f"Keras file does not load: {e}", path=artifact.location,
                       hint="the file may be truncated") from e
    _check_safe(cfg, artifact)
    kind = flavour(cfg, version)
    custom = _custom_objects(md.custom_objects)
    safe = not md.allow_unsafe
    keras = require("tf_keras" if kind == "tf_keras" else "keras", "Keras models")
    try:
        if artifact.format is Format.KERAS_JSON:
            weights = md.weights
            if not weights:
                raise BadInput("a Keras JSON architecture needs its weights", path=artifact.location,
                               hint="pass --weights model.weights.h5 (or a legacy .h5 weights file)")
            if not Path(weights).is_file():
                raise BadInput("weights file not found", path=weights, hint="check --weights")
            model = _from_json(keras, kind, cfg, custom, safe)
            model.load_weights(weights)
        elif kind == "keras":
            model = keras.saving.load_model(artifact.location, custom_objects=custom or None, compile=False,
                                            safe_mode=safe)
        else:
            model = keras.models.load_model(artifact.location, custom_objects=custom or None, compile=False,
                                            safe_mode=safe)
    except BadInput:
        raise
    except (TypeError, ValueError) as e:
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        hint = ("pass --custom-objects pkg.module that registers the custom layers"
                if "custom" in str(e).lower() or "Could not locate" in str(e) else
                ("pass --allow-unsafe if you trust the file" if "safe_mode" in str(e) else "check the file"))
        raise BadInput(f"Keras model does not load: {first}", path=artifact.location, hint=hint) from e
    if not _has_inputs(model):
        model = functional_view(keras, model, artifact)
    return model, kind


def _has_inputs(model: Any) -> bool:
    try:
        return bool(model.inputs)
    except (AttributeError, ValueError):
        return False


def functional_view(keras: Any, model: Any, artifact: Artifact) -> Any:
    """A subclassed model has no `inputs`/`outputs` until it is called symbolically: every Keras edge and the
    runner need them (signature, export specs). It is wrapped in a functional model calling it once on
    `keras.Input`s shaped as Keras stored when the model was built (its `build_config`; `--input-shape` may
    make more dims dynamic, e.g. `x=1,seq,8`), with the batch dynamic, named after `call()`'s argument. Same
    weights, same arithmetic: the wrapper only adds the input layers."""
    shapes = _subclassed_shapes(model, artifact)
    dtypes = {s.name: s.dtype for s in artifact.record.input_specs}

    def make(name: str, shape: Any) -> Any:
        return keras.Input(shape=tuple(None if d is None else int(d) for d in shape[1:]), name=name,
                           dtype=dtypes.get(name) or dtypes.get("") or "float32")

    try:
        if isinstance(shapes, dict):
            inputs: Any = {n: make(n, s) for n, s in shapes.items()}
            outputs = model(inputs)
        elif len(shapes) == 1:
            inputs = make(*shapes[0])
            outputs = model(inputs)
        else:
            inputs = [make(n, s) for n, s in shapes]
            outputs = model(inputs)
        return keras.Model(inputs, outputs, name=model.name)
    except (TypeError, ValueError, AttributeError, NotImplementedError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise BadInput(f"the Keras model '{model.name}' (no Input layer) cannot be called on inputs of shape "
                       f"{_describe(shapes)}: {first}", path=artifact.location,
                       hint="pass --input-shape NAME=DIMS with the shape its call() takes") from e


def _describe(shapes: Any) -> str:
    items = shapes.items() if isinstance(shapes, dict) else shapes
    return ", ".join(f"{n}={list(s)}" for n, s in items)


def _subclassed_shapes(model: Any, artifact: Artifact) -> Any:
    """[(name, shape)] (or {name: shape} for a model called on a dict): the model's build_config, or
    --input-shape where given; batch (axis 0) dynamic either way."""
    arg = _call_argument(model)
    given = {k: list(v) for k, v in spec_shapes(artifact.record.input_specs).items()}
    build = None
    try:
        build = (model.get_build_config() or {}).get("input_shape")
    except (AttributeError, TypeError, ValueError):
        build = None

    def dyn(shape: Any) -> tuple[Any, ...]:
        dims = tuple(None if d is None or (isinstance(d, int) and d < 0) or isinstance(d, str) else int(d)
                     for d in shape)
        return (None,) + dims[1:] if dims else dims

    if not build:
        # Keras builds a subclassed model's layers (creating their weights) on its first call: a model saved
        # before that holds no weights, so every load would draw new random ones
        raise BadInput(f"the Keras model '{model.name}' (no Input layer) was saved before it was ever called, so "
                       "the file holds neither its weights nor its input shape", path=artifact.location,
                       hint="call the model once on an example batch (model(x)) before model.save()")
    if isinstance(build, dict):
        return {n: dyn(given.get(n) or s) for n, s in build.items()}
    if all(isinstance(s, (list, tuple)) for s in build):
        names = [f"{arg}_{i}" for i in range(len(build))]
        return [(n, dyn(given.get(n) or s)) for n, s in zip(names, build, strict=True)]
    shape = given.get(arg) or (next(iter(given.values())) if len(given) == 1 else None) or build
    return [(arg, dyn(shape))]


def _call_argument(model: Any) -> str:
    """The name of the first argument of the model's call() ('inputs', 'x', ...), for the input's name."""
    import inspect

    try:
        params = [p for p in inspect.signature(model.call).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return params[0].name if params else "inputs"


def _from_json(keras: Any, kind: str, cfg: str, custom: dict[str, Any], safe: bool) -> Any:
    if kind == "keras":
        from keras.src.saving import serialization_lib

        with serialization_lib.SafeModeScope(safe):
            return keras.models.model_from_json(cfg, custom_objects=custom or None)
    return keras.models.model_from_json(cfg, custom_objects=custom or None)


def _name(t: Any) -> str:
    return str(getattr(t, "name", "") or "").split(":")[0]


def _dims(shape: Any, batch_dynamic: bool = True) -> tuple[Any, ...]:
    dims = tuple(None if d is None else int(d) for d in tuple(shape))
    if dims and dims[0] is None:
        dims = ("batch",) + dims[1:]
    return tuple(d if d is not None else f"d{i}" for i, d in enumerate(dims))


def keras_signature(model: Any) -> ModelSignature:
    ins = []
    for i, t in enumerate(model.inputs):
        name = _name(t) or f"input_{i}"
        dims = _dims(t.shape)
        ins.append(TensorSpec(name, np.dtype(_dtype(t)).name, dims, "NHWC" if len(dims) == 4 else None))
    names = list(getattr(model, "output_names", None) or [])
    outs = []
    for i, t in enumerate(model.outputs):
        name = names[i] if i < len(names) else (_name(t) or f"output_{i}")
        outs.append(TensorSpec(name, np.dtype(_dtype(t)).name, _dims(t.shape)))
    return ModelSignature(tuple(ins), tuple(outs))


def _dtype(t: Any) -> str:
    d = getattr(t, "dtype", "float32")
    return getattr(d, "name", None) or str(d)


class KerasRunner(Runner):
    def __init__(self, artifact: Artifact, threads: int | None = None, **_: Any) -> None:
        if threads:
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(threads)
        self.model, self.flavour = load_keras_model(artifact)
        self.name = "keras" if self.flavour == "keras" else "tf_keras"
        self.signature = keras_signature(self.model)

    def run(self, feeds: Feeds) -> Feeds:
        args = [np.asarray(feeds[s.name]) for s in self.signature.inputs]
        out = self.model(args if len(args) > 1 else args[0], training=False)
        if isinstance(out, dict):
            out = list(out.values())
        outs = out if isinstance(out, (list, tuple)) else [out]
        return {s.name: np.asarray(o) for s, o in zip(self.signature.outputs, outs, strict=False)}


def load(artifact: Artifact, **options: Any) -> KerasRunner:
    return KerasRunner(artifact, **options)
