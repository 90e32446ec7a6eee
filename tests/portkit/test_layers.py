"""The layer rule, checked on the source: one import direction, no cycles, no private names across modules.

    core types     errors, formats, signature, artifact, options, tensormap, versions, stats, environment,
                   hashing, ui
    runtime        workers, runtimes/, inputs, onnxutil, normalize
    convert/check/measure   graph, hops, conversion, converters/, prep/, validation, locate, gates, bundle,
                   benchmark, inspection, report, report_bench, manifest, matrix, serving/
    recipes        recipes/
    top            api, cli, commands/, the package itself (its names are lazy) and __main__

A module may import its own layer or lower ones (function-level imports included: a lazy import is still a
dependency). Imports under `if TYPE_CHECKING:` are annotations only and are not counted.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"portkit": ROOT / "src" / "portkit", "portkit.converters": ROOT / "converters",
            "portkit.serving": ROOT / "serving"}
LAYERS = {
    0: {"errors", "formats", "signature", "artifact", "options", "tensormap", "versions", "stats", "environment",
        "hashing", "ui"},
    1: {"workers", "runtimes", "inputs", "onnxutil", "normalize"},
    3: {"recipes"},
    4: {"api", "cli", "commands", "__main__"},
}
NAMES = ("core", "runtime", "convert/check/measure", "recipes", "top")


def _modules() -> dict[str, Path]:
    out = {}
    for pkg, folder in PACKAGES.items():
        for f in folder.rglob("*.py"):
            parts = list(f.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([pkg, *parts])] = f
    return out


MODULES = _modules()


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return 4
    if parts[1] in ("converters", "serving"):
        return 2
    return next((n for n, names in LAYERS.items() if parts[1] in names), 2)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def imports(module: str, path: Path) -> list[tuple[str, str | None, int]]:
    """(imported portkit module, imported name or None, line) for every import in the file."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    is_pkg = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names if a.name.startswith("portkit")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - (node.level - (1 if is_pkg else 0))]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("portkit"):
                for a in node.names:
                    full = f"{target}.{a.name}"
                    found.append((full, None, node.lineno) if full in MODULES else (target, a.name, node.lineno))
    out = []
    for target, name, line in found:
        while target not in MODULES and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in MODULES and target != module:
            out.append((target, name, line))
    return out


GRAPH = {m: imports(m, p) for m, p in MODULES.items()}


def test_imports_point_down_the_layers():
    wrong = [f"{MODULES[m].relative_to(ROOT)}:{line} ({NAMES[layer(m)]}) imports {t} ({NAMES[layer(t)]})"
             for m, deps in GRAPH.items() for t, _, line in deps if layer(t) > layer(m)]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    edges = {m: {t for t, _, _ in deps} for m, deps in GRAPH.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_no_private_names_across_modules():
    private = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {t}.{name}"
               for m, deps in GRAPH.items() for t, name, line in deps
               if name and name.startswith("_") and not name.startswith("__")]
    assert not private, "\n".join(private)


def test_the_rule_sees_the_tree():
    # a broken walker would pass everything: make sure it finds real imports in each layer
    assert ("portkit.errors", "BadInput") in {(t, n) for t, n, _ in GRAPH["portkit.formats"]}
    assert any(t == "portkit.hops" for t, _, _ in GRAPH["portkit.conversion"])
    assert len(MODULES) > 80 and {layer(m) for m in MODULES} == {0, 1, 2, 3, 4}
