"""Mobile and web export prep: ONNX quantization/fp16, offline optimisation, ORT format, web bundles and
operator-compatibility reports.

The conversion orchestrator calls `check_options` before planning, appends `steps.post_route_steps` (the
optimise/quantize transform edges of an ONNX target) to each route — the one hop executor runs, places and
validates them like the route's own hops — and calls `finish` after: for ORT it writes the
required-operators config beside the `.ort`; for every prep target it reports the sizes. The ORT and web
edges (converters/onnx_to_ort.py, onnx_to_web.py) quantize inside their own hop.
"""
from __future__ import annotations

from .steps import PREP_TARGETS, check_options, finish, same_format_output

__all__ = ["PREP_TARGETS", "check_options", "finish", "same_format_output"]
