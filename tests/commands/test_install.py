"""Installs that work as documented: the wheel, installed into a fresh venv with `[cpu]` and then
`[cpu,serve]` (README's lines, with the repo's constraints), runs what those extras enable, and says exit 4
naming the right extra (and onnx2tf's pip line) for what they do not.

The fresh venv sees nothing of the development environment: no PYTHONPATH, no editable install, no torch
or TensorFlow (asserted: the `cpu` set must not pull a framework).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from ..conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

CPU_SET = {"numpy", "onnx", "onnxruntime", "typer", "click", "rich", "pyyaml", "pydantic"}
FRAMEWORKS = ("torch", "tensorflow", "tensorflow-cpu", "keras", "jax")


def _run(cmd: list[str], cwd: Path | None = None, timeout: int = 600, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PORTKIT_DEBUG")}
    env.update(CI="true", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False,
                          **kw)


def _source_copy(dst: Path) -> Path:
    """The files a release would hold: git's tracked and not-ignored files (else the tree minus build
    products), copied so that the build's `build/` and `*.egg-info` stay out of the checkout."""
    proc = _run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"])
    if proc.returncode == 0 and proc.stdout:
        for name in filter(None, proc.stdout.split("\0")):
            src = ROOT / name
            if src.is_file():
                (dst / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst / name)
    else:
        shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns(
            ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", "node_modules", ".pytest_cache"))
    return dst


def _pip(venv: Path, *args: str) -> None:
    proc = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"),
                 *args])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _installed(venv: Path) -> set[str]:
    proc = _run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"])
    return {p["name"].lower().replace("_", "-") for p in json.loads(proc.stdout)}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """(venv, wheel, work folder with a small ONNX model): the wheel installed with [cpu] only."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    base = tmp_path_factory.mktemp("install")
    wheels = base / "wheels"
    src = _source_copy(base / "src")  # setuptools builds in the tree it is given: never in the checkout
    proc = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                 str(src)])
    if proc.returncode != 0:  # no setuptools in this environment: build as pip does by default
        proc = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = wheels.glob("portkit-*.whl")
    venv = base / "venv"
    proc = _run([sys.executable, "-m", "venv", str(venv)])
    assert proc.returncode == 0, proc.stderr
    _pip(venv, f"{wheel}[cpu]")
    work = base / "work"
    work.mkdir()
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    w = numpy_helper.from_array(np.arange(4, dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(work / "m.onnx"))
    return venv, wheel, work


def portkit(venv: Path, work: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return _run([str(venv / "bin" / "portkit"), *args], cwd=work, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr


def _missing(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 4, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("portkit: error:"), line
    for n in needles:
        assert n in line, (n, line)
    return line


def test_cpu_extra_pulls_no_framework(fresh):
    venv, _, _ = fresh
    names = _installed(venv)
    assert CPU_SET <= names, CPU_SET - names
    assert not [f for f in FRAMEWORKS if f in names], names


def test_cpu_extra_runs_what_it_enables(fresh):
    venv, _, work = fresh
    _ok(portkit(venv, work, "--version"))
    info = portkit(venv, work, "inspect", "m.onnx", "--json")
    _ok(info)
    assert json.loads(info.stdout)["format"] == "onnx"
    _ok(portkit(venv, work, "validate", "m.onnx", "m.onnx"))
    bench = portkit(venv, work, "bench", "m.onnx", "-n", "5", "--warmup", "1", "--json")
    _ok(bench)
    json.loads(bench.stdout)
    _ok(portkit(venv, work, "convert", "m.onnx", "--to", "ort", "-o", "m.ort"))
    assert (work / "m.ort").is_file()
    _ok(portkit(venv, work, "convert", "m.onnx", "--to", "web", "-o", "m_web"))
    assert (work / "m_web" / "manifest.json").is_file()
    _ok(portkit(venv, work, "convert", "m.onnx", "--to", "onnx", "--quantize", "dynamic", "-o", "q.onnx"))
    _ok(portkit(venv, work, "export", "triton", "m.onnx", "-o", "repo"))
    _ok(portkit(venv, work, "routes"))


def test_cpu_extra_names_the_extra_for_the_rest(fresh):
    venv, _, work = fresh
    _missing(portkit(venv, work, "serve", "m.onnx", "--port", "0"), "starlette", "pip install 'portkit[serve]'")
    line = _missing(portkit(venv, work, "convert", "m.onnx", "--to", "tflite", "-o", "m.tflite"),
                    "tensorflow", "onnx2tf", "'portkit[tf]'", "pip install --no-deps onnx2tf tf-keras")
    assert "portkit[dev]" not in line
    assert not (work / "m.tflite").exists()
    _missing(portkit(venv, work, "convert", "m.onnx", "--to", "torchscript", "-o", "m.ts"), "torch",
             "'portkit[torch]'")
    _missing(portkit(venv, work, "convert", "samples.digits_torch:build", "--to", "onnx", "-o", "d.onnx"),
             "'portkit[torch]'")


def test_cpu_serve_extra_serves_a_real_request(fresh):
    venv, wheel, work = fresh
    _pip(venv, f"{wheel}[cpu,serve]")
    assert not [f for f in FRAMEWORKS if f in _installed(venv)]
    with_port = _run([str(venv / "bin" / "python"), "-c",
                      "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"])
    port = int(with_port.stdout)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.Popen([str(venv / "bin" / "portkit"), "serve", "m.onnx", "--port", str(port)], cwd=work,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/v2/health/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the server did not get ready"
            time.sleep(0.2)
        body = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6, 7, 8]}]}
        req = urllib.request.Request(f"{base}/v2/models/m/infer", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            answer = json.loads(r.read())
        (out,) = answer["outputs"]
        assert out["shape"] == [2, 4] and out["data"] == [1, 3, 5, 7, 5, 7, 9, 11]
        bad = urllib.request.Request(f"{base}/v2/models/m/infer", data=b"{not json",
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(bad, timeout=30)
        assert e.value.code == 400
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err
