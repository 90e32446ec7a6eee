"""Frozen option objects. The CLI builds them; the core never sees typer objects."""
from __future__ import annotations

import enum
import json
import os
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import BadInput
from .formats import ALL_KINDS, Quantize, is_reference, suggest
from .signature import Dim, InputSpec, merge_input_specs, parse_input_shapes, parse_input_specs

__all__ = ["PROVIDERS", "QUANTIZE_KINDS", "WEB_MODELS", "ConvertOptions", "Provider", "Quantize", "ValidateOptions",
           "check_rules", "convert_options", "debug_requested", "flag_of", "fold_input_specs", "keep_float_names",
           "option", "recipe_fields", "shapes_of", "user_path", "validate_options"]


class Provider(str, enum.Enum):
    """onnxruntime execution providers portkit benchmarks and serves with (--provider)."""

    CPU = "cpu"
    CUDA = "cuda"
    TENSORRT = "tensorrt"


QUANTIZE_KINDS: tuple[str, ...] = ALL_KINDS
PROVIDERS: tuple[str, ...] = tuple(p.value for p in Provider)

RECIPE_SCOPES = ("model", "target", "validate", "bench")
WEB_MODELS = ("onnx", "ort")  # what a web bundle carries: the ONNX file, or its ORT flatbuffer


def debug_requested() -> bool:
    """--debug: the CLI sets PORTKIT_DEBUG for the whole command (its workers inherit it), so every options
    object built during that command says so too."""
    return bool(os.environ.get("PORTKIT_DEBUG"))


def option(default: Any = MISSING, *, recipe: str | None = None, factory: Any = MISSING, **rules: Any) -> Any:
    """A field of an options dataclass, the one definition of that option: its default, where a recipe
    takes it (`recipe`: "model", "target", "validate" or "bench"; None: not in recipes) and the rules the
    recipe schema checks it with — pydantic's `ge`/`gt`/`min_length`, `choices` (allowed strings), `item_ge`
    (each list item ≥), `path` (a file, read relative to the recipe), `alias` (the recipe key when it differs)
    `recipe_type` (the YAML spelling when it differs from the field's Python type) and `flag` (the CLI flag
    when it is not --the-field-name). The recipe schema (portkit.recipes.schema) and the recipe runner are
    generated from these, and every options dataclass enforces the rules when built (`check_rules`), so a
    new option is this field plus its CLI flag."""
    assert recipe is None or recipe in RECIPE_SCOPES, recipe
    return field(default=default, default_factory=factory, metadata={"recipe": recipe, **rules})


def flag_of(f: Field) -> str:
    """The CLI flag of an option field (`flag` in its definition where it is not --the-field-name)."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


_BOUNDS = {"ge": (lambda v, b: v >= b, "≥"), "gt": (lambda v, b: v > b, ">"), "le": (lambda v, b: v <= b, "≤")}


def check_rules(opts: Any) -> None:
    """Enforce each field's rules (ge/gt/le, min_length, item_ge, choices) as its definition states them.
    Every options dataclass runs this when built, so the CLI, the API, recipes, bench and prep refuse a bad
    value alike (exit 2), in one line naming the flag and, for recipes, the key."""
    for f in fields(opts):
        rules, value = f.metadata, getattr(opts, f.name)
        if value is None or not rules:
            continue
        flag = flag_of(f)
        key = rules.get("alias") or f.name
        where = f"(recipes: `{key}`)" if rules.get("recipe") else ""
        items = list(value) if isinstance(value, (tuple, list)) else [value]
        if "min_length" in rules and isinstance(value, (tuple, list)) and len(value) < rules["min_length"]:
            raise BadInput(f"{flag} needs at least {rules['min_length']} value(s) {where}".rstrip(),
                           hint=f"give {flag} a value")
        for rule, (ok, sign) in _BOUNDS.items():
            if rule in rules and not isinstance(value, bool) and not ok(value, rules[rule]):
                raise BadInput(f"{flag} {value}: must be {sign} {rules[rule]} {where}".rstrip(),
                               hint=f"pass {flag} {sign} {rules[rule]}")
        if "item_ge" in rules:
            bad = next((v for v in items if v < rules["item_ge"]), None)
            if bad is not None:
                raise BadInput(f"{flag} {bad}: each value must be ≥ {rules['item_ge']} {where}".rstrip(),
                               hint=f"e.g. {flag} 1")
        if rules.get("choices"):
            bad = next((v for v in items if v not in rules["choices"]), None)
            if bad is not None:
                raise BadInput(f"unknown {flag} '{bad}' {where}".rstrip(),
                               hint=suggest(str(bad), list(rules["choices"])))


def recipe_fields(cls: type, scope: str) -> list[Field]:
    """The fields of options dataclass `cls` that recipes take at `scope`, in definition order."""
    return [f for f in fields(cls) if f.metadata.get("recipe") == scope]


@dataclass(frozen=True)
class ConvertOptions:
    opset: int | None = option(None, recipe="target", ge=7)  # None: the converter's default (17 for torch)
    input_shapes: dict[str, tuple[Dim, ...]] = option(  # '' = the only input
        recipe="model", factory=dict, flag="--input-shape", recipe_type=dict[str, list[int | str]] | None)
    dynamic: bool = option(True, recipe="target", flag="--static")  # dynamic batch axis
    # name/shape/dtype/dynamic axes per input (--input-shape/--input-dtype/--dynamic-axis); input_shapes is
    # folded in and kept as the shapes' view of these specs (recipes spell them input_dtypes / dynamic_axes)
    input_specs: tuple[InputSpec, ...] = ()
    # loading
    weights: str | None = option(None, recipe="model", path=True)
    model_args: dict[str, Any] = option(recipe="model", factory=dict)
    allow_pickle: bool = option(False, recipe="model")
    allow_unsafe: bool = option(False, recipe="model")  # Keras safe_mode=False; HF folders' own code (auto_map)
    task: str | None = option(None, recipe="model")  # HF folders: the head to export (default: architectures[0])
    custom_objects: str | None = option(None, recipe="model")  # module whose Keras custom objects to register
    # TF side
    keep_layout: bool = option(False, recipe="target")  # ask onnx2tf to keep NCHW where it can
    # mobile / web prep
    quantize: str | None = option(None, recipe="target", choices=QUANTIZE_KINDS)  # fp16 | dynamic | int8
    calibration: str | None = option(None, recipe="target", path=True)
    int8_io: bool = option(False, recipe="target")
    # int8 layers kept in float: names, or ("auto",) = the most sensitive ones until the gate holds
    # (portkit.quantsense, portkit.prep.keep_float); recipes also take a comma-separated string
    keep_float: tuple[str, ...] = option((), recipe="target", recipe_type=str | list[str] | None)
    keep_float_max: int | None = option(None, recipe="target", ge=1)  # None: 10 % of the quantized layers
    # labelled data (--eval-data): the most top-1 accuracy the result may lose against its source (0.01 = one
    # point); a gate on the result (exit 1) and, with --keep-float auto, a target of the search
    max_drop: float | None = option(None, recipe="target", ge=0, le=1)
    optimize: bool = option(False, recipe="target")
    # route: keep only routes that use this tool for a hop (e.g. "tf2onnx", "litert-torch", "keras export")
    tool: str | None = option(None, recipe="target")
    # ONNX dynamic/int8 quantization with 7-bit weights: x86 without VNNI overflows with full-range ones
    reduce_range: bool = option(True, recipe="target")
    web_model: str = option("onnx", recipe="target", choices=WEB_MODELS)  # the model a web bundle holds
    # converters' warnings and logs reach stderr (the CLI's --debug; PORTKIT_DEBUG=1 for the API)
    debug: bool = option(factory=debug_requested)
    # causal LMs (portkit.generative): None exports with the key/value cache where the model has one,
    # True insists (exit 2 when it has none), False keeps the one-pass graph (--cache/--no-cache)
    cache: bool | None = option(None, recipe="target")
    # causal LMs to tflite / executorch: the static cache's length (None: the model's context, at most 1024)
    cache_length: int | None = option(None, recipe="target", ge=2)

    def __post_init__(self) -> None:
        _sync_specs(self)
        object.__setattr__(self, "keep_float", keep_float_names(self.keep_float))
        check_rules(self)


@dataclass(frozen=True)
class ValidateOptions:
    atol: float | None = option(None, recipe="validate", ge=0)  # None: per-dtype default
    rtol: float | None = option(None, recipe="validate", ge=0)
    per_output: dict[str, tuple[float, float]] = option(recipe="validate", factory=dict, alias="tolerances",
                                                        flag="--tolerance")
    # None: 1 and 2 when the batch is dynamic (plus 7 in sweeps)
    batches: tuple[int, ...] | None = option(None, recipe="validate", min_length=1, item_ge=1, flag="--batch",
                                             recipe_type=list[int] | None)
    samples: int = option(1, recipe="validate", ge=1)
    seed: int = 0  # recipes: the recipe's `seed`
    inputs: str | None = option(None, recipe="validate", path=True)  # .npz or folder of .npy
    input_shapes: dict[str, tuple[Dim, ...]] = field(default_factory=dict)
    input_specs: tuple[InputSpec, ...] = ()  # as ConvertOptions.input_specs
    tokens: int = option(32, recipe="validate", ge=1)  # causal LMs: greedy tokens generated per prompt

    def __post_init__(self) -> None:
        _sync_specs(self)
        check_rules(self)


def _sync_specs(opts: Any) -> None:
    """One definition: input_shapes (the older field) folds into input_specs, then mirrors their shapes."""
    if not opts.input_specs and not opts.input_shapes:
        return
    shapes = {k: tuple(v) for k, v in (opts.input_shapes or {}).items()}
    specs = merge_input_specs(tuple(opts.input_specs or ()),
                              tuple(InputSpec(k, v) for k, v in shapes.items()))
    object.__setattr__(opts, "input_specs", specs)
    # axes named dynamic (--dynamic-axis) stay symbolic here: their size is an example, not a fixed shape
    object.__setattr__(opts, "input_shapes", {s.name: s.symbolic_shape(False) for s in specs if s.shape is not None})


# ---------------------------------------------------------------- keywords → options (the API, recipes, bench)

_CONVERT_FIELDS = {f.name for f in fields(ConvertOptions)}
_VALIDATE_FIELDS = {f.name for f in fields(ValidateOptions)}


def static_batch(opts: ConvertOptions) -> int:
    """The batch size a fixed-shape (--static) conversion takes: the first input's --input-shape batch, else
    1. Converters export at it and validation checks at it."""
    for dims in opts.input_shapes.values():
        if dims and isinstance(dims[0], int) and dims[0] > 0:
            return dims[0]
        break
    return 1


def shapes_of(value: Any) -> dict[str, tuple]:
    """Input shapes as the API and recipes take them (a list of ints, {name: dims}, "1,3,8,8" or
    ["x=1,3,8,8"]) as {name: dims}; '' is the only input."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {k: tuple(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)) and value and all(isinstance(d, int) for d in value):
        return {"": tuple(value)}
    if isinstance(value, str):
        value = [value]
    return parse_input_shapes(list(value))


def user_path(value: str | Path | None) -> str | None:
    """A user's file argument made absolute once, at the edge (API keywords, recipes): converters and workers may change
    directory (onnx2tf works in its own folder), so a relative path must not travel further in.
    `pkg.module:factory` references and None pass through."""
    if value is None or value == "":
        return None
    text = str(value)
    if is_reference(text):
        return text
    return os.path.abspath(os.path.expanduser(text))


_PATH_OPTIONS = ("weights", "calibration")


def fold_input_specs(options: dict[str, Any]) -> None:
    """Fold the input keywords into options["input_specs"] (one definition): `input_specs` (InputSpec or
    dicts), `input_shapes`, `input_dtypes` ({name: dtype} or ["name=dtype"]) and `dynamic_axes`
    ({name: {axis: symbol}} or ["name=axis:symbol"]), the CLI's --input-shape/--input-dtype/--dynamic-axis."""
    given = options.pop("input_specs", None) or ()
    specs = tuple(s if isinstance(s, InputSpec) else InputSpec.from_dict(dict(s)) for s in given)
    dtypes, axes = options.pop("input_dtypes", None), options.pop("dynamic_axes", None)
    shapes = options.get("input_shapes")
    if dtypes or axes:
        specs = merge_input_specs(specs, parse_input_specs(shapes_of(shapes) or None, dtypes, axes))
    if specs:
        options["input_specs"] = specs


def _checked(options: dict[str, Any], valid: set[str], kind: str) -> dict[str, Any]:
    """The part convert and validate options share: input keywords folded into specs, unknown names refused,
    shapes in their one form."""
    fold_input_specs(options)
    unknown = set(options) - valid
    if unknown:
        raise BadInput(f"unknown {kind} option(s): {sorted(unknown)}", hint=f"valid: {sorted(valid)}")
    if "input_shapes" in options:
        options["input_shapes"] = shapes_of(options["input_shapes"])
    return options


def convert_options(**options: Any) -> ConvertOptions:
    _checked(options, _CONVERT_FIELDS, "conversion")
    for key in _PATH_OPTIONS:
        if options.get(key):
            options[key] = user_path(options[key])
    if isinstance(options.get("model_args"), str):
        try:
            options["model_args"] = json.loads(options["model_args"])
        except json.JSONDecodeError as e:
            raise BadInput(
                f"--model-args is not valid JSON ({e})", hint="write it like '{\"num_classes\": 10}'"
            ) from e
    return ConvertOptions(**options)


def keep_float_names(value: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """--keep-float as the API, CLI and recipes give it ("auto", "a,b" or a list) in its one form."""
    if not value:
        return ()
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    names = tuple(dict.fromkeys(n.strip() for n in items if n.strip()))
    if "auto" in names and len(names) > 1:
        raise BadInput("--keep-float takes 'auto' or layer names, not both", hint="e.g. --keep-float auto")
    return names


def validate_options(**options: Any) -> ValidateOptions:
    _checked(options, _VALIDATE_FIELDS, "validation")
    if options.get("inputs"):
        options["inputs"] = user_path(options["inputs"])
    if options.get("batches") is not None:
        options["batches"] = tuple(options["batches"])
    return ValidateOptions(**options)
