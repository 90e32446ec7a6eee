"""One content hash for every artifact portkit records (manifests, bundles): files and folders alike."""
from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["sha256_of"]


def sha256_of(path: str | Path) -> str | None:
    """sha256 of a file; of a folder, over its files in sorted order (relative name, then content)."""
    p = Path(path)
    if not p.exists():
        return None
    h = hashlib.sha256()
    if p.is_file():
        files = [(p.name, p)]
    else:
        files = sorted((f.relative_to(p).as_posix(), f) for f in p.rglob("*") if f.is_file())
    for rel, f in files:
        if p.is_dir():
            h.update(rel.encode() + b"\0")
        with f.open("rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()
