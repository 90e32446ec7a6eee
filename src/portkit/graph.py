"""The conversion graph: edges from portkit.converters, availability, and the route planner."""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType

from .errors import BadInput
from .formats import Format

__all__ = ["Edge", "Route", "edges", "plan", "route_text", "step_edge", "tool_matches"]

MAX_HOPS = 4


@dataclass(frozen=True)
class Edge:
    name: str  # converter module name, e.g. torch_to_onnx
    source: Format
    target: Format
    requires: tuple[str, ...]
    cost: float
    tool: str  # the library doing the work, for messages and reports
    step: str | None = None  # set for ONNX → ONNX transform steps (optimize, quantize): never routed through

    @property
    def available(self) -> bool:
        return not self.missing

    @property
    def missing(self) -> list[str]:
        return [m for m in self.requires if importlib.util.find_spec(m) is None]

    @property
    def module(self) -> ModuleType:
        return importlib.import_module(f"portkit.converters.{self.name}")

    def __str__(self) -> str:
        return f"{self.source.value}→{self.target.value}"


Route = tuple[Edge, ...]


@lru_cache(maxsize=1)
def edges() -> tuple[Edge, ...]:
    from portkit.converters import EDGE_MODULES

    out = []
    for name in EDGE_MODULES:
        mod = importlib.import_module(f"portkit.converters.{name}")
        sources = mod.SOURCE if isinstance(mod.SOURCE, tuple) else (mod.SOURCE,)
        for src in sources:
            out.append(Edge(name, src, mod.TARGET, tuple(mod.REQUIRES), float(mod.COST),
                            getattr(mod, "TOOL", name), getattr(mod, "STEP", None)))
    return tuple(out)


def step_edge(step: str) -> Edge:
    """The transform edge of a post-route step ("optimize", "quantize")."""
    return next(e for e in edges() if e.step == step)


def route_text(route: Route) -> str:
    if not route:
        return "(none)"
    return " → ".join([route[0].source.value] + [e.step or e.target.value for e in route])


def _norm(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


def tool_matches(edge: Edge, tool: str) -> bool:
    """`--tool NAME` names an edge's tool (case, spaces and punctuation ignored; "keras export" also
    matches "keras export (litert)", "torch.onnx" matches "torch.onnx (dynamo)") or its module name."""
    want = _norm(tool)
    have = _norm(edge.tool)
    return bool(want) and (have == want or have.startswith(want) or _norm(edge.name) == want)


def plan(source: Format, target: Format, via: Format | None = None,
         only_available: bool = True, tool: str | None = None) -> list[Route]:
    """All routes from `source` to `target` (through `via` if given), cheapest first. With `tool`, only
    the routes where some hop uses that tool."""
    if source is target and via is None:
        return [()]
    if tool:
        routes = plan(source, target, via, only_available)
        exact = [r for r in routes if any(_norm(e.tool) == _norm(tool) for e in r)]
        kept = exact or [r for r in routes if any(tool_matches(e, tool) for e in r)]
        if not kept:
            tools = sorted({e.tool for r in routes for e in r})
            raise BadInput(f"no {source.value} → {target.value} route uses the tool '{tool}'",
                           hint=f"tools on these routes: {', '.join(tools)}")
        return kept
    all_edges = [e for e in edges() if (e.available or not only_available) and e.step is None]
    found: list[tuple[float, Route]] = []

    def walk(fmt: Format, path: list[Edge], seen: set[Format]) -> None:
        if fmt is target and path:
            if via is None or any(e.target is via for e in path[:-1]) or via in (source, target):
                found.append((sum(e.cost for e in path), tuple(path)))
            return
        if len(path) >= MAX_HOPS:
            return
        for e in all_edges:
            if e.source is fmt and e.target not in seen:
                walk(e.target, path + [e], seen | {e.target})

    walk(source, [], {source})
    found.sort(key=lambda t: (t[0], len(t[1])))
    routes = [r for _, r in found]
    if not routes:
        unavailable = plan(source, target, via, only_available=False) if only_available else []
        if unavailable:
            # name what the best route lacks, not every missing library of the graph
            libs = list(dict.fromkeys(m for e in unavailable[0] for m in e.missing))
            from .errors import missing

            raise missing(libs, purpose=f"{source.value} → {target.value}")
        through = f" through {via.value}" if via else ""
        raise BadInput(f"no route from {source.value} to {target.value}{through}",
                       hint="`portkit routes` lists the edges")
    return routes
