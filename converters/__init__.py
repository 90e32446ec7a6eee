"""Conversion edges: one module per edge, each declaring SOURCE, TARGET, REQUIRES, COST and `convert`.

`EDGE_MODULES` is the one table of edges; portkit.graph imports these modules (cheap: frameworks load
inside `convert`) and plans routes over them. Converters never import each other.

Where it lives: this folder stays at the repository root (converters/, the project's layout) and installs
as `portkit.converters` (pyproject.toml's package-dir), so `portkit.converters.onnx_to_tflite` is
converters/onnx_to_tflite.py. Import it by that name; a module here imports portkit's core absolutely
(`from portkit.artifact import Artifact`).
"""

EDGE_MODULES: tuple[str, ...] = (
    "torch_to_onnx",
    "torch_to_torchscript",
    "torchscript_to_onnx",
    "onnx_to_torchscript",
    "keras_to_keras",
    "keras_to_keras_h5",
    "keras_to_savedmodel",
    "keras_to_tflite",
    "keras_to_onnx",
    "savedmodel_to_tflite",
    "savedmodel_to_onnx",
    "tflite_to_onnx",
    "onnx_to_savedmodel",
    "onnx_to_tflite",
    "onnx_to_keras",
    "onnx_to_ort",
    "onnx_to_web",
    "torch_to_pt2",
    "torchscript_to_pt2",
    "pt2_to_onnx",
    "torch_to_tflite",
    "pt2_to_executorch",
    "keras_to_onnx_native",
    "keras_to_tflite_native",
    # ONNX → ONNX transform steps (STEP set): appended after a route by portkit.prep, never routed through
    "onnx_optimize",
    "onnx_quantize",
)
