"""SavedModel → ONNX with tf2onnx: the `serving_default` signature wrapped in a tf.function with an
explicit input signature; ONNX inputs/outputs take the signature's names, and 4-D inputs stay NHWC
(marked in the file so a later onnx2tf hop keeps them)."""
from __future__ import annotations

from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import converting, require
from portkit.formats import Format
from portkit.options import ConvertOptions

from ._tf_common import finish_tf_onnx, four_d_inputs, rename_onnx_io, tf, tf2onnx_opset

SOURCE = Format.SAVEDMODEL
TARGET = Format.ONNX
REQUIRES = ("tensorflow", "tf2onnx")
COST = 1.0
TOOL = "tf2onnx"
SERVING = "serving_default"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    from portkit.runtimes.savedmodel import SavedModelRunner

    t = tf()
    tf2onnx = require("tf2onnx", "SavedModel → ONNX")
    runner = SavedModelRunner(src.location)
    sig, serving = runner.signature, runner.fn
    in_names = [s.name for s in sig.inputs]
    out_names = [s.name for s in sig.outputs]
    specs = [t.TensorSpec([d if isinstance(d, int) else None for d in s.shape], s.dtype, name=s.name)
             for s in sig.inputs]

    @t.function(input_signature=specs)
    def fn(*args):  # noqa: ANN202
        res = serving(**dict(zip(in_names, args, strict=False)))
        return [res[n] for n in out_names]

    with converting("savedmodel→onnx (tf2onnx)", alternative="--via tflite"):
        try:
            proto = _frozen(tf2onnx, src.location, out_names, opts)
        except Exception:  # noqa: BLE001 - tf2onnx's loader rejects some SavedModels; trace the signature
            proto, _ = tf2onnx.convert.from_function(fn, input_signature=specs, opset=tf2onnx_opset(opts))
        if {i.name for i in proto.graph.input} != set(in_names) or \
                {o.name for o in proto.graph.output} != set(out_names):  # traced: names by position
            mapping = {i.name: n for i, n in zip(proto.graph.input, in_names, strict=False)}
            mapping.update({o.name: n for o, n in zip(proto.graph.output, out_names, strict=False)})
            rename_onnx_io(proto, mapping)
    return finish_tf_onnx(proto, out, four_d_inputs(sig), TOOL)


def _frozen(tf2onnx, path: str, out_names: list[str], opts: ConvertOptions):  # noqa: ANN001, ANN202
    """tf2onnx's own SavedModel loader (as `python -m tf2onnx.convert --saved-model`): it freezes the
    variables, which tracing the loaded signature does not always do (they would become ONNX inputs)."""
    from tf2onnx import tf_loader

    graph_def, inputs, outputs, renames = tf_loader.from_saved_model(
        path, None, None, signatures=[SERVING], return_tensors_to_rename=True)
    proto, _ = tf2onnx.convert.from_graph_def(graph_def, input_names=inputs, output_names=outputs,
                                              opset=tf2onnx_opset(opts), tensors_to_rename=renames)
    return proto
