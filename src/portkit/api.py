"""The public Python API. The CLI is a thin layer over these functions; each returns a result object
with `.to_dict()` (the `--json` schema) and raises PortkitError subclasses carrying the exit code."""
from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable

from .conversion import ConversionResult
from .errors import BadInput
from .formats import Format
from .inspection import ModelInfo
from .options import ConvertOptions, ValidateOptions
from .signature import parse_input_shapes
from .validation import ValidationResult

__all__ = ["convert", "inspect", "validate", "verify", "routes"]

_CONVERT_FIELDS = {f.name for f in fields(ConvertOptions)}
_VALIDATE_FIELDS = {f.name for f in fields(ValidateOptions)}


def _format(value: Format | str) -> Format:
    return value if isinstance(value, Format) else Format.parse(value)


def _shapes(value: Any) -> dict[str, tuple]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {k: tuple(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)) and value and all(isinstance(d, int) for d in value):
        return {"": tuple(value)}
    if isinstance(value, str):
        value = [value]
    return parse_input_shapes(list(value))


def convert_options(**options: Any) -> ConvertOptions:
    unknown = set(options) - _CONVERT_FIELDS
    if unknown:
        raise BadInput(f"unknown conversion option(s): {sorted(unknown)}",
                       hint=f"valid: {sorted(_CONVERT_FIELDS)}")
    if "input_shapes" in options:
        options["input_shapes"] = _shapes(options["input_shapes"])
    if isinstance(options.get("model_args"), str):
        try:
            options["model_args"] = json.loads(options["model_args"])
        except json.JSONDecodeError as e:
            raise BadInput(f"--model-args is not valid JSON ({e})", hint='write it like \'{"num_classes": 10}\'') from e
    return ConvertOptions(**options)


def validate_options(**options: Any) -> ValidateOptions:
    unknown = set(options) - _VALIDATE_FIELDS
    if unknown:
        raise BadInput(f"unknown validation option(s): {sorted(unknown)}", hint=f"valid: {sorted(_VALIDATE_FIELDS)}")
    if "input_shapes" in options:
        options["input_shapes"] = _shapes(options["input_shapes"])
    if options.get("batches") is not None:
        options["batches"] = tuple(options["batches"])
    return ValidateOptions(**options)


def convert(source: str | Path, to: Format | str, output: str | Path | None = None, *,
            validate: bool = True, via: Format | str | None = None, clean: bool = False,
            atol: float | None = None, rtol: float | None = None, inputs: str | None = None,
            eval_data: str | None = None, bundle: bool = False,
            log: Callable[[str], None] | None = None, **options: Any) -> ConversionResult:
    """Convert `source` (a path or `pkg.module:factory`) to format `to`, validated unless validate=False.

    `options` are ConvertOptions fields: opset, input_shapes, dynamic, weights, model_args, allow_pickle,
    allow_unsafe, custom_objects, keep_layout, quantize, calibration, int8_io, optimize, extra.
    """
    from .conversion import convert as _convert

    copts = convert_options(**options)
    vopts = ValidateOptions(atol=atol, rtol=rtol, inputs=inputs, input_shapes=copts.input_shapes)
    return _convert(str(source), _format(to), output, copts, validate=validate,
                    via=_format(via) if via else None, validate_opts=vopts, clean=clean, log=log,
                    eval_data=eval_data, bundle=bundle)


def inspect(model: str | Path, *, input_shapes: Any = None, weights: str | None = None,
            model_args: dict[str, Any] | None = None, allow_pickle: bool = False) -> ModelInfo:
    """Format, inputs/outputs (with dynamic dims), size and opset/producer of a model."""
    from .inspection import inspect_model

    shapes = _shapes(input_shapes)
    return inspect_model(str(model), input_shapes={k: list(v) for k, v in shapes.items()} or None,
                         weights=weights, model_args=model_args, allow_pickle=allow_pickle or None)


def validate(reference: str | Path, candidate: str | Path, *, reference_options: dict[str, Any] | None = None,
             locate: bool = False, quantized: str | None = None, **options: Any) -> ValidationResult:
    """Run both models on the same inputs and compare every output. Truthy when equivalent.

    `options` are ValidateOptions fields (atol, rtol, per_output, batches, samples, seed, inputs,
    input_shapes). `quantized` ("int8", "dynamic", "fp16") judges the candidate by cosine similarity and
    argmax agreement; `locate` searches a failing ONNX pair for the first diverging node."""
    from .conversion import source_artifact
    from .validation import QUANTIZED_CRITERIA
    from .validation import validate as _validate

    vopts = validate_options(**options)
    ref = source_artifact(str(reference), convert_options(**(reference_options or {}),
                                                          **({"input_shapes": vopts.input_shapes}
                                                             if vopts.input_shapes else {})))
    cand = source_artifact(str(candidate), ConvertOptions(input_shapes=vopts.input_shapes))
    if quantized:
        if quantized not in QUANTIZED_CRITERIA:
            raise BadInput(f"unknown quantization kind '{quantized}'",
                           hint=f"valid: {', '.join(QUANTIZED_CRITERIA)}")
        cand.metadata["quantized"] = quantized
    return _validate(ref, cand, vopts, locate=locate)


def verify(artifact: str | Path, *, bundle: str | Path | None = None) -> ValidationResult:
    """Re-check a converted artifact against the inputs and reference outputs that `convert --bundle`
    saved beside it. Needs only the artifact's own runtime, not the source framework."""
    from .bundle import verify as _verify

    return _verify(str(artifact), bundle)


def routes() -> list[dict[str, Any]]:
    """Every conversion edge with its tool, cost and whether its libraries are installed."""
    from .graph import edges

    return [{"edge": str(e), "source": e.source.value, "target": e.target.value, "tool": e.tool,
             "module": e.name, "cost": e.cost, "available": e.available, "missing": e.missing}
            for e in edges()]
