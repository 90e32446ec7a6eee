"""Causal LMs with their key/value cache (portkit.generative): ONNX export named as Optimum and
onnxruntime-genai expect, validation by greedy generation, and the bad inputs. One tiny Llama folder for
the module (hidden 32, 2 layers, vocab 256)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest

from portkit.workers import call_in_worker
from tests.conftest import custom_code_copy, run_cli

STEPS = 32


@pytest.fixture(scope="module")
def d(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("generative")


PROMPT = list(range(3, 40, 3))


@pytest.fixture(scope="module")
def made(d) -> tuple[Path, list[int]]:
    """The folder, and transformers' own greedy tokens from PROMPT (one worker for both)."""
    folder = d / "tiny-llama"
    want = call_in_worker("tiny llama", "tests.generative_models", "save_and_generate", str(folder), PROMPT, STEPS)
    return folder, want


@pytest.fixture(scope="module")
def llama(made) -> Path:
    return made[0]


@pytest.fixture(scope="module")
def converted(d, llama) -> tuple[Path, dict]:
    """`portkit convert ./tiny-llama --to onnx` run from the folder's parent, as in the README."""
    proc = run_cli("convert", "tiny-llama", "--to", "onnx", "--json", cwd=d)
    assert proc.returncode == 0, proc.stderr
    return d / "tiny-llama.onnx", json.loads(proc.stdout)


def _io(path: Path) -> tuple[dict, dict]:
    g = onnx.load(str(path), load_external_data=False).graph
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    return {i.name: dims(i) for i in g.input}, {o.name: dims(o) for o in g.output}


def test_the_onnx_takes_and_returns_the_cache(converted):
    path, report = converted
    ins, outs = _io(path)
    past = [f"past_key_values.{i}.{kv}" for i in range(2) for kv in ("key", "value")]
    assert list(ins) == ["input_ids", "attention_mask", "position_ids", *past]
    assert list(outs) == ["logits", *[n.replace("past_key_values", "present") for n in past]]
    assert ins["input_ids"] == ["batch", "sequence"] and ins["position_ids"] == ["batch", "sequence"]
    assert ins["past_key_values.0.key"] == ["batch", 1, "past_sequence", 16]  # 1 KV head (GQA), head dim 16
    assert outs["present.1.value"][2] == "past_sequence + sequence"
    assert report["passed"] and report["hops"][0]["validation"]["criteria"] == "generation"
    prompts = report["hops"][0]["validation"]["prompts"]
    assert len(prompts) >= 3 and len({p["prompt_length"] for p in prompts}) == len(prompts)
    assert all(p["identical"] == STEPS == p["steps"] and p["first_divergence"] is None for p in prompts)


def _ort_greedy(path: Path, prompt: list[int], steps: int, present_fix=None) -> list[int]:
    """The loop a user writes from the documented names: empty past first, present → past after."""
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    past = {i.name: np.zeros((1, i.shape[1], 0, i.shape[3]), np.float32)
            for i in s.get_inputs() if i.name.startswith("past_key_values.")}
    ids, out = np.array([prompt], np.int64), []
    for _ in range(steps):
        n = next(iter(past.values())).shape[2]
        feed = {"input_ids": ids, "attention_mask": np.ones((1, n + ids.shape[1]), np.int64),
                "position_ids": np.arange(n, n + ids.shape[1], dtype=np.int64)[None], **past}
        res = dict(zip([o.name for o in s.get_outputs()], s.run(None, feed), strict=True))
        out.append(int(res["logits"][0, -1].argmax()))
        past = {k: res[k.replace("past_key_values", "present")] for k in past}
        ids = np.array([[out[-1]]], np.int64)
    return out


def test_a_plain_onnxruntime_loop_reproduces_transformers_generate(converted, made):
    path, _ = converted
    assert _ort_greedy(path, PROMPT, STEPS) == made[1]


def _shift_keys(src: Path, dst: Path) -> None:
    """A wrong cache handling: every present key comes out shifted by one position (rolled along the
    sequence axis) while its values do not, so keys and values no longer pair up from the first decode on."""
    m = onnx.load(str(src))
    g = m.graph
    for o in g.output:
        if o.name.startswith("present.") and o.name.endswith(".key"):
            inner = o.name + "_right"
            for node in g.node:  # the graph computes with the right keys; only what it hands back is off
                node.output[:] = [inner if x == o.name else x for x in node.output]
                node.input[:] = [inner if x == o.name else x for x in node.input]
            consts = {k: onnx.helper.make_tensor(f"{o.name}_{k}", onnx.TensorProto.INT64, [1], [v])
                      for k, v in (("one", 1), ("end", 1 << 30), ("zero", 0), ("axis", 2))}
            g.initializer.extend(consts.values())
            c = {k: t.name for k, t in consts.items()}
            g.node.extend([
                onnx.helper.make_node("Slice", [inner, c["one"], c["end"], c["axis"]], [o.name + "_tail"]),
                onnx.helper.make_node("Slice", [inner, c["zero"], c["one"], c["axis"]], [o.name + "_head"]),
                onnx.helper.make_node("Concat", [o.name + "_tail", o.name + "_head"], [o.name], axis=2)])
    onnx.save(m, str(dst))


def test_a_wrong_cache_fails_validation_naming_the_first_diverging_step(converted, llama, d):
    path, _ = converted
    broken = d / "shifted.onnx"
    _shift_keys(path, broken)
    proc = run_cli("validate", str(llama), str(broken), "--json")
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert not result["passed"] and result["criteria"] == "generation"
    first = next(p for p in result["prompts"] if p["first_divergence"])
    step = first["first_divergence"]["step"]
    assert step >= 1  # the prefill (past length 0) is right; the cache goes wrong from the first decode
    assert f"parts at step {step}" in proc.stderr
    assert all(p["prefill_ok"] for p in result["prompts"])  # (the right artifact passed this check in convert)


def test_an_encoder_asked_for_a_cache_is_exit_2_and_writes_nothing(d):
    """Told by the folder's config.json alone: nothing is loaded."""
    bert = d / "tiny-bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"architectures": ["BertForMaskedLM"], "model_type": "bert"}))
    (bert / "model.safetensors").write_bytes(b"")  # never read: the refusal comes from the config
    proc = run_cli("convert", str(bert), "--to", "onnx", "--cache", "-o", str(d / "bert.onnx"))
    assert proc.returncode == 2, proc.stderr
    assert "not a causal" in proc.stderr and "Traceback" not in proc.stderr
    assert not (d / "bert.onnx").exists()


def test_a_causal_lm_folder_with_custom_code_is_refused_before_anything_runs(llama, d):
    """The cache route reads the folder as the one-pass routes do: auto_map without --allow-unsafe is exit 2
    and its code never runs."""
    custom = d / "custom-llama"
    marker = custom_code_copy(llama, custom, "AutoModelForCausalLM")
    out = d / "custom.onnx"
    proc = run_cli("convert", str(custom), "--to", "onnx", "-o", str(out))
    assert proc.returncode == 2, proc.stderr
    assert "--allow-unsafe" in proc.stderr and "Traceback" not in proc.stderr
    assert not marker.exists() and not out.exists()


def test_a_prompt_past_the_context_is_exit_2_and_writes_nothing(llama, d):
    out = d / "long.onnx"
    proc = run_cli("convert", str(llama), "--to", "onnx", "--tokens", "120", "-o", str(out))
    assert proc.returncode == 2, proc.stderr
    assert "context of 128" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() and not list(d.glob(".long.onnx*"))


@pytest.mark.skipif(not os.environ.get("PORTKIT_GEN_ALL"), reason="litert-torch's export takes ~2 min: opt in with "
                    "PORTKIT_GEN_ALL=1 (the suite's time budget)")
def test_tflite_prefill_decode_signatures_generate_the_same_tokens(d, llama):
    out = d / "tiny-llama.tflite"
    proc = run_cli("convert", str(llama), "--to", "tflite", "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    check = json.loads(proc.stdout)["hops"][0]["validation"]
    assert all(p["identical"] == STEPS for p in check["prompts"]) and len(check["prompts"]) >= 3
    meta = json.loads((d / "tiny-llama.tflite.portkit.json").read_text())["metadata"]["generative"]
    assert meta["signatures"] == ["prefill_32", "decode"] and meta["cache_length"] == 128


@pytest.fixture(scope="module")
def pte(d, llama) -> tuple[Path, dict]:
    """`portkit convert ./tiny-llama --to executorch` (a 64-slot static cache)."""
    proc = run_cli("convert", "tiny-llama", "--to", "executorch", "--cache-length", "64", "--json", cwd=d)
    assert proc.returncode == 0, proc.stderr
    return d / "tiny-llama.pte", json.loads(proc.stdout)


def test_executorch_static_cache_program_generates_the_same_tokens(pte, d):
    """`--to executorch`: transformers' static-cache recipe lowered to XNNPACK, run by ExecuTorch's runtime
    (the prompt in one call, then one token per call, the cache inside the program): 32/32 tokens per prompt."""
    _, report = pte
    check = report["hops"][0]["validation"]
    assert check["criteria"] == "generation" and len(check["prompts"]) >= 3
    assert all(p["identical"] == STEPS == p["steps"] and p["prefill_ok"] for p in check["prompts"])
    meta = json.loads((d / "tiny-llama.pte.portkit.json").read_text())["metadata"]
    assert meta["generative"]["cache_length"] == 64 and meta["backend"] == "XnnpackBackend"


def test_bench_times_the_onnx_and_the_pte_beside_torch_eager(converted, pte, d):
    """`portkit bench tiny-llama.onnx tiny-llama.pte`: TTFT, prefill tok/s at 32 (128 is past the .pte's 64
    slots: absent, with a note), decode tok/s, peak memory; torch eager (the sidecar's source) first."""
    proc = run_cli("bench", "tiny-llama.onnx", "tiny-llama.pte", "--iterations", "2", "--threads", "1", "--json",
                   cwd=d)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["schema"] == "portkit.bench.generate/1"
    rows = {r["runtime"]: r for r in result["results"]}
    assert list(rows) == ["torch eager + DynamicCache", "onnxruntime", "executorch (XNNPACK)"]
    for r in rows.values():
        assert r["ttft_ms"]["32"] > 0 and r["prefill_tps"]["32"] > 0 and r["decode_tps"] > 0
        assert r["peak_mb"] is None or r["peak_mb"] > 0
    assert rows["onnxruntime"]["ttft_ms"]["128"] > 0 and rows["executorch (XNNPACK)"]["ttft_ms"]["128"] is None
    assert rows["executorch (XNNPACK)"]["decode_context"] == 32  # 32 + 64 would not fit; 32 + 32 does


def test_a_static_cache_too_short_for_the_check_is_exit_2_before_anything_loads(llama, d):
    out = d / "short.pte"
    proc = run_cli("convert", str(llama), "--to", "executorch", "--cache-length", "40", "-o", str(out))
    assert proc.returncode == 2, proc.stderr
    assert "more than the static cache's 40" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.mark.skipif(not os.environ.get("PORTKIT_GEN_ALL"), reason="another ONNX export (~60 s here): opt in with "
                    "PORTKIT_GEN_ALL=1 (the suite's time budget)")
def test_int8_weights_are_judged_by_token_agreement(llama, d):
    """`--quantize dynamic`: MatMulNBits int8 weights; the check runs the result teacher-forced over the float
    reference's streams (next-token agreement >= 0.9, perplexity) beside the greedy tokens."""
    import collections

    out = d / "q8.onnx"
    proc = run_cli("convert", str(llama), "--to", "onnx", "--quantize", "dynamic", "-o", str(out), "--json")
    assert proc.returncode in (0, 1), proc.stderr
    check = json.loads(proc.stdout)["hops"][0]["validation"]
    assert check["criteria"] == "generation, quantized:dynamic" and check["quantized"] == "dynamic"
    assert check["passed"] == (check["agreement"] >= 0.9) and proc.returncode == (0 if check["passed"] else 1)
    assert all(p["perplexity"] and p["agreement"] is not None for p in check["prompts"])
    ops = collections.Counter(n.op_type for n in onnx.load(str(out)).graph.node)
    assert ops["MatMulNBits"] == 2 * 7 + 1  # q, k, v, o, gate, up, down per layer + the LM head


def test_a_cache_longer_than_the_context_is_exit_2_and_writes_nothing(llama, d):
    out = d / "long.tflite"
    proc = run_cli("convert", str(llama), "--to", "tflite", "--cache-length", "4096", "-o", str(out))
    assert proc.returncode == 2, proc.stderr
    assert "longer than the model's context of 128" in proc.stderr and not out.exists()



def _serve_ids(client, name: str, prompt: list[int], **params) -> list[list[int]]:  # noqa: ANN001
    import tritonclient.http as tritonclient_http

    ids = tritonclient_http.InferInput("input_ids", [1, len(prompt)], "INT64")
    ids.set_data_from_numpy(np.asarray([prompt], np.int64))
    return client.infer(name, [ids], parameters=params or None).as_numpy("output_ids").tolist()


def _refused(url: str, ids: list[list[int]], steps: object) -> str:
    """A request the server must refuse: its one-line error."""
    import httpx

    body = {"inputs": [{"name": "input_ids", "datatype": "INT64", "shape": [len(ids), len(ids[0])],
                        "data": [t for row in ids for t in row]}], "parameters": {"max_new_tokens": steps}}
    r = httpx.post(url, json=body, timeout=60)
    assert r.status_code == 400 and "\n" not in r.json()["error"], r.text
    return r.json()["error"]


def test_serve_answers_text_generation_over_the_open_inference_protocol(converted, made):
    """`portkit serve tiny-llama.onnx` on a real socket, asked by the real tritonclient: token ids in,
    `max_new_tokens` as a request parameter, transformers' own greedy tokens out; what the model cannot hold
    is a one-line 400 and the server goes on answering."""
    tritonclient_http = pytest.importorskip("tritonclient.http")
    pytest.importorskip("uvicorn")
    import httpx
    from portkit.serving import start

    with start([f"lm={converted[0]}"]) as srv:
        client = tritonclient_http.InferenceServerClient(srv.url, network_timeout=120)
        meta = client.get_model_metadata("lm")
        assert meta["inputs"] == [{"name": "input_ids", "datatype": "INT64", "shape": [-1, -1]}]
        assert meta["outputs"] == [{"name": "output_ids", "datatype": "INT64", "shape": [-1, -1]}]
        assert _serve_ids(client, "lm", PROMPT, max_new_tokens=STEPS) == [made[1]]
        assert _serve_ids(client, "lm", PROMPT) == [made[1][:16]]  # the default: 16 new tokens
        url = f"http://{srv.url}/v2/models/lm/infer"
        assert "too long for model 'lm'" in _refused(url, [[5] * 129], 1)  # past the context of 128
        assert "at most 115" in _refused(url, [PROMPT], 200)  # 13 + 200 > 128
        assert "positive integer" in _refused(url, [PROMPT], 0)
        assert "outside the vocabulary" in _refused(url, [[5, 256]], 1)
        body = {"inputs": [{"name": "input_ids", "datatype": "INT64", "shape": [2, 3], "data": [5, 6, 7, 1, 2, 3]}],
                "parameters": {"max_new_tokens": 4}}
        r = httpx.post(url, json=body, timeout=60)  # each row is a prompt
        assert r.status_code == 200 and r.json()["outputs"][0]["shape"] == [2, 4]
        assert _serve_ids(client, "lm", PROMPT, max_new_tokens=STEPS) == [made[1]]  # still serving
        client.close()


@pytest.mark.skipif(not os.environ.get("PORTKIT_GEN_ALL"), reason="the served .pte's worker imports torch and "
                    "ExecuTorch (~30 s here): opt in with PORTKIT_GEN_ALL=1 (the suite's time budget)")
def test_serve_generates_with_the_pte_in_its_worker(pte, made):
    """The .pte (64 static-cache slots) served from its warm ExecuTorch worker: the same tokens; a prompt +
    max_new_tokens past the static cache is a 400 naming it."""
    tritonclient_http = pytest.importorskip("tritonclient.http")
    from portkit.serving import start

    with start([f"pte={pte[0]}"]) as srv:
        client = tritonclient_http.InferenceServerClient(srv.url, network_timeout=120)
        assert client.get_model_metadata("pte")["platform"] == "executorch"
        assert _serve_ids(client, "pte", PROMPT, max_new_tokens=STEPS) == [made[1]]
        error = _refused(f"http://{srv.url}/v2/models/pte/infer", [PROMPT], 60)
        assert "at most 51" in error and "static cache" in error
        assert _serve_ids(client, "pte", PROMPT, max_new_tokens=4) == [made[1][:4]]
        client.close()
