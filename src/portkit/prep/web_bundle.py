"""A web bundle: model + manifest.json + index.html + portkit-web.mjs, run by onnxruntime-web.

`write_bundle` fills a folder from a (possibly quantized) ONNX file. The manifest describes what a web
developer needs to feed the model: input/output names, shapes (dynamic axes by name), dtypes, layout,
preprocessing notes, sizes and the op check. `portkit-web.mjs` is the same code the page and the tests
(under Node, see web/run_bundle.mjs) run.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ..artifact import HopRecord
from ..formats import model_file
from ..signature import ModelSignature, TensorSpec

__all__ = ["ASSETS", "MANIFEST_SCHEMA", "ORT_WEB_VERSION", "guess_layout", "model_file", "write_bundle"]

ORT_WEB_VERSION = "1.30.0"  # the onnxruntime-web release the page loads and the tests run (web/package.json)
ORT_WEB_URL = f"https://cdn.jsdelivr.net/npm/onnxruntime-web@{ORT_WEB_VERSION}/dist/ort.min.mjs"
MANIFEST_SCHEMA = "portkit.web/1"
ASSETS = Path(__file__).resolve().parent / "web_assets"
DEFAULT_DIM = 32  # what the page uses for dynamic non-batch axes


def guess_layout(spec: TensorSpec) -> tuple[str | None, str]:
    """(layout, how): the declared layout, else a guess from a rank-4 image-like shape."""
    if spec.layout:
        return spec.layout, "declared"
    s = spec.shape
    if len(s) == 4 and spec.dtype.startswith("float"):
        if isinstance(s[1], int) and s[1] in (1, 3, 4) and not (isinstance(s[3], int) and s[3] in (1, 3, 4)):
            return "NCHW", "guessed from the shape"
        if isinstance(s[3], int) and s[3] in (1, 3, 4):
            return "NHWC", "guessed from the shape"
    return None, "unknown"


def _spec_entry(spec: TensorSpec, layout_changes: dict[str, Any]) -> dict[str, Any]:
    layout, how = guess_layout(spec)
    change = layout_changes.get(spec.name) if isinstance(layout_changes.get(spec.name), dict) else None
    if change and change.get("to"):
        layout, how = change["to"], f"converted from {change.get('from', '?')} (perm {change.get('perm')})"
    return {"name": spec.name, "dtype": spec.dtype, "shape": list(spec.shape), "layout": layout,
            "layout_source": how, "dynamic_axes": spec.dynamic_dims, "default_dim": DEFAULT_DIM}


def _notes(sig: ModelSignature, inputs: list[dict[str, Any]], quantized: str | None) -> list[str]:
    notes = []
    for e in inputs:
        dyn = [d for i, d in enumerate(e["shape"]) if i in e["dynamic_axes"]]
        shape = "[" + ", ".join(str(d) for d in e["shape"]) + "]"
        lay = f", layout {e['layout']} ({e['layout_source']})" if e["layout"] else ""
        notes.append(f"input '{e['name']}': {e['dtype']} {shape}{lay}"
                     + (f"; dynamic axes {dyn} (batch first)" if dyn else ""))
    notes.append("apply the same preprocessing as in training (resize, scaling, mean/std normalisation, "
                 "channel order): the model file does not record it")
    if quantized in ("int8", "dynamic"):
        notes.append(f"{quantized} quantized: inputs and outputs stay float32; quantization happens inside "
                     "the graph (QuantizeLinear/DequantizeLinear)")
    if quantized == "fp16":
        notes.append("fp16 weights and activations; inputs and outputs stay float32")
    return notes


def write_bundle(model: Path, out: Path, sig: ModelSignature, *, model_format: str = "onnx",
                 metadata: dict[str, Any] | None = None, source_bytes: int | None = None,
                 ops: dict[str, Any] | None = None, title: str | None = None) -> dict[str, Any]:
    """Copy `model` (already in `model_format`: onnx or ort) into `out` with the manifest and the page."""
    record = HopRecord.from_metadata(metadata)
    out.mkdir(parents=True, exist_ok=True)
    name = f"model.{model_format}"
    shutil.copyfile(model, out / name)
    layout = record.tensors.to_metadata()["layout"]
    inputs = [_spec_entry(s, layout.get("inputs") or {}) for s in sig.inputs]
    outputs = [_spec_entry(s, layout.get("outputs") or {}) for s in sig.outputs]
    quantized = record.quantized
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "model": name,
        "model_format": model_format,
        "runtime": {"package": "onnxruntime-web", "version": ORT_WEB_VERSION, "backend": "wasm",
                    "cdn": ORT_WEB_URL},
        "inputs": inputs,
        "outputs": outputs,
        "preprocessing": _notes(sig, inputs, quantized),
        "quantized": quantized,
        "quantization": record.quantization,
        "optimized": record.optimized,
        "opset": record.opset,
        "sizes": {"model_bytes": (out / name).stat().st_size, "source_model_bytes": source_bytes},
        "ops": {**ops, "model": name} if ops else None,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    page = (ASSETS / "index.html").read_text()
    fill = {"__TITLE__": title or model.stem, "__MODEL__": name, "__ORT_VERSION__": ORT_WEB_VERSION,
            "__ORT_URL__": ORT_WEB_URL}
    for key, value in fill.items():
        page = page.replace(key, value)
    (out / "index.html").write_text(page)
    shutil.copyfile(ASSETS / "portkit-web.mjs", out / "portkit-web.mjs")
    manifest["sizes"]["bundle_bytes"] = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return manifest


