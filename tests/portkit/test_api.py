"""The Python API: one function per CLI command (a test fails when a command has no twin), results whose
`.to_dict()` is the command's `--json`, errors carrying exit codes, a guarded `__all__`, no framework at
import, and docs/api.md's examples executed as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

import portkit
from portkit.public import API_FUNCTIONS, PUBLIC_TYPES

from ..conftest import ROOT, run_cli
from ..recipes.test_pipeline_models import small, wrong

PUBLIC = {"__version__", *API_FUNCTIONS, *PUBLIC_TYPES}  # listed once, in portkit.public
# CLI command -> its API twin
TWINS = {
    "convert": "convert",
    "inspect": "inspect",
    "routes": "routes",
    "validate": "validate",
    "bench": "bench",
    "serve": "serve",
    "export": "export_triton",
    "verify": "verify",
    "matrix": "matrix",
    "ops": "ops",
    "run": "run",
    "init": "init",
}
HEAVY = ("torch", "tensorflow", "keras", "onnxruntime", "tf2onnx", "onnx2tf", "ai_edge_litert", "ray")


def test_all_is_guarded():
    import portkit.api

    assert set(portkit.__all__) == PUBLIC
    for name in portkit.__all__:
        assert getattr(portkit, name) is not None
    for name in API_FUNCTIONS:  # each is a function of portkit.api, exported there too
        assert name in portkit.api.__all__ and callable(getattr(portkit.api, name)), name
    for name, module in PUBLIC_TYPES.items():
        assert getattr(portkit, name).__module__.startswith(f"portkit.{module}"), name


def test_every_command_has_an_api_twin():
    from portkit.cli import COMMAND_MODULES

    missing = [c for c in COMMAND_MODULES if c not in TWINS]
    assert not missing, f"CLI commands without an API twin (add one to portkit.api and to TWINS): {missing}"
    for cmd, fn in TWINS.items():
        assert callable(getattr(portkit, fn)), cmd


def test_import_and_attribute_access_load_no_framework():
    code = (
        "import portkit, sys, json\n"
        "[getattr(portkit, n) for n in portkit.__all__]\n"
        "import portkit.matrix\n"
        "assert callable(portkit.matrix), 'the submodule shadowed the API function'\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    mods = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert not [m for m in HEAVY if m in mods]


def test_errors_carry_exit_codes(tmp_path):
    with pytest.raises(portkit.BadInput) as e:
        portkit.convert(tmp_path / "missing.onnx", "tflite")
    assert e.value.exit_code == 2 and "file not found" in str(e.value)
    with pytest.raises(portkit.BadInput):
        portkit.convert(small(tmp_path / "m.onnx"), "tflite", opsett=13)
    assert issubclass(portkit.GateFailed, portkit.ValidationFailed) and portkit.GateFailed.exit_code == 1


# ---------------------------------------------------------------- each twin: API dict == CLI --json


@pytest.fixture(scope="module")
def m(tmp_path_factory):
    d = tmp_path_factory.mktemp("api")
    return d, small(d / "m.onnx"), wrong(d / "w.onnx")


def _cli_json(*args):
    p = run_cli(*args, "--json")
    assert p.returncode in (0, 1), p.stderr
    return json.loads(p.stdout), p.returncode


def test_inspect_and_routes_twins(m):
    d, model, _ = m
    assert portkit.inspect(model).to_dict() == _cli_json("inspect", str(model))[0]
    assert portkit.routes().to_dict() == _cli_json("routes")[0]
    assert (
        portkit.routes("torch", "tflite").to_dict()
        == _cli_json("routes", "--from", "torch", "--to", "tflite")[0]
    )


def test_validate_twin(m):
    _, model, bad = m
    api = portkit.validate(model, bad)
    cli, code = _cli_json("validate", str(model), str(bad))
    assert not api and code == 1  # falsy result / exit 1
    assert {k: v for k, v in api.to_dict().items()} == cli
    assert portkit.validate(model, model)


def test_bench_twin(m):
    _, model, _ = m
    api = json.loads(
        json.dumps(portkit.bench(model, iterations=20).to_dict(), default=str)
    )  # as --json prints
    cli, _ = _cli_json("bench", str(model), "--iterations", "20")
    assert api.keys() == cli.keys() and api["options"] == cli["options"]
    assert [(r["model"], r["batch"]) for r in api["results"]] == [
        (r["model"], r["batch"]) for r in cli["results"]
    ]


def test_convert_verify_and_export_twins(m):
    d, model, _ = m
    api = portkit.convert(model, "onnx", d / "q_api.onnx", quantize="dynamic", bundle=True)
    cli, _ = _cli_json(
        "convert",
        str(model),
        "--to",
        "onnx",
        "--quantize",
        "dynamic",
        "-o",
        str(d / "q_cli.onnx"),
        "--bundle",
    )
    a = api.to_dict()
    assert a.keys() == cli.keys() and a["route"] == cli["route"] and a["passed"] == cli["passed"]
    v_api = portkit.verify(d / "q_api.onnx")
    v_cli, code = _cli_json("verify", str(d / "q_cli.onnx"))
    assert v_api and code == 0 and v_api.to_dict().keys() == v_cli.keys()
    t_api = portkit.export_triton(model, d / "repo_api", name="m").to_dict()
    t_cli, _ = _cli_json("export", "triton", str(model), "-o", str(d / "repo_cli"), "--name", "m")
    assert t_api["max_batch_size"] == t_cli["max_batch_size"] and t_api["name"] == t_cli["name"]


def test_ops_twin(m):
    _, model, _ = m
    api = portkit.ops(model, "web")
    cli, code = _cli_json("ops", str(model), "--target", "web")
    assert api.ok and code == 0 and api.to_dict() == cli


def test_matrix_twin(m):
    d, model, _ = m
    api = portkit.matrix(model, d / "mx_api", targets=["web"]).to_dict()
    cli, _ = _cli_json("matrix", str(model), "-o", str(d / "mx_cli"), "--to", "web")
    assert api.keys() == cli.keys()


def test_init_and_run_twins(m):
    d, model, _ = m
    path = portkit.init(model, d / "api.yaml")
    text = path.read_text()
    # trim the starter to its fast target so the run stays short
    (d / "r.yaml").write_text(
        f"models:\n  - name: m\n    source: {model}\n    targets:\n"
        "      - {to: web, gates: {max_error: 1.0e-5}}\n"
    )
    assert "targets:" in text and portkit.load_recipe(path).models[0].source == "m.onnx"
    api = portkit.run(d / "r.yaml", out=d / "run_api")
    cli, code = _cli_json("run", str(d / "r.yaml"), "--out", str(d / "run_cli"))
    assert api and code == 0
    strip = re.compile(r"run_(api|cli)")
    assert [strip.sub("", json.dumps(v, sort_keys=True)) for v in api.gates] == [
        strip.sub("", json.dumps(v, sort_keys=True)) for v in cli["gates"]
    ]
    assert api.to_dict()["models"][0]["artifacts"][0]["sha256"] == cli["models"][0]["artifacts"][0]["sha256"]


def test_serve_twin(m):
    import urllib.request

    _, model, _ = m
    with portkit.serve([str(model)], block=False) as server:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/v2/health/ready", timeout=10) as r:
            assert r.status == 200


# ---------------------------------------------------------------- docs/api.md runs as written


def test_docs_api_examples_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S)
    assert len(blocks) >= 6
    (tmp_path / "samples").symlink_to(ROOT / "samples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    namespace: dict = {}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"docs/api.md block {i + 1}", "exec"), namespace)  # noqa: S102
        except Exception as e:  # noqa: BLE001 - name the block that failed
            raise AssertionError(f"docs/api.md block {i + 1} failed: {type(e).__name__}: {e}\n{block}") from e
    assert (tmp_path / "build" / "api" / "run" / "manifest.json").exists()
    assert "torch" not in sys.modules and "tensorflow" not in sys.modules
