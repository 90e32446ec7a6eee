"""Recipes: the schema refuses malformed recipes before anything runs (exit 2, key path + fix, nothing
written); `portkit init` writes a starter that passes its own schema; a run writes a complete manifest,
JUnit and HTML, and its manifest serves as the next run's baseline."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from portkit.recipes import RecipeError, load_recipe, parse_recipe

from ..conftest import ROOT, run_cli
from .test_pipeline_models import large, small

GOOD = """
version: 1
seed: 0
defaults:
  bench: {duration: 0.2, batches: [1]}
models:
  - name: tiny
    source: small.onnx
    validate: {batches: [1, 2]}
    targets:
      - to: web
        gates: {max_error: 1.0e-5, max_size_mb: 1, max_latency_ms: 50}
      - to: onnx
        quantize: dynamic
        gates: {min_agreement: 0.5, max_size_mb: 1}
        export: {triton: {max_batch: 4}}
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("recipes")
    small(d / "small.onnx")
    large(d / "large.onnx")
    (d / "good.yaml").write_text(GOOD)
    return d


@pytest.fixture(scope="module")
def good_run(folder):
    out = folder / "out"
    p = run_cli(
        "run", str(folder / "good.yaml"), "--out", str(out), "--junit", str(folder / "junit.xml"), "--json"
    )
    return p, out


# ---------------------------------------------------------------- malformed recipes: exit 2, nothing written


@pytest.mark.parametrize(
    "text, where, fix",
    [
        (
            GOOD.replace("quantize: dynamic", "quantise: dynamic"),
            "models[0] (tiny).targets[1].quantise",
            "did you mean 'quantize'",
        ),
        (GOOD.replace("duration: 0.2", "duration: fast"), "defaults.bench.duration", "write a number"),
        (
            GOOD.replace("source: small.onnx", "source: missing.onnx"),
            "models[0] (tiny).source",
            "fix the path",
        ),
        (GOOD.replace("to: web", "to: webb"), "models[0] (tiny).targets[0].to", "did you mean 'web'"),
        (
            GOOD.replace("max_latency_ms: 50", "max_latency_ms: {p95: 5}"),
            "targets[0].gates.max_latency_ms",
            "",
        ),
        (GOOD.replace("  - name: tiny\n", "  - nam: tiny\n"), "models[0].nam", "did you mean 'name'"),
        ("models: {}", "models", ""),
        ("models:\n  - name: a\n    source: small.onnx\n   targets: []\n", "line", "indentation"),
    ],
)
def test_malformed_recipe_exits_2_naming_the_key_and_writes_nothing(folder, text, where, fix):
    recipe = folder / "bad.yaml"
    recipe.write_text(text)
    out = folder / "never"
    p = run_cli("run", str(recipe), "--out", str(out), "--json")
    assert p.returncode == 2, p.stderr
    assert where in p.stderr and fix in p.stderr
    assert "nothing was run or written" in p.stderr
    assert p.stdout == "" and not out.exists()


def test_every_problem_is_reported_at_once(folder):
    text = GOOD.replace("quantize: dynamic", "quantise: dynamic").replace(
        "source: small.onnx", "source: gone.onnx"
    )
    with pytest.raises(RecipeError) as e:
        parse_recipe(__import__("yaml").safe_load(text), base_dir=folder)
    locs = [p[0] for p in e.value.problems]
    assert any(loc.endswith("quantise") for loc in locs) and any(loc.endswith("source") for loc in locs)
    assert e.value.exit_code == 2


def test_semantic_checks(folder):
    import yaml

    no_bench = yaml.safe_load(GOOD.replace("  bench: {duration: 0.2, batches: [1]}\n", ""))
    with pytest.raises(RecipeError, match="latency gate needs a bench step"):
        parse_recipe(no_bench, base_dir=folder)
    dup = yaml.safe_load(GOOD.replace("quantize: dynamic\n", "quantize: dynamic\n        name: web\n"))
    with pytest.raises(RecipeError, match="two targets named 'web'"):
        parse_recipe(dup, base_dir=folder)


def test_check_only(folder):
    p = run_cli("run", str(folder / "good.yaml"), "--check", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"recipe": str(folder / "good.yaml"), "valid": True, "models": ["tiny"]}


def test_example_recipe_is_valid():
    r = load_recipe(ROOT / "examples" / "digits.recipe.yaml")
    targets = {(t.to, t.quantize) for m in r.models for t in m.targets}
    assert {("onnx", None), ("tflite", "int8"), ("web", None)} <= targets


# ---------------------------------------------------------------- init


def test_init_writes_a_starter_that_passes_its_schema(folder):
    out = folder / "starter" / "recipe.yaml"
    p = run_cli("init", str(folder / "small.onnx"), "-o", str(out), "--json")
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    assert text.startswith("# portkit recipe") and "# inputs: x float32 [batch, 16]" in text
    r = load_recipe(out)
    assert r.models[0].source == "../small.onnx" and [t.to for t in r.models[0].targets] == [
        "onnx",
        "tflite",
        "web",
    ]
    again = run_cli("init", str(folder / "small.onnx"), "-o", str(out))
    assert again.returncode == 2 and "--force" in again.stderr
    missing = run_cli("init", str(folder / "nope.onnx"), "-o", str(folder / "x.yaml"))
    assert missing.returncode == 2 and not (folder / "x.yaml").exists()


# ---------------------------------------------------------------- a run


def test_run_writes_a_complete_manifest(good_run, folder):
    p, out = good_run
    assert p.returncode == 0, p.stderr
    m = json.loads(p.stdout)
    assert m == json.loads((out / "manifest.json").read_text())
    assert m["schema"] == "portkit.manifest/1" and m["passed"] and m["seed"] == 0
    assert m["recipe"]["sha256"] and m["tools"]["onnxruntime"] and m["tools"]["portkit"]
    (tiny,) = m["models"]
    assert tiny["source"]["sha256"] and len(tiny["artifacts"]) == 2
    for a in tiny["artifacts"]:
        assert (out / a["path"]).exists() and len(a["sha256"]) == 64 and a["size_bytes"] > 0
        assert a["route"] and a["tool_versions"] and a["validation"]["passed"]
        assert a["bench"]["schema"] == "portkit.bench/1" and a["gates"]["passed"]
        assert {s["status"] for s in a["steps"].values()} == {"ok"}
    web, quant = tiny["artifacts"]
    assert web["format"] == "web" and quant["name"] == "onnx-dynamic"
    assert quant["exports"]["triton"]["max_batch_size"] == 4
    assert (out / quant["exports"]["triton"]["config"]).exists()
    assert {v["gate"] for v in m["gates"]} == {"max_error", "max_size_mb", "max_latency_ms", "min_agreement"}
    assert (out / "report.html").read_text().count("<tr") > 3


def test_run_junit_lists_steps_and_gates(good_run, folder):
    suites = ET.parse(folder / "junit.xml").getroot()
    names = [tc.get("name") for tc in suites.iter("testcase")]
    assert "convert" in names and "bench" in names and "triton" in names
    assert any(n.startswith("gate max_latency_ms (p50)") for n in names)
    assert suites.find("testsuite").get("failures") == "0"


def test_manifest_is_the_next_runs_baseline(good_run, folder):
    _, out = good_run
    text = GOOD.replace("source: small.onnx", "source: large.onnx").replace(
        "defaults:\n", f"defaults:\n  gates: {{baseline: {out}/manifest.json, max_regression: 20}}\n"
    )
    (folder / "regress.yaml").write_text(text)
    p = run_cli("run", str(folder / "regress.yaml"), "--out", str(folder / "out2"))
    assert p.returncode == 1
    assert "max_regression" in p.stderr and "FAILED gates" in p.stderr
    m = json.loads((folder / "out2" / "manifest.json").read_text())
    failed = {(v["gate"], v["stat"]) for v in m["gates"] if not v["passed"]}
    assert ("max_regression", "size") in failed and ("max_regression", "p50 latency") in failed
