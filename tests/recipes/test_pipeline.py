"""Deployment pipelines end to end: the PyTorch sample to ONNX, int8 TFLite and a web bundle in one
recipe, run in parallel processes; the same verdicts and byte-identical ONNX whatever the job count;
Ray when installed; and every command's output fit for CI (no ANSI codes, --json alone on stdout)."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest

from ..conftest import ROOT, SAMPLES, run_cli
from .test_pipeline_models import small

ANSI = re.compile(r"\x1b\[")

FULL = f"""
version: 1
name: acceptance
seed: 0
defaults:
  validate: {{inputs: {SAMPLES}/digits_calib.npz, batches: [1, 2]}}
  bench: {{duration: 0.2, batches: [1]}}
  gates: {{max_latency_ms: 50}}
models:
  - name: digits
    source: {SAMPLES}/digits_cnn.ts.pt
    targets:
      - to: onnx
        gates: {{max_error: 1.0e-4, max_size_mb: 1}}
        export: {{triton: true}}
      - to: tflite
        quantize: int8
        calibration: {SAMPLES}/digits_calib.npz
        gates: {{min_agreement: 0.9, max_size_mb: 0.1}}
      - to: web
        gates: {{max_error: 1.0e-4, max_size_mb: 1}}
  - name: digits-twin
    source: {SAMPLES}/digits_cnn.ts.pt
    targets:
      - to: onnx
        gates: {{max_error: 1.0e-4, max_size_mb: 1}}
"""

TWO = f"""
version: 1
seed: 0
defaults:
  validate: {{batches: [1]}}
  bench: {{iterations: 50, warmup: 2}}
  gates: {{max_error: 1.0e-4, max_size_mb: 1, max_latency_ms: 100}}
models:
  - {{name: first, source: {SAMPLES}/digits_cnn.ts.pt, targets: [{{to: onnx}}]}}
  - {{name: second, source: {SAMPLES}/digits_cnn.ts.pt, targets: [{{to: onnx}}]}}
"""


def _verdicts(manifest):
    return sorted(
        (v["artifact"], v["gate"], v.get("stat") or "", v["target"].split(" ")[-1], v["passed"])
        for v in manifest["gates"]
    )


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("full")
    (d / "recipe.yaml").write_text(FULL)
    p = run_cli(
        "run",
        str(d / "recipe.yaml"),
        "--out",
        str(d / "out"),
        "--jobs",
        "2",
        "--json",
        "--junit",
        str(d / "junit.xml"),
    )
    return p, d


def test_full_recipe_onnx_int8_tflite_web_in_two_processes(full_run):
    p, d = full_run
    m = json.loads(p.stdout)
    assert p.returncode == 0, p.stderr[-3000:]
    assert m["passed"] and m["executor"] == {"kind": "process", "jobs": 2}
    assert len({mm["pid"] for mm in m["models"]}) == 2  # really two processes
    digits = next(mm for mm in m["models"] if mm["name"] == "digits")
    arts = {a["name"]: a for a in digits["artifacts"]}
    assert set(arts) == {"onnx", "tflite-int8", "web"}
    assert arts["tflite-int8"]["format"] == "tflite" and arts["web"]["format"] == "web"
    for a in arts.values():  # a complete manifest entry for every artifact
        assert len(a["sha256"]) == 64 and a["size_bytes"] and a["route"] and a["tool_versions"]
        assert a["validation"]["passed"] and a["bench"]["results"] and a["gates"]["passed"]
        assert (d / "out" / a["path"]).exists()
    assert arts["tflite-int8"]["size_bytes"] < 0.5 * arts["onnx"]["size_bytes"]
    assert arts["tflite-int8"]["validation"]["criteria"].startswith("quantized")
    assert (d / "out" / arts["onnx"]["exports"]["triton"]["config"]).exists()
    gates = {(v["artifact"], v["gate"]) for v in m["gates"]}
    assert ("digits/tflite-int8", "min_agreement") in gates and ("digits/web", "max_error") in gates
    assert ("digits/onnx", "max_latency_ms") in gates
    # both models ran the same onnx target from the same source: the same verdicts, the same bytes
    twin = next(mm for mm in m["models"] if mm["name"] == "digits-twin")["artifacts"][0]
    assert twin["sha256"] == arts["onnx"]["sha256"]
    assert [(v["gate"], v["passed"]) for v in twin["gates"]["verdicts"]] == [
        (v["gate"], v["passed"]) for v in arts["onnx"]["gates"]["verdicts"]
    ]
    assert (d / "junit.xml").exists() and (d / "out" / "report.html").exists()
    assert not ANSI.search(p.stdout + p.stderr)


def test_jobs_give_the_same_verdicts_and_byte_identical_onnx(tmp_path):
    (tmp_path / "two.yaml").write_text(TWO)
    runs = {}
    for jobs in ("1", "2"):
        p = run_cli(
            "run",
            str(tmp_path / "two.yaml"),
            "--out",
            str(tmp_path / f"out{jobs}"),
            "--jobs",
            jobs,
            "--json",
            "--quiet",
        )
        assert p.returncode == 0, p.stderr[-3000:]
        assert p.stderr == ""  # --quiet: no progress lines
        runs[jobs] = json.loads(p.stdout)
    assert runs["1"]["executor"]["kind"] == "inline" and runs["2"]["executor"]["kind"] == "process"
    assert _verdicts(runs["1"]) == _verdicts(runs["2"])
    shas = {a["sha256"] for r in runs.values() for mm in r["models"] for a in mm["artifacts"]}
    assert len(shas) == 1, "the TorchScript → ONNX export is deterministic: four runs, one sha256"
    assert runs["1"]["seed"] == runs["2"]["seed"] == 0


def test_ray_executor(tmp_path):
    if importlib.util.find_spec("ray") is None:
        p = run_cli(
            "run",
            str(ROOT / "examples" / "digits.recipe.yaml"),
            "--executor",
            "ray",
            "--out",
            str(tmp_path / "never"),
        )
        assert p.returncode == 4 and "portkit[ray]" in p.stderr and not (tmp_path / "never").exists()
        pytest.skip("Ray is not installed (pip install 'portkit[ray]'): checked the exit-4 message only")
    model = small(tmp_path / "m.onnx")
    (tmp_path / "r.yaml").write_text(
        f"models:\n  - {{name: a, source: {model}, targets: [{{to: web}}]}}\n"
        f"  - {{name: b, source: {model}, targets: [{{to: web}}]}}\n"
    )
    p = run_cli(
        "run",
        str(tmp_path / "r.yaml"),
        "--executor",
        "ray",
        "--jobs",
        "2",
        "--out",
        str(tmp_path / "o"),
        "--json",
    )
    assert p.returncode == 0, p.stderr[-3000:]
    m = json.loads(p.stdout)
    assert m["executor"]["kind"] == "ray" and m["passed"] and len(m["models"]) == 2


# ---------------------------------------------------------------- CI-friendly output, every command


@pytest.fixture(scope="module")
def ci_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("ci")
    return d, small(d / "m.onnx")


def _commands(d, model):
    return {
        "routes": ["routes", "--json"],
        "routes-plan": ["routes", "--from", "onnx", "--to", "web", "--json"],
        "inspect": ["inspect", str(model), "--json"],
        "validate": ["validate", str(model), str(model), "--json"],
        "bench": ["bench", str(model), "--iterations", "20", "--json"],
        "convert": ["convert", str(model), "--to", "web", "-o", str(d / "web"), "--json"],
        "convert-bundle": [
            "convert",
            str(model),
            "--to",
            "onnx",
            "--quantize",
            "dynamic",
            "-o",
            str(d / "q.onnx"),
            "--bundle",
            "--json",
        ],
        "verify": ["verify", str(d / "q.onnx"), "--json"],
        "export": ["export", "triton", str(model), "-o", str(d / "repo"), "--json"],
        "matrix": ["matrix", str(model), "--to", "web", "-o", str(d / "matrix"), "--json"],
        "init": ["init", str(model), "-o", str(d / "recipe.yaml"), "--force", "--json"],
        "run": ["run", str(d / "recipe.yaml"), "--check", "--json"],
    }


@pytest.mark.parametrize("env", [{"CI": "true"}, {"CI": "", "NO_COLOR": "1"}], ids=["CI", "NO_COLOR"])
def test_every_command_is_plain_and_its_json_parses(ci_models, env):
    d, model = ci_models
    for name, args in _commands(d, model).items():
        p = run_cli(*args, env=env)
        assert p.returncode == 0, (name, p.stderr[-2000:])
        assert not ANSI.search(p.stdout) and not ANSI.search(p.stderr), name
        json.loads(p.stdout)  # --json alone on stdout


def test_tables_and_quiet_without_a_tty(ci_models):
    d, model = ci_models
    p = run_cli("bench", str(model), "--iterations", "20")
    assert p.returncode == 0 and "p50 ms" in p.stdout and "bench:" in p.stderr  # progress on stderr
    assert not ANSI.search(p.stdout + p.stderr)
    q = run_cli("--quiet", "bench", str(model), "--iterations", "20")
    assert q.returncode == 0 and "p50 ms" in q.stdout and q.stderr == ""
