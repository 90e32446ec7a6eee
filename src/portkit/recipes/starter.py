"""`portkit init MODEL`: a commented starter recipe for one model, ready to run and to edit."""

from __future__ import annotations

import os
import re
from pathlib import Path

from portkit.errors import BadInput

__all__ = ["starter_recipe", "write_starter"]

# targets suggested per source format, (to, quantize): the first list runs as written; the int8 ones need
# calibration data and are written active only when `portkit init --calibration DATA` gave some
_TARGETS = {
    "torch": [("onnx", None), ("tflite", None), ("web", None)],
    "torchscript": [("onnx", None), ("tflite", None), ("web", None)],
    "onnx": [("onnx", "dynamic"), ("tflite", None), ("web", None)],
    "keras": [("tflite", None), ("onnx", None)],
    "keras_h5": [("keras", None), ("tflite", None), ("onnx", None)],
    "keras_json": [("keras", None), ("tflite", None), ("onnx", None)],
    "savedmodel": [("tflite", None), ("onnx", None)],
    "tflite": [("onnx", None)],
}
_INT8 = {
    "torch": ["tflite"],
    "torchscript": ["tflite"],
    "onnx": ["onnx", "tflite"],
    "keras": ["tflite"],
    "keras_h5": ["tflite"],
    "keras_json": ["tflite"],
    "savedmodel": ["tflite"],
}
_NO_CALIBRATION = ("int8 needs calibration data (representative inputs): run `portkit init MODEL "
                   "--calibration DATA`, or uncomment this target and set calibration")


def _name(model: str) -> str:
    base = (
        model.rpartition(":")[0].rpartition(".")[2]
        if ":" in model and not Path(model).exists()
        else Path(model).name
    )
    base = re.split(r"\.", base)[0] or "model"
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", base)
    return base if base[:1].isalnum() else f"m{base}"


def _shape_lines(model: str, input_shapes: dict[str, list[int]] | None) -> list[str]:
    """The model's inputs as comments (read by `portkit inspect`), and `input_shapes` when given. A model
    that cannot be inspected without more options is exit 2 here (nothing written): a starter that
    cannot run as written helps nobody."""
    from portkit.inspection import inspect_model

    if input_shapes:
        from portkit.signature import specs_from_keywords

        info = inspect_model(model, input_specs=specs_from_keywords({"input_shapes": input_shapes}))
        shapes = ", ".join(f"{k or info.signature.inputs[0].name}: {list(v)}" for k, v in input_shapes.items())
        return [
            "    # inputs: " + ", ".join(f"{t.name} {t.dtype} {t.shape_text()}" for t in info.signature.inputs),
            f"    input_shapes: {{{shapes}}}",
        ]
    info = inspect_model(model)
    return [
        "    # inputs: " + ", ".join(f"{t.name} {t.dtype} {t.shape_text()}" for t in info.signature.inputs),
        "    # input_shapes: {"
        + ", ".join(f"{t.name}: [...]" for t in info.signature.inputs)
        + "}   # only to fix dynamic dims",
    ]


def _target_lines(to: str, quant: str | None, calibration: str | None) -> list[str]:
    t = [f"- to: {to}"]
    if quant:
        t.append(f"  quantize: {quant}")
    if quant == "int8":
        t.append(f"  calibration: {calibration or 'data/calibration.npz'}   # representative inputs")
        t.append("  gates: {min_agreement: 0.95}          # quantized: judged by top-1 agreement")
    elif quant:
        t.append("  # weights int8, activations float: needs no calibration data")
    elif to == "web":
        t.append("  gates: {max_size_mb: 20}             # what a browser downloads")
    else:
        t.append("  gates: {max_error: 1.0e-4}")
    if to == "onnx" and not quant:
        t.append("  export: {triton: true}              # OUT/triton/<name>/1/model.onnx + config.pbtxt")
    return t


def starter_recipe(
    model: str, recipe_dir: Path, *, inspect: bool = True, file_name: str = "recipe.yaml",
    calibration: str | None = None, input_shapes: dict[str, list[int]] | None = None,
) -> str:
    """The text of a starter recipe for `model`, with paths relative to `recipe_dir`. It runs as written:
    int8 targets are active only with `calibration` data, else written commented out with the reason."""
    from portkit.formats import is_reference, sniff

    fmt = sniff(model)  # bad or missing model: exit 2 here, nothing written
    source = model if is_reference(model) else os.path.relpath(Path(model).resolve(), recipe_dir.resolve())
    name = _name(model)
    weights = (
        ["    # weights: path/to/state_dict.pt   # trained weights of pkg.module:factory (random init without)"]
        if fmt.value == "torch"
        else []
    )
    calib = None
    if calibration:
        if not Path(calibration).exists():
            raise BadInput("calibration data not found", path=calibration,
                           hint="pass an .npz (keys = input names) or a folder of .npy files")
        calib = os.path.relpath(Path(calibration).resolve(), recipe_dir.resolve())
    shape = _shape_lines(model, input_shapes) if inspect else []
    targets: list[str] = []
    for to, quant in _TARGETS.get(fmt.value, [("onnx", None)]):
        targets += [f"      {ln}" for ln in _target_lines(to, quant, None)]
    for to in _INT8.get(fmt.value, []):
        lines = _target_lines(to, "int8", calib)
        if calib:
            targets += [f"      {ln}" for ln in lines]
        else:
            targets += [f"      # {_NO_CALIBRATION}"] + [f"      # {ln}" for ln in lines]
    return "\n".join(
        [
            f"# portkit recipe for {model} ({fmt.value}).",
            f"# Run it:  portkit run {file_name} --out build/portkit",
            "# Every key is checked before anything runs (exit 2 naming the key path and the fix).",
            "# Reference: docs/recipes.md. Paths are relative to this file's folder.",
            "version: 1",
            "seed: 0                      # random validation/benchmark inputs",
            "",
            "defaults:",
            "  validate:                  # each target is compared with the source, hop by hop",
            "    batches: [1, 2]",
            "    # inputs: data/sample.npz   # real inputs instead of random ones",
            "  bench:                     # latency per target (onnxruntime / LiteRT), CI of the median",
            "    providers: [cpu]         # cuda, tensorrt with onnxruntime-gpu",
            "    batches: [1]",
            "    duration: 1.0            # seconds per series",
            "  gates:                     # a failed gate fails the run (exit 1) and is named in the table",
            "    max_latency_ms: 50       # p50; {p99: 80} for the tail. Decided from confidence intervals:",
            "                             # only a run whose whole 95% CI is above the limit fails",
            "    # baseline: last-run/manifest.json   # an earlier run (or --json result) ...",
            "    # max_regression: 10                 # ... and the slowdown / growth allowed, in percent",
            "",
            "models:",
            f"  - name: {name}",
            f"    source: {source}",
            *weights,
            *shape,
            "    targets:",
            *targets,
            "",
        ]
    )


def write_starter(model: str, output: Path, *, force: bool = False, inspect: bool = True,
                  calibration: str | None = None, input_shapes: dict[str, list[int]] | None = None) -> Path:
    """Write the starter recipe (atomically); refuses to overwrite an existing file unless force."""
    if output.exists() and not force:
        raise BadInput("the recipe file exists", path=output, hint="choose another -o, or pass --force")
    if output.is_dir():
        raise BadInput("-o names a folder", path=output, hint="name the recipe file, e.g. -o recipe.yaml")
    text = starter_recipe(model, output.parent, inspect=inspect, file_name=str(output),
                          calibration=calibration, input_shapes=input_shapes)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    return output
