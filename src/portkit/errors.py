"""portkit's error tree.

User mistakes and environment problems are `PortkitError`s: the CLI prints them as one line and exits with
their `exit_code`. portkit's own bugs are anything else and keep their traceback.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "EXIT_OK",
    "BadInput",
    "ConversionFailed",
    "MissingDependency",
    "PortkitError",
    "RuntimeUnavailable",
    "ValidationFailed",
]

EXIT_OK = 0


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
    """An optional library is not installed (exit 4); the hint names the extra."""

    exit_code = 4

    def __init__(self, module: str, extra: str, *, purpose: str = "") -> None:
        what = f" (needed for {purpose})" if purpose else ""
        super().__init__(
            f"the Python package '{module}' is not installed{what}",
            hint=f"install it with: pip install 'portkit[{extra}]'",
        )
        self.module = module
        self.extra = extra


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
    "ai_edge_litert": "tf",
    "onnxruntime": "cpu",
    "starlette": "serve",
    "uvicorn": "serve",
}


def require(module: str, purpose: str = ""):
    """Import `module` or raise MissingDependency naming the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependency(module, EXTRAS.get(module.split(".")[0], "dev"), purpose=purpose) from e


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


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or repr(e)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # Prefer a line that names an op when the library buried it (tf2onnx/onnx2tf logs are long).
    for ln in lines:
        if "unsupported" in ln.lower() or "not supported" in ln.lower():
            return ln[:300]
    return (lines[0] if lines else text)[:300]
