"""Loading a recipe: YAML parsed, checked against the schema (portkit.recipes.schema) and for what the
schema cannot see (files it names, gates that need a step), every problem reported at once with its key
path (`models[0].targets[1].quantize`) and the fix, as one exit-2 RecipeError."""

from __future__ import annotations

import difflib
import hashlib
import re
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from portkit.errors import BadInput

from .schema import REFERENCE, Recipe, RecipeError, effective, effective_gates

__all__ = ["load_recipe", "parse_recipe"]


_EXAMPLES = {
    "float": "a number, e.g. 0.5",
    "int": "a whole number, e.g. 8",
    "bool": "true or false",
    "string": "text, e.g. samples/model.onnx",
    "list": "a list, e.g. [1, 8]",
    "dict": "a mapping of key: value",
}


def _loc_text(loc: tuple[Any, ...], data: Any) -> str:
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            name = (
                node[part].get("name")
                if isinstance(node, list) and part < len(node) and isinstance(node[part], dict)
                else None
            )
            out += f"[{part}]" + (f" ({name})" if name and len(loc) > 2 else "")
        else:
            out += ("." if out else "") + str(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return out or "(top level)"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    cls: Any = Recipe
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
            return None
        field = cls.model_fields.get(part) or cls.model_fields.get(f"{part}_")
        if field is None:
            return None
        cls = _inner(field.annotation)
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def _inner(tp: Any) -> Any:
    for arg in typing.get_args(tp) or ():
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        inner = _inner(arg)
        if inner is not None:
            return inner
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _keys(cls: type[BaseModel]) -> list[str]:
    return [f.alias or k for k, f in cls.model_fields.items() if not f.exclude]


def _problem(err: dict[str, Any], data: Any) -> tuple[str, str, str]:
    loc = tuple(
        p
        for p in err["loc"]
        if not (isinstance(p, str) and p[:1].isupper() or p in ("function-after", "function-before"))
    )
    where = _loc_text(loc, data)
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        cls = _model_at(loc[:-1])
        valid = _keys(cls) if cls else []
        close = difflib.get_close_matches(key, valid, n=1)
        fix = (f"did you mean '{close[0]}'? " if close else "remove it; ") + (
            f"valid keys here: {', '.join(valid)}" if valid else ""
        )
        return where, f"unknown key '{key}'", fix.strip()
    if kind == "missing":
        return where, "required key is missing", f"add `{loc[-1]}: ...` (see docs/recipes.md)"
    msg = err["msg"].replace("Value error, ", "")
    got = err.get("input")
    shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
    fix = ""
    for word, example in _EXAMPLES.items():
        if kind.startswith(word) or kind == f"{word}_type" or kind == f"{word}_parsing":
            fix = f"write {example}"
            break
    if kind == "literal_error" and isinstance(got, str):
        allowed = re.findall(r"'([^']*)'", err["msg"])
        close = difflib.get_close_matches(got, allowed, n=1)
        fix = f"did you mean '{close[0]}'?" if close else ""
    return where, msg + shown, fix


def parse_recipe(
    data: Any,
    *,
    path: str | Path = "recipe",
    base_dir: str | Path = ".",
    check_files: bool = True,
    sha256: str | None = None,
) -> Recipe:
    """Check parsed YAML against the schema and the files it names; raise RecipeError with every problem."""
    if not isinstance(data, dict):
        raise RecipeError(
            path,
            [
                (
                    "(top level)",
                    "a recipe is a mapping with a `models:` list",
                    "start from `portkit init MODEL`",
                )
            ],
        )
    try:
        recipe = Recipe(**data, base_dir=str(base_dir), path=str(path), sha256=sha256)
    except ValidationError as e:
        problems = [_problem(err, data) for err in e.errors()]
        if check_files:
            problems += _missing_sources(data, Path(base_dir))
        raise RecipeError(path, problems) from None
    problems = _semantic_problems(recipe, data, check_files)
    if problems:
        raise RecipeError(path, problems)
    return recipe


def _missing_sources(data: dict[str, Any], base_dir: Path) -> list[tuple[str, str, str]]:
    """Model files that do not exist, found in the raw data (so they are reported with schema errors)."""
    out = []
    models = data.get("models")
    for i, m in enumerate(models if isinstance(models, list) else []):
        src = m.get("source") if isinstance(m, dict) else None
        if isinstance(src, str) and not REFERENCE.match(src):
            p = Path(src).expanduser()
            p = p if p.is_absolute() else base_dir / p
            if not p.exists():
                out.append(
                    (
                        _loc_text(("models", i, "source"), data),
                        f"model not found: {p}",
                        f"fix the path (relative paths are read from the recipe's folder, {base_dir})",
                    )
                )
    return out


def load_recipe(path: str | Path) -> Recipe:
    """Read a recipe file and check it (see parse_recipe)."""
    import yaml

    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError as e:
        raise BadInput("recipe not found", path=p, hint="write one with `portkit init MODEL`") from e
    except OSError as e:
        raise BadInput(f"cannot read the recipe ({e.strerror})", path=p) from e
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise BadInput("recipe is not UTF-8 text", path=p) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise RecipeError(
            p,
            [
                (
                    where.rstrip(": ") or "(yaml)",
                    f"not valid YAML: {problem}",
                    "check the indentation and quoting there",
                )
            ],
        ) from None
    return parse_recipe(data, path=p, base_dir=p.resolve().parent, sha256=hashlib.sha256(raw).hexdigest())


def _semantic_problems(recipe: Recipe, data: dict[str, Any], check_files: bool) -> list[tuple[str, str, str]]:
    problems: list[tuple[str, str, str]] = []
    seen: set[str] = set()

    def where(*loc: Any) -> str:
        return _loc_text(loc, data)

    def need_file(value: str | None, *loc: Any, what: str = "file") -> None:
        if value is None or not check_files:
            return
        resolved = recipe.resolve(value)
        if resolved and not REFERENCE.match(value) and not Path(resolved).exists():
            problems.append(
                (
                    where(*loc),
                    f"{what} not found: {resolved}",
                    f"fix the path (relative paths are read from the recipe's folder, {recipe.base_dir})",
                )
            )

    for section in ("validate_", "bench", "gates"):
        step = getattr(recipe.defaults, section)
        for key in ("inputs", "eval_data", "baseline"):
            need_file(getattr(step, key, None), "defaults", section.rstrip("_"), key)
    for i, m in enumerate(recipe.models):
        if m.name in seen:
            problems.append(
                (
                    where("models", i, "name"),
                    f"duplicate model name '{m.name}'",
                    "give each model its own name (it names its output folder)",
                )
            )
        seen.add(m.name)
        need_file(m.source, "models", i, "source", what="model")
        need_file(m.weights, "models", i, "weights")
        for section in ("validate_", "gates"):
            step = getattr(m, section)
            for key in ("inputs", "eval_data", "baseline"):
                need_file(getattr(step, key, None), "models", i, section.rstrip("_"), key)
        labels: set[str] = set()
        for j, t in enumerate(m.targets):
            if t.label in labels:
                problems.append(
                    (
                        where("models", i, "targets", j),
                        f"two targets named '{t.label}'",
                        "set `name:` on one of them",
                    )
                )
            labels.add(t.label)
            need_file(t.calibration, "models", i, "targets", j, "calibration")
            for section in ("validate_", "gates"):
                step = getattr(t, section)
                for key in ("inputs", "eval_data", "baseline"):
                    need_file(getattr(step, key, None), "models", i, "targets", j, section.rstrip("_"), key)
            if t.quantize == "int8" and t.to == "tflite" and not t.calibration:
                pass  # the converter picks its default calibration (or says it needs one)
            bench = effective(recipe, m, t, "bench")
            gates = effective_gates(recipe, m, t)
            if gates.max_latency_ms is not None and (bench is None or not bench.enabled):
                problems.append(
                    (
                        where("models", i, "targets", j),
                        "a latency gate needs a bench step",
                        "add `bench: {duration: 1}` to the target, the model or `defaults`",
                    )
                )
            valid = effective(recipe, m, t, "validate")
            if (
                (gates.max_error is not None or gates.min_agreement is not None)
                and valid is not None
                and not valid.enabled
            ):
                problems.append(
                    (
                        where("models", i, "targets", j),
                        "an error/agreement gate needs validation",
                        "remove `validate: false`",
                    )
                )
            if t.export and t.export.triton and t.export.triton.enabled and t.to != "onnx":
                problems.append(
                    (
                        where("models", i, "targets", j, "export", "triton"),
                        f"Triton export takes an ONNX model, this target is {t.to}",
                        "export triton from an `to: onnx` target",
                    )
                )
    return problems


