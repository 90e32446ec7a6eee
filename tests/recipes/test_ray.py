"""`portkit run --executor ray` on a real local Ray instance: four models as Ray tasks, manifest identical
(same models, pass/fail, artifacts and routes) to the inline run of the same recipe.

The models are small ONNX graphs built with onnx.helper, converted to the ORT format and validated with
onnxruntime: the test is about the executor, so each model costs seconds. The corpus on Ray
(benchmarks/coverage.py --executor ray) is checked by tests/test_coverage.py when PORTKIT_COVERAGE=1."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import portkit

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'portkit[ray]')")
pytest.importorskip("onnxruntime")


def _save(path: Path, nodes, inits=(), in_shape=("N", 4), out_shape=("N", 4)) -> str:
    import onnx

    g = helper.make_graph(nodes, path.stem, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))], list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return str(path)


def _models(folder: Path) -> dict[str, str]:
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(4, 4)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.normal(size=(4,)).astype(np.float32), "b")
    k = numpy_helper.from_array(rng.normal(size=(2, 3, 3, 3)).astype(np.float32), "k")
    return {
        "relu": _save(folder / "relu.onnx", [helper.make_node("Relu", ["x"], ["y"])]),
        "linear": _save(folder / "linear.onnx", [helper.make_node("Gemm", ["x", "w", "b"], ["y"])], [w, b]),
        "mlp": _save(folder / "mlp.onnx", [helper.make_node("MatMul", ["x", "w"], ["h"]),
                                          helper.make_node("Tanh", ["h"], ["y"])], [w]),
        "conv": _save(folder / "conv.onnx", [helper.make_node("Conv", ["x", "k"], ["y"], pads=[1, 1, 1, 1])], [k],
                      in_shape=("N", 3, 8, 8), out_shape=("N", 2, 8, 8)),
    }


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ray_recipe")
    lines = ["version: 1", "name: ray-check", "seed: 0", "models:"]
    for name, path in _models(folder).items():
        lines += [f"  - name: {name}", f"    source: {path}", "    targets:", "      - to: ort"]
    path = folder / "recipe.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def local_ray():
    """A real local Ray instance (2 CPUs, no dashboard), shut down after the module."""
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(
                     [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}})
    yield ray
    if started:
        ray.shutdown()


def _shape(manifest: dict) -> list[tuple]:
    """What must not depend on the executor: models, verdicts, artifacts and their routes."""
    out = []
    for m in sorted(manifest["models"], key=lambda m: m["name"]):
        arts = sorted((a.get("name"), a.get("format") or a.get("to"), str(a.get("route")), bool(a.get("passed")))
                      for a in m["artifacts"])
        out.append((m["name"], bool(m["passed"]), m.get("error"), tuple(arts)))
    return out


def test_ray_manifest_equals_the_local_run(recipe, tmp_path, local_ray):
    portkit.run(recipe, out=tmp_path / "local")
    portkit.run(recipe, out=tmp_path / "ray", executor="ray", jobs=2)
    lm = _manifest(tmp_path / "local")
    rm = _manifest(tmp_path / "ray")
    assert rm["executor"]["kind"] == "ray" and lm["executor"]["kind"] == "inline"
    assert len(rm["models"]) == 4
    assert all(m["passed"] for m in lm["models"]), lm["models"]
    assert _shape(rm) == _shape(lm)
    assert all(m["pid"] != os.getpid() for m in rm["models"])  # each model ran in a Ray worker process
    assert local_ray.is_initialized()


def _manifest(folder: Path) -> dict:
    import json

    return json.loads((folder / "manifest.json").read_text())
