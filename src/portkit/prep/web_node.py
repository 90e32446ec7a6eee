"""Run a web bundle under onnxruntime-web in Node (tests, and `portkit` users with a checkout).

The Node side lives in the repository's `web/` folder: package.json + package-lock.json pin
onnxruntime-web, `npm ci` installs it there (node_modules is never committed), run_bundle.mjs runs a
bundle with the bundle's own portkit-web.mjs. `web_deps()` installs on first use and says why not when
node/npm or the registry are missing.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import BadInput, RuntimeUnavailable

__all__ = ["WEB_DIR", "run_in_node", "web_deps"]

WEB_DIR = Path(os.environ.get("PORTKIT_WEB_DIR") or Path(__file__).resolve().parents[3] / "web")


def web_deps(web_dir: Path = WEB_DIR, timeout: int = 300) -> str | None:
    """None when onnxruntime-web is installed under `web_dir` (installing it with `npm ci` if needed);
    otherwise the reason it cannot be (no node, no npm, no registry)."""
    if shutil.which("node") is None:
        return "node is not installed (apt-get install nodejs npm)"
    if (web_dir / "node_modules" / "onnxruntime-web" / "package.json").is_file():
        return None
    if not (web_dir / "package.json").is_file():
        return f"{web_dir}/package.json is missing (run from a portkit checkout)"
    if shutil.which("npm") is None:
        return "npm is not installed (apt-get install npm)"
    cmd = ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"]
    try:
        proc = subprocess.run(cmd, cwd=web_dir, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"`npm ci` in {web_dir} timed out after {timeout}s (registry unreachable?)"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1][:200]
        return f"`npm ci` in {web_dir} failed (registry unreachable?): {last}"
    return None


def _encode(arr: np.ndarray) -> dict[str, object]:
    a = np.ascontiguousarray(arr)
    return {"dims": list(a.shape), "dtype": str(a.dtype), "b64": base64.b64encode(a.tobytes()).decode()}


_DTYPES = {"float32": np.float32, "float64": np.float64, "int32": np.int32, "int64": np.int64,
           "int8": np.int8, "uint8": np.uint8, "bool": np.bool_, "float16": np.float16}


def run_in_node(bundle: str | Path, feeds: dict[str, np.ndarray], web_dir: Path = WEB_DIR,
                timeout: int = 120) -> dict[str, np.ndarray]:
    """Outputs of the bundle's model under onnxruntime-web (WASM) in Node for `feeds`."""
    reason = web_deps(web_dir)
    if reason:
        raise RuntimeUnavailable(f"cannot run the bundle in onnxruntime-web: {reason}")
    bundle = Path(bundle).resolve()
    if not (bundle / "manifest.json").is_file():
        raise BadInput("not a web bundle (no manifest.json)", path=bundle)
    with tempfile.TemporaryDirectory(prefix="portkit-node-") as tmp:
        ins, outs = Path(tmp) / "inputs.json", Path(tmp) / "outputs.json"
        ins.write_text(json.dumps({k: _encode(v) for k, v in feeds.items()}))
        proc = subprocess.run(["node", str(web_dir / "run_bundle.mjs"), str(bundle), str(ins), str(outs)],
                              cwd=web_dir, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            text = (proc.stderr.strip() or proc.stdout.strip() or "?").splitlines()
            raise RuntimeUnavailable(f"onnxruntime-web failed on {bundle.name}: {text[0][:300]}",
                                     hint=" | ".join(text[1:4])[:300] or None)
        data = json.loads(outs.read_text())
    result = {}
    for name, t in data.items():
        if name.startswith("_"):
            continue
        arr = np.frombuffer(base64.b64decode(t["b64"]), dtype=_DTYPES.get(t["dtype"], np.float32))
        result[name] = arr.reshape(t["dims"])
    return result
