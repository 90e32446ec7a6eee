"""benchmarks/coverage.py (`make coverage`): the corpus definition, the report, a smoke run of real models.

The fast tests check the corpus and the tables from plain data. The smoke runs (`slow`) convert a Keras
model and a torchvision model over all their routes. The whole corpus — and the corpus on Ray against the
local run — is opt-in: PORTKIT_COVERAGE=1 (about an hour on 2 cores; `make coverage` is the way to run it)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from benchmarks import coverage

OPT_IN = pytest.mark.skipif(os.environ.get("PORTKIT_COVERAGE") != "1",
                            reason="the corpus is opt-in: PORTKIT_COVERAGE=1 (or make coverage)")


def test_corpus_has_what_the_issue_asks_for():
    entries = coverage.corpus()
    by = {f: [e["name"] for e in entries if e["family"] == f] for f in coverage.FAMILIES}
    assert len(by["torchvision"]) >= 15 and {"vit_tiny", "swin_tiny", "mobilenet_v3_small"} <= set(by["torchvision"])
    assert len(by["timm"]) >= 8
    assert len(by["hf"]) >= 8 and {"bert", "gpt2", "vit"} <= set(by["hf"])
    assert len(by["keras-apps"]) >= 10
    assert {"conv1d", "lstm", "gru", "subclassed"} <= set(by["keras-own"])
    # checkpoint folders (issue 24): ≥ 24 architectures saved with save_pretrained, ≥ 6 timm folders
    assert len(by["hf-folders"]) >= 24
    assert {"bert-cls", "t5", "gpt2-lm", "whisper-encoder", "clip"} <= set(by["hf-folders"])
    assert len(by["timm-folders"]) >= 6
    # text models at a fixed and a dynamic sequence, both torch exporters (issue 28)
    assert len(by["text-seq"]) >= 20 and {"bert", "gpt2", "llama", "deberta-v2", "t5-encoder"} <= set(by["text-seq"])
    assert {f"{x}@{a}→{t}" for x in ("dynamo", "legacy") for a in ("seq16", "dyn")
            for t in ("onnx", "tflite", "torchscript")} == set(coverage.TEXT_ROUTES)
    # vision and Keras models beyond the corpus (issue 28): timm/torchvision at other input sizes, a user's
    # own trace of ViT-B/16, Keras attention / transposed convolution / bidirectional GRU
    assert {"ghostnetv2_100", "edgenext_xx_small", "efficientvit_b0", "tiny_vit_5m_224", "swin_t@224",
            "shufflenet_v2_x0_5@64", "vit_b_16-user-trace"} <= set(by["vision-extra"])
    assert {"mha-block", "conv2d-transpose", "bidirectional-gru"} <= set(by["keras-extra"])
    # decoders with their key/value cache (issue 25): ≥ 6 families, each on onnx / tflite / executorch
    assert {"gpt2-kv", "llama-kv", "qwen2-kv", "mistral-kv", "phi-kv", "gemma-kv"} <= set(by["decoders"])
    assert coverage.DECODER_ROUTES == ("lm→onnx", "lm→tflite", "lm→executorch")
    assert len({(e["family"], e["name"]) for e in entries}) == len(entries)
    # round robin: the first models cover every family, so a run cut short still does
    assert {e["family"] for e in entries[:len(coverage.FAMILIES)]} == set(coverage.FAMILIES)


def test_every_route_of_the_issue_is_run():
    routes = set(coverage.TORCH_ROUTES) | set(coverage.KERAS_ROUTES)
    assert {"torch→onnx", "onnx→tflite", "onnx→torchscript", "ts-onnx→torchscript", "torch→tflite",
            "keras→onnx", "keras→tflite", "keras→savedmodel", "keras→torchscript"} <= routes


def _rows():
    return [
        {"family": "timm", "model": "a", "route": "torch→onnx", "passed": True, "seconds": 3.0, "reason": None},
        {"family": "timm", "model": "a", "route": "onnx→tflite", "passed": False, "seconds": 9.0,
         "reason": "ConversionFailed: onnx→tflite failed | x"},
        {"family": "keras-own", "model": "gru", "route": "keras→onnx", "passed": True, "seconds": 2.0,
         "reason": None},
    ]


def test_summary_and_markdown(tmp_path):
    s = coverage.summarize(_rows())
    assert s["rows"] == 3 and s["passed"] == 2
    assert s["by_family"]["timm"] == {"passed": 1, "rows": 2, "rate": 0.5}
    assert s["by_route"]["onnx→tflite"]["passed"] == 0
    coverage.write(_rows(), {"executor": "local", "jobs": 1, "complete": False}, tmp_path)
    doc = json.loads((tmp_path / "coverage.json").read_text())
    assert doc["schema"] == "portkit.coverage/1" and len(doc["rows"]) == 3
    md = (tmp_path / "coverage.md").read_text()
    assert "2 / 3 rows pass" in md and "partial run" in md
    assert "failed \\| x" in md  # a reason cannot break the table


def test_bad_only_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        coverage.main(["--only", "no-such-family"])
    assert e.value.code == 2
    assert "--only no-such-family" in capsys.readouterr().err


def _run(tmp_path: Path, *args: str) -> dict:
    assert coverage.main([*args, "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work")]) == 0
    return json.loads((tmp_path / "out" / "coverage.json").read_text())


@OPT_IN  # ~60 s: the harness's rows are the converters' own routes, each tested on its own (the suite's budget)
@pytest.mark.slow
def test_smoke_keras_conv1d(tmp_path):
    doc = _run(tmp_path, "--only", "conv1d")
    assert [r["route"] for r in doc["rows"]] == list(coverage.KERAS_ROUTES)
    assert all(r["passed"] for r in doc["rows"]), doc["rows"]


@OPT_IN  # ~70 s (the suite's 25-min budget)
@pytest.mark.slow
def test_smoke_torchvision_squeezenet(tmp_path):
    doc = _run(tmp_path, "--only", "squeezenet1_0")
    assert [r["route"] for r in doc["rows"]] == list(coverage.TORCH_ROUTES)
    assert all(r["passed"] for r in doc["rows"]), [r for r in doc["rows"] if not r["passed"]]


@OPT_IN
def test_full_corpus(tmp_path):
    doc = _run(tmp_path)
    s = doc["summary"]
    assert s["pass_rate"] >= 0.95, s
    assert all(v["rate"] >= 0.9 for v in s["by_family"].values()), s["by_family"]


@OPT_IN
def test_corpus_on_ray_matches_the_local_run(tmp_path):
    pytest.importorskip("ray", reason="ray is not installed")
    models = ["--only", "gru", "--only", "conv1d", "--only", "lstm", "--only", "subclassed"]
    local = _run(tmp_path / "local", *models)
    on_ray = _run(tmp_path / "ray", *models, "--executor", "ray", "--jobs", "2")
    assert on_ray["executor"] == "ray"

    def verdicts(doc: dict) -> list[tuple]:
        return sorted((r["family"], r["model"], r["route"], r["passed"]) for r in doc["rows"])

    assert verdicts(on_ray) == verdicts(local)
