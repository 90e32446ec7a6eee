"""Helpers shared by the TensorFlow-side edges: Keras loading, SavedModel export, TFLite conversion with
quantization, and ONNX post-processing. Everything here runs inside a worker process; TensorFlow is
imported inside the functions, never at module load."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from portkit.artifact import Artifact
from portkit.errors import BadInput, require
from portkit.options import QUANTIZE_KINDS, ConvertOptions
from portkit.signature import ModelSignature, TensorSpec

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SERVING = "serving_default"
QUANT_MODES = QUANTIZE_KINDS
LAYOUT_PROP = "portkit.layout."  # ONNX metadata_props key prefix: input name -> NHWC when channels-last


def tf():  # noqa: ANN201 - the tensorflow module
    mod = require("tensorflow", "TensorFlow conversions")
    try:
        mod.get_logger().setLevel("ERROR")
    except AttributeError:
        pass
    return mod


# --- Keras -----------------------------------------------------------------------------------------------

def keras_loader_for(src: Artifact):  # noqa: ANN201
    """The runtime's loader, so converters and the runner see the very same model."""
    from portkit.runtimes.keras import load_keras_model

    return load_keras_model(src)


def keras_export(model: Any, sig: ModelSignature, in_names: list[str], out: Path, fmt: str, **options: Any) -> None:
    """`model.export(out, format=fmt)` (Keras' own ONNX / LiteRT export). Keras exports only a built model
    that has been called ("The model provided has never called"): it is called once on random inputs."""
    from portkit.inputs import make_inputs

    feeds = make_inputs(sig, batch=1)
    model([feeds[n] for n in in_names] if len(in_names) > 1 else feeds[in_names[0]])
    model.export(str(out), format=fmt, verbose=False, input_signature=keras_input_specs(model), **options)


def keras_input_specs(model: Any) -> list[Any]:
    t = tf()
    return [t.TensorSpec(tuple(i.shape), i.dtype, name=_clean(i.name)) for i in model.inputs]


def keras_names(model: Any) -> tuple[list[str], list[str]]:
    from portkit.runtimes.keras import keras_signature

    sig = keras_signature(model)
    return [s.name for s in sig.inputs], [s.name for s in sig.outputs]


def _clean(name: str) -> str:
    return name.split(":")[0]


def keras_serving_fn(model: Any) -> tuple[Any, list[Any]]:
    """A tf.function returning {output name: tensor}, so SavedModel/TFLite keep the Keras output names."""
    t = tf()
    specs = keras_input_specs(model)
    _, out_names = keras_names(model)

    def fn(*args: Any) -> dict[str, Any]:
        outs = model(list(args) if len(args) > 1 else args[0], training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        if isinstance(outs, dict):
            outs = list(outs.values())
        return {n: o for n, o in zip(out_names, outs, strict=False)}

    return t.function(fn, input_signature=specs), specs


def export_savedmodel(model: Any, out: Path, flavour: str) -> None:
    t = tf()
    fn, specs = keras_serving_fn(model)
    if flavour == "keras":
        import keras

        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(name=SERVING, fn=fn, input_signature=specs)
        archive.write_out(str(out), verbose=False)
    else:
        t.saved_model.save(model, str(out), signatures={SERVING: fn.get_concrete_function()})


# --- TFLite with quantization ----------------------------------------------------------------------------

def check_quantize(opts: ConvertOptions) -> str | None:
    mode = opts.quantize
    if mode is None:
        return None
    mode = mode.lower()
    if mode not in QUANT_MODES:
        raise BadInput(f"unknown --quantize '{opts.quantize}' for TFLite",
                       hint=f"valid: {', '.join(QUANT_MODES)}")
    if mode == "int8" and not opts.calibration:
        raise BadInput("int8 quantization needs calibration data",
                       hint="pass --calibration data.npz (or a folder of .npy) with representative inputs, "
                            "or use --quantize dynamic / fp16, which need none")
    if opts.int8_io and mode != "int8":
        raise BadInput("--int8-io needs --quantize int8", hint="add --quantize int8 --calibration DATA")
    return mode


def fit_layout(arr: np.ndarray, shape: tuple[Any, ...]) -> np.ndarray:
    """Calibration data may be given in the source layout (NCHW); transpose it to the model's when needed."""
    def fits(a: np.ndarray) -> bool:
        return a.ndim == len(shape) and all(not isinstance(d, int) or d < 0 or d == s
                                            for d, s in zip(shape[1:], a.shape[1:], strict=False))

    if fits(arr):
        return arr
    for perm in ((0, 2, 3, 1), (0, 3, 1, 2), (0, 2, 1), (0, 2, 3, 4, 1)):
        if arr.ndim == len(perm) and fits(np.transpose(arr, perm)):
            return np.ascontiguousarray(np.transpose(arr, perm))
    raise BadInput(f"calibration array of shape {list(arr.shape)} does not fit the model input {list(shape)}",
                   hint="save arrays shaped like the model's inputs (batch first)")


def calibration_arrays(opts: ConvertOptions, specs: tuple[TensorSpec, ...]) -> dict[str, np.ndarray]:
    """{input name: all calibration samples stacked}, in each input's own layout and dtype."""
    from portkit.inputs import load_inputs

    sets = load_inputs(opts.calibration)  # type: ignore[arg-type]
    out: dict[str, np.ndarray] = {}
    for _i, spec in enumerate(specs):
        only = len(specs) == 1
        arrays = [s[spec.name] if spec.name in s else (next(iter(s.values())) if only else None)
                  for s in sets]
        if any(a is None for a in arrays):
            keys = sorted({k for s in sets for k in s})
            raise BadInput(f"calibration data has no array for input '{spec.name}' (has {keys})",
                           path=opts.calibration, hint="name the arrays after the model's inputs")
        stacked = np.concatenate([np.asarray(a) for a in arrays], axis=0)
        out[spec.name] = fit_layout(stacked, spec.shape).astype(spec.dtype)
    return out


def representative_dataset(arrays: dict[str, np.ndarray], names: list[str], limit: int = 200) -> Any:
    count = min(limit, min(len(a) for a in arrays.values()))

    def gen() -> Iterator[list[np.ndarray]]:
        for i in range(count):
            yield [arrays[n][i:i + 1] for n in names]

    return gen


def apply_quantization(converter: Any, mode: str | None, opts: ConvertOptions,
                       specs: tuple[TensorSpec, ...]) -> dict[str, Any]:
    """Configure a TFLiteConverter for `mode`; returns the metadata describing what was done."""
    if mode is None:
        return {}
    t = tf()
    converter.optimizations = [t.lite.Optimize.DEFAULT]
    md: dict[str, Any] = {"quantized": mode}  # the validation engine judges by this (cosine, agreement)
    if mode == "fp16":
        converter.target_spec.supported_types = [t.float16]
    elif mode == "int8":
        arrays = calibration_arrays(opts, specs)
        converter.representative_dataset = representative_dataset(arrays, [s.name for s in specs])
        converter.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if opts.int8_io:
            converter.inference_input_type = t.int8
            converter.inference_output_type = t.int8
        md.update(calibration=str(opts.calibration), int8_io=opts.int8_io,
                  calibration_samples=min(200, min(len(a) for a in arrays.values())))
    return md


def convert_savedmodel_to_tflite(saved: Path, out: Path, opts: ConvertOptions,
                                 specs: tuple[TensorSpec, ...]) -> dict[str, Any]:
    t = tf()
    mode = check_quantize(opts)
    converter = t.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=[SERVING])
    md = apply_quantization(converter, mode, opts, specs)
    if mode == "int8" and opts.keep_float:  # some layers float: the quantization debugger's denylist
        from ._tflite_keep_float import quantize_keep_float

        data, kept = quantize_keep_float(t, converter, opts.keep_float, Path(saved).name)
        md.update(kept)
    else:
        data = converter.convert()
    Path(out).write_bytes(data)
    return md


def savedmodel_signature(path: str) -> ModelSignature:
    from portkit.runtimes.savedmodel import SavedModelRunner

    return SavedModelRunner(path).signature


# --- ONNX ---------------------------------------------------------------------------------------------------

def rename_onnx_io(model: Any, mapping: dict[str, str]) -> None:
    """Rename graph inputs/outputs (and every use of them) in place."""
    mapping = {k: v for k, v in mapping.items() if k != v}
    if not mapping:
        return
    g = model.graph
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if vi.name in mapping:
            vi.name = mapping[vi.name]
    for node in g.node:
        for i, n in enumerate(node.input):
            if n in mapping:
                node.input[i] = mapping[n]
        for i, n in enumerate(node.output):
            if n in mapping:
                node.output[i] = mapping[n]


def mark_channels_last(model: Any, names: list[str]) -> None:
    """Record in the ONNX file itself which inputs are channels-last (tf2onnx keeps the TF layout), so
    onnx2tf is later told to leave them alone."""
    for n in names:
        p = model.metadata_props.add()
        p.key, p.value = LAYOUT_PROP + n, "NHWC"


def channels_last_inputs(model: Any) -> list[str]:
    marked = [p.key[len(LAYOUT_PROP):] for p in model.metadata_props
              if p.key.startswith(LAYOUT_PROP) and p.value == "NHWC"]
    inits = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in inits]
    from onnx import numpy_helper

    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    dims = {i.name: [d.dim_value if d.HasField("dim_value") else -1 for d in i.type.tensor_type.shape.dim]
            for i in model.graph.input}
    for n in names:  # a graph that starts by turning NHWC into NCHW is channels-last too
        users = [nd for nd in model.graph.node if n in nd.input]
        if users and all(_to_nchw(u, dims.get(n) or [], consts) for u in users):
            marked.append(n)
    return sorted(set(marked) & set(names))


def _to_nchw(node: Any, nhwc: list[int], consts: dict[str, np.ndarray]) -> bool:
    """Is `node` a Transpose NHWC→NCHW, or a Reshape that equals one (a single channel)?"""
    if node.op_type == "Transpose":
        return any(a.name == "perm" and list(a.ints) == [0, 3, 1, 2] for a in node.attribute)
    if node.op_type == "Reshape" and len(nhwc) == 4 and nhwc[3] == 1 and node.input[1] in consts:
        shape = [int(v) for v in consts[node.input[1]]]
        want = [nhwc[0], nhwc[3], nhwc[1], nhwc[2]]
        return len(shape) == 4 and shape[0] in (-1, 0, want[0]) and shape[1:] == want[1:] and want[2] > 1
    return False


def four_d_inputs(sig: ModelSignature) -> list[str]:
    return [s.name for s in sig.inputs if len(s.shape) == 4]


def finish_tf_onnx(model: Any, out: Path, channels_last: list[str], tool: str, **recorded: Any) -> Artifact:
    import onnx

    from portkit import onnxutil
    from portkit.formats import Format
    from portkit.versions import versions

    mark_channels_last(model, channels_last)
    folded = constant_reshapes(model)
    if folded:
        recorded["constant_reshapes"] = folded
    onnx.save(model, str(out))
    sig = onnxutil.signature(model)
    sig = ModelSignature(tuple(TensorSpec(s.name, s.dtype, s.shape, "NHWC") if s.name in channels_last else s
                               for s in sig.inputs), sig.outputs)
    md = {"producer": tool, "opset": onnxutil.opset(model), "channels_last_inputs": channels_last,
          "versions": versions("tensorflow", "tf2onnx", "onnx"), **recorded}
    return Artifact(str(out), Format.ONNX, sig, md)


def constant_reshapes(model: Any) -> int:
    """Give computed Reshape targets a constant shape where shape inference knows the output (one dynamic
    dim becomes -1), then drop the dead shape arithmetic. tf2onnx computes Flatten's target from
    Shape/Gather/Concat; traced consumers (onnx2torch + torch.jit.trace) would bake the example batch into
    it. Returns how many Reshapes were changed."""
    import onnx
    from onnx import numpy_helper

    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # noqa: BLE001 - best effort: leave the model as it is
        return 0
    infos = list(inferred.graph.value_info) + list(inferred.graph.output)
    shapes = {v.name: v.type.tensor_type.shape for v in infos}
    inits = {i.name for i in model.graph.initializer}
    changed = 0
    for node in model.graph.node:
        if node.op_type != "Reshape" or node.input[1] in inits or node.output[0] not in shapes:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in shapes[node.output[0]].dim]
        if not dims or dims.count(-1) > 1 or any(d == 0 for d in dims):
            continue
        name = f"{node.output[0]}__portkit_shape"
        model.graph.initializer.append(numpy_helper.from_array(np.array(dims, dtype=np.int64), name))
        node.input[1] = name
        changed += 1
    if changed:
        _drop_dead_nodes(model)
    return changed


def _drop_dead_nodes(model: Any) -> None:
    g = model.graph
    keep = {o.name for o in g.output}
    while True:
        used = keep | {i for n in g.node for i in n.input}
        dead = [n for n in g.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
    used = {i for n in g.node for i in n.input} | keep
    for init in [i for i in g.initializer if i.name not in used]:
        g.initializer.remove(init)
    for vi in [v for v in g.value_info if v.name not in used]:
        g.value_info.remove(vi)


def tf2onnx_opset(opts: ConvertOptions) -> int:
    return opts.opset or 17


def save_keras(model: Any, out: Path, suffix: str) -> None:
    """Keras insists on the file suffix (.keras / .h5); save under it beside `out`, then move into place."""
    import tempfile

    fd, name = tempfile.mkstemp(prefix=".portkit-", suffix=suffix, dir=str(Path(out).parent))
    os.close(fd)
    os.unlink(name)
    try:
        model.save(name)
        os.replace(name, out)
    finally:
        if os.path.exists(name):
            os.unlink(name)


def keras_artifact(out: Path, fmt: Any, model: Any, kind: str, src: Artifact, tool: str) -> Artifact:
    from portkit.runtimes.keras import keras_signature
    from portkit.versions import versions

    md: dict[str, Any] = {"producer": tool, "keras_flavour": kind,
                          "versions": versions("tensorflow", "keras" if kind == "keras" else "tf_keras")}
    return Artifact(str(out), fmt, keras_signature(model), md)
