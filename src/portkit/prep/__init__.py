"""Mobile and web export prep: ONNX quantization/fp16, offline optimisation, ORT format, web bundles and
operator-compatibility reports.

The conversion orchestrator calls `check_options` before planning and `finish` after the route (see
portkit.conversion.convert): for ONNX targets `finish` runs the optimise/quantize steps as extra hops (in
workers, written to a temp path and renamed, validated like any hop); for ORT it writes the
required-operators config beside the `.ort`; for every prep target it reports the sizes. The ORT and web
edges (converters/onnx_to_ort.py, onnx_to_web.py) quantize inside their own hop.
"""
from __future__ import annotations

from .steps import PREP_TARGETS, check_options, finish, same_format_output

__all__ = ["PREP_TARGETS", "check_options", "finish", "same_format_output"]
