"""Weight quantization of causal LMs exported with their cache (portkit.generative.quantize): each runtime's own
kernels (onnxruntime MatMulNBits, ExecuTorch 8da4w / 8da8w on XNNPACK, LiteRT dynamic int8), judged by
generation: next-token agreement over the float reference's streams (the quantized criterion), the perplexity
of those streams under the source and the result, the greedy tokens, and the size.

The model is tests/generative_models.save_confident_tiny_llama: a tiny Llama with a trained model's margins
(built, not trained): a random one's top two logits are close and 4-bit weights flip most of its choices
(measured: next-token agreement 0.42 at int4 on the random tiny Llama of test_generate), which says nothing
about a real model. The ExecuTorch test runs by default (the one new runtime test); the ONNX int4 and LiteRT
ones are opt-in with PORTKIT_GEN_ALL=1 (the suite's time budget: an ONNX export ~60 s, litert-torch's ~2 min)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import onnx
import pytest

from portkit.workers import call_in_worker
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def d(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("generative-quantize")


@pytest.fixture(scope="module")
def lm(d) -> Path:
    folder = d / "sure-llama"
    call_in_worker("tiny llama", "tests.generative_models", "save_confident_tiny_llama", str(folder))
    return folder


def _judged(proc, out: Path, kind: str) -> dict:
    """The conversion passed by the quantized criteria, and the report and sidecar say by how much."""
    assert proc.returncode == 0, proc.stderr
    check = json.loads(proc.stdout)["hops"][0]["validation"]
    assert check["criteria"] == f"generation, quantized:{kind}" and check["quantized"] == kind and check["passed"]
    assert check["agreement"] >= check["min_agreement"] == {"int4": 0.8, "dynamic": 0.9}[kind]
    assert len(check["prompts"]) >= 3
    for p in check["prompts"]:  # the source's perplexity of its own tokens, and the result's, near it
        ref, cand = p["perplexity"]
        assert p["agreement"] is not None and 1 <= ref and abs(cand - ref) < 0.1 * ref
    meta = json.loads(Path(f"{out}.portkit.json").read_text())["metadata"]
    assert meta["quantized"] == kind
    q = meta["quantization"]
    assert q["bytes_after"] == out.stat().st_size < q["bytes_before"]
    assert "perplexity" in check["summary"] and "MB float32" in proc.stderr
    return {"check": check, "quantization": q}


@pytest.mark.skipif(not os.environ.get("PORTKIT_GEN_ALL"), reason="another ONNX export (~60 s; the MatMulNBits code "
                    "is the `dynamic` kind's, bits 4): opt in with PORTKIT_GEN_ALL=1 (the suite's time budget)")
def test_onnx_int4_is_matmulnbits_4_bit_weights_judged_by_generation(lm, d):
    """`--to onnx --quantize int4`: every weight MatMul (q, k, v, o, gate, up, down per layer, the LM head)
    becomes MatMulNBits with bits 4, blocks of 32; the .onnx is smaller than the float one."""
    out = d / "q4.onnx"
    proc = run_cli("convert", str(lm), "--to", "onnx", "--quantize", "int4", "-o", str(out), "--json")
    got = _judged(proc, out, "int4")
    nodes = [n for n in onnx.load(str(out)).graph.node if n.op_type == "MatMulNBits"]
    assert len(nodes) == 2 * 7 + 1 == got["quantization"]["nodes"]
    assert {(a.name, a.i) for n in nodes for a in n.attribute if a.name in ("bits", "block_size")} == {
        ("bits", 4), ("block_size", 32)}
    graph = onnx.load(str(out)).graph
    weights = {i.name for i in graph.initializer}
    assert not [n.name for n in graph.node if n.op_type == "MatMul" and weights.intersection(n.input)]
    assert got["quantization"]["bytes_after"] < 0.8 * got["quantization"]["bytes_before"]


def test_executorch_8da4w_runs_on_xnnpack_judged_by_generation(lm, d):
    """`--to executorch --quantize int4`: ExecuTorch's LLM 8da4w source transform (torchao) before the export,
    lowered to XNNPACK (no quantize/dequantize op left outside the delegate), run by ExecuTorch's runtime."""
    out = d / "q4.pte"
    proc = run_cli("convert", str(lm), "--to", "executorch", "--cache-length", "64", "--quantize", "int4", "-o",
                   str(out), "--json")
    got = _judged(proc, out, "int4")
    assert got["quantization"]["scheme"] == "8da4w"
    blob = out.read_bytes()
    assert b"XnnpackBackend" in blob and b"dequantize" not in blob and b"choose_qparams" not in blob


def test_a_kind_the_runtime_has_no_kernels_for_is_exit_2_and_writes_nothing(d):
    """Never a silently float result: int4 to tflite and static int8 anywhere are one line, exit 2, told by the
    folder's config.json before anything loads (the weights file is never read)."""
    folder = d / "config-only-llama"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                                                    "max_position_embeddings": 128}))
    (folder / "model.safetensors").write_bytes(b"")
    for to, kind in (("tflite", "int4"), ("onnx", "int8")):
        out = d / f"no.{to}"
        proc = run_cli("convert", str(folder), "--to", to, "--quantize", kind, "-o", str(out))
        assert proc.returncode == 2, proc.stderr
        assert f"--quantize {kind}: a causal LM exported with its cache has no {kind} weights on {to}" in proc.stderr
        assert "--to onnx --quantize dynamic / int4" in proc.stderr and "Traceback" not in proc.stderr
        assert not out.exists()


@pytest.mark.skipif(not os.environ.get("PORTKIT_GEN_ALL"), reason="litert-torch's export takes ~2 min: opt in with "
                    "PORTKIT_GEN_ALL=1 (the suite's time budget)")
def test_litert_dynamic_int8_weights_judged_by_generation(lm, d):
    """`--to tflite --quantize dynamic`: litert-torch's quantization step with ai-edge-quantizer's
    dynamic_wi8_afp32 recipe (int8 channelwise weights); the prefill/decode signatures keep a float cache. The
    size before is the float .tflite litert-torch wrote and then quantized."""
    out = d / "q8.tflite"
    proc = run_cli("convert", str(lm), "--to", "tflite", "--cache-length", "64", "--quantize", "dynamic", "-o",
                   str(out), "--json")
    got = _judged(proc, out, "dynamic")
    assert got["quantization"]["scheme"] == "dynamic_wi8_afp32" and got["quantization"]["float_file"]
