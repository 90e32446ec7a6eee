"""Installed library versions, read from package metadata (no imports)."""
from __future__ import annotations

PORTKIT = "0.1.0"  # portkit's own version (portkit.__version__)

_DIST = {"tensorflow": "tensorflow-cpu", "onnxruntime": "onnxruntime"}


def version_of(name: str) -> str | None:
    from importlib import metadata  # here, not at the top: `import portkit` (and every worker) loads this module

    for dist in (_DIST.get(name, name), name, name.replace("_", "-")):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    if name == "onnxruntime":
        try:
            return metadata.version("onnxruntime-gpu")
        except metadata.PackageNotFoundError:
            return None
    return None


def versions(*names: str) -> dict[str, str | None]:
    return {"portkit": PORTKIT, **{n: version_of(n) for n in names}}
