"""Generation speed and memory of a decoder LLM of realistic shape on onnxruntime, with and without its
key/value cache, against torch eager with transformers' cache (issue 25's goals):

    1. onnxruntime decode with the cache >= 3x faster per token than the same model without it, at 256
       tokens of context;
    2. onnxruntime decode tokens/s >= torch eager with its cache, on the same CPU;
    3. onnxruntime's peak memory while generating <= 1.5x (weights + the cache at the longest context).

The model: a Llama config of hidden 512, 8 layers, 8 heads (8 KV heads), MLP 1408, 32 000-token vocabulary,
context 512, random weights from the config (seeded), saved with save_pretrained. Exported with the real CLI
(`portkit convert FOLDER --to onnx`, checked by generation; and `--no-cache`, the one-pass graph). Each
runtime is timed by portkit.generative.bench.measure in a fresh worker process of its own (peak memory is
that process's resident-set peak above its baseline once the runtime is imported), rounds interleaved
(torch, onnx, onnx without cache, torch, ...) so all three see the same machine load; the ratios are taken
within each round and their median reported, with the machine's load average.

    python benchmarks/bench_generate.py [--rounds 2] [--threads 1] [--decode 32]

Writes benchmarks/results/generate.{json,md}.

`--quantized` measures weight quantization instead (issue 25, item 4): per runtime, the float artifact against
each `--quantize` kind that runtime has (onnx: dynamic = MatMulNBits int8, int4 = MatMulNBits int4; executorch:
dynamic = 8da8w, int4 = 8da4w; tflite: dynamic = dynamic_wi8_afp32), all converted with the real CLI and judged
by its generation check (next-token agreement over the float reference's streams, perplexity of those streams),
then timed like the rows above (a fresh worker each, rounds interleaved): size, decode tok/s and their ratios
to the same runtime's float artifact. The model (QCONFIG, smaller than the goals' model so that eight exports
fit a CI-sized machine): a Llama of hidden 256, 4 layers, 8 000-token vocabulary, random layers from the config
(transformers' default spread 0.02) and the LM head a permutation of the embedding
(tests/generative_models.save_confident_tiny_llama's construction), so its next-token logits have wide margins
(a very sure model: perplexity near 1, agreement here is an upper bound): on purely random weights the top two
logits are close and 4-bit weights flip most choices (the tiny random Llama: agreement 0.42 at int4), which
says nothing about a real model. `--runtimes onnx,executorch` measures some runtimes only. Writes
benchmarks/results/generate-quantized.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CONFIG = dict(vocab_size=32000, hidden_size=512, intermediate_size=1408, num_hidden_layers=8, num_attention_heads=8,
              num_key_value_heads=8, max_position_embeddings=512)
CONTEXT = 256  # tokens of context before the timed decode steps

MAKE = """
import sys, json, torch
from transformers import LlamaConfig, LlamaForCausalLM
torch.manual_seed(0)
LlamaForCausalLM(LlamaConfig(**json.loads(sys.argv[2]))).eval().save_pretrained(sys.argv[1])
"""


def portkit(*args: str, cwd: Path, ok: tuple[int, ...] = (0,)) -> tuple[float, dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true", "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "portkit", *args, "--json"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=3600)
    if proc.returncode not in ok:  # 1: converted, and its check failed (a measured result all the same)
        raise SystemExit(f"portkit {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    return time.perf_counter() - t0, json.loads(proc.stdout)


def timed(kind: str, location: str, threads: int, decode: int, capacity: int, context: int = CONTEXT,
          lengths: tuple[int, ...] = (32, 128)) -> dict:
    from portkit.generative.bench import measure  # noqa: F401  (the worker imports it; fail early here)
    from portkit.workers import Worker

    steps = decode if kind != "onnx-nocache" else max(4, decode // 4)  # each no-cache step reruns 256+ tokens
    w = Worker(f"{kind} bench")
    try:
        return w.call_as(f"bench {kind}", "portkit.generative.bench", "measure", kind, location, {}, lengths, steps,
                         3, threads, capacity, context, 0)
    finally:
        w.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--decode", type=int, default=32, help="decode steps timed after the context")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--quantized", action="store_true", help="float vs --quantize kinds per runtime (QCONFIG)")
    ap.add_argument("--runtimes", default=",".join(QTARGETS), help="--quantized: the runtimes to measure")
    a = ap.parse_args()
    if a.quantized:
        return quantized(a)
    work = a.work or Path(tempfile.mkdtemp(prefix="portkit-bench-generate-"))
    folder = work / "llama-512x8"
    if not (folder / "config.json").exists():
        subprocess.run([sys.executable, "-c", MAKE, str(folder), json.dumps(CONFIG)], check=True, timeout=1800)
    exports = {}
    for name, extra in (("llama-512x8.onnx", ["--tokens", "16"]), ("llama-512x8-nocache.onnx", ["--no-cache"])):
        out = work / name
        if not out.exists():
            secs, res = portkit("convert", str(folder), "--to", "onnx", "-o", str(out), *extra, cwd=work)
            hop = res["hops"][0]
            v = hop.get("validation") or {}
            exports[name] = {"seconds": round(secs, 1), "passed": res.get("passed"), "summary": v.get("summary")}
            print(f"{name}: {secs:.0f} s, {v.get('summary')}", flush=True)
    size = sum(f.stat().st_size for f in work.glob("llama-512x8.onnx*") if not f.name.endswith(".json"))
    capacity = CONFIG["max_position_embeddings"]
    kinds = {"torch": str(folder), "onnx": str(work / "llama-512x8.onnx"),
             "onnx-nocache": str(work / "llama-512x8-nocache.onnx")}
    rounds = []
    for r in range(a.rounds):
        row = {"load_average_1m_before": round(os.getloadavg()[0], 2)}
        for kind, location in kinds.items():
            row[kind] = timed(kind, location, a.threads, a.decode, capacity)
            print(f"round {r + 1} {kind}: decode {row[kind]['decode_ms']:.2f} ms/token, peak "
                  f"{row[kind]['peak_mb']:.0f} MB", flush=True)
        row["load_average_1m_after"] = round(os.getloadavg()[0], 2)
        rounds.append(row)

    head_dim = CONFIG["hidden_size"] // CONFIG["num_attention_heads"]
    longest = CONTEXT + a.decode
    cache_mb = CONFIG["num_hidden_layers"] * 2 * CONFIG["num_key_value_heads"] * head_dim * longest * 4 / 2**20
    weights_mb = size / 2**20
    med = lambda xs: statistics.median(xs)  # noqa: E731
    cache_speedup = med([x["onnx-nocache"]["decode_ms"] / x["onnx"]["decode_ms"] for x in rounds])
    vs_torch = med([x["onnx"]["decode_tps"] / x["torch"]["decode_tps"] for x in rounds])
    ort_peak = med([x["onnx"]["peak_mb"] for x in rounds])
    goals = {
        "cache_speedup_at_256": {"measured": round(cache_speedup, 2), "goal": ">= 3", "met": cache_speedup >= 3},
        "ort_decode_vs_torch_eager": {"measured": round(vs_torch, 2), "goal": ">= 1", "met": vs_torch >= 1},
        "ort_peak_vs_weights_plus_cache": {"measured": round(ort_peak / (weights_mb + cache_mb), 2), "goal": "<= 1.5",
                                           "met": ort_peak <= 1.5 * (weights_mb + cache_mb),
                                           "peak_mb": round(ort_peak, 1), "weights_mb": round(weights_mb, 1),
                                           "cache_mb_at_longest": round(cache_mb, 1), "longest_context": longest}}
    from portkit.environment import environment

    result = {"schema": "portkit.bench.generate-goals/1", "config": CONFIG, "context": CONTEXT, "decode": a.decode,
              "threads": a.threads, "exports": exports, "rounds": rounds, "goals": goals,
              "environment": environment(a.threads)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "generate.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (RESULTS / "generate.md").write_text(markdown(result))
    print(markdown(result))


QCONFIG = dict(vocab_size=8000, hidden_size=256, intermediate_size=704, num_hidden_layers=4, num_attention_heads=4,
               num_key_value_heads=4, max_position_embeddings=256, initializer_range=0.02)
QCACHE = 128  # the static cache of the .pte / .tflite: a 64-token context + 32 decoded fit
QCONTEXT = 64
# runtime -> (suffix, extra convert args, kinds it quantizes to)
QTARGETS = {"onnx": (".onnx", [], ("dynamic", "int4")),
            "executorch": (".pte", ["--cache-length", str(QCACHE)], ("dynamic", "int4")),
            "tflite": (".tflite", ["--cache-length", str(QCACHE)], ("dynamic",))}
QMAKE = """
import sys, json
sys.path.insert(0, sys.argv[3])
from tests.generative_models import save_confident_tiny_llama
save_confident_tiny_llama(sys.argv[1], **json.loads(sys.argv[2]))
"""


def quantized(a: argparse.Namespace) -> None:
    work = a.work or Path(tempfile.mkdtemp(prefix="portkit-bench-quantized-"))
    folder = work / "llama-256x4"
    if not (folder / "config.json").exists():
        subprocess.run([sys.executable, "-c", QMAKE, str(folder), json.dumps(QCONFIG), str(ROOT)], check=True,
                       timeout=1800)
    arts: dict[str, dict] = {}
    for runtime, (suffix, extra, kinds) in QTARGETS.items():
        if runtime not in a.runtimes.split(","):
            continue
        for kind in ("float", *kinds):
            out = work / f"llama-256x4-{kind}{suffix}"
            q = [] if kind == "float" else ["--quantize", kind]
            res_path = out.with_name(out.name + ".result.json")
            if not res_path.exists():
                secs, res = portkit("convert", str(folder), "--to", runtime, "-o", str(out), "--tokens", "32",
                                    *extra, *q, cwd=work, ok=(0, 1))
                res_path.write_text(json.dumps({"seconds": secs, "result": res}, default=str))
            done = json.loads(res_path.read_text())
            v = done["result"]["hops"][0].get("validation") or {}
            ppl = [p["perplexity"] for p in v.get("prompts", []) if p.get("perplexity")]
            arts[f"{runtime}/{kind}"] = {
                "runtime": runtime, "kind": kind, "path": str(out), "bytes": out.stat().st_size,
                "convert_s": round(done["seconds"], 1), "passed": v.get("passed"), "summary": v.get("summary"),
                "agreement": v.get("agreement"), "min_agreement": v.get("min_agreement"),
                "perplexity": [round(statistics.mean(x[i] for x in ppl), 4) for i in (0, 1)] if ppl else None,
                "identical": [p["identical"] for p in v.get("prompts", [])]}
            print(f"{runtime}/{kind}: {done['seconds']:.0f} s, {v.get('summary')}", flush=True)
    rounds = []
    for r in range(a.rounds):
        row = {"load_average_1m_before": round(os.getloadavg()[0], 2)}
        for key, art in arts.items():
            row[key] = timed(art["runtime"], art["path"], a.threads, a.decode, QCACHE, QCONTEXT, (32,))
            print(f"round {r + 1} {key}: decode {row[key]['decode_ms']:.2f} ms/token", flush=True)
        row["load_average_1m_after"] = round(os.getloadavg()[0], 2)
        rounds.append(row)
    for key, art in arts.items():
        fl = f"{art['runtime']}/float"
        art["decode_tps"] = round(statistics.median(x[key]["decode_tps"] for x in rounds), 2)
        art["size_vs_float"] = round(art["bytes"] / arts[fl]["bytes"], 3)
        art["decode_vs_float"] = round(statistics.median(x[key]["decode_tps"] / x[fl]["decode_tps"] for x in rounds), 2)
    from portkit.environment import environment

    result = {"schema": "portkit.bench.generate-quantized/1", "config": QCONFIG, "context": QCONTEXT,
              "decode": a.decode, "threads": a.threads, "artifacts": arts, "rounds": rounds,
              "environment": environment(a.threads)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "generate-quantized.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (RESULTS / "generate-quantized.md").write_text(quantized_markdown(result))
    print(quantized_markdown(result))


def quantized_markdown(r: dict) -> str:
    cfg = r["config"]
    out = ["# Weight quantization of a decoder LLM, per runtime (benchmarks/bench_generate.py --quantized)", "",
           f"Llama config hidden {cfg['hidden_size']}, {cfg['num_hidden_layers']} layers, vocabulary "
           f"{cfg['vocab_size']}: random layers, the LM head a permutation of the embedding (a trained model's "
           f"margins; see the script's docstring). Each row converted with `portkit convert --quantize KIND` and "
           f"judged by its generation check (3 prompts × 32 tokens); decode timed over {r['decode']} tokens after "
           f"{r['context']} tokens of context, threads {r['threads']}, batch 1, median of {len(r['rounds'])} "
           "interleaved rounds. Ratios are to the same runtime's float artifact within each round.", "",
           "| runtime | --quantize | size MB | size vs float | decode tok/s | decode vs float | next-token agreement "
           "(min) | perplexity float → result | greedy identical steps | check |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for art in r["artifacts"].values():
        agree = f"{art['agreement']:.3f} ({art['min_agreement']})" if art["agreement"] is not None else "—"
        ppl = (f"{art['perplexity'][0]:.4f} → {art['perplexity'][1]:.4f}" if art["perplexity"] else "—")
        out.append(f"| {art['runtime']} | {art['kind']} | {art['bytes'] / 1e6:.2f} | {art['size_vs_float']:.2f}× | "
                   f"{art['decode_tps']:,.1f} | {art['decode_vs_float']:.2f}× | {agree} | {ppl} | "
                   f"{'/'.join(map(str, art['identical']))} | {'ok' if art['passed'] else 'FAILED'} |")
    env = r["environment"]
    loads = ", ".join(f"{x['load_average_1m_before']}→{x['load_average_1m_after']}" for x in r["rounds"])
    out += ["", f"CPU: {env.get('cpu')} ({env.get('usable_cores')} usable cores), shared with other jobs; load "
            f"average (1 min) per round: {loads}."]
    return "\n".join(out) + "\n"


def markdown(r: dict) -> str:
    cfg = r["config"]
    out = ["# Generation: decoder LLM with and without its cache (benchmarks/bench_generate.py)", "",
           f"Llama config hidden {cfg['hidden_size']}, {cfg['num_hidden_layers']} layers, vocabulary "
           f"{cfg['vocab_size']}, random weights; decode timed over {r['decode']} tokens after {r['context']} tokens "
           f"of context (no-cache: a quarter as many steps), threads {r['threads']}, batch 1, "
           f"{len(r['rounds'])} interleaved rounds.", "",
           "| round | runtime | TTFT ms (32) | prefill tok/s (32) | prefill tok/s (128) | decode ms/token "
           "| decode tok/s | peak MB | load 1m |", "|---|---|---|---|---|---|---|---|---|"]
    for i, row in enumerate(r["rounds"], 1):
        for kind in ("torch", "onnx", "onnx-nocache"):
            m = row[kind]
            out.append(f"| {i} | {kind} | {m['ttft_ms']['32']:.1f} | {m['prefill_tps']['32']:,.0f} | "
                       f"{m['prefill_tps']['128']:,.0f} | {m['decode_ms']:.2f} | {m['decode_tps']:,.1f} | "
                       f"{m['peak_mb']:,.0f} | {row['load_average_1m_before']}→{row['load_average_1m_after']} |")
    out += ["", "| goal | measured | target | met |", "|---|---|---|---|"]
    for name, g in r["goals"].items():
        out.append(f"| {name} | {g['measured']} | {g['goal']} | {'yes' if g['met'] else 'NO'} |")
    g = r["goals"]["ort_peak_vs_weights_plus_cache"]
    env = r["environment"]
    out += ["", f"Memory: onnxruntime peak {g['peak_mb']} MB above the process baseline; weights {g['weights_mb']} MB "
            f"(the .onnx), cache {g['cache_mb_at_longest']} MB at {g['longest_context']} tokens.",
            f"Exports: {json.dumps(r['exports'])}",
            f"CPU: {env.get('cpu')} ({env.get('usable_cores')} usable cores), shared with other jobs "
            "(load averages per round above)."]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
