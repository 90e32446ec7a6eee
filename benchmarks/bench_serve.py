"""Served throughput vs a bare onnxruntime loop on the same model, with and without dynamic batching.

The server runs as `python -m portkit serve` in its own process; 32 clients (keep-alive connections
driven by a small raw-HTTP asyncio load generator in this process, so that the client's own cost stays
small; the tests cover tritonclient) send batch-1 OIP infer requests with binary tensors for a fixed count.
For each configuration: req/s, p50/p99 latency seen by the clients, the mean batch the
server actually ran (from /metrics), and the ratio of served samples/s to a bare `session.run` loop at
batch 1 and at that batch-equivalent size (same thread settings). Models: the digits sample (tiny: the
HTTP stack dominates), a synthetic MLP (~0.5 ms per sample) and a larger one (~3 ms per sample, where
inference dominates).

    python benchmarks/bench_serve.py [--requests 3000] [--clients 32] [--threads 1]
Writes benchmarks/results/serve-latest.json and serve-latest.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MODELS = RESULTS / "_models"  # conversions cached between runs (ignored by git)
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))


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


def bare(path: Path, batch: int, threads: int | None, seconds: float) -> dict:
    import onnxruntime as ort

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(path: Path, port: int, extra: list[str]) -> subprocess.Popen:
    import httpx

    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "portkit", "serve", f"m={path}", "--port", str(port), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
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


def infer_request(path: Path) -> bytes:
    """One raw HTTP/1.1 infer request (binary input tensor, binary output), built once and replayed."""
    name, shape = input_spec(path)
    x = np.random.default_rng(1).random([1] + shape[1:], dtype=np.float32)
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


def load(url: str, path: Path, requests: int, clients: int) -> dict:
    """`clients` keep-alive connections, each sending its share of requests back to back (asyncio, raw
    HTTP/1.1: the load generator's own cost stays small next to the server's)."""
    import asyncio

    host, port = url.split(":")
    request = infer_request(path)

    async def connection(n: int, latencies: list[float], errors: list[int]) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for _ in range(n):
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

    async def run(total: int) -> tuple[list[float], int, float]:
        latencies: list[float] = []
        errors: list[int] = []
        shares = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
        t0 = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(connection(n, latencies, errors) for n in shares if n)), 300)
        return latencies, len(errors), time.perf_counter() - t0

    asyncio.run(run(min(200, requests)))  # warm-up
    latencies, errors, dt = asyncio.run(run(requests))
    lat = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": dt,
        "req_per_s": len(latencies) / dt,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
    }


def mean_batch(url: str) -> float:
    import httpx

    text = httpx.get(f"http://{url}/metrics", timeout=10).text
    vals = {}
    for line in text.splitlines():
        for key in ("portkit_inference_count_total", "portkit_execution_count_total"):
            if line.startswith(key + "{"):
                vals[key] = float(line.split()[-1])
    return vals["portkit_inference_count_total"] / max(1.0, vals["portkit_execution_count_total"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (server and bare)")
    ap.add_argument("--concurrency", type=int, default=2, help="server executions in flight per model")
    ap.add_argument("--bare-seconds", type=float, default=2.0)
    ap.add_argument("--max-batch", type=int, default=32)
    ap.add_argument("--max-delay-ms", type=float, default=2.0)
    ap.add_argument("--models", default="digits,mlp,mlp-large")
    a = ap.parse_args(argv)

    paths = {
        "digits": digits_model,
        "mlp": lambda: mlp_model(MODELS / "mlp.onnx"),
        "mlp-large": lambda: mlp_model(MODELS / "mlp-large.onnx", width=3072, depth=3),
    }
    rows, runs = [], []
    for mname in a.models.split(","):
        path = paths[mname]()
        bare1 = bare(path, 1, a.threads, a.bare_seconds)
        for label, extra in (
            ("no batching", ["--max-batch", "1"]),
            ("dynamic batching", ["--max-batch", str(a.max_batch), "--max-delay-ms", str(a.max_delay_ms)]),
        ):
            port = free_port()
            proc = start_server(
                path, port, [*extra, "--threads", str(a.threads), "--concurrency", str(a.concurrency)]
            )
            try:
                res = load(f"127.0.0.1:{port}", path, a.requests, a.clients)
                mb = mean_batch(f"127.0.0.1:{port}")
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
            eq = bare1 if round(mb) <= 1 else bare(path, max(1, round(mb)), a.threads, a.bare_seconds)
            run = {
                "model": mname,
                "config": label,
                **res,
                "mean_batch": mb,
                "bare_batch1": bare1,
                "bare_batch_equivalent": eq,
                "ratio_vs_bare_batch1": res["req_per_s"] / bare1["samples_per_s"],
                "ratio_vs_bare_batch_equivalent": res["req_per_s"] / eq["samples_per_s"],
            }
            runs.append(run)
            rows.append(
                [
                    mname,
                    label,
                    f"{res['req_per_s']:.0f}",
                    f"{res['p50_ms']:.1f}",
                    f"{res['p99_ms']:.1f}",
                    f"{mb:.1f}",
                    f"{bare1['samples_per_s']:.0f}",
                    f"{eq['batch']}: {eq['samples_per_s']:.0f}",
                    f"{run['ratio_vs_bare_batch1']:.2f}",
                    f"{run['ratio_vs_bare_batch_equivalent']:.2f}",
                    str(res["errors"]),
                ]
            )
            print(" | ".join(rows[-1]), file=sys.stderr, flush=True)

    import onnxruntime as ort

    meta = {
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "requests": a.requests,
        "clients": a.clients,
        "threads": a.threads,
        "concurrency": a.concurrency,
        "max_batch": a.max_batch,
        "max_delay_ms": a.max_delay_ms,
        "note": "clients and server share this machine's CPUs; requests are batch 1 with binary tensors",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serve-latest.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=2))
    head = [
        "model",
        "config",
        "req/s",
        "p50 ms",
        "p99 ms",
        "mean batch",
        "bare b1 /s",
        "bare b=eq /s",
        "× bare b1",
        "× bare b=eq",
        "errors",
    ]
    md = [
        "# portkit serve vs bare onnxruntime",
        "",
        f"{a.requests} requests, {a.clients} concurrent clients, batch 1 per request, binary tensors; "
        f"onnxruntime {ort.__version__}, {os.cpu_count()} CPUs, --threads {a.threads}, "
        f"--concurrency {a.concurrency}; dynamic batching: --max-batch {a.max_batch} "
        f"--max-delay-ms {a.max_delay_ms:g}. Client and server share the CPUs.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    (RESULTS / "serve-latest.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 1 if any(r["errors"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
