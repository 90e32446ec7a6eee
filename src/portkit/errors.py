"""portkit's error tree.

User mistakes and environment problems are `PortkitError`s: the CLI prints them as one line and exits with
their `exit_code`. portkit's own bugs are anything else and keep their traceback.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_OK",
    "BadInput",
    "InternalError",
    "ConversionFailed",
    "MissingDependency",
    "PortkitError",
    "RuntimeUnavailable",
    "ValidationFailed",
]

EXIT_OK = 0
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in portkit, reported with its traceback


class PortkitError(Exception):
    """Base of every error a user can cause or fix. Carries an exit code and a hint."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None, path: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.path = str(path) if path is not None else None

    def __str__(self) -> str:
        return self.one_line()

    def one_line(self) -> str:
        """`file: message (hint)` on one line, as the CLI prints it."""
        text = self.message.replace("\n", " ").strip()
        if self.path and self.path not in text:
            text = f"{self.path}: {text}"
        if self.hint:
            text = f"{text} — {self.hint}"
        return text


class ValidationFailed(PortkitError):
    """Source and result disagree beyond tolerance (exit 1). Carries the result object when there is one."""

    exit_code = 1

    def __init__(self, message: str, *, result: object | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.result = result


class BadInput(PortkitError):
    """Bad usage or a bad input file (exit 2)."""

    exit_code = 2


class ConversionFailed(PortkitError):
    """A converter (or the worker running it) failed (exit 3)."""

    exit_code = 3


class MissingDependency(PortkitError):
    """An optional library is not installed (exit 4); the hint names the extra (and, for the few packages
    an extra cannot carry, the exact pip line)."""

    exit_code = 4

    def __init__(self, module: str, extra: str, *, purpose: str = "", also: tuple[str, ...] = ()) -> None:
        modules = list(dict.fromkeys([module, *also]))
        what = f" (needed for {purpose})" if purpose else ""
        names = ", ".join(f"'{m}'" for m in modules)
        text = (f"the Python package {names} is not installed{what}" if len(modules) == 1
                else f"the Python packages {names} are not installed{what}")
        super().__init__(text, hint=f"install {'it' if len(modules) == 1 else 'them'} with: "
                                    f"{install_line(modules, extra)}")
        self.module = module
        self.modules = modules
        self.extra = extra


class InternalError(Exception):
    """A bug in portkit that happened in a worker process (exit 70), carrying the worker's traceback.

    Deliberately not a PortkitError: the CLI prints it with the traceback, never as a one-line user error.
    A library failing on a model (a converter or runtime raising from its own code) is not this: workers
    map those to ConversionFailed, the same as `converting()` does inside converters."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, remote_traceback: str = "") -> None:
        super().__init__(message)
        self.remote_traceback = remote_traceback


class RuntimeUnavailable(PortkitError):
    """A runtime or execution provider is not available here (exit 5)."""

    exit_code = 5


# import name -> extra that provides it
EXTRAS = {
    "torch": "torch",
    "torchvision": "torch",
    "onnxscript": "torch",
    "onnx2torch": "torch",
    "onnxslim": "torch",
    "tensorflow": "tf",
    "keras": "tf",
    "tf2onnx": "tf",
    "onnx2tf": "tf",
    "tf_keras": "tf",
    "h5py": "tf",
    "ai_edge_litert": "tf",
    "onnxruntime": "cpu",
    "starlette": "serve",
    "uvicorn": "serve",
    "ray": "ray",
    "litert_torch": "litert",
    "torchao": "litert",
    "ai_edge_quantizer": "litert",
    "executorch": "executorch",
    "transformers": "hf",
}

# Packages no extra can carry: onnx2tf and tf-keras pin ancient exact versions (tf-keras with its
# dependencies drags in full `tensorflow` beside tensorflow-cpu), so they go in with --no-deps, then the
# few libraries onnx2tf really needs: the same lines as the Makefile's install.
NO_DEPS = {"onnx2tf": "onnx2tf", "tf_keras": "tf-keras"}
NO_DEPS_NEEDS = "onnx-graphsurgeon sng4onnx psutil"
_ONNX2TF_NEEDS = {"onnx_graphsurgeon", "sng4onnx", "psutil"}


def extra_of(module: str) -> str:
    """The extra that provides import name `module` ("dev" for what only the dev set installs)."""
    root = module.split(".")[0]
    return "tf" if root in _ONNX2TF_NEEDS else EXTRAS.get(root, "dev")


def install_line(modules: list[str], extra: str | None = None) -> str:
    """The pip command(s) that install `modules`: their extras, plus the --no-deps line onnx2tf needs."""
    extras = list(dict.fromkeys([*([extra] if extra else []), *(extra_of(m) for m in modules)]))
    line = f"pip install 'portkit[{','.join(extras)}]'"
    roots = {m.split(".")[0] for m in modules}
    if roots & (set(NO_DEPS) | _ONNX2TF_NEEDS):
        line += f" && pip install --no-deps {' '.join(NO_DEPS.values())} && pip install {NO_DEPS_NEEDS}"
    return line


def missing(modules: list[str] | tuple[str, ...], purpose: str = "") -> MissingDependency:
    """One MissingDependency naming every package in `modules` and the extras that provide them."""
    first, *rest = list(dict.fromkeys(modules))
    return MissingDependency(first, extra_of(first), purpose=purpose, also=tuple(rest))


def require(module: str, purpose: str = ""):
    """Import `module` or raise MissingDependency naming the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        inner = (getattr(e, "name", None) or "").split(".")[0]
        if inner and inner != module.split(".")[0] and (inner in EXTRAS or inner in _ONNX2TF_NEEDS):
            raise missing([inner], purpose) from e  # the module is there, one of *its* imports is not
        raise MissingDependency(module, extra_of(module), purpose=purpose) from e


@contextmanager
def converting(hop: str, alternative: str | None = None) -> Iterator[None]:
    """Map any library exception raised inside a converter to one ConversionFailed line naming the hop."""
    try:
        yield
    except PortkitError:
        raise
    except Exception as e:
        msg = _first_line(e)
        hint = f"try another route: {alternative}" if alternative else "run with --debug for the traceback"
        raise ConversionFailed(f"{hop} failed: {type(e).__name__}: {msg}", hint=hint) from e


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _telling_line(e: BaseException) -> str:
    text = _ANSI.sub("", str(e)).strip() or repr(e)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # Prefer a line that names an op when the library buried it (tf2onnx/onnx2tf logs are long).
    for ln in lines:
        if "unsupported" in ln.lower() or "not supported" in ln.lower():
            return ln
    return lines[0] if lines else text


def _first_line(e: BaseException) -> str:
    """The line of a library's exception worth showing; a wrapper that names no reason (torch's
    "Failed to export the model with torch.export. This is step 1/3 ...") gets its root cause appended."""
    line = _telling_line(e)
    root, seen = e, {id(e)}
    while root.__cause__ is not None and id(root.__cause__) not in seen:
        root = root.__cause__
        seen.add(id(root))
    if root is not e:
        why = _telling_line(root)
        if why and why not in line:
            line = f"{line.split('. ')[0].rstrip('.')}: {type(root).__name__}: {why}"
    return line[:300]
