"""Frozen option objects. The CLI builds them; the core never sees typer objects."""
from __future__ import annotations

import enum
import json
import os
import re
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import BadInput
from .formats import ALL_KINDS, Quantize, is_reference, suggest
from .signature import Dim, InputSpec, spec_shapes, specs_from_keywords

__all__ = ["PROVIDERS", "QUANTIZE_KINDS", "WEB_MODELS", "BenchOptions", "ConvertOptions", "Provider", "Quantize",
           "ValidateOptions", "check_rules", "convert_options", "debug_requested", "flag_of", "keep_float_names",
           "option", "parse_tolerances", "recipe_fields", "rules_of", "user_path", "validate_options"]


class Provider(str, enum.Enum):
    """onnxruntime execution providers portkit benchmarks and serves with (--provider)."""

    CPU = "cpu"
    CUDA = "cuda"
    TENSORRT = "tensorrt"


QUANTIZE_KINDS: tuple[str, ...] = ALL_KINDS
PROVIDERS: tuple[str, ...] = tuple(p.value for p in Provider)

RECIPE_SCOPES = ("model", "target", "validate", "bench", "triton")
WEB_MODELS = ("onnx", "ort")  # what a web bundle carries: the ONNX file, or its ORT flatbuffer


def debug_requested() -> bool:
    """--debug: the CLI sets PORTKIT_DEBUG for the whole command (its workers inherit it), so every options
    object built during that command says so too."""
    return bool(os.environ.get("PORTKIT_DEBUG"))


def option(default: Any = MISSING, *, recipe: str | None = None, factory: Any = MISSING, **rules: Any) -> Any:
    """A field of an options dataclass, the one definition of that option: its default, where a recipe
    takes it (`recipe`: "model", "target", "validate" or "bench"; None: not in recipes), its command-line
    flag and the rules every entry point checks it with — pydantic's `ge`/`gt`/`min_length`, `choices`
    (allowed strings), `item_ge` (each list item ≥), `pattern` (a regular expression the whole text matches),
    `path` (a file, read relative to the recipe), `alias`
    (the recipe key when it differs), `recipe_type` (the YAML spelling when it differs from the field's Python
    type); for the CLI `help` (the flag's help; a field without it has no flag), `flag` (when it is not
    --the-field-name), `negative` (the off switch of a bool: --static), `short` (-p), `cli_type` (the
    command-line type when it differs: JSON text, a comma list) and `cli="inputs"` (the --input-shape/
    --input-dtype/--dynamic-axis trio). The recipe schema (portkit.recipes.schema), the recipe runner and
    the CLI flags (portkit.commands._options) are generated from these, and every options dataclass enforces
    the rules when built (`check_rules`), so a new option is this field and nothing else."""
    assert recipe is None or recipe in RECIPE_SCOPES, recipe
    return field(default=default, default_factory=factory, metadata={"recipe": recipe, **rules})


def rules_of(f: Field) -> dict[str, Any]:
    """The definition of an option field beyond its type and default: recipe scope, rules, flag, help."""
    return dict(f.metadata)


def flag_of(f: Field) -> str:
    """The CLI flag of an option field (`flag` in its definition where it is not --the-field-name)."""
    return rules_of(f).get("flag") or "--" + f.name.replace("_", "-")


_BOUNDS = {"ge": (lambda v, b: v >= b, "≥"), "gt": (lambda v, b: v > b, ">"), "le": (lambda v, b: v <= b, "≤")}


def check_rules(opts: Any) -> None:
    """Enforce each field's rules (ge/gt/le, min_length, item_ge, choices) as its definition states them.
    Every options dataclass runs this when built, so the CLI, the API, recipes, bench and prep refuse a bad
    value alike (exit 2), in one line naming the flag and, for recipes, the key."""
    for f in fields(opts):
        rules, value = rules_of(f), getattr(opts, f.name)
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
        if "pattern" in rules and isinstance(value, str) and not re.fullmatch(rules["pattern"], value):
            raise BadInput(f"{flag} '{value}': must match {rules['pattern']} {where}".rstrip(),
                           hint=f"e.g. {flag} my-model")
        if rules.get("choices"):
            bad = next((v for v in items if v not in rules["choices"]), None)
            if bad is not None:
                raise BadInput(f"unknown {flag} '{bad}' {where}".rstrip(),
                               hint=suggest(str(bad), list(rules["choices"])))


def recipe_fields(cls: type, scope: str) -> list[Field]:
    """The fields of options dataclass `cls` that recipes take at `scope`, in definition order."""
    return [f for f in fields(cls) if rules_of(f).get("recipe") == scope]


@dataclass(frozen=True)
class ConvertOptions:
    opset: int | None = option(None, recipe="target", ge=7,  # None: the converter's default (17 for torch)
                               help="ONNX opset for ONNX exports.")
    # the one description of the inputs: name/shape/dtype/dynamic axes per input, parsed once at the edge
    # (the CLI's --input-shape/--input-dtype/--dynamic-axis; the API's and recipes' keywords for them are
    # portkit.signature.INPUT_KEYWORDS, parsed by specs_from_keywords)
    input_specs: tuple[InputSpec, ...] = option((), flag="--input-shape", cli="inputs")
    dynamic: bool = option(True, recipe="target", negative="--static",  # dynamic batch axis
                           help="Dynamic batch axis (default) or static shapes.")
    # loading
    weights: str | None = option(None, recipe="model", path=True,
                                 help="state_dict (.pt, loaded weights_only) or Keras weights.")
    model_args: dict[str, Any] = option(recipe="model", factory=dict, cli_type=str,  # JSON on the command line
                                        help="JSON keyword arguments for the factory, e.g. '{\"num_classes\": 10}'.")
    allow_pickle: bool = option(False, recipe="model",
                                help="Allow loading a pickled PyTorch module (runs code from the file).")
    allow_unsafe: bool = option(False, recipe="model",  # Keras safe_mode=False; HF folders' own code (auto_map)
                                help="Run code the model carries: Keras safe_mode=False (Lambda layers), a Hugging "
                                     "Face folder's own modelling code (trust_remote_code).")
    task: str | None = option(None, recipe="model",  # HF folders: the head to export (default: architectures[0])
                              help="Hugging Face folders: the task to export (default from architectures[0]): "
                                   "feature-extraction, text-classification, fill-mask, text-generation, ...")
    custom_objects: str | None = option(None, recipe="model",  # module whose Keras custom objects to register
                                        help="Module registering Keras custom objects.")
    # TF side
    keep_layout: bool = option(False, recipe="target", help="Ask onnx2tf to keep NCHW where it can.")
    # mobile / web prep
    quantize: str | None = option(None, recipe="target", choices=QUANTIZE_KINDS,  # fp16 | dynamic | int8 | int4
                                  help="fp16, dynamic or int8 (TFLite, ONNX and ExecuTorch targets; ExecuTorch: "
                                       "int8, dynamic); int4: a causal LM exported with its cache (onnx, executorch).")
    calibration: str | None = option(None, recipe="target", path=True,
                                     help="Calibration data for int8 (.npz or folder of .npy).")
    int8_io: bool = option(False, recipe="target", help="Integer inputs/outputs for full-int8 TFLite.")
    # int8 layers kept in float: names, or ("auto",) = the most sensitive ones until the gate holds
    # (portkit.quantsense, portkit.prep.keep_float); recipes and the CLI also take a comma-separated string
    keep_float: tuple[str, ...] = option((), recipe="target", recipe_type=str | list[str] | None, cli_type=str,
                                         help="int8: keep these layers float (NAME,...), or 'auto': the most "
                                              "sensitive ones until the gate (--min-agreement/--max-error/--max-drop) "
                                              "holds.")
    keep_float_max: int | None = option(None, recipe="target", ge=1,  # None: 10 % of the quantized layers
                                        help="--keep-float auto: at most this many float layers (default 10% of "
                                             "the quantized layers).")
    # labelled data (--eval-data): the most top-1 accuracy the result may lose against its source (0.01 = one
    # point); a gate on the result (exit 1) and, with --keep-float auto, a target of the search
    max_drop: float | None = option(None, recipe="target", ge=0, le=1,
                                    help="With --eval-data: fail (exit 1) when top-1 accuracy falls more than this "
                                         "below the source's (0.01 = one point); a target of --keep-float auto.")
    optimize: bool = option(False, recipe="target",
                            help="Offline graph optimisation (onnxslim / onnxruntime), validated.")
    # route: keep only routes that use this tool for a hop (e.g. "tf2onnx", "litert-torch", "keras export")
    tool: str | None = option(None, recipe="target",
                              help="Keep only routes using this tool for a hop (e.g. tf2onnx, 'keras export', "
                                   "litert-torch, onnx2tf; see `portkit routes`).")
    # ONNX dynamic/int8 quantization with 7-bit weights: x86 without VNNI overflows with full-range ones
    reduce_range: bool = option(True, recipe="target", negative="--full-range",
                                help="ONNX dynamic/int8 weights in 7 bits (default: x86 without VNNI overflows "
                                     "with 8) or the full 8 (ARM-only deployments).")
    web_model: str = option("onnx", recipe="target", choices=WEB_MODELS,  # the model a web bundle holds
                            help="The model a web bundle holds: onnx or ort.")
    # converters' warnings and logs reach stderr (the CLI's global --debug; PORTKIT_DEBUG=1 for the API)
    debug: bool = option(factory=debug_requested)
    # causal LMs (portkit.generative): None exports with the key/value cache where the model has one,
    # True insists (exit 2 when it has none), False keeps the one-pass graph (--cache/--no-cache)
    cache: bool | None = option(None, recipe="target", negative="--no-cache",
                                help="Causal LMs: export with the key/value cache (default where the model has "
                                     "one) or as one pass (--no-cache).")
    # causal LMs to tflite / executorch: the static cache's length (None: the model's context, at most 1024)
    cache_length: int | None = option(None, recipe="target", ge=2,
                                      help="Causal LMs to tflite/executorch: static cache length (default: the "
                                           "model's context, at most 1024).")

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_specs", _specs(self.input_specs))
        object.__setattr__(self, "keep_float", keep_float_names(self.keep_float))
        check_rules(self)

    @property
    def shapes(self) -> dict[str, tuple[Dim, ...]]:
        """The inputs' shapes the command gave, {name: dims} ('' = the only input)."""
        return spec_shapes(self.input_specs)


def static_batch(opts: ConvertOptions) -> int:
    """The batch size a fixed-shape (--static) conversion takes: the first input's --input-shape batch, else
    1. Converters export at it and validation checks at it."""
    for dims in opts.shapes.values():
        if dims and isinstance(dims[0], int) and dims[0] > 0:
            return dims[0]
        break
    return 1


@dataclass(frozen=True)
class ValidateOptions:
    atol: float | None = option(None, recipe="validate", ge=0,  # None: per-dtype default
                                help="Absolute tolerance (default per dtype; fp32 1e-4).")
    rtol: float | None = option(None, recipe="validate", ge=0,
                                help="Relative tolerance (default per dtype; fp32 1e-4).")
    # {output: (atol, rtol)}; the CLI and the API also take ["name=atol,rtol"] (parse_tolerances)
    per_output: dict[str, tuple[float, float]] = option(recipe="validate", factory=dict, alias="tolerances",
                                                        flag="--tolerance", cli_type=list[str],
                                                        help="Per output: name=atol,rtol (repeatable).")
    # None: 1 and 2 when the batch is dynamic (plus 7 in sweeps)
    batches: tuple[int, ...] | None = option(None, recipe="validate", min_length=1, item_ge=1, flag="--batch",
                                             recipe_type=list[int] | None, cli_type=list[int],
                                             help="Batch sizes to sweep (default 1, 2, 7 when dynamic).")
    samples: int = option(1, recipe="validate", ge=1, help="Random sample sets per batch size.")
    seed: int = option(0, help="Seed for random inputs.")  # recipes: the recipe's `seed`
    inputs: str | None = option(None, recipe="validate", path=True,  # .npz or folder of .npy
                                help="Validate on this data (.npz with one array per input, or a folder of .npy).")
    input_specs: tuple[InputSpec, ...] = option((), flag="--input-shape", cli="inputs")  # as ConvertOptions'
    tokens: int = option(32, recipe="validate", ge=1,  # causal LMs: greedy tokens generated per prompt
                         help="Causal LMs: greedy tokens generated per prompt by the validation.")

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_specs", _specs(self.input_specs))
        check_rules(self)

    @property
    def shapes(self) -> dict[str, tuple[Dim, ...]]:
        """The inputs' shapes the command gave, {name: dims} ('' = the only input)."""
        return spec_shapes(self.input_specs)


def _specs(given: Any) -> tuple[InputSpec, ...]:
    """input_specs as a tuple of InputSpec (the API may hand a list, or the dicts of a sidecar)."""
    return tuple(s if isinstance(s, InputSpec) else InputSpec.from_dict(dict(s)) for s in given or ())


# ---------------------------------------------------------------- keywords → options (the API, recipes, bench)


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


def _checked(options: dict[str, Any], valid: set[str], kind: str) -> dict[str, Any]:
    """The part convert and validate options share: the input keywords parsed into the one InputSpec
    description (portkit.signature.specs_from_keywords), unknown names refused."""
    specs = specs_from_keywords(options)
    if specs:
        options["input_specs"] = specs
    unknown = set(options) - valid
    if unknown:
        raise BadInput(f"unknown {kind} option(s): {sorted(unknown)}", hint=f"valid: {sorted(valid)}")
    return options


def convert_options(cls: type[ConvertOptions] = ConvertOptions, /, **options: Any) -> ConvertOptions:
    """ConvertOptions (or the subclass `cls`) from keywords as the API, the CLI and recipes give them: the
    input keywords parsed into specs, paths made absolute, --model-args JSON read."""
    _checked(options, {f.name for f in fields(cls)}, "conversion")
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
    return cls(**options)


def parse_tolerances(values: list[str] | tuple[str, ...]) -> dict[str, tuple[float, float]]:
    """Per-output tolerances as the CLI spells them (--tolerance logits=1e-4,1e-3) as {name: (atol, rtol)}."""
    out: dict[str, tuple[float, float]] = {}
    for v in values:
        name, _, tol = str(v).partition("=")
        try:
            atol, _, rtol = tol.partition(",")
            out[name] = (float(atol), float(rtol or 0.0))
        except ValueError as e:
            raise BadInput(f"bad --tolerance '{v}'", hint="write it like logits=1e-4,1e-3") from e
    return out


def keep_float_names(value: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """--keep-float as the API, CLI and recipes give it ("auto", "a,b" or a list) in its one form."""
    if not value:
        return ()
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    names = tuple(dict.fromkeys(n.strip() for n in items if n.strip()))
    if "auto" in names and len(names) > 1:
        raise BadInput("--keep-float takes 'auto' or layer names, not both", hint="e.g. --keep-float auto")
    return names


def validate_options(cls: type[ValidateOptions] = ValidateOptions, /, **options: Any) -> ValidateOptions:
    """ValidateOptions (or `cls`) from keywords: input keywords parsed, per-output tolerances as
    {name: (atol, rtol)} or the CLI's ["name=atol,rtol"], the data path made absolute."""
    _checked(options, {f.name for f in fields(cls)}, "validation")
    if options.get("per_output") is not None and not isinstance(options["per_output"], dict):
        options["per_output"] = parse_tolerances(options["per_output"])
    if options.get("inputs"):
        options["inputs"] = user_path(options["inputs"])
    if options.get("batches") is not None:
        options["batches"] = tuple(options["batches"])
    return cls(**options)


# ---------------------------------------------------------------- portkit bench (portkit.benchmark)

@dataclass(frozen=True)
class BenchOptions:
    # for ONNX models; framework runtimes run on their own device
    providers: tuple[str, ...] = option(("cpu",), recipe="bench", choices=PROVIDERS, min_length=1, flag="--provider",
                                        recipe_type=list[str], short="-p", cli_type=str,  # "cpu,cuda" on the CLI
                                        help="ONNX execution providers: cpu,cuda,tensorrt.")
    batches: tuple[int, ...] = option((1,), recipe="bench", min_length=1, item_ge=1, flag="--batch",
                                      recipe_type=list[int], short="-b", cli_type=str,  # "1,8,32" on the CLI
                                      help="Batch sizes, e.g. 1,8,32 (static models: their own).")
    iterations: int | None = option(None, recipe="bench", ge=2, short="-n",  # a fixed count, or ...
                                    help="Timed calls per series.")
    # ... a time budget in seconds per series (default 2 s when neither)
    duration: float | None = option(None, recipe="bench", gt=0, short="-d", help="Seconds per series (default 2).")
    warmup: int = option(10, recipe="bench", ge=0, help="Untimed calls before timing.")
    threads: int | None = option(None, recipe="bench", ge=1, help="Intra-op threads (default: runtime's).")
    io_binding: bool = option(False, recipe="bench", help="ONNX: inputs/outputs bound on the device.")
    # a GPU run with any node on the CPU is an error (exit 5) instead of a warning
    strict: bool = option(False, recipe="bench", help="Exit 5 when a GPU run has nodes on the CPU.")
    seed: int = option(0, help="Seed for random inputs.")  # recipes: the recipe's `seed`
    input_specs: tuple[InputSpec, ...] = option((), flag="--input-shape", cli="inputs")  # said of the first model
    keep_samples: bool = True  # raw timings on each Measurement (the HTML report plots them)

    def __post_init__(self) -> None:
        if self.iterations is not None and self.duration is not None:
            raise BadInput("give --iterations or --duration, not both")
        check_rules(self)

    def loop_options(self) -> dict[str, Any]:
        if self.iterations is not None:
            return {"iterations": self.iterations, "warmup": self.warmup}
        return {"duration": self.duration or 2.0, "warmup": self.warmup}
