"""ONNX Runtime's ORT format (`.ort`) for mobile and minimal builds, and its required-operators config.

The `.ort` file is written the way onnxruntime.tools.convert_onnx_models_to_ort does it (an inference
session with `session.save_model_format=ORT`), at the basic optimisation level with the fixed style so the
file runs on any build and hardware. The config beside it (`<name>.required_operators.config`) lists the
operators a reduced build must include (`build.sh --include_ops_by_config`).
"""
from __future__ import annotations

from pathlib import Path

from ..errors import converting, require

__all__ = ["CONFIG_SUFFIX", "config_path", "required_operators", "to_ort", "write_operator_config"]

CONFIG_SUFFIX = ".required_operators.config"


def to_ort(src: str | Path, out: str | Path) -> None:
    ort = require("onnxruntime", "ORT format conversion")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.optimized_model_filepath = str(out)
    so.add_session_config_entry("session.save_model_format", "ORT")
    so.log_severity_level = 3
    with converting("onnx→ort (onnxruntime)"):
        ort.InferenceSession(str(src), sess_options=so, providers=["CPUExecutionProvider"])


def config_path(ort_file: str | Path) -> Path:
    p = Path(ort_file)
    return p.parent / (p.stem + CONFIG_SUFFIX)


def write_operator_config(ort_file: str | Path, config: str | Path | None = None) -> Path:
    """The required-operators config of an `.ort` file (onnxruntime.tools' own writer)."""
    require("onnxruntime", "ORT operator config")
    import logging

    from portkit.onnxutil import light_ort_tools

    light_ort_tools()
    from onnxruntime.tools.ort_format_model import create_config_from_models

    logging.getLogger("ort_format_model.utils").setLevel(logging.WARNING)
    ort_file = Path(ort_file)
    dest = Path(config) if config else config_path(ort_file)
    with converting("required-operators config (onnxruntime.tools)"):
        create_config_from_models([ort_file], dest, enable_type_reduction=False)
    # the tool records the path it read; keep only the file name so the config is relocatable
    text = dest.read_text().replace(str(ort_file), ort_file.name)
    dest.write_text(text)
    return dest


def required_operators(config: str | Path) -> dict[str, list[str]]:
    """`domain;opset` -> operators, parsed back from a config file."""
    out: dict[str, list[str]] = {}
    for line in Path(config).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        domain, opset, ops = line.split(";", 2)
        out[f"{domain};{opset}"] = [o for o in ops.split(",") if o]
    return out
