"""The `--to web` bundle in a real browser: served over a local HTTP server, index.html opened in headless
Chromium (Debian `chromium`, driven by playwright-core from web/node_modules), the page's own "Run" button
runs the model on the page's sample input with onnxruntime-web (WASM), and what the page computed is
compared with Python onnxruntime on the same inputs. Skipped, saying why, without chromium, node or
web/node_modules/playwright-core (`make web-deps` installs them)."""
from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import portkit
from portkit.prep.web_node import WEB_DIR, web_deps

from ..conftest import ROOT

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
SCREENSHOT = ROOT / "docs" / "img" / "web-bundle.png"


@pytest.fixture(scope="module")
def browser_ready() -> str:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium; `make web-deps` does it as root)")
    reason = web_deps()
    if reason:
        pytest.skip(f"onnxruntime-web unavailable: {reason}")
    if not (WEB_DIR / "node_modules" / "playwright-core" / "package.json").is_file():
        pytest.skip("web/node_modules/playwright-core is missing (run `make web-deps`, i.e. npm ci in web/)")
    return CHROMIUM


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


@pytest.fixture()
def serve():
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_Quiet, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/index.html"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def _open_in_browser(url: str, tmp_path: Path, chromium: str) -> dict:
    out, shot = tmp_path / "page.json", tmp_path / "page.png"
    proc = subprocess.run(["node", str(WEB_DIR / "browser_run.mjs"), url, str(out), str(shot), chromium],
                          capture_output=True, text=True, timeout=180, cwd=WEB_DIR)
    assert proc.returncode == 0, proc.stderr[-2000:]
    page = json.loads(out.read_text())
    page["screenshot"] = shot
    return page


def _array(t: dict) -> np.ndarray:
    return np.asarray(t["data"], dtype=t["dtype"] if t["dtype"] != "bool" else bool).reshape(t["dims"])


def test_web_bundle_runs_in_chromium(tmp_path, digits_onnx, browser_ready, serve):
    bundle = tmp_path / "digits_web"
    portkit.convert(digits_onnx, "web", bundle)
    page = _open_in_browser(serve(bundle), tmp_path, browser_ready)
    assert page["status"] == "ready", page["log"]
    got = page["result"]
    assert "error" not in got, got
    assert "HeadlessChrome" in page["userAgent"] or "Chrome" in page["userAgent"]
    feeds = {name: _array(t).astype(np.float32) for name, t in got["inputs"].items()}
    assert list(feeds) == ["x"] and feeds["x"].shape == (1, 1, 8, 8)
    want = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)
    names = [o.name for o in ort.InferenceSession(str(bundle / "model.onnx")).get_outputs()]
    for name, ref in zip(names, want):
        np.testing.assert_allclose(_array(got["outputs"][name]), ref, rtol=1e-4, atol=1e-5)
    assert page["screenshot"].stat().st_size > 1000
    if os.environ.get("PORTKIT_UPDATE_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(page["screenshot"], SCREENSHOT)
