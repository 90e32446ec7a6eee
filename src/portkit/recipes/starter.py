"""`portkit init MODEL`: a commented starter recipe for one model, ready to run and to edit."""

from __future__ import annotations

import os
import re
from pathlib import Path

from portkit.errors import BadInput

__all__ = ["starter_recipe", "write_starter"]

# targets suggested per source format: (to, quantize, gates) — every one is a route `portkit routes` lists
_TARGETS = {
    "torch": [("onnx", None), ("tflite", "int8"), ("web", None)],
    "torchscript": [("onnx", None), ("tflite", "int8"), ("web", None)],
    "onnx": [("onnx", "int8"), ("tflite", "int8"), ("web", None)],
    "keras": [("tflite", None), ("tflite", "int8"), ("onnx", None)],
    "keras_h5": [("keras", None), ("tflite", "int8"), ("onnx", None)],
    "keras_json": [("keras", None), ("tflite", "int8"), ("onnx", None)],
    "savedmodel": [("tflite", None), ("tflite", "int8"), ("onnx", None)],
    "tflite": [("onnx", None)],
}


def _name(model: str) -> str:
    base = (
        model.rpartition(":")[0].rpartition(".")[2]
        if ":" in model and not Path(model).exists()
        else Path(model).name
    )
    base = re.split(r"\.", base)[0] or "model"
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", base)
    return base if base[:1].isalnum() else f"m{base}"


def _shape_lines(model: str) -> list[str]:
    """The model's inputs as comments (read by `portkit inspect`; skipped when that needs more options)."""
    from portkit import api
    from portkit.errors import PortkitError

    try:
        info = api.inspect(model)
    except PortkitError as e:
        return [f"    # input_shapes: {{x: [1, 3, 224, 224]}}   # needed here: {e.message[:80]}"]
    lines = [
        "    # inputs: " + ", ".join(f"{t.name} {t.dtype} {t.shape_text()}" for t in info.signature.inputs)
    ]
    lines.append(
        "    # input_shapes: {"
        + ", ".join(f"{t.name}: [...]" for t in info.signature.inputs)
        + "}   # only to fix dynamic dims"
    )
    return lines


def starter_recipe(
    model: str, recipe_dir: Path, *, inspect: bool = True, file_name: str = "recipe.yaml"
) -> str:
    """The text of a starter recipe for `model`, with paths relative to `recipe_dir`."""
    from portkit.formats import is_reference, sniff

    fmt = sniff(model)  # bad or missing model: exit 2 here, nothing written
    source = model if is_reference(model) else os.path.relpath(Path(model).resolve(), recipe_dir.resolve())
    name = _name(model)
    weights = (
        ["    weights: path/to/state_dict.pt   # the weights of pkg.module:factory"]
        if fmt.value == "torch"
        else []
    )
    shape = _shape_lines(model) if inspect else []
    targets = []
    for to, quant in _TARGETS.get(fmt.value, [("onnx", None)]):
        t = [f"      - to: {to}"]
        if quant:
            t.append(f"        quantize: {quant}")
        if quant == "int8":
            t.append(
                "        # calibration: data/calibration.npz   # representative inputs (.npz or .npy folder)"
            )
            t.append("        gates: {min_agreement: 0.95}          # quantized: judged by top-1 agreement")
        elif to == "web":
            t.append("        gates: {max_size_mb: 20}             # what a browser downloads")
        else:
            t.append("        gates: {max_error: 1.0e-4}")
        if to == "onnx" and not quant:
            t.append(
                "        export: {triton: true}              # OUT/triton/<name>/1/model.onnx + config.pbtxt"
            )
        targets += t
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


def write_starter(model: str, output: Path, *, force: bool = False, inspect: bool = True) -> Path:
    """Write the starter recipe (atomically); refuses to overwrite an existing file unless force."""
    if output.exists() and not force:
        raise BadInput("the recipe file exists", path=output, hint="choose another -o, or pass --force")
    text = starter_recipe(model, output.parent, inspect=inspect, file_name=str(output))
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    return output
