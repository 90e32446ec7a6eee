"""Installed library versions, read from package metadata (no imports)."""
from __future__ import annotations

from importlib import metadata

_DIST = {"tensorflow": "tensorflow-cpu", "onnxruntime": "onnxruntime"}


def version_of(name: str) -> str | None:
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
    from . import __version__

    return {"portkit": __version__, **{n: version_of(n) for n in names}}
