"""Served throughput vs a bare onnxruntime loop on the same model, with and without dynamic batching.

The server runs as `python -m portkit serve` in its own process, pinned (taskset) to its share of the
cores; the load generator (32 keep-alive connections, raw HTTP/1.1 over asyncio, binary tensors, each
request replayed back to back for a fixed time; the tests cover tritonclient) runs in another process
pinned to the other cores, so client work never eats the server's CPU. The bare loop (`session.run` in a
fresh process) is pinned to the server's cores with the same intra-op threads.

For each model x rows per request x {no batching, dynamic batching}: req/s, samples/s, p50/p99 latency
seen by the clients, the rows per execution the server actually ran (from /metrics) and:
  x bare b=eq     served samples/s / bare samples/s at that executed batch (the goal: >= 0.8)
  x bare same     served samples/s / bare samples/s at the request's own batch
  overhead        server time per request beyond that inference (HTTP, protocol, batching)
Models: the digits sample (~30 us per sample: HTTP dominates), a synthetic MLP (~0.4 ms per sample at
batch 1) and a larger one (~5 ms at batch 1, ~0.65 ms per sample at batch 32: inference dominates).

    python benchmarks/bench_serve.py [--seconds 4] [--request-batch 1,8,64] [--server-cpus N]
Writes benchmarks/results/serve-TAG.json and .md (TAG: --tag, default "latest").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MODELS = RESULTS / "_models"  # conversions cached between runs (ignored by git)
GOAL = 0.8  # served samples/s over bare at the executed batch (issue 7)
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from portkit.serving.server import free_port  # noqa: E402


def digits_model() -> Path:
    out = MODELS / "digits.onnx"
    if not out.exists():
        import portkit

        MODELS.mkdir(parents=True, exist_ok=True)
        portkit.convert(str(ROOT / "samples" / "digits_cnn.ts.pt"), "onnx", out)
    return out


def mlp_model(path: Path, width: int = 1024, depth: int = 4) -> Path:
    """x[N,256] -> depth x (MatMul + Relu) of `width` -> [N,10]; seeded weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits, prev, dim = [], [], "x", 256
    for i in range(depth):
        w = numpy_helper.from_array(
            (rng.standard_normal((dim, width)) / np.sqrt(dim)).astype(np.float32), f"w{i}"
        )
        inits.append(w)
        nodes += [
            helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]),
            helper.make_node("Relu", [f"m{i}"], [f"h{i}"]),
        ]
        prev, dim = f"h{i}", width
    inits.append(
        numpy_helper.from_array((rng.standard_normal((dim, 10)) / np.sqrt(dim)).astype(np.float32), "wo")
    )
    nodes.append(helper.make_node("MatMul", [prev, "wo"], ["logits"]))
    g = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 256])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(path))
    return path


def input_spec(path: Path) -> tuple[str, list[int]]:
    import onnxruntime as ort

    i = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()[0]
    return i.name, [d if isinstance(d, int) else 1 for d in i.shape]


def bare(path: Path, batch: int, threads: int | None, seconds: float, cpus: set[int] | None = None) -> dict:
    """A plain `session.run` loop at `batch`, in a child process pinned to `cpus` (the server's cores)."""
    spec = json.dumps({"path": str(path), "batch": batch, "threads": threads, "seconds": seconds})
    return json.loads(_child(["_bare", spec], cpus))


def _bare_child(spec: dict) -> dict:
    import onnxruntime as ort

    path, batch, threads, seconds = Path(spec["path"]), spec["batch"], spec["threads"], spec["seconds"]
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    name, shape = input_spec(path)
    x = np.random.default_rng(0).random([batch] + shape[1:], dtype=np.float32)
    for _ in range(20):
        sess.run(None, {name: x})
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        sess.run(None, {name: x})
        n += 1
    dt = time.perf_counter() - t0
    return {"batch": batch, "runs": n, "samples_per_s": n * batch / dt, "ms_per_run": 1000 * dt / n}


def _child(args: list[str], cpus: set[int] | None) -> str:
    """Run this script's hidden subcommand in a fresh process pinned to `cpus`; its stdout (JSON)."""
    cmd = [sys.executable, __file__, *args]
    if cpus and hasattr(os, "sched_setaffinity"):
        cmd = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if done.returncode:
        raise RuntimeError(f"{args[0]} failed: {done.stderr[-2000:]}")
    return done.stdout


def start_server(path: Path, port: int, extra: list[str], cpus: set[int] | None) -> subprocess.Popen:
    import httpx

    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"}
    cmd = [sys.executable, "-m", "portkit", "serve", f"m={path}", "--port", str(port), *extra]
    if cpus and hasattr(os, "sched_setaffinity"):
        cmd = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *cmd]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not become ready")


def infer_request(path: Path, batch: int) -> bytes:
    """One raw HTTP/1.1 infer request (binary input tensor, binary output), built once and replayed."""
    name, shape = input_spec(path)
    x = np.random.default_rng(1).random([batch] + shape[1:], dtype=np.float32)
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "datatype": "FP32",
                    "shape": list(x.shape),
                    "parameters": {"binary_data_size": x.nbytes},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    body = head + x.tobytes()
    return (
        f"POST /v2/models/m/infer HTTP/1.1\r\nHost: bench\r\nContent-Type: application/octet-stream\r\n"
        f"Inference-Header-Content-Length: {len(head)}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def load(url: str, path: Path, seconds: float, clients: int, batch: int, cpus: set[int] | None) -> dict:
    """The load generator, in its own process pinned to `cpus` (the cores the server does not have)."""
    spec = {"url": url, "path": str(path), "seconds": seconds, "clients": clients, "batch": batch}
    return json.loads(_child(["_load", json.dumps(spec)], cpus))


def _load_child(spec: dict) -> dict:
    """`clients` keep-alive connections, each sending requests back to back until `seconds` have passed
    (asyncio, raw HTTP/1.1: the load generator's own cost stays small next to the server's)."""
    import asyncio

    host, port = spec["url"].split(":")
    request = infer_request(Path(spec["path"]), spec["batch"])
    clients = spec["clients"]

    async def connection(until: float, latencies: list[float], errors: list[int]) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < until:
                t = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                length = next(
                    int(ln.split(b":")[1]) for ln in lines if ln.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                if not lines[0].startswith(b"HTTP/1.1 200"):
                    errors.append(1)
                latencies.append(time.perf_counter() - t)
        finally:
            writer.close()

    async def run(seconds: float) -> tuple[list[float], int, float]:
        latencies: list[float] = []
        errors: list[int] = []
        t0 = time.perf_counter()
        until = t0 + seconds
        await asyncio.wait_for(asyncio.gather(*(connection(until, latencies, errors) for _ in range(clients))), 600)
        return latencies, len(errors), time.perf_counter() - t0

    asyncio.run(run(min(1.0, spec["seconds"] / 4)))  # warm-up: sessions, caches, the execution-cost estimate
    latencies, errors, dt = asyncio.run(run(spec["seconds"]))
    lat = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": dt,
        "req_per_s": len(latencies) / dt,
        "samples_per_s": len(latencies) * spec["batch"] / dt,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
    }


def server_counts(url: str) -> dict[str, float]:
    """Rows inferred and runtime executions, from the server's /metrics."""
    import httpx

    text = httpx.get(f"http://{url}/metrics", timeout=10).text
    vals = {}
    for line in text.splitlines():
        for key in ("portkit_inference_count_total", "portkit_execution_count_total"):
            if line.startswith(key + "{"):
                vals[key] = float(line.split()[-1])
    return vals


def split_cpus(server_cpus: int | None) -> tuple[set[int] | None, set[int] | None, str]:
    """Server (and bare loop) cores, load-generator cores, and a sentence saying how they were split."""
    if not hasattr(os, "sched_getaffinity") or not shutil.which("taskset"):
        return None, None, "no CPU pinning on this platform: server, bare loop and load generator share the CPUs"
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None, "one CPU: server, bare loop and load generator share it"
    n = server_cpus or max(1, len(cpus) // 2)
    n = min(n, len(cpus) - 1)
    server, client = set(cpus[:n]), set(cpus[n:])
    return (
        server,
        client,
        f"server and bare loop pinned to CPU {_ranges(server)}, load generator to CPU {_ranges(client)}",
    )


def _ranges(cpus: set[int]) -> str:
    s = sorted(cpus)
    return f"{s[0]}-{s[-1]}" if len(s) > 1 and s[-1] - s[0] == len(s) - 1 else ",".join(map(str, s))


def summary(runs: list[dict]) -> str:
    """Which rows meet the goal, and the rule behind it: served/bare = inference / (inference + overhead),
    so the goal holds when a request carries at least GOAL/(1-GOAL) = 4x the server's overhead in inference."""
    met = [r for r in runs if r["ratio_vs_bare_batch_equivalent"] >= GOAL]
    over = np.array([r["overhead_us_per_request"] for r in runs if r["overhead_us_per_request"] > 0])
    if not len(over):
        return f"{len(met)} of {len(runs)} configurations meet the goal (>= {GOAL:g}x bare)."
    med = float(np.median(over))
    need_ms = GOAL / (1 - GOAL) * med / 1000
    return (
        f"{len(met)} of {len(runs)} configurations meet the goal (>= {GOAL:g}x bare at the executed batch). "
        f"The server's own cost is a median {med:.0f} µs per request (range {over.min():.0f}–{over.max():.0f}); "
        f"served/bare = inference/(inference + overhead), so the goal holds once a request carries about "
        f"{need_ms:.2f} ms or more of inference (by itself, or merged by dynamic batching with its "
        "neighbours' rows per execution). Below that, HTTP dominates: send more rows per request, or run "
        "`--workers N` on more cores."
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["_bare"], ["_load"]):  # hidden subcommands: the pinned child processes
        child = _bare_child if argv[0] == "_bare" else _load_child
        print(json.dumps(child(json.loads(argv[1]))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="load per configuration")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument(
        "--server-cpus", type=int, default=None, help="cores for the server and the bare loop (default: half)"
    )
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: --server-cpus)")
    ap.add_argument("--concurrency", type=int, default=1, help="server executions in flight per model")
    ap.add_argument("--bare-seconds", type=float, default=2.0)
    ap.add_argument("--max-batch", type=int, default=32)
    ap.add_argument("--max-delay-ms", type=float, default=2.0)
    ap.add_argument("--request-batch", default="1,8,64", help="rows per request, comma-separated")
    ap.add_argument("--models", default="digits,mlp,mlp-large")
    ap.add_argument("--tag", default="latest", help="results go to serve-TAG.json / .md")
    a = ap.parse_args(argv)

    server_cpus, client_cpus, pinning = split_cpus(a.server_cpus)
    threads = a.threads or (len(server_cpus) if server_cpus else 1)
    paths = {
        "digits": digits_model,
        "mlp": lambda: mlp_model(MODELS / "mlp.onnx"),
        "mlp-large": lambda: mlp_model(MODELS / "mlp-large.onnx", width=3072, depth=3),
    }
    print(pinning, file=sys.stderr)
    rows, runs = [], []
    bare_cache: dict[tuple[str, int], dict] = {}

    def bare_at(mname: str, path: Path, batch: int) -> dict:
        if (mname, batch) not in bare_cache:
            bare_cache[(mname, batch)] = bare(path, batch, threads, a.bare_seconds, server_cpus)
        return bare_cache[(mname, batch)]

    for mname in a.models.split(","):
        path = paths[mname]()
        for rb in (int(b) for b in a.request_batch.split(",")):
            for label, extra in (
                ("no batching", ["--max-batch", "1"]),
                ("dynamic batching", ["--max-batch", str(a.max_batch), "--max-delay-ms", str(a.max_delay_ms)]),
            ):
                if label == "dynamic batching" and rb >= a.max_batch:
                    continue
                port = free_port()
                proc = start_server(
                    path, port, [*extra, "--threads", str(threads), "--concurrency", str(a.concurrency)], server_cpus
                )
                try:
                    before = server_counts(f"127.0.0.1:{port}")
                    res = load(f"127.0.0.1:{port}", path, a.seconds, a.clients, rb, client_cpus)
                    after = server_counts(f"127.0.0.1:{port}")
                finally:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(30)
                rows_run, execs = (
                    after.get(k, 0) - before.get(k, 0)
                    for k in ("portkit_inference_count_total", "portkit_execution_count_total")
                )
                mb = rows_run / max(1.0, execs)
                same = bare_at(mname, path, rb)
                eq = bare_at(mname, path, max(1, round(mb)))
                run = {
                    "model": mname,
                    "config": label,
                    "request_batch": rb,
                    **res,
                    "mean_batch": mb,
                    "bare_request_batch": same,
                    "bare_batch_equivalent": eq,
                    "ratio_vs_bare_request_batch": res["samples_per_s"] / same["samples_per_s"],
                    "ratio_vs_bare_batch_equivalent": res["samples_per_s"] / eq["samples_per_s"],
                    # server time per request beyond the inference it ran: what HTTP and the protocol cost
                    "overhead_us_per_request": 1e6 * (1 / res["req_per_s"] - rb / eq["samples_per_s"]),
                }
                runs.append(run)
                rows.append(
                    [
                        mname,
                        str(rb),
                        label,
                        f"{res['req_per_s']:.0f}",
                        f"{res['samples_per_s']:.0f}",
                        f"{res['p50_ms']:.1f}",
                        f"{res['p99_ms']:.1f}",
                        f"{mb:.1f}",
                        f"{same['samples_per_s']:.0f}",
                        f"{eq['batch']}: {eq['samples_per_s']:.0f}",
                        f"{run['ratio_vs_bare_request_batch']:.2f}",
                        f"**{run['ratio_vs_bare_batch_equivalent']:.2f}**"
                        + (" ✓" if run["ratio_vs_bare_batch_equivalent"] >= GOAL else ""),
                        f"{run['overhead_us_per_request']:.0f}",
                        str(res["errors"]),
                    ]
                )
                print(" | ".join(rows[-1]), file=sys.stderr, flush=True)

    import onnxruntime as ort

    meta = {
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "pinning": pinning,
        "server_cpus": sorted(server_cpus) if server_cpus else None,
        "client_cpus": sorted(client_cpus) if client_cpus else None,
        "seconds_per_configuration": a.seconds,
        "clients": a.clients,
        "threads": threads,
        "concurrency": a.concurrency,
        "max_batch": a.max_batch,
        "max_delay_ms": a.max_delay_ms,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"serve-{a.tag}.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=2))
    head = [
        "model",
        "rows/req",
        "config",
        "req/s",
        "samples/s",
        "p50 ms",
        "p99 ms",
        "rows/exec",
        "bare same batch /s",
        "bare b=eq /s",
        "× bare same batch",
        "× bare b=eq (goal ≥ 0.8)",
        "overhead µs/req",
        "errors",
    ]
    md = [
        "# portkit serve vs bare onnxruntime",
        "",
        f"{a.seconds:g} s of load per row, {a.clients} concurrent keep-alive clients, binary tensors; "
        f"onnxruntime {ort.__version__}, {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}); "
        f"{pinning}; onnxruntime intra-op threads {threads} (server and bare loop), --concurrency "
        f"{a.concurrency}; dynamic batching: --max-batch {a.max_batch} --max-delay-ms {a.max_delay_ms:g}.",
        "",
        "`× bare b=eq` (the goal, ≥ 0.8): served samples/s over a bare `session.run` loop on the same cores at "
        "the batch the server actually executed (rows/exec). `× bare same batch`: over the bare loop at the "
        "request's batch. `overhead µs/req`: server time per request beyond that inference (HTTP, protocol).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    md += ["", summary(runs)]
    (RESULTS / f"serve-{a.tag}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 1 if any(r["errors"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
