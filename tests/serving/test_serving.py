"""The OIP v2 server, started for real on a free loopback port and driven with the real tritonclient.http.

Models: a tiny two-input/two-output ONNX graph built with onnx.helper (FP32 + INT64, dynamic batch), the
same graph with a static batch, and the digits CNN sample exported once per session (`digits_onnx`).
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

tritonclient_http = pytest.importorskip("tritonclient.http")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from portkit.serving import start  # noqa: E402

from ..conftest import ROOT, run_cli  # noqa: E402

HOST = "127.0.0.1"


def tiny_model(path: Path, batch: int | str = "N") -> Path:
    """y = x @ W + b (FP32 [batch, 4] -> [batch, 3]) and z = 2 * k (INT64 [batch, 2])."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [
        numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3) / 7, "W"),
        numpy_helper.from_array(np.array([0.5, -1, 2], dtype=np.float32), "b"),
        numpy_helper.from_array(np.array(2, dtype=np.int64), "two"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["y"]),
        helper.make_node("Mul", ["k", "two"], ["z"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4]),
            helper.make_tensor_value_info("k", TensorProto.INT64, [batch, 2]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3]),
            helper.make_tensor_value_info("z", TensorProto.INT64, [batch, 2]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def ort_run(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds), strict=True))


def tiny_feeds(rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((rows, 4)).astype(np.float32),
        "k": rng.integers(-100, 100, (rows, 2)).astype(np.int64),
    }


def infer_inputs(feeds: dict[str, np.ndarray], binary: bool) -> list:
    dt = {"float32": "FP32", "int64": "INT64"}
    out = []
    for name, arr in feeds.items():
        i = tritonclient_http.InferInput(name, list(arr.shape), dt[arr.dtype.name])
        i.set_data_from_numpy(arr, binary_data=binary)
        out.append(i)
    return out


@pytest.fixture(scope="module")
def models(tmp_path_factory, digits_onnx) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("serving")
    return {
        "tiny": tiny_model(d / "tiny.onnx"),
        "static": tiny_model(d / "static.onnx", batch=2),
        "digits": Path(digits_onnx),
    }


@pytest.fixture(scope="module")
def server(models):
    srv = start(
        [f"{n}={p}" for n, p in models.items()], max_batch=8, max_delay_ms=2, max_request_bytes=256 * 1024
    )
    yield srv
    srv.stop()


@pytest.fixture
def client(server):
    c = tritonclient_http.InferenceServerClient(server.url, connection_timeout=10, network_timeout=30)
    yield c
    c.close()


def assert_healthy(url: str, models: dict[str, Path]) -> None:
    """The server still answers health and a correct inference after whatever came before."""
    r = httpx.get(f"http://{url}/v2/health/ready", timeout=10)
    assert r.status_code == 200, r.text
    feeds = tiny_feeds(2, seed=99)
    c = tritonclient_http.InferenceServerClient(url, network_timeout=30)
    try:
        res = c.infer("tiny", infer_inputs(feeds, binary=True))
        np.testing.assert_array_equal(res.as_numpy("y"), ort_run(models["tiny"], feeds)["y"])
    finally:
        c.close()


# ---------------------------------------------------------------- health and metadata


def test_health_and_server_metadata(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    meta = client.get_server_metadata()
    assert meta["name"] == "portkit"
    assert "binary_tensor_data" in meta["extensions"]
    for name in ("tiny", "static", "digits"):
        assert client.is_model_ready(name)
        assert client.is_model_ready(name, "1")
    assert not client.is_model_ready("nope")


def test_model_metadata_uses_oip_datatypes_and_dynamic_dims(client):
    meta = client.get_model_metadata("tiny")
    assert meta["name"] == "tiny" and meta["versions"] == ["1"] and meta["platform"] == "onnxruntime_onnx"
    assert meta["inputs"] == [
        {"name": "x", "datatype": "FP32", "shape": [-1, 4]},
        {"name": "k", "datatype": "INT64", "shape": [-1, 2]},
    ]
    assert meta["outputs"] == [
        {"name": "y", "datatype": "FP32", "shape": [-1, 3]},
        {"name": "z", "datatype": "INT64", "shape": [-1, 2]},
    ]
    assert client.get_model_metadata("static")["inputs"][0]["shape"] == [2, 4]
    digits = client.get_model_metadata("digits", "1")
    assert digits["inputs"][0]["datatype"] == "FP32" and digits["inputs"][0]["shape"][0] == -1


def test_model_config_parses_as_triton_model_config(client):
    from google.protobuf import json_format
    from tritonclient.grpc import model_config_pb2

    cfg = json_format.ParseDict(client.get_model_config("tiny"), model_config_pb2.ModelConfig())
    assert cfg.max_batch_size == 8 and [list(i.dims) for i in cfg.input] == [[4], [2]]
    static = json_format.ParseDict(client.get_model_config("static"), model_config_pb2.ModelConfig())
    assert static.max_batch_size == 0 and list(static.input[0].dims) == [2, 4]


def test_repository_index_lists_models(server):
    r = httpx.post(f"http://{server.url}/v2/repository/index", timeout=10)
    assert r.status_code == 200
    assert {m["name"] for m in r.json()} == {"tiny", "static", "digits"}


# ---------------------------------------------------------------- inference


@pytest.mark.parametrize("binary_in", [False, True], ids=["json-in", "binary-in"])
@pytest.mark.parametrize("binary_out", [False, True], ids=["json-out", "binary-out"])
def test_infer_matches_onnxruntime(client, models, binary_in, binary_out):
    feeds = tiny_feeds(3, seed=1)
    outs = [tritonclient_http.InferRequestedOutput(n, binary_data=binary_out) for n in ("y", "z")]
    res = client.infer("tiny", infer_inputs(feeds, binary_in), outputs=outs, request_id="r-1")
    ref = ort_run(models["tiny"], feeds)
    assert res.get_response()["id"] == "r-1"
    for name in ("y", "z"):
        got = res.as_numpy(name)
        assert got.dtype == ref[name].dtype and got.shape == ref[name].shape
        np.testing.assert_array_equal(got, ref[name])


def test_infer_without_requested_outputs_returns_all_binary(client, models):
    feeds = tiny_feeds(1, seed=2)
    res = client.infer("tiny", infer_inputs(feeds, binary=False))  # tritonclient asks binary_data_output
    ref = ort_run(models["tiny"], feeds)
    assert {o["name"] for o in res.get_response()["outputs"]} == {"y", "z"}
    np.testing.assert_array_equal(res.as_numpy("z"), ref["z"])


def test_infer_one_requested_output(client):
    res = client.infer(
        "tiny",
        infer_inputs(tiny_feeds(2), True),
        outputs=[tritonclient_http.InferRequestedOutput("z", binary_data=False)],
    )
    assert [o["name"] for o in res.get_response()["outputs"]] == ["z"]


def test_versioned_infer_and_static_model(client, models):
    feeds = tiny_feeds(2, seed=3)
    res = client.infer("static", infer_inputs(feeds, True), model_version="1")
    np.testing.assert_array_equal(res.as_numpy("y"), ort_run(models["static"], feeds)["y"])


def test_digits_sample_matches_onnxruntime(client, models):
    meta = client.get_model_metadata("digits")
    spec = meta["inputs"][0]
    shape = [3] + [d for d in spec["shape"][1:]]
    x = np.random.default_rng(4).random(shape, dtype=np.float32)
    res = client.infer("digits", [_input(spec["name"], x)])
    ref = ort_run(models["digits"], {spec["name"]: x})
    for out in meta["outputs"]:
        np.testing.assert_array_equal(res.as_numpy(out["name"]), ref[out["name"]])


def _input(name: str, arr: np.ndarray):
    i = tritonclient_http.InferInput(name, list(arr.shape), "FP32")
    i.set_data_from_numpy(arr, binary_data=True)
    return i


def test_plain_json_request_without_tritonclient(server, models):
    feeds = tiny_feeds(2, seed=5)
    body = {
        "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [2, 4], "data": feeds["x"].tolist()},
            {"name": "k", "datatype": "INT64", "shape": [2, 2], "data": feeds["k"].ravel().tolist()},
        ]
    }
    r = httpx.post(f"http://{server.url}/v2/models/tiny/infer", json=body, timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    out = {o["name"]: o for o in r.json()["outputs"]}
    assert out["y"]["datatype"] == "FP32" and out["y"]["shape"] == [2, 3]
    np.testing.assert_array_equal(
        np.array(out["y"]["data"], dtype=np.float32).reshape(2, 3), ort_run(models["tiny"], feeds)["y"]
    )


def test_gzip_request_body(server):
    feeds = tiny_feeds(1)
    body = {
        "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [1, 4], "data": feeds["x"].ravel().tolist()},
            {"name": "k", "datatype": "INT64", "shape": [1, 2], "data": feeds["k"].ravel().tolist()},
        ]
    }
    r = httpx.post(
        f"http://{server.url}/v2/models/tiny/infer",
        content=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Encoding": "gzip"},
        timeout=10,
    )
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- dynamic batching


def test_dynamic_batching_merges_requests_and_splits_results_exactly(tmp_path):
    path = tiny_model(tmp_path / "tiny.onnx")
    with start([str(path)], max_batch=16, max_delay_ms=50, concurrency=1) as srv:
        feeds = [tiny_feeds(1 + i % 3, seed=10 + i) for i in range(12)]

        def one(f):
            c = tritonclient_http.InferenceServerClient(srv.url, network_timeout=30)
            try:
                r = c.infer("tiny", infer_inputs(f, binary=True))
                return r.as_numpy("y"), r.as_numpy("z")
            finally:
                c.close()

        with ThreadPoolExecutor(12) as pool:
            results = list(pool.map(one, feeds))
        for f, (y, z) in zip(feeds, results, strict=True):
            ref = ort_run(path, f)
            np.testing.assert_array_equal(y, ref["y"])
            np.testing.assert_array_equal(z, ref["z"])
        text = httpx.get(f"http://{srv.url}/metrics", timeout=10).text
        executions = _metric(text, 'portkit_execution_count_total{model="tiny"}')
        rows = _metric(text, 'portkit_inference_count_total{model="tiny"}')
        assert rows == sum(f["x"].shape[0] for f in feeds)
        assert executions < len(feeds), "no requests were merged"


def test_batching_keeps_requests_of_different_shapes_apart(tmp_path, digits_onnx):
    """Digits requests with different batch sizes merge; results equal one-by-one onnxruntime runs."""
    with start([str(digits_onnx)], max_batch=8, max_delay_ms=30) as srv:
        c = tritonclient_http.InferenceServerClient(srv.url, network_timeout=30)
        spec = c.get_model_metadata("digits")["inputs"][0]
        c.close()
        xs = [
            np.random.default_rng(i).random([1 + i % 4] + spec["shape"][1:], dtype=np.float32)
            for i in range(8)
        ]

        def one(x):
            cl = tritonclient_http.InferenceServerClient(srv.url, network_timeout=30)
            try:
                return cl.infer("digits", [_input(spec["name"], x)]).as_numpy(
                    cl.get_model_metadata("digits")["outputs"][0]["name"]
                )
            finally:
                cl.close()

        with ThreadPoolExecutor(8) as pool:
            outs = list(pool.map(one, xs))
        for x, got in zip(xs, outs, strict=True):
            ref = next(iter(ort_run(Path(digits_onnx), {spec["name"]: x}).values()))
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def _metric(text: str, key: str) -> float:
    for line in text.splitlines():
        if line.startswith(key + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{key} not in /metrics")


# ---------------------------------------------------------------- bad requests


def _json_body(x_shape=(1, 4), k_shape=(1, 2), x_type="FP32", x_name="x", x_data=None) -> bytes:
    n = int(np.prod(x_shape))
    return json.dumps(
        {
            "inputs": [
                {
                    "name": x_name,
                    "datatype": x_type,
                    "shape": list(x_shape),
                    "data": x_data if x_data is not None else [0.5] * n,
                },
                {
                    "name": "k",
                    "datatype": "INT64",
                    "shape": list(k_shape),
                    "data": [1] * int(np.prod(k_shape)),
                },
            ]
        }
    ).encode()


def _binary_body(x_bytes: int = 16, declared: int = 16, extra: bytes = b"") -> tuple[bytes, dict[str, str]]:
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": "FP32",
                    "shape": [1, 4],
                    "parameters": {"binary_data_size": declared},
                },
                {"name": "k", "datatype": "INT64", "shape": [1, 2], "parameters": {"binary_data_size": 16}},
            ]
        }
    ).encode()
    body = head + b"\0" * x_bytes + b"\0" * 16 + extra
    return body, {"Inference-Header-Content-Length": str(len(head))}


BAD_REQUESTS = {
    "malformed-json": ("tiny", b'{"inputs": [', {}, 400, "not valid JSON"),
    "not-an-object": ("tiny", b"[1, 2]", {}, 400, "JSON object"),
    "no-inputs": ("tiny", b'{"outputs": []}', {}, 400, "inputs"),
    "unknown-model": ("nope", _json_body(), {}, 404, "unknown model 'nope'"),
    "unknown-version": ("tiny/versions/7", _json_body(), {}, 404, "no version '7'"),
    "wrong-input-name": ("tiny", _json_body(x_name="X"), {}, 400, "unknown input 'X'"),
    "wrong-rank": ("tiny", _json_body(x_shape=(4,)), {}, 400, "rank"),
    "wrong-static-dim": ("tiny", _json_body(x_shape=(1, 5)), {}, 400, "expects [-1, 4]"),
    "static-batch-dim": ("static", _json_body(x_shape=(3, 4), k_shape=(3, 2)), {}, 400, "expects [2, 4]"),
    "wrong-datatype": ("tiny", _json_body(x_type="FP64"), {}, 400, "datatype 'FP64'"),
    "element-count": ("tiny", _json_body(x_data=[1.0, 2.0]), {}, 400, "elements"),
    "not-numbers": ("tiny", _json_body(x_data=["a", "b", "c", "d"]), {}, 400, "does not convert"),
    "byte-count": ("tiny", *_binary_body(x_bytes=12, declared=12), 400, "binary_data_size is 12 bytes"),
    "binary-past-end": ("tiny", *_binary_body(x_bytes=0, declared=16), 400, "runs past the end"),
    "binary-left-over": ("tiny", *_binary_body(extra=b"\0" * 8), 400, "add up to"),
    "header-length-too-big": (
        "tiny",
        _json_body(),
        {"Inference-Header-Content-Length": "99999"},
        400,
        "outside",
    ),
    "header-length-not-int": (
        "tiny",
        _json_body(),
        {"Inference-Header-Content-Length": "x"},
        400,
        "not an integer",
    ),
    "unknown-output": (
        "tiny",
        json.dumps({**json.loads(_json_body()), "outputs": [{"name": "w"}]}).encode(),
        {},
        400,
        "unknown output 'w'",
    ),
    "bad-content-encoding": ("tiny", _json_body(), {"Content-Encoding": "br"}, 415, "Content-Encoding"),
    "too-large": ("tiny", b"{" + b" " * (300 * 1024) + b"}", {}, 413, "over the limit"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS), ids=list(BAD_REQUESTS))
def test_bad_request_gets_4xx_and_server_stays_healthy(server, models, case):
    target, body, headers, status, text = BAD_REQUESTS[case]
    r = httpx.post(
        f"http://{server.url}/v2/models/{target}/infer",
        content=body,
        headers={"Content-Type": "application/json", **headers},
        timeout=10,
    )
    assert r.status_code == status, r.text
    assert text in r.json()["error"]
    assert_healthy(server.url, models)


def test_tritonclient_sees_server_errors_as_exceptions(client):
    x = tritonclient_http.InferInput("x", [1, 3], "FP32")
    x.set_data_from_numpy(np.zeros((1, 3), np.float32))
    k = tritonclient_http.InferInput("k", [1, 2], "INT64")
    k.set_data_from_numpy(np.zeros((1, 2), np.int64))
    with pytest.raises(tritonclient_http.InferenceServerException, match="expects"):
        client.infer("tiny", [x, k])
    with pytest.raises(tritonclient_http.InferenceServerException, match="unknown model"):
        client.get_model_metadata("nope")


def test_unknown_route_and_method_are_json_errors(server):
    r = httpx.get(f"http://{server.url}/v2/nothing", timeout=10)
    assert r.status_code == 404 and "error" in r.json()
    r = httpx.get(f"http://{server.url}/v2/models/tiny/infer", timeout=10)
    assert r.status_code == 405 and "error" in r.json()


def test_metrics_count_requests_errors_latency_and_batches(server, client):
    client.infer("tiny", infer_inputs(tiny_feeds(1), True))
    httpx.post(f"http://{server.url}/v2/models/tiny/infer", content=b"{", timeout=10)
    r = httpx.get(f"http://{server.url}/metrics", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert _metric(text, 'portkit_inference_requests_total{model="tiny"}') >= 2
    assert _metric(text, 'portkit_inference_errors_total{model="tiny",code="400"}') >= 1
    assert 'portkit_request_duration_seconds_bucket{model="tiny",le="+Inf"}' in text
    assert 'portkit_batch_size_count{model="tiny"}' in text
    assert "# TYPE portkit_request_duration_seconds histogram" in text


def test_scalar_input_model(tmp_path):
    """A rank-0 input (no batch axis at all) is served without batching."""
    import onnx
    from onnx import TensorProto, helper

    path = tmp_path / "scalar.onnx"
    graph = helper.make_graph(
        [helper.make_node("Add", ["t", "t"], ["y"])],
        "scalar",
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    with start([str(path)]) as srv:
        body = {"inputs": [{"name": "t", "datatype": "FP32", "shape": [], "data": [1.5]}]}
        r = httpx.post(f"http://{srv.url}/v2/models/scalar/infer", json=body, timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["outputs"][0]["data"] == [3.0] and r.json()["outputs"][0]["shape"] == []


# ---------------------------------------------------------------- where executions run


def slow_model(path: Path, width: int = 1024, depth: int = 12) -> Path:
    """x[N, width] -> depth x MatMul(width x width): tens of ms per execution at batch 256."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x" if i == 0 else f"h{i}", "w"], [f"h{i + 1}"]) for i in range(depth)]
    nodes.append(helper.make_node("Identity", [f"h{depth}"], ["y"]))
    graph = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_execution_cost_prediction():
    from portkit.serving.models import ExecutionCost

    cost = ExecutionCost()
    assert cost.predict(1) == float("inf"), "no prediction before the warm-up runs"
    for _ in range(ExecutionCost.WARMUP):
        cost.observe(4, 0.004)
    assert cost.predict(4) == pytest.approx(0.004)
    assert cost.predict(6) == pytest.approx(0.006)  # same band (4-7 rows): per-row cost times rows
    assert cost.predict(1) == float("inf") and cost.predict(8) == float("inf"), "other sizes: not seen yet"
    for _ in range(50):
        cost.observe(1, 0.0001)
    assert cost.predict(1) == pytest.approx(0.0001, rel=0.01)
    assert cost.predict(4) == pytest.approx(0.004), "bands do not mix"


def test_short_executions_run_on_the_event_loop_long_ones_off_it(tmp_path, server):
    """A tiny model's runs are predicted far below INLINE_BELOW_S (so they skip the thread hop); a slow
    model's run goes to a thread, and the server keeps answering while it runs."""
    from portkit.serving.models import INLINE_BELOW_S

    tiny = server.models["tiny"]
    for i in range(5):
        httpx.post(
            f"http://{server.url}/v2/models/tiny/infer",
            json={"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]},
                             {"name": "k", "datatype": "INT64", "shape": [1, 2], "data": [i, 2]}]},
            timeout=10,
        ).raise_for_status()
    assert tiny._cost.predict(1) < INLINE_BELOW_S

    x = np.random.default_rng(0).standard_normal((256, 1024)).astype(np.float32)
    # depth 48: ~0.1-0.5 s an execution, a window no health request misses on a loaded 2-core machine (at depth
    # 12, tens of ms, the other pytest worker's load let CI's execution end before one health answer came back)
    with start([str(slow_model(tmp_path / "slow.onnx", depth=48))], max_batch=1, threads=1) as srv:
        c = tritonclient_http.InferenceServerClient(srv.url, network_timeout=60)
        try:
            inp = tritonclient_http.InferInput("x", list(x.shape), "FP32")
            inp.set_data_from_numpy(x, binary_data=True)
            for _ in range(4):  # past the warm-up: predictions are real now
                c.infer("slow", [inp])
            assert srv.models["slow"]._cost.predict(256) > INLINE_BELOW_S

            def infer_in_thread() -> np.ndarray:  # tritonclient (gevent) needs a client per thread
                c2 = tritonclient_http.InferenceServerClient(srv.url, network_timeout=60)
                try:
                    return c2.infer("slow", [inp]).as_numpy("y")
                finally:
                    c2.close()

            with ThreadPoolExecutor(1) as pool:
                pending = pool.submit(infer_in_thread)
                deadline = time.monotonic() + 10
                while srv.state.metrics.in_flight == 0 and time.monotonic() < deadline:
                    time.sleep(0.001)
                answered_during_run = 0  # health answers received while the server still ran the infer
                while not pending.done():
                    if httpx.get(f"http://{srv.url}/v2/health/live", timeout=10).status_code == 200:
                        answered_during_run += srv.state.metrics.in_flight > 0
                y = pending.result(60)
        finally:
            c.close()
        assert answered_during_run > 0, "the event loop was blocked by a long execution"
        np.testing.assert_allclose(y, ort_run(tmp_path / "slow.onnx", {"x": x})["y"], rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- load


def test_load_2000_requests_from_32_concurrent_clients(server, models):
    """Bounded load test: 2000 infer requests, 32 in flight (tritonclient's async_infer pool), 0 errors."""
    c = tritonclient_http.InferenceServerClient(server.url, concurrency=32, network_timeout=60)
    feeds = [tiny_feeds(1, seed=i) for i in range(32)]
    inputs = [infer_inputs(f, binary=True) for f in feeds]
    started = time.monotonic()
    try:
        pending = [(i % 32, c.async_infer("tiny", inputs[i % 32])) for i in range(2000)]
        results = [(j, p.get_result(timeout=60)) for j, p in pending]
    finally:
        c.close()
    elapsed = time.monotonic() - started
    assert len(results) == 2000
    refs = [ort_run(models["tiny"], f) for f in feeds]
    for j, r in results:
        np.testing.assert_array_equal(r.as_numpy("y"), refs[j]["y"])
    assert elapsed < 60, f"2000 requests took {elapsed:.1f}s"
    assert_healthy(server.url, models)


# ---------------------------------------------------------------- shutdown and CLI


def test_graceful_shutdown_drains_in_flight_requests(tmp_path):
    path = tiny_model(tmp_path / "tiny.onnx")
    srv = start([str(path)], max_batch=64, max_delay_ms=800)  # a request waits in the batcher
    feeds = tiny_feeds(1)
    result: dict = {}

    def call():
        c = tritonclient_http.InferenceServerClient(srv.url, network_timeout=30)
        try:
            result["y"] = c.infer("tiny", infer_inputs(feeds, True)).as_numpy("y")
        except Exception as e:  # noqa: BLE001 - reported below
            result["error"] = e
        finally:
            c.close()

    t = threading.Thread(target=call)
    t.start()
    deadline = time.monotonic() + 10
    while srv.state.metrics.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert srv.state.metrics.in_flight == 1
    srv.stop()
    t.join(30)
    assert "error" not in result, result.get("error")
    np.testing.assert_array_equal(result["y"], ort_run(path, feeds)["y"])


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"server exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}"
            )
        try:
            if httpx.get(f"http://{url}/v2/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("server did not become ready")


def test_cli_serve_answers_and_stops_on_sigterm(tmp_path):
    from portkit.serving.server import free_port

    path = tiny_model(tmp_path / "tiny.onnx")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "portkit",
            "serve",
            str(path),
            "--name",
            "m",
            "--port",
            str(port),
            "--max-batch",
            "4",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_ready(f"{HOST}:{port}", proc)
        c = tritonclient_http.InferenceServerClient(f"{HOST}:{port}")
        feeds = tiny_feeds(2)
        np.testing.assert_array_equal(
            c.infer("m", infer_inputs(feeds, True)).as_numpy("y"), ort_run(path, feeds)["y"]
        )
        c.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "model 'm'" in err and f"http://127.0.0.1:{port}" in err


def test_cli_serve_with_worker_processes(tmp_path):
    """`--workers 2`: uvicorn's process manager, each worker loading the models itself; both answer."""
    from portkit.serving.server import free_port

    path = tiny_model(tmp_path / "tiny.onnx")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"}
    cmd = [sys.executable, "-m", "portkit", "serve", f"m={path}", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_ready(f"{HOST}:{port}", proc)
        feeds = tiny_feeds(3)
        ref = ort_run(path, feeds)["y"]
        for _ in range(8):  # fresh connections: the kernel spreads them over the workers
            c = tritonclient_http.InferenceServerClient(f"{HOST}:{port}")
            try:
                np.testing.assert_array_equal(c.infer("m", infer_inputs(feeds, True)).as_numpy("y"), ref)
            finally:
                c.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert "2 worker processes" in err, err
    assert proc.returncode == 0 and "Traceback" not in err, err


def test_cli_serve_bad_model_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model at all")
    r = run_cli("serve", str(bad), "--port", "0", timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().startswith("portkit: error:") and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("serve", str(bad), "--provider", "tpu", timeout=60)
    assert r.returncode == 2


# ---------------------------------------------------------------- TFLite (LiteRT in a worker process)


def build_tflite(path: str) -> str:
    """Runs in a worker process (TensorFlow never enters the pytest process): y = x @ W + b as TFLite."""
    import tensorflow as tf

    w = tf.constant(np.arange(12, dtype=np.float32).reshape(4, 3) / 7)
    b = tf.constant(np.array([0.5, -1, 2], dtype=np.float32))

    class Tiny(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def __call__(self, x):  # noqa: ANN001, ANN204
            return {"y": tf.matmul(x, w) + b}

    m = Tiny()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([m.__call__.get_concrete_function()], m)
    Path(path).write_bytes(conv.convert())
    return path


def test_tflite_model_is_served_through_a_worker(tmp_path, models):
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:  # never imported here: the worker builds the file
        pytest.skip("tensorflow is not installed")
    from portkit.workers import call_in_worker

    path = call_in_worker("build tflite", __name__, "build_tflite", str(tmp_path / "tiny.tflite"))
    with start([f"lite={path}"], max_batch=4, max_delay_ms=5) as srv:
        c = tritonclient_http.InferenceServerClient(srv.url, network_timeout=60)
        meta = c.get_model_metadata("lite")
        assert meta["platform"] == "tensorflow_lite"
        spec, out = meta["inputs"][0], meta["outputs"][0]["name"]
        assert spec["datatype"] == "FP32" and spec["shape"] == [-1, 4]
        x = tiny_feeds(3, seed=7)["x"]
        i = tritonclient_http.InferInput(spec["name"], [3, 4], "FP32")
        i.set_data_from_numpy(x)
        got = c.infer("lite", [i]).as_numpy(out)
        c.close()
    ref = ort_run(models["tiny"], {"x": x, "k": np.zeros((3, 2), np.int64)})["y"]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert "tensorflow" not in sys.modules
