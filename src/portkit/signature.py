"""Tensor and model signatures: what a model takes and returns, with symbolic dims kept symbolic."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Union

from .errors import BadInput

Dim = Union[int, str, None]  # int: static; str: named dynamic dim; None: unknown

__all__ = [
    "DTYPES",
    "Dim",
    "InputSpec",
    "ModelSignature",
    "SignatureMissing",
    "TensorSpec",
    "merge_input_specs",
    "parse_dtype",
    "parse_input_shapes",
    "parse_input_specs",
    "parse_shape",
    "shapes_of",
    "spec_shapes",
    "specs_from_arrays",
    "specs_from_keywords",
    "specs_from_signature",
]

# the input dtypes a user can name (numpy names; a model may declare others, e.g. float64, int8)
DTYPES = ("float32", "float16", "int64", "int32", "bool", "uint8")
_DTYPE_ALIASES = {"float": "float32", "fp32": "float32", "half": "float16", "fp16": "float16", "long": "int64",
                  "int": "int32", "i64": "int64", "i32": "int32", "u8": "uint8", "bool_": "bool",
                  "float64": "float64", "double": "float64", "int8": "int8", "bfloat16": "bfloat16"}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # numpy dtype name: float32, int64, bool, ...
    shape: tuple[Dim, ...]
    layout: str | None = None  # NCHW / NHWC when known

    @property
    def dynamic_dims(self) -> list[int]:
        return [i for i, d in enumerate(self.shape) if not isinstance(d, int)]

    @property
    def batch_dynamic(self) -> bool:
        return bool(self.shape) and not isinstance(self.shape[0], int)

    def shape_text(self) -> str:
        return "[" + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"

    def with_shape(self, shape: tuple[Dim, ...]) -> TensorSpec:
        return replace(self, shape=tuple(shape))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TensorSpec:
        return cls(d["name"], d["dtype"], tuple(d["shape"]), d.get("layout"))


@dataclass(frozen=True)
class ModelSignature:
    inputs: tuple[TensorSpec, ...] = field(default_factory=tuple)
    outputs: tuple[TensorSpec, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": [t.to_dict() for t in self.inputs], "outputs": [t.to_dict() for t in self.outputs]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSignature:
        return cls(tuple(TensorSpec.from_dict(t) for t in d.get("inputs", [])),
                   tuple(TensorSpec.from_dict(t) for t in d.get("outputs", [])))

    def input(self, name: str) -> TensorSpec:
        for t in self.inputs:
            if t.name == name:
                return t
        raise KeyError(name)


def parse_shape(text: str) -> tuple[Dim, ...]:
    """'1,3,224,224' -> (1, 3, 224, 224); '?'/'-1'/'N'/'batch' parts become named dynamic dims."""
    dims: list[Dim] = []
    for i, part in enumerate(p.strip() for p in text.replace("x", ",").split(",") if p.strip()):
        if part.lstrip("-").isdigit():
            v = int(part)
            dims.append(v if v > 0 else ("batch" if i == 0 else f"d{i}"))
        elif part.isidentifier() or part == "?":
            dims.append("batch" if i == 0 and part == "?" else (part if part != "?" else f"d{i}"))
        else:
            raise BadInput(f"bad shape '{text}'", hint="write it like 1,3,224,224")
    if not dims:
        raise BadInput(f"empty shape '{text}'", hint="write it like 1,3,224,224")
    return tuple(dims)


def parse_input_shapes(values: list[str] | tuple[str, ...] | None) -> dict[str, tuple[Dim, ...]]:
    """['1,3,224,224'] -> {'': shape}; ['x=1,3,8,8', 'y=1,4'] -> per input name. '' means 'the only input'."""
    out: dict[str, tuple[Dim, ...]] = {}
    for v in values or []:
        for item in v.split(";"):
            if not item.strip():
                continue
            name, _, shape = item.rpartition("=")
            out[name.strip()] = parse_shape(shape)
    return out


def parse_dtype(text: str, flag: str = "--input-dtype") -> str:
    t = text.strip().lower().removeprefix("torch.").removeprefix("np.").removeprefix("numpy.")
    t = _DTYPE_ALIASES.get(t, t)
    if t not in DTYPES and t not in _DTYPE_ALIASES.values():
        raise BadInput(f"unknown dtype '{text}' in {flag}", hint=f"use one of {', '.join(DTYPES)}")
    return t


class SignatureMissing(BadInput):
    """A model declares no input signature (a bare TorchScript file, an eager module) and none was given
    (exit 2): commands holding another model borrow that model's inputs instead."""


@dataclass(frozen=True)
class InputSpec:
    """What the user says about one model input — the one definition the CLI flags, the API and recipes
    fill in. Every field but the name is optional; a model's own declaration fills the rest.

    `shape` may hold ints (sizes; where an axis is dynamic, the size used for examples) and names
    (symbolic, dynamic axes). `dynamic_axes` marks further axes dynamic: (axis, symbol) pairs.
    `name` '' means "the only (first) input"."""

    name: str = ""
    shape: tuple[Dim, ...] | None = None
    dtype: str | None = None
    dynamic_axes: tuple[tuple[int, str], ...] = ()

    def symbolic_shape(self, batch_dynamic: bool = False) -> tuple[Dim, ...] | None:
        """The shape with dynamic axes as names: ints kept static, unless listed in dynamic_axes (and axis 0
        when `batch_dynamic`)."""
        if self.shape is None:
            return None
        dyn = dict(self.dynamic_axes)
        if batch_dynamic and self.shape and 0 not in dyn and isinstance(self.shape[0], int):
            dyn[0] = "batch"
        return tuple(dyn.get(i, d) for i, d in enumerate(self.shape))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": None if self.shape is None else list(self.shape),
                "dtype": self.dtype, "dynamic_axes": [list(a) for a in self.dynamic_axes]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputSpec:
        shape = d.get("shape")
        return cls(d.get("name") or "", None if shape is None else tuple(shape), d.get("dtype"),
                   tuple((int(a), str(s)) for a, s in d.get("dynamic_axes") or ()))

    def merged(self, other: InputSpec) -> InputSpec:
        """This spec with `other`'s fields filling what this one leaves out (this one wins)."""
        axes = dict(other.dynamic_axes)
        axes.update(dict(self.dynamic_axes))
        return InputSpec(self.name or other.name, self.shape if self.shape is not None else other.shape,
                         self.dtype or other.dtype, tuple(sorted(axes.items())))


def merge_input_specs(first: tuple[InputSpec, ...], then: tuple[InputSpec, ...]) -> tuple[InputSpec, ...]:
    """Specs of `first` win; `then` fills their gaps and adds inputs `first` does not name. '' in either
    stands for the first input."""
    out = list(first)
    names = [s.name for s in out]
    for s in then:
        if s.name in names:
            i = names.index(s.name)
            out[i] = out[i].merged(s)
        elif not s.name and out:
            out[0] = out[0].merged(s)
        elif "" in names and then and s is then[0]:
            i = names.index("")
            out[i] = replace(out[i].merged(s), name=s.name)
            names[i] = s.name
        else:
            out.append(s)
            names.append(s.name)
    return tuple(out)


def _pairs(values: list[str] | tuple[str, ...] | None, flag: str, example: str) -> list[tuple[str, str]]:
    out = []
    for v in values or []:
        for item in v.split(";"):
            if not item.strip():
                continue
            name, eq, value = item.rpartition("=")
            if not eq or not value.strip():
                raise BadInput(f"bad {flag} '{item}'", hint=f"write it like {example}")
            out.append((name.strip(), value.strip()))
    return out


def parse_input_specs(shapes: Any = None, dtypes: Any = None, dynamic_axes: Any = None) -> tuple[InputSpec, ...]:
    """The CLI's --input-shape / --input-dtype / --dynamic-axis values as one tuple of InputSpec.

    shapes: ['1,3,224,224'] or ['x=1,3,8,8'] (or a {name: dims} dict); dtypes: ['input_ids=int64'] (or a
    dict); dynamic_axes: ['input_ids=1:sequence'] (or {name: {axis: symbol}}); a bare AXIS makes a name up."""
    specs: dict[str, InputSpec] = {}

    def get(name: str) -> InputSpec:
        return specs.setdefault(name, InputSpec(name))

    if isinstance(shapes, dict):
        shape_items = [(k, tuple(v)) for k, v in shapes.items()]
    else:
        if isinstance(shapes, str):
            shapes = [shapes]
        shape_items = list(parse_input_shapes(shapes).items())
    for name, shape in shape_items:
        specs[name] = replace(get(name), shape=tuple(shape))
    dtype_items = list(dtypes.items()) if isinstance(dtypes, dict) else \
        _pairs([dtypes] if isinstance(dtypes, str) else dtypes, "--input-dtype", "input_ids=int64")
    for name, dt in dtype_items:
        specs[name] = replace(get(name), dtype=parse_dtype(str(dt)))
    if isinstance(dynamic_axes, dict):
        axis_items = [(k, f"{a}:{s}") for k, m in dynamic_axes.items()
                      for a, s in (m.items() if isinstance(m, dict) else ((a, "") for a in m))]
    else:
        axis_items = _pairs([dynamic_axes] if isinstance(dynamic_axes, str) else dynamic_axes,
                            "--dynamic-axis", "input_ids=1:sequence")
    for name, text in axis_items:
        axis_text, _, symbol = str(text).partition(":")
        if not axis_text.strip().isdigit():
            raise BadInput(f"bad --dynamic-axis '{name}={text}'", hint="write it like input_ids=1:sequence")
        axis = int(axis_text)
        symbol = symbol.strip() or ("batch" if axis == 0 else f"{name or 'input'}_{axis}")
        if not symbol.isidentifier():
            raise BadInput(f"bad axis name '{symbol}' in --dynamic-axis", hint="use a name like sequence")
        cur = get(name)
        specs[name] = replace(cur, dynamic_axes=tuple(sorted({**dict(cur.dynamic_axes), axis: symbol}.items())))
    named = [n for n in specs if n]
    if "" in specs and len(named) == 1:  # `--input-shape 1,16 --input-dtype ids=int64`: one input, said twice
        specs[named[0]] = specs[named[0]].merged(specs.pop(""))
    return tuple(specs.values())


def specs_from_arrays(arrays: dict[str, Any]) -> tuple[InputSpec, ...]:
    """Input specs taken from data: names, shapes and dtypes of the arrays; the batch axis dynamic, and the
    sequence axis of integer token inputs (rank 2 ints) too, under one shared name when the lengths agree."""
    seq_lengths = {a.shape[1] for a in arrays.values() if getattr(a, "ndim", 0) == 2 and a.dtype.kind in "iu"}
    out = []
    for name, a in arrays.items():
        axes: dict[int, str] = {0: "batch"} if a.ndim else {}
        if a.ndim == 2 and a.dtype.kind in "iub" and a.shape[1] in seq_lengths:
            axes[1] = "sequence" if len(seq_lengths) == 1 else f"{name}_sequence"
        out.append(InputSpec(name, tuple(int(d) for d in a.shape), str(a.dtype), tuple(sorted(axes.items()))))
    return tuple(out)


def specs_from_signature(inputs: tuple[TensorSpec, ...]) -> tuple[InputSpec, ...]:
    """InputSpecs that say everything a declared signature says (to lend it to a model that declares none)."""
    return tuple(InputSpec(t.name, tuple(t.shape), t.dtype) for t in inputs)


def shapes_of(value: Any) -> dict[str, tuple[Dim, ...]]:
    """Input shapes as the API and recipes spell them (a list of ints, {name: dims}, "1,3,8,8" or
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


# the keywords the API, recipes and bench take for inputs: all spell InputSpecs (specs_from_keywords)
INPUT_KEYWORDS = ("input_specs", "input_shapes", "input_dtypes", "dynamic_axes")


def specs_from_keywords(options: dict[str, Any]) -> tuple[InputSpec, ...]:
    """Pop the input keywords from `options` and return the one description they make: `input_specs`
    (InputSpecs or dicts) first, then `input_shapes` (as shapes_of takes them), `input_dtypes` ({name: dtype}
    or ["name=dtype"]) and `dynamic_axes` ({name: {axis: symbol}} or ["name=axis:symbol"]) — the CLI's
    --input-shape / --input-dtype / --dynamic-axis."""
    given = options.pop("input_specs", None) or ()
    specs = tuple(s if isinstance(s, InputSpec) else InputSpec.from_dict(dict(s)) for s in given)
    shapes, dtypes, axes = (options.pop(k, None) for k in INPUT_KEYWORDS[1:])
    said = parse_input_specs(shapes_of(shapes) or None, dtypes, axes) if (shapes or dtypes or axes) else ()
    return merge_input_specs(specs, said) if specs else said


def spec_shapes(specs: tuple[InputSpec, ...]) -> dict[str, tuple[Dim, ...]]:
    """The shapes the specs give, {name: dims} ('' = the only input), as input generation and the shape-
    hinting converters take them; axes named dynamic stay symbolic (their size is an example, not fixed)."""
    return {s.name: s.symbolic_shape(False) for s in specs if s.shape is not None}
