"""Frozen option objects. The CLI builds them; the core never sees typer objects."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .signature import Dim, InputSpec, merge_input_specs

__all__ = ["ConvertOptions", "ValidateOptions"]


@dataclass(frozen=True)
class ConvertOptions:
    opset: int | None = None  # None: the converter's default (17 for torch exports)
    input_shapes: dict[str, tuple[Dim, ...]] = field(default_factory=dict)  # '' = the only input
    dynamic: bool = True  # dynamic batch axis
    # name/shape/dtype/dynamic axes per input (--input-shape/--input-dtype/--dynamic-axis); input_shapes is
    # folded in and kept as the shapes' view of these specs
    input_specs: tuple[InputSpec, ...] = ()
    # loading
    weights: str | None = None
    model_args: dict[str, Any] = field(default_factory=dict)
    allow_pickle: bool = False
    allow_unsafe: bool = False  # Keras safe_mode=False (Lambda layers)
    custom_objects: str | None = None  # module whose Keras custom objects to register
    # TF side
    keep_layout: bool = False  # ask onnx2tf to keep NCHW where it can
    # mobile / web prep
    quantize: str | None = None  # fp16 | dynamic | int8
    calibration: str | None = None
    int8_io: bool = False
    optimize: bool = False
    # route: keep only routes that use this tool for a hop (e.g. "tf2onnx", "litert-torch", "keras export")
    tool: str | None = None
    # anything an edge needs that has no field yet (kept out of the core's way)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _sync_specs(self)


@dataclass(frozen=True)
class ValidateOptions:
    atol: float | None = None  # None: per-dtype default
    rtol: float | None = None
    per_output: dict[str, tuple[float, float]] = field(default_factory=dict)
    batches: tuple[int, ...] | None = None  # None: 1 and 2 when the batch is dynamic (plus 7 in sweeps)
    samples: int = 1
    seed: int = 0
    inputs: str | None = None  # .npz or folder of .npy
    input_shapes: dict[str, tuple[Dim, ...]] = field(default_factory=dict)
    input_specs: tuple[InputSpec, ...] = ()  # as ConvertOptions.input_specs

    def __post_init__(self) -> None:
        _sync_specs(self)


def _sync_specs(opts: Any) -> None:
    """One definition: input_shapes (the older field) folds into input_specs, then mirrors their shapes."""
    shapes = {k: tuple(v) for k, v in (opts.input_shapes or {}).items()}
    specs = merge_input_specs(tuple(opts.input_specs or ()),
                              tuple(InputSpec(k, v) for k, v in shapes.items()))
    object.__setattr__(opts, "input_specs", specs)
    object.__setattr__(opts, "input_shapes", {s.name: tuple(s.shape) for s in specs if s.shape is not None})
