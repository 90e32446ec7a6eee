"""Shared fixtures. The pytest process itself never imports tensorflow or torch: models are built and
run in spawned worker processes (portkit.workers), because TensorFlow and torch's compiler stack
(triton) cannot share a process. Build test models with `build(fn, ...)` from tests/models.py."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


FRAMEWORKS = ("tensorflow", "torch")


@pytest.fixture(autouse=True)
def _no_framework_in_the_test_process():
    """The rule above, per test: a test that leaves tensorflow or torch imported in the pytest process fails
    by name (it would otherwise surface later, in whichever test of the same process checks it)."""
    before = {f for f in FRAMEWORKS if f in sys.modules}
    yield
    new = [f for f in FRAMEWORKS if f in sys.modules and f not in before]
    assert not new, f"this test imported {new} into the pytest process: build/run models in a worker"


def build(func: str, *args, **kwargs):
    """Run tests.models.<func>(*args, **kwargs) in a fresh worker process and return its result."""
    from portkit.workers import call_in_worker

    return call_in_worker(f"build {func}", "tests.models", func, *args, **kwargs)


def custom_code_copy(folder: Path, dest: Path, auto_class: str) -> Path:
    """A copy of a save_pretrained `folder` at `dest` whose config points `auto_class` at code in the folder
    (`auto_map`), as a hub repository with custom code does; that code, if ever run, writes the returned
    marker file. Tests of the `--allow-unsafe` refusal check the marker never appears."""
    import json
    import shutil

    shutil.copytree(folder, dest)
    config = json.loads((dest / "config.json").read_text())
    config["auto_map"] = {auto_class: "modeling_evil.Model"}
    (dest / "config.json").write_text(json.dumps(config))
    marker = dest.parent / f"RAN-{dest.name}"
    (dest / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    return marker


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the real `portkit` command line in a subprocess (as a user would)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true", **(env or {})}
    return subprocess.run([sys.executable, "-m", "portkit", *args], cwd=cwd or ROOT, env=full_env, check=False,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def digits_ref() -> str:
    """The PyTorch sample named by reference (its weights are passed with --weights)."""
    return "samples.digits_torch:build"


@pytest.fixture(scope="session")
def digits_weights() -> Path:
    return SAMPLES / "digits_cnn.pt"


@pytest.fixture(scope="session")
def digits_ts() -> Path:
    return SAMPLES / "digits_cnn.ts.pt"


@pytest.fixture(scope="session")
def digits_onnx(tmp_path_factory) -> Path:
    """The PyTorch sample exported to ONNX once per session (validated on the way)."""
    import portkit

    out = tmp_path_factory.mktemp("digits") / "digits.onnx"
    portkit.convert(str(SAMPLES / "digits_cnn.ts.pt"), "onnx", out)
    return out
