"""ONNX → web bundle for onnxruntime-web: model (ONNX, or ORT with --web-model ort),
manifest.json, index.html and portkit-web.mjs.

--optimize / --quantize are applied to the model inside this hop (portkit.prep). The bundle's operators
are checked against onnxruntime-web's WASM backend first: unsupported ops fail the hop (exit 3) with every
op and node named, never a bundle that breaks in the browser.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from portkit.artifact import Artifact
from portkit.errors import ConversionFailed
from portkit.formats import Format
from portkit.options import ConvertOptions

SOURCE = Format.ONNX
TARGET = Format.WEB
REQUIRES = ("onnxruntime",)
COST = 1.0
TOOL = "portkit web bundle (onnxruntime-web)"


def convert(src: Artifact, out: Path, opts: ConvertOptions) -> Artifact:
    from portkit import onnxutil
    from portkit.prep.op_report import check_ops
    from portkit.prep.ort_format import to_ort, write_operator_config
    from portkit.prep.steps import prepare_onnx
    from portkit.prep.web_bundle import write_bundle
    from portkit.versions import versions

    kind = opts.web_model  # one of options.WEB_MODELS, checked where the options were built
    md: dict = {}
    with tempfile.TemporaryDirectory(prefix="portkit-web-") as tmp:
        model = Path(src.location)
        if opts.quantize or opts.optimize:
            prepared = Path(tmp) / "prepared.onnx"
            md = prepare_onnx(model, prepared, opts)
            model = prepared
        report = check_ops(model, "web")
        if not report.ok:
            raise ConversionFailed(
                f"onnx→web: {len(report.unsupported)} op type(s) not supported by onnxruntime-web: "
                + "; ".join(report.lines()),
                hint="replace or decompose those ops before export (or run `portkit ops MODEL --target web`)")
        loaded = onnxutil.load(model)
        sig, opset = onnxutil.signature(loaded), onnxutil.opset(loaded)
        if kind == "ort":
            ort_file = Path(tmp) / "model.ort"
            to_ort(model, ort_file)
            model = ort_file
        md.update(opset=opset, layout=src.record.tensors.to_metadata()["layout"] or None)
        manifest = write_bundle(model, out, sig, model_format=kind, metadata=md,
                                source_bytes=Path(src.location).stat().st_size, ops=report.to_dict(),
                                title=Path(src.location).stem)
        if kind == "ort":
            write_operator_config(out / "model.ort")
    md.pop("layout", None)
    keep = src.carried()
    ops = {k: report.to_dict()[k] for k in ("summary", "checked_against", "ok")}
    return Artifact(str(out), Format.WEB, sig, {**keep, **md, "producer": TOOL, "ops": ops,
                                                "web": {"model": manifest["model"],
                                                        "onnxruntime_web": manifest["runtime"]["version"]},
                                                "versions": versions("onnxruntime", "onnx")})
