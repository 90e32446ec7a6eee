"""Command-line flags generated from the options dataclasses (portkit.options.option: name, help, flag, rules),
as the recipe schema is: a field with a `help` is a flag of every command that takes its dataclass, so a new
option is its field and nothing else. The values reach the command as given (JSON text, comma lists,
`name=atol,rtol`); the keyword builders (portkit.options.convert_options, validate_options, bench) parse them
and the dataclasses check their rules, as for the API and recipes.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

import typer

from portkit.options import flag_of, rules_of

from ._common import dynamic_axis_option, input_dtype_option, input_shape_option

__all__ = ["Flags", "with_flags"]

# `cli="inputs"`: the one input description (InputSpec) is spelled by three flags, parsed at the edge into
# specs (portkit.signature.specs_from_keywords takes these keywords)
INPUT_FLAGS = {"input_shape": ("input_shapes", input_shape_option), "input_dtype": ("input_dtypes", input_dtype_option),
               "dynamic_axis": ("dynamic_axes", dynamic_axis_option)}


@dataclasses.dataclass(frozen=True)
class Flags:
    """The flags of one options dataclass on a command. The command declares a keyword parameter named
    `into`; it receives {field (or input keyword): value} for the flags the user gave. `only` / `skip` pick
    fields (`portkit convert` takes four of ValidateOptions')."""

    cls: type
    into: str
    only: tuple[str, ...] | None = None
    skip: tuple[str, ...] = ()

    def fields(self) -> list[dataclasses.Field]:
        return [f for f in dataclasses.fields(self.cls)
                if (rules_of(f).get("help") or rules_of(f).get("cli") == "inputs") and f.name not in self.skip
                and (self.only is None or f.name in self.only)]


def _default(f: dataclasses.Field) -> Any:
    if f.default is dataclasses.MISSING:  # a factory (dict, list): absent means the dataclass's default
        return None
    if isinstance(f.default, tuple):  # ("cpu",) → "cpu" for a comma-list flag; () → absent
        return ",".join(map(str, f.default)) or None
    return f.default


def _parameter(f: dataclasses.Field, hints: dict[str, Any]) -> inspect.Parameter:
    rules = rules_of(f)
    default = _default(f)
    tp = rules.get("cli_type", hints[f.name])
    if default is None and type(None) not in typing.get_args(tp):
        tp = tp | None
    flag = flag_of(f)
    decls = [f"{flag}/{rules['negative']}" if rules.get("negative") else flag, *([rules["short"]] if rules.get("short") else [])]
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=tp,
                             default=typer.Option(default, *decls, help=rules["help"]))


def with_flags(*groups: Flags) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Put the generated flags of `groups` into a command's signature, where its parameter `into` stands
    (typer reads the signature), and hand the command each group's given values as that parameter."""
    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(func)
        by_into = {g.into: g for g in groups}
        params: list[inspect.Parameter] = []
        target: dict[str, tuple[str, str]] = {}  # CLI parameter -> (group, keyword)
        for p in sig.parameters.values():
            group = by_into.get(p.name)
            if group is None:
                params.append(p)
                continue
            hints = typing.get_type_hints(group.cls)
            for f in group.fields():
                if rules_of(f).get("cli") == "inputs":
                    for name, (keyword, make) in INPUT_FLAGS.items():
                        if name not in target:
                            params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                                                            annotation=list[str] | None, default=make()))
                            target[name] = (group.into, keyword)
                    continue
                params.append(_parameter(f, hints))
                target[f.name] = (group.into, f.name)
        # typer wants keyword parameters with defaults after the arguments; the order is the help's order
        params = [p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in params]

        @functools.wraps(func)
        def command(**given: Any) -> Any:
            bags: dict[str, dict[str, Any]] = {g.into: {} for g in groups}
            for name, (into, keyword) in target.items():
                value = given.pop(name)
                if value is not None and value != [] and value != ():  # not given: the dataclass's default
                    bags[into][keyword] = value
            return func(**given, **bags)

        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        return command
    return wrap
