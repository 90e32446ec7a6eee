"""The recipe schema (pydantic, every level `extra="forbid"`); its loader and error messages are
portkit.recipes.loading.

A recipe is checked completely — YAML syntax, keys, types, value ranges, the files it names, gates that
need a step — before anything runs; every problem is reported at once with its key path
(`models[0].targets[1].quantize`) and the fix, as one exit-2 error.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from dataclasses import MISSING
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from portkit.errors import BadInput
from portkit.options import ConvertOptions, ValidateOptions, recipe_fields, rules_of
from portkit.signature import specs_from_keywords

__all__ = [
    "Recipe",
    "ModelSpec",
    "Target",
    "ValidateStep",
    "BenchStep",
    "GateSpec",
    "TritonSpec",
    "ExportSpec",
    "RecipeError",
    "effective",
    "effective_gates",
]

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")  # pkg.module:factory, not a path


class RecipeError(BadInput):
    """A recipe that does not pass the schema (exit 2). `.problems`: [(key path, message, fix)]."""

    def __init__(self, path: str | Path, problems: list[tuple[str, str, str]]) -> None:
        text = "; ".join(f"{loc}: {msg}" + (f" — {fix}" if fix else "") for loc, msg, fix in problems)
        n = len(problems)
        super().__init__(
            f"recipe has {n} problem{'s' if n > 1 else ''}: {text}",
            path=path,
            hint="nothing was run or written",
        )
        self.problems = problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _toggle(value: Any) -> Any:
    """`step: true` → defaults, `step: false` → off, `step: {...}` → options."""
    if value is True or value is None:
        return {}
    if value is False:
        return {"enabled": False}
    return value


class _Options(_Strict):
    """A recipe section generated from an options dataclass (portkit.options.option fields of one scope):
    the dataclass is the one definition of each option, this class only adds the recipe's own keys."""

    _options_of: ClassVar[tuple[type, str]]

    def option_values(self, resolve: Callable[[str | None], str | None] = lambda v: v) -> dict[str, Any]:
        """{dataclass field: value} for the options this section sets; files resolved with `resolve`, YAML
        lists as the dataclass's tuples."""
        cls, scope = self._options_of
        out: dict[str, Any] = {}
        for f in recipe_fields(cls, scope):
            value = getattr(self, f.name)
            if rules_of(f).get("path"):
                value = resolve(value)
            elif isinstance(value, list):
                value = tuple(value)
            out[f.name] = value
        return out


def section_model(name: str, base: type[_Options], cls: type, scope: str, doc: str) -> Any:
    """`base` plus one pydantic field per option of `cls` at `scope`, typed, defaulted and checked as the
    option's definition says."""
    hints = typing.get_type_hints(cls)
    defs: dict[str, Any] = {}
    for f in recipe_fields(cls, scope):
        rules = rules_of(f)
        tp = rules.pop("recipe_type", hints[f.name])
        choices, item_ge = rules.pop("choices", None), rules.pop("item_ge", None)
        if choices or item_ge is not None:
            item = Literal[choices] if choices else Annotated[int, Field(ge=item_ge)]
            many = typing.get_origin(tp) in (list, tuple) or list in typing.get_args(tp) or any(
                typing.get_origin(a) in (list, tuple) for a in typing.get_args(tp))
            tp = list[item] if many else item
            if f.default is None:
                tp = tp | None
        kw = {k: v for k, v in rules.items() if k in ("ge", "gt", "le", "min_length", "pattern")}
        if "alias" in rules:
            kw["alias"] = rules["alias"]
        if f.default_factory is not MISSING:
            default = Field(default_factory=f.default_factory, **kw)
        else:
            value = list(f.default) if isinstance(f.default, tuple) else f.default
            default = Field(default_factory=lambda v=value: list(v), **kw) if isinstance(value, list) \
                else Field(value, **kw)
        defs[f.name] = (tp, default)
    model = create_model(name, __base__=base, __doc__=doc, __module__=__name__, **defs)
    model._options_of = (cls, scope)
    return model


class _ValidateBase(_Options):
    enabled: bool = True
    eval_data: str | None = None  # labelled .npz: accuracy before/after (quantized targets)


ValidateStep = section_model(
    "ValidateStep", _ValidateBase, ValidateOptions, "validate",
    "Compare each target with the source (hop by hop and end to end); options: portkit.options.ValidateOptions.")


class _BenchBase(_Options):
    enabled: bool = True
    reference: bool = False  # benchmark the source beside the target

    @model_validator(mode="after")
    def _as_options(self) -> Any:
        """The dataclass's own checks (one budget: duration or iterations, ...)."""
        from portkit.options import BenchOptions

        if getattr(self, "duration", None) is not None and getattr(self, "iterations", None) is not None:
            raise ValueError("give duration or iterations, not both")
        try:
            BenchOptions(**self.option_values())
        except BadInput as e:
            raise ValueError(e.message) from None
        return self


def _bench_step() -> Any:
    from portkit.options import BenchOptions

    return section_model("BenchStep", _BenchBase, BenchOptions, "bench",
                      "Benchmark each target (and the source with `reference: true`); options: "
                      "portkit.options.BenchOptions.")


BenchStep = _bench_step()


class GateSpec(_Strict):
    """Limits; see docs/recipes.md. `max_latency_ms: 5` gates the p50, `{p99: 8}` the p99."""

    max_error: float | None = Field(None, ge=0)
    min_agreement: float | None = Field(None, ge=0, le=1)
    max_latency_ms: dict[Literal["p50", "p99"], float] | None = None
    max_size_mb: float | None = Field(None, gt=0)
    baseline: str | None = None  # an earlier manifest.json or --json result
    max_regression: float | None = Field(None, ge=0)  # percent

    @field_validator("max_latency_ms", mode="before")
    @classmethod
    def _latency(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("write a number of milliseconds (p50), or {p99: 8}")
        if isinstance(v, (int, float)):
            return {"p50": v}
        if isinstance(v, str):
            from portkit.gates import parse_latency

            try:
                stat, limit = parse_latency(v)
            except BadInput as e:
                raise ValueError(e.one_line()) from None
            return {stat: limit}
        return v

    @field_validator("max_latency_ms")
    @classmethod
    def _one_stat(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is not None and (len(v) != 1 or any(x <= 0 for x in v.values())):
            raise ValueError("one statistic with a positive limit, e.g. 5 or {p99: 8}")
        return v

    @model_validator(mode="after")
    def _pair(self) -> GateSpec:
        if (self.baseline is None) != (self.max_regression is None):
            raise ValueError(
                "baseline and max_regression go together (e.g. baseline: last/manifest.json, "
                "max_regression: 10)"
            )
        return self

    def gates(self) -> Any:
        from portkit.gates import Gates

        lat = self.max_latency_ms or {}
        ((stat, limit),) = lat.items() if lat else (("p50", None),)
        return Gates(
            max_error=self.max_error,
            min_agreement=self.min_agreement,
            max_latency_ms=limit,
            latency_stat=stat,
            max_size_mb=self.max_size_mb,
            baseline=self.baseline,
            max_regression=self.max_regression,
        )


class _TritonBase(_Options):
    enabled: bool = True


def _triton_spec() -> Any:
    from portkit.serving.options import TritonOptions

    return section_model("TritonSpec", _TritonBase, TritonOptions, "triton",
                         "A Triton model repository entry of an ONNX target; options: "
                         "portkit.serving.options.TritonOptions (`portkit export triton`'s flags).")


TritonSpec = _triton_spec()


class ExportSpec(_Strict):
    triton: TritonSpec | None = None  # `triton: true` or options; ONNX targets only

    @field_validator("triton", mode="before")
    @classmethod
    def _toggle_triton(cls, v: Any) -> Any:
        return None if v is False else _toggle(v)


class _Steps(_Strict):
    """The validate / bench / gates sections that defaults, a model and a target may each set (a target's
    None falls back to its model's, a model's to the defaults); `validate: false` switches a step off."""

    validate_: ValidateStep | None = Field(None, alias="validate")
    bench: BenchStep | None = None
    gates: GateSpec | None = None

    @field_validator("validate_", "bench", mode="before")
    @classmethod
    def _toggle_steps(cls, v: Any) -> Any:
        return _toggle(v)


class _TargetBase(_Steps, _Options):
    to: str
    name: str | None = Field(None, pattern=NAME)  # folder name under OUT/MODEL/ (default: to[-quantize])
    via: str | None = None
    clean: bool = False
    export: ExportSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _quantize_block(cls, data: Any) -> Any:
        """`quantize: {mode: int8, keep_float: auto, keep_float_max: 3, calibration: c.npz}` is the same as
        those keys beside `quantize: int8` (one definition: the ConvertOptions fields)."""
        if not isinstance(data, dict) or not isinstance(data.get("quantize"), dict):
            return data
        block = dict(data["quantize"])
        unknown = set(block) - {"mode", "keep_float", "keep_float_max", "max_drop", "calibration", "int8_io"}
        if unknown or "mode" not in block:
            raise ValueError(f"quantize takes mode, keep_float, keep_float_max, max_drop, calibration and int8_io"
                             f"{f' (not {sorted(unknown)})' if unknown else ' (mode is required)'}")
        twice = sorted(k for k in block if k != "mode" and k in data)
        if twice:
            raise ValueError(f"{twice} given both inside quantize and beside it")
        return {**data, **{k: v for k, v in block.items() if k != "mode"}, "quantize": block["mode"]}

    @field_validator("to", "via")
    @classmethod
    def _format(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from portkit.formats import Format

        try:
            return Format.parse(v).value
        except BadInput as e:
            raise ValueError(f"{e.message} ({e.hint})") from None

    @property
    def label(self) -> str:
        quantize = getattr(self, "quantize", None)
        return self.name or (f"{self.to}-{quantize}" if quantize else self.to)


Target = section_model("Target", _TargetBase, ConvertOptions, "target",
                    "One conversion of the model: a format, with its options (portkit.options.ConvertOptions "
                    "fields of scope 'target'), checks and exports.")


class Defaults(_Steps):
    """Steps every model inherits unless it sets its own."""


class _ModelBase(_Steps, _Options):
    name: str = Field(pattern=NAME)
    source: str  # a model file/folder, or pkg.module:factory for an eager PyTorch model
    # the recipe's spellings of the one input description (portkit.signature.InputSpec), parsed by
    # portkit.signature.specs_from_keywords into ConvertOptions.input_specs
    input_shapes: dict[str, list[int | str]] | None = None  # {input_ids: [1, 16]}, or [1, 3, 64, 64]
    input_dtypes: dict[str, str] | None = None  # {input_ids: int64}
    dynamic_axes: dict[str, dict[int, str]] | None = None  # {input_ids: {1: sequence}}
    targets: list[Target] = Field(min_length=1)

    @field_validator("input_shapes", mode="before")
    @classmethod
    def _shapes(cls, v: Any) -> Any:
        return {"": v} if isinstance(v, list) else v

    def loading(self, resolve: Callable[[str | None], str | None]) -> dict[str, Any]:
        """The keywords that load this model (portkit.options.convert_options / bench take them)."""
        spelled = {"input_shapes": self.input_shapes, "input_dtypes": self.input_dtypes,
                   "dynamic_axes": self.dynamic_axes}
        return {**self.option_values(resolve), "input_specs": specs_from_keywords(spelled)}


ModelSpec = section_model("ModelSpec", _ModelBase, ConvertOptions, "model",
                       "A source model (portkit.options.ConvertOptions fields of scope 'model') and the targets "
                       "to produce from it.")


class Recipe(_Strict):
    """A deployment recipe: models, each converted to targets, validated, benchmarked, gated, exported."""

    version: Literal[1] = 1
    name: str | None = None
    seed: int = 0  # random validation/benchmark inputs
    out: str | None = None  # output folder (default: ./portkit-out, or --out)
    defaults: Defaults = Field(default_factory=Defaults)
    models: list[ModelSpec] = Field(min_length=1)

    @field_validator("defaults", mode="before")
    @classmethod
    def _empty_defaults(cls, v: Any) -> Any:
        return {} if v is None else v

    # set by the loader, not by the YAML
    base_dir: str = Field(".", exclude=True)
    path: str | None = Field(None, exclude=True)
    sha256: str | None = Field(None, exclude=True)

    def resolve(self, value: str | None) -> str | None:
        """A path from the recipe, relative to the recipe's folder; references (pkg.mod:fn) unchanged."""
        if value is None or REFERENCE.match(value):
            return value
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else Path(self.base_dir) / p)


def effective(recipe: Recipe, model: ModelSpec, target: Target, section: str) -> Any:
    """A step's options: the target's, else the model's, else the recipe defaults' (validation is on
    by default, benchmarking off)."""
    for holder in (target, model, recipe.defaults):
        step = getattr(holder, "validate_" if section == "validate" else section)
        if step is not None:
            return step
    return ValidateStep() if section == "validate" else None


def effective_gates(recipe: Recipe, model: ModelSpec, target: Target) -> Any:
    """Gates merged key by key: defaults, then the model's, then the target's."""
    from portkit.gates import Gates

    g = Gates()
    for holder in (recipe.defaults, model, target):
        if holder.gates is not None:
            g = g.merged(holder.gates.gates())
    if g.baseline is not None:
        g = Gates(**{**g.to_dict(), "baseline": recipe.resolve(g.baseline)})
    return g
