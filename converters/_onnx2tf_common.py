"""Running onnx2tf for the ONNX → SavedModel / TFLite / Keras edges, and recording what it changed.

onnx2tf turns channels-first tensors (NCW/NCHW/NCDHW) into channels-last. Every such change is recorded in
the artifact metadata as `layout.inputs|outputs[onnx name] = {"from", "to", "perm"}` (candidate tensor =
np.transpose(onnx tensor, perm)), and every renamed tensor as `renamed.inputs|outputs[onnx name] = name`.
Input layouts follow onnx2tf's rule (checked against the produced shapes); output layouts are measured:
one inference of onnxruntime against the produced model decides which permutation matches (the clearly
closer one, never an exact match: runtimes differ in the last bits on other CPUs).

Before converting, onnx2tf runs the graph once on a dummy input and many of its op converters (Flatten,
Reshape, Transpose, ...) choose an axis or layout by comparing TF's result with onnxruntime's. Left alone it
sets every unknown dim to 1; at batch 1 a Flatten "from axis 0" equals the right answer bit for bit on CPUs
where both runtimes agree exactly, and batch 1 gets baked in. So portkit always passes `shape_hints`:
dynamic batch dims are TRIAL_BATCH (2; or the next size no tensor of the graph has, see trial_batch) and
other dynamic dims the user's --input-shape value or DEFAULT_DYNAMIC_DIM, which makes that coincidence
impossible on every CPU.

onnx2tf runs in a private temporary folder (it writes and reads files relative to the working directory)
holding a locally generated stand-in for the sample-image file it would otherwise download; int8
calibration data is always passed explicitly. onnx2tf calls sys.exit on some errors: that becomes a
ConversionFailed.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from portkit import onnxutil
from portkit.artifact import Artifact
from portkit.errors import ConversionFailed, converting, require
from portkit.inputs import DEFAULT_DYNAMIC_DIM, infer_ranges, make_inputs
from portkit.normalize import normalize
from portkit.options import ConvertOptions
from portkit.signature import ModelSignature

from ._tf_common import channels_last_inputs, check_quantize, fit_layout, tf

SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"
CHANNELS_LAST = {3: [0, 2, 1], 4: [0, 2, 3, 1], 5: [0, 2, 3, 4, 1]}
LAYOUT_NAMES = {3: ("NCW", "NWC"), 4: ("NCHW", "NHWC"), 5: ("NCDHW", "NDHWC")}
TRIAL_BATCH = 2  # onnx2tf's trial run: never 1 (see the module docstring)


@dataclass
class Onnx2TfResult:
    model: Any  # the tf-keras model onnx2tf built
    folder: Path  # where onnx2tf wrote its files
    onnx_sig: ModelSignature
    input_perms: dict[str, list[int] | None] = field(default_factory=dict)
    output_perms: dict[str, list[int] | None] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)
    quant: dict[str, Any] = field(default_factory=dict)
    shapes: dict[str, Any] = field(default_factory=dict)  # the user's --input-shape values
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # valid ranges of int inputs
    notes: list[str] = field(default_factory=list)  # what portkit.normalize rewrote


def failed_node(e: BaseException) -> str | None:
    """The ONNX node onnx2tf was converting when `e` was raised — "ONNX node '/a/Sub_3' (Sub; inputs
    [2, 64, 49, 49], [64, 49, 49])" — or None. onnx2tf prints the node's name to its log and re-raises the
    op converter's bare error ("'NoneType' object has no attribute 'shape'"), which names nothing; its
    wrapper around every op converter holds the node as the local `graph_node` (an onnx-graphsurgeon Node)."""
    tb, node = e.__traceback__, None
    while tb is not None:  # the innermost frame holding one: the op being converted
        candidate = tb.tb_frame.f_locals.get("graph_node")
        if getattr(candidate, "op", None) and getattr(candidate, "name", None) is not None:
            node = candidate
        tb = tb.tb_next
    if node is None:
        return None
    name = re.sub("^wa/", "/", str(node.name))  # onnx2tf's prefix for names starting with "/"
    shapes = ", ".join(str(list(s) if s is not None else "?")
                       for s in (getattr(i, "shape", None) for i in getattr(node, "inputs", [])))
    return f"ONNX node '{name}' ({node.op}; inputs {shapes or 'none'})"


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    old = os.getcwd()
    work = Path(tempfile.mkdtemp(prefix="portkit-onnx2tf-"))
    try:
        np.save(work / SAMPLE_FILE, np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32))
        os.chdir(work)
        yield work
    finally:
        os.chdir(old)
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def onnx2tf_run(src: Artifact, opts: ConvertOptions, hop: str, alternative: str,
                want_quant: bool = False, tflite: bool = False) -> Iterator[Onnx2TfResult]:
    """Run onnx2tf on `src` in a temporary folder; yields the result while its files still exist.
    `tflite`: the hop needs onnx2tf's .tflite files (otherwise they are not built; see _tflite_writer)."""
    onnx2tf = require("onnx2tf", "ONNX → TensorFlow")
    tf()
    model = onnxutil.load(src.location, external=True)
    sig = onnxutil.signature(model)
    model = _fold_constants(src.location, model)
    ranges = infer_ranges(src)
    model, notes = normalize(model, hop=hop, shapes=opts.shapes, ranges=ranges, tool="onnx2tf")
    kept = sorted(set(channels_last_inputs(model)) | set(src.record.channels_last_inputs))
    keep_nchw = [s.name for s in sig.inputs if opts.keep_layout and len(s.shape) in CHANNELS_LAST
                 and s.name not in kept]
    mode = check_quantize(opts) if want_quant else None
    with _workdir() as work:
        onnx_path = _prepare(model, kept, work)
        kwargs: dict[str, Any] = dict(
            input_onnx_file_path=onnx_path, output_folder_path=str(work / "out"),
            output_signaturedefs=True, copy_onnx_input_output_names_to_tflite=tflite, non_verbose=True,
            keep_ncw_or_nchw_or_ncdhw_input_names=keep_nchw or None,
            shape_hints=shape_hints(model, opts),
            # TFLite has no builtin Erf (BERT's exact GELU): it would become a Flex op the LiteRT interpreter
            # cannot run; onnx2tf's pseudo Erf is built from builtins (validation judges its accuracy)
            replace_to_pseudo_operators=["erf"] if tflite else None,  # lower case: as its CLI passes it
        )
        quant: dict[str, Any] = {}
        if mode == "dynamic":
            kwargs["output_dynamic_range_quantized_tflite"] = True
        elif mode == "int8":
            kwargs.update(output_integer_quantized_tflite=True, quant_type="per-channel",
                          custom_input_op_name_np_data_path=_calibration(opts, sig, kept + keep_nchw, work),
                          input_quant_dtype="int8", output_quant_dtype="int8")
            quant = {"calibration": str(opts.calibration), "int8_io": opts.int8_io}
        if mode:
            quant["quantized"] = mode
        with converting(hop, alternative=alternative), _tflite_writer(tflite):
            try:
                built = onnx2tf.convert(**kwargs)
            except ModuleNotFoundError as e:
                if not (e.name or "").startswith("onnx2tf.ops."):
                    raise
                op = e.name.rpartition(".")[2]
                raise ConversionFailed(
                    f"{hop} failed: unsupported op '{op}' (onnx2tf has no converter for it)",
                    hint=f"try another route: {alternative}") from None
            except SystemExit as e:
                raise ConversionFailed(f"{hop} failed: onnx2tf stopped (exit {e.code}); "
                                       "the model likely holds an op or shape onnx2tf cannot convert",
                                       hint=f"try another route: {alternative}") from None
            except Exception as e:
                where = failed_node(e)
                if where is None:
                    raise  # converting() words it
                line = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), "")[:300]
                raise ConversionFailed(f"{hop} failed at {where}: {type(e).__name__}: {line}",
                                       hint=f"try another route: {alternative}") from e
            if built is None:
                raise ConversionFailed(f"{hop} failed: onnx2tf returned no model", hint=f"try {alternative}")
        res = Onnx2TfResult(built, work / "out", sig, kept=kept + keep_nchw, quant=quant,
                            shapes=dict(opts.shapes), ranges=ranges, notes=notes)
        _input_perms(res)
        _output_perms(res, src.location)
        yield res


class _NoTflite:
    """Stands in for the TFLiteConverter onnx2tf builds when the hop needs no .tflite."""

    def __init__(self) -> None:
        self.target_spec = SimpleNamespace()

    def convert(self) -> bytes:
        return b""


@contextlib.contextmanager
def _tflite_writer(tflite: bool) -> Iterator[None]:
    """onnx2tf always writes float32 and float16 .tflite files, each through
    TFLiteConverter.from_keras_model, which serialises the tf-keras model and deep-copies every layer's
    config (constants included): minutes for a ResNet. onnx2tf falls back to its concrete function when
    from_keras_model raises (the path its quantized outputs take anyway), which converts in seconds; and a
    hop that needs no .tflite (SavedModel, Keras) gets a converter that writes nothing."""
    conv = tf().lite.TFLiteConverter
    original = conv.__dict__["from_keras_model"]

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("portkit: convert from the concrete function")

    def skip(*_args: Any, **_kwargs: Any) -> Any:
        return _NoTflite()

    conv.from_keras_model = staticmethod(refuse if tflite else skip)
    try:
        yield
    finally:
        conv.from_keras_model = original


def shape_hints(model: Any, opts: ConvertOptions) -> list[str] | None:
    """onnx2tf `shape_hints` ("name:d0,d1,...") for every graph input of `model` (the file onnx2tf reads):
    static dims as they are, a dynamic batch dim TRIAL_BATCH, other dynamic dims the user's --input-shape
    value or DEFAULT_DYNAMIC_DIM. None when there is nothing dynamic, or when a name cannot be written as
    a hint (onnx2tf splits hints on ':')."""
    g = model.graph
    inits = {i.name for i in g.initializer}
    hints: list[str] = []
    dynamic = False
    batch = trial_batch(model)
    for i, vi in enumerate(v for v in g.input if v.name not in inits):
        if ":" in vi.name or "," in vi.name:
            return None
        given = opts.shapes.get(vi.name) or (opts.shapes.get("") if i == 0 else None)
        dims = []
        for axis, d in enumerate(vi.type.tensor_type.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
                continue
            dynamic = True
            user = given[axis] if given and axis < len(given) else None
            if isinstance(user, int) and user > 0 and not (axis == 0 and user == 1):
                dims.append(user)
            else:
                dims.append(batch if axis == 0 else DEFAULT_DYNAMIC_DIM)
        if not dims:  # a scalar input: nothing to hint
            continue
        hints.append(f"{vi.name}:{','.join(str(d) for d in dims)}")
    return hints if dynamic and hints else None


def trial_batch(model: Any) -> int:
    """The batch size of onnx2tf's trial run: TRIAL_BATCH unless some tensor of the graph has a fixed dim
    of that size, then the next size no tensor has. onnx2tf maps axes between layouts partly by size:
    mobilenet_v3_small at 64² ends in (batch, 576, 2, 2), and at a trial batch of 2 its last ReduceMean
    averaged over batch and height (the batch came out fixed at 2)."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - best effort: the default then
        return TRIAL_BATCH
    g = inferred.graph
    taken = {int(d.dim_value) for v in (*g.value_info, *g.input, *g.output) if v.type.HasField("tensor_type")
             for d in v.type.tensor_type.shape.dim if d.HasField("dim_value")}
    return next((b for b in range(TRIAL_BATCH, TRIAL_BATCH + 64) if b not in taken), TRIAL_BATCH)


def _fold_constants(path: str, model: Any) -> Any:
    """Constant-fold with onnxruntime's basic (standard-ops-only) optimizer: onnx2tf's own simplifier
    (onnxsim) is not a dependency, and folded shape arithmetic is what onnx2tf converts best."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="portkit-fold-") as tmp:
        folded = Path(tmp) / "folded.onnx"
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.optimized_model_filepath = str(folded)
        so.log_severity_level = 3
        try:
            ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])
            out = onnx.load(str(folded))
        except Exception:  # noqa: BLE001 - folding is an optimisation; onnx2tf gets the original then
            return model
    keep = {p.key: p.value for p in model.metadata_props}
    del out.metadata_props[:]
    for k, v in keep.items():
        entry = out.metadata_props.add()
        entry.key, entry.value = k, v
    return out


def _prepare(model: Any, kept: list[str], work: Path) -> str:
    """Write the ONNX model onnx2tf will read: channels-last inputs fronted by a channels-first one, and
    constants of broadcasting ops without leading 1-dims (onnx2tf mis-transposes a (1,C,1,1) constant
    when the batch is dynamic; dropping leading 1s never changes a broadcast result)."""
    import onnx

    if kept:
        _channels_first_front(model, kept)
    _squeeze_broadcast_constants(model)
    path = work / "model_for_onnx2tf.onnx"
    onnx.save(model, str(path))
    return str(path)


def _squeeze_broadcast_constants(model: Any) -> None:
    import onnx
    from onnx import numpy_helper

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - shape inference is best effort here
        return
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in
             list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)
             if v.type.tensor_type.HasField("shape")}
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type not in ("Mul", "Add", "Sub", "Div") or len(node.input) != 2:
            continue
        for k in (0, 1):
            const, other = node.input[k], node.input[1 - k]
            if const not in inits or other in inits or other not in ranks:
                continue
            arr = numpy_helper.to_array(inits[const])
            if arr.ndim < 2 or arr.shape[0] != 1 or ranks[other] < arr.ndim:
                continue
            squeezed = arr.reshape(arr.shape[1:])
            while squeezed.ndim > 1 and squeezed.shape[0] == 1:
                squeezed = squeezed.reshape(squeezed.shape[1:])
            name = f"{const}__portkit_sq"
            if name not in inits:
                t = numpy_helper.from_array(squeezed, name)
                model.graph.initializer.append(t)
                inits[name] = t
            node.input[k] = name


def _channels_first_front(model: Any, names: list[str]) -> None:
    """onnx2tf assumes channels-first inputs. For an input that already is channels-last (tf2onnx keeps
    the TF layout), give the graph a channels-first input followed by a Transpose back: onnx2tf then turns
    it channels-last again, so the produced model takes the same layout as the ONNX source."""
    import onnx
    from onnx import helper

    g = model.graph
    for vi in g.input:
        if vi.name not in names:
            continue
        dims = vi.type.tensor_type.shape.dim
        rank = len(dims)
        to_last = CHANNELS_LAST[rank]
        to_first = [to_last.index(i) for i in range(rank)]  # inverse permutation
        old = [onnx.TensorShapeProto.Dimension() for _ in range(rank)]
        for o, d in zip(old, dims, strict=False):
            o.CopyFrom(d)
        for i, d in enumerate(dims):
            d.CopyFrom(old[to_first[i]])
        inner = f"{vi.name}__portkit_nhwc"
        for node in g.node:
            for i, n in enumerate(node.input):
                if n == vi.name:
                    node.input[i] = inner
        g.node.insert(0, helper.make_node("Transpose", [vi.name], [inner], perm=to_last,
                                          name=f"{vi.name}__portkit_to_nhwc"))
        nchw_dims = [d.dim_value if d.HasField("dim_value") else -1 for d in dims]
        _fold_back(g, vi.name, inner, to_first, nchw_dims)


def _fold_back(g: Any, nchw: str, inner: str, to_first: list[int], nchw_dims: list[int]) -> None:
    """tf2onnx starts NHWC graphs with a Transpose (or, for one channel, a Reshape) to NCHW. After the
    inserted Transpose to NHWC, such a node just restores the NCHW input: use the input directly, so
    onnx2tf sees an ordinary channels-first graph."""
    from onnx import numpy_helper

    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for node in list(g.node):
        if inner not in node.input or node.input[0] != inner:
            continue
        undo = False
        if node.op_type == "Transpose":
            undo = any(a.name == "perm" and list(a.ints) == to_first for a in node.attribute)
        elif node.op_type == "Reshape" and node.input[1] in consts:
            shape = [int(v) for v in consts[node.input[1]]]
            undo = len(shape) == len(nchw_dims) and all(
                i == 0 and v in (-1, 0) or v == d or (d == -1 and v in (-1, 0)) for i, (v, d) in
                enumerate(zip(shape, nchw_dims, strict=False))) and nchw_dims.count(-1) <= 1
        if not undo:
            continue
        out = node.output[0]
        for other in g.node:
            for i, n in enumerate(other.input):
                if n == out:
                    other.input[i] = nchw
        g.node.remove(node)
    if not any(inner in n.input for n in g.node):
        for node in list(g.node):
            if inner in node.output:
                g.node.remove(node)


def _calibration(opts: ConvertOptions, sig: ModelSignature, kept: list[str], work: Path) -> list[list[Any]]:
    from ._tf_common import calibration_arrays

    def tf_shape(s: Any) -> tuple[Any, ...]:
        return _permuted(s.shape, None if s.name in kept else CHANNELS_LAST.get(len(s.shape)))

    tf_specs = tuple(s.with_shape(tf_shape(s)) for s in sig.inputs)
    arrays = calibration_arrays(opts, tf_specs)
    out = []
    for spec in tf_specs:
        path = work / f"calib_{_safe(spec.name)}.npy"
        np.save(path, fit_layout(arrays[spec.name], spec.shape).astype(np.float32))
        out.append([_safe(spec.name), str(path), [0.0], [1.0]])
    return out


def _permuted(shape: tuple[Any, ...], perm: list[int] | None) -> tuple[Any, ...]:
    return tuple(shape[p] for p in perm) if perm and len(perm) == len(shape) else tuple(shape)


def _safe(name: str) -> str:
    """The name onnx2tf gives a tensor in TensorFlow."""
    return re.sub(r"[^A-Za-z0-9_.\-/]", "_", name).replace(":", "_")


def _input_perms(res: Onnx2TfResult) -> None:
    for spec, t in zip(res.onnx_sig.inputs, res.model.inputs, strict=False):
        got = tuple(None if d is None else int(d) for d in t.shape)
        perm = None if spec.name in res.kept else CHANNELS_LAST.get(len(spec.shape))
        if perm and not _shape_fits(_permuted(spec.shape, perm), got) and _shape_fits(spec.shape, got):
            perm = None  # onnx2tf left this one alone
        res.input_perms[spec.name] = perm


def _shape_fits(want: tuple[Any, ...], got: tuple[Any, ...]) -> bool:
    return len(want) == len(got) and all(not isinstance(w, int) or g is None or w == g
                                         for w, g in zip(want, got, strict=False))


def _output_perms(res: Onnx2TfResult, onnx_path: str) -> None:
    """Run onnxruntime and the tf-keras model once on the same data; keep the permutation that matches."""
    from portkit.runtimes.onnx import OnnxRunner

    ort = OnnxRunner(onnx_path)
    feeds = make_inputs(ort.signature, batch=TRIAL_BATCH, seed=1, shapes=res.shapes, ranges=res.ranges)
    ref = ort.run(feeds)
    args = [_transpose(feeds[s.name], res.input_perms.get(s.name)) for s in res.onnx_sig.inputs]
    outs = res.model(args if len(args) > 1 else args[0], training=False)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    for spec, o in zip(res.onnx_sig.outputs, outs, strict=False):
        r, c = np.asarray(ref[spec.name]), np.asarray(o)
        best, err = None, _err(r, c)
        cl = CHANNELS_LAST.get(r.ndim)
        if cl is not None and _clearly_closer(_err(np.transpose(r, cl), c), err, r):
            best = cl
        res.output_perms[spec.name] = best


def _clearly_closer(e_perm: float, e_same: float, ref: np.ndarray) -> bool:
    """Whether the permuted comparison beats the unpermuted one by more than rounding noise: both
    runtimes round differently on different CPUs, so a near-tie (e.g. a constant output) keeps the
    identity instead of following the last bits."""
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    noise = 1e-4 * max(scale, 1e-6)
    return e_perm <= noise < e_same or (e_perm < e_same / 2 and e_same > noise)


def _transpose(a: np.ndarray, perm: list[int] | None) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(a, perm)) if perm else a


def _err(r: np.ndarray, c: np.ndarray) -> float:
    if r.shape != c.shape:
        return float("inf") if r.size != c.size or r.squeeze().shape != c.squeeze().shape else _err(
            r.reshape(c.shape), c)
    return float(np.max(np.abs(r.astype(np.float64) - c.astype(np.float64)))) if r.size else 0.0


def mapping_metadata(res: Onnx2TfResult, produced: ModelSignature) -> dict[str, Any]:
    """layout + renamed metadata of a produced model relative to the ONNX source."""
    layout: dict[str, dict[str, Any]] = {}
    for kind, perms, specs in (("inputs", res.input_perms, res.onnx_sig.inputs),
                               ("outputs", res.output_perms, res.onnx_sig.outputs)):
        for spec in specs:
            perm = perms.get(spec.name)
            if perm:
                f, t = LAYOUT_NAMES[len(perm)]
                layout.setdefault(kind, {})[spec.name] = {"from": f, "to": t, "perm": list(perm)}
    renamed: dict[str, dict[str, str]] = {}
    for kind, a, b in (("inputs", res.onnx_sig.inputs, produced.inputs),
                       ("outputs", res.onnx_sig.outputs, produced.outputs)):
        m = {x.name: y.name for x, y in zip(a, b, strict=False) if x.name != y.name}
        if m:
            renamed[kind] = m
    md: dict[str, Any] = {"layout": layout, "renamed": renamed, "kept_layout": res.kept, **res.quant}
    if res.notes:
        md["normalised"] = res.notes
    return md


def tf_name(name: str) -> str:
    """A SavedModel signature key for an ONNX tensor name (letters, digits and _ only)."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "t"
    return s if not s[0].isdigit() else f"t_{s}"


def save_savedmodel(res: Onnx2TfResult, out: Path) -> None:
    t = tf()
    model = res.model
    specs = [t.TensorSpec(tuple(i.shape), i.dtype, name=tf_name(s.name))
             for s, i in zip(res.onnx_sig.inputs, model.inputs, strict=False)]
    out_names = [tf_name(s.name) for s in res.onnx_sig.outputs]

    @t.function(input_signature=specs)
    def serving(*args):  # noqa: ANN202
        outs = model(list(args) if len(args) > 1 else args[0], training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        return dict(zip(out_names, outs, strict=False))

    # a plain tf.Module holding the variables: saving the tf-keras model itself serialises (and deep-copies)
    # every layer's config, minutes for a ResNet, for metadata the SavedModel runtime never reads
    holder = t.Module()
    holder.model_variables = list(model.variables)
    holder.serving = serving
    t.saved_model.save(holder, str(out), signatures={"serving_default": serving.get_concrete_function()})


def pick_tflite(res: Onnx2TfResult, mode: str | None, int8_io: bool) -> Path:
    files = sorted(res.folder.glob("*.tflite"))
    suffix = {None: "_float32.tflite", "fp16": "_float16.tflite", "dynamic": "_dynamic_range_quant.tflite",
              "int8": "_full_integer_quant.tflite" if int8_io else "_integer_quant.tflite"}[mode]
    for f in files:
        if f.name.endswith(suffix):
            return f
    raise ConversionFailed(f"onnx2tf wrote no *{suffix} (wrote {[f.name for f in files]})",
                           hint="run with --debug to see onnx2tf's log")


__all__ = ["onnx2tf_run", "mapping_metadata", "save_savedmodel", "pick_tflite"]
