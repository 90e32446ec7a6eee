"""The layer rule, checked on the source: one import direction, no cycles, no private names across modules.

Every module of src/portkit, converters/, serving/ and benchmarks/ belongs to one layer of LAYERS, named
explicitly (a package entry covers the modules inside it; a longer entry wins): a module none names fails
`test_every_module_has_a_layer`, which says where to add it. A module may import its own layer or lower
ones. What counts as an import:

- `import` / `from ... import` statements, function-level ones included (a lazy import is still a
  dependency); those under `if TYPE_CHECKING:` are annotations only and are not counted;
- a string naming a portkit module — `import_module("portkit.api")`, a worker task `("portkit.hops",
  "run_edge", ...)`, `f"portkit.converters.{name}"` — since the callee imports it by that name.

And no module reaches into another's private names: neither `from portkit.x import _name` nor `obj._name`
where `_name` is defined by another portkit module and not by this one (`self._x` and a module's own
private names on other instances of its classes stay allowed). A private module (`converters/_tf_common.py`,
`converters/_onnx2torch_rnn.py`, `commands/_options.py`) is a helper of its own package: its siblings import
it, nothing outside the package does.
"""
from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"portkit": ROOT / "src" / "portkit", "portkit.converters": ROOT / "converters",
            "portkit.serving": ROOT / "serving", "benchmarks": ROOT / "benchmarks"}

# lowest first; entries are module paths below `portkit` ("prep.steps"), "" is the package itself, and
# "benchmarks" the benchmark scripts. Serving sits below conversion (it runs artifacts, never converts) and
# above the converters (no edge depends on a server). locate.reduce converts its cut again, so it sits above
# conversion, beside the rest of locate that only checks.
LAYERS: list[tuple[str, set[str]]] = [
    ("core types", {"errors", "formats", "signature", "artifact", "options", "tensormap", "versions", "stats",
                    "environment", "hashing", "ui", "public"}),
    ("runtime", {"workers", "runtimes", "inputs", "onnxutil", "normalize", "hf"}),
    ("check", {"validation", "locate", "report", "quantsense", "gate_report", "baseline", "gates", "bundle"}),
    ("edges", {"graph", "hops", "converters", "prep.steps", "prep.keep_float", "prep.calibration", "prep.fp16",
               "prep.op_report", "prep.optimize_onnx",
               "prep.ort_format", "prep.quantize_onnx", "prep.web_bundle", "prep.web_node", "generative"}),
    ("serving", {"serving"}),
    ("convert", {"conversion", "prep"}),
    ("measure", {"benchmark", "report_bench", "inspection", "manifest", "matrix", "locate.reduce"}),
    ("recipes", {"recipes"}),
    ("top", {"", "api", "cli", "commands", "__main__"}),
    ("benchmarks", {"benchmarks"}),
]
NAMES = [name for name, _ in LAYERS]
WHERE = "tests/portkit/test_layers.py LAYERS (and the layer table in docs/architecture.md)"


def _modules(packages: dict[str, Path] = PACKAGES) -> dict[str, Path]:
    out = {}
    for pkg, folder in packages.items():
        for f in folder.rglob("*.py"):
            if "results" in f.relative_to(folder).parts:
                continue
            parts = list(f.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([pkg, *parts])] = f
    return out


MODULES = _modules()


def layer(module: str) -> int | None:
    """The index in LAYERS of `module` (longest matching entry), None when no entry names it."""
    if module == "benchmarks" or module.startswith("benchmarks."):
        return len(LAYERS) - 1
    rel = module.removeprefix("portkit").removeprefix(".")
    best: tuple[int, int] | None = None
    for i, (_, entries) in enumerate(LAYERS):
        for e in entries:
            if rel == e or (e and rel.startswith(e + ".")):
                if best is None or len(e) > best[0]:
                    best = (len(e), i)
    return None if best is None else best[1]


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


_MODULE_STRING = re.compile(r"^portkit(\.[A-Za-z_][A-Za-z0-9_]*)*\.?$")


def _string_target(node: ast.AST) -> str | None:
    """The portkit module a string names: "portkit.api", or the constant head of f"portkit.converters.{x}"."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        text = str(node.values[0].value)
        if not text.endswith("."):
            return None
    else:
        return None
    return text.rstrip(".") if _MODULE_STRING.match(text) and text.startswith("portkit.") else None


def imports(module: str, source: str, is_pkg: bool, modules: dict[str, Path] | None = None
            ) -> list[tuple[str, str | None, int]]:
    """(imported portkit module, imported name or None, line) for every import in `source`."""
    modules = MODULES if modules is None else modules
    tree = ast.parse(source)
    skip = _type_checking_nodes(tree)
    # a schema prefix compared with startswith ("portkit.manifest/1") names a document, a logger's name
    # ("portkit.serving") a log: neither is a module
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("startswith", "endswith", "getLogger"):
            skip |= {id(a) for a in node.args}
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
                    found.append((full, None, node.lineno) if full in modules else (target, a.name, node.lineno))
        elif (named := _string_target(node)) is not None and named in modules:
            found.append((named, None, node.lineno))  # exactly a module's name: not a prefix of one
    out = []
    for target, name, line in found:
        while target not in modules and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in modules and target != module:
            out.append((target, name, line))
    return out


def _private_defined(tree: ast.AST) -> set[str]:
    """The private names a module defines: functions, classes, module/class assignments, `self._x = ...`."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _private_reads(tree: ast.AST) -> list[tuple[str, int]]:
    """`obj._name` reads on anything but self/cls."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            out.append((node.attr, node.lineno))
    return out


@functools.cache
def _facts(module: str, source: str, is_pkg: bool) -> tuple[list[tuple[str, str | None, int]], set[str],
                                                            list[tuple[str, int]]]:
    """(imports, private names defined, private attributes read) of one module's source, cached: the
    mutation tests below re-analyse the tree with one module changed."""
    tree = ast.parse(source)
    return imports(module, source, is_pkg), _private_defined(tree), _private_reads(tree)


def analyse(sources: dict[str, str], modules: dict[str, Path] = MODULES) -> dict[str, list[str]]:
    """Every rule's violations over `sources` ({module: its source}), by rule name."""
    facts = {m: _facts(m, s, modules[m].name == "__init__.py") for m, s in sources.items()}
    graph = {m: f[0] for m, f in facts.items()}
    where = {m: modules[m].relative_to(ROOT) for m in sources}
    bad: dict[str, list[str]] = {"unplaced": [], "direction": [], "private import": [], "private attribute": [],
                                 "private module": []}
    for m in sources:
        if layer(m) is None:
            bad["unplaced"].append(f"{where[m]} ({m}) has no layer: add it to {WHERE}")
    for m, deps in graph.items():
        for t, name, line in deps:
            lm, lt = layer(m), layer(t)
            if lm is not None and lt is not None and lt > lm:
                bad["direction"].append(f"{where[m]}:{line} ({NAMES[lm]}) imports {t} ({NAMES[lt]})")
            if name and name.startswith("_") and not name.startswith("__"):
                bad["private import"].append(f"{where[m]}:{line} imports {t}.{name}")
            package, _, last = t.rpartition(".")
            own = m if modules[m].name == "__init__.py" else m.rpartition(".")[0]
            if last.startswith("_") and not last.startswith("__") and package != own:
                bad["private module"].append(f"{where[m]}:{line} imports {t}, a helper of {package} only")
    defined = {m: f[1] for m, f in facts.items() if not m.startswith("benchmarks")}
    for m, f in facts.items():
        others = set().union(*(d for o, d in defined.items() if o != m)) - defined.get(m, set())
        for attr, line in f[2]:
            if attr in others:
                owner = sorted(o for o, d in defined.items() if o != m and attr in d)
                bad["private attribute"].append(f"{where[m]}:{line} reads ._{attr.lstrip('_')} of "
                                                f"{', '.join(owner[:2])}: use a public name")
    return bad


SOURCES = {m: p.read_text() for m, p in MODULES.items()}
FOUND = analyse(SOURCES)
GRAPH = {m: _facts(m, s, MODULES[m].name == "__init__.py")[0] for m, s in SOURCES.items()}


def test_every_module_has_a_layer():
    assert not FOUND["unplaced"], "\n".join(FOUND["unplaced"])


def test_imports_point_down_the_layers():
    assert not FOUND["direction"], "\n".join(FOUND["direction"])


def test_no_private_names_across_modules():
    assert not FOUND["private import"], "\n".join(FOUND["private import"])


def test_private_modules_serve_their_own_package():
    assert not FOUND["private module"], "\n".join(FOUND["private module"])


def test_no_private_attributes_across_modules():
    assert not FOUND["private attribute"], "\n".join(FOUND["private attribute"])


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


def test_the_rule_sees_the_tree():
    # a broken walker would pass everything: make sure it finds real imports in each layer
    assert ("portkit.errors", "BadInput") in {(t, n) for t, n, _ in GRAPH["portkit.formats"]}
    assert any(t == "portkit.hops" for t, _, _ in GRAPH["portkit.conversion"])
    assert any(t == "portkit.converters" for t, _, _ in GRAPH["portkit.hops"])  # f"portkit.converters.{name}"
    assert len(MODULES) > 80 and {layer(m) for m in MODULES} == set(range(len(LAYERS)))
    assert any(m.startswith("benchmarks.") for m in MODULES)


# ---------------------------------------------------------------- the rule fails where it should (mutated copies)

def _mutated(module: str, extra: str) -> dict[str, list[str]]:
    sources = dict(SOURCES)
    sources[module] = sources[module] + "\n\n" + extra + "\n"
    return analyse(sources)


def test_serving_importing_conversion_fails():
    bad = _mutated("portkit.serving.app", "def _f():\n    from portkit.conversion import convert")
    assert any("serving/app.py" in b and "portkit.conversion" in b for b in bad["direction"]), bad


def test_a_converter_importing_serving_fails():
    bad = _mutated("portkit.converters.onnx_to_ort", "def _f():\n    from portkit.serving import server")
    assert any("onnx_to_ort.py" in b and "portkit.serving" in b for b in bad["direction"]), bad


def test_a_private_attribute_of_another_module_fails():
    bad = _mutated("portkit.converters.tflite_to_onnx", "def _f(runner):\n    return runner._in")
    assert any("tflite_to_onnx.py" in b and "._in" in b for b in bad["private attribute"]), bad
    bad = _mutated("portkit.conversion", "def _f():\n    from . import hops\n    return hops._nothing_here")
    assert not bad["private attribute"]  # a name no portkit module defines is a library's, not checked


def test_a_private_module_of_another_package_fails():
    bad = _mutated("portkit.conversion", "def _f():\n    from .converters import _tf_common")
    assert any("conversion.py" in b and "_tf_common" in b for b in bad["private module"]), bad
    assert not _mutated("portkit.converters.onnx_to_torchscript", "from . import _onnx2torch_rnn")["private module"]


def test_import_module_strings_below_the_top_fail():
    bad = _mutated("portkit.matrix", "def _f():\n    import importlib\n"
                                     "    return importlib.import_module('portkit.api')")
    assert any("matrix.py" in b and "portkit.api" in b for b in bad["direction"]), bad
    bad = _mutated("portkit.gates", "def _f(name):\n    return ('portkit.commands', name)")
    assert any("gates.py" in b and "portkit.commands" in b for b in bad["direction"]), bad


def test_an_unknown_module_fails_saying_where_to_register_it():
    modules = {**MODULES, "portkit.brand_new": ROOT / "src" / "portkit" / "brand_new.py"}
    bad = analyse({"portkit.brand_new": "from .errors import BadInput\n"}, modules)
    assert bad["unplaced"] and "add it to tests/portkit/test_layers.py LAYERS" in bad["unplaced"][0]
