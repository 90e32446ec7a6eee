"""OIP request decoding and response encoding as pure functions (no server): the cached binary-header plan
must give exactly what the full parse gives, and never hide an error."""

from __future__ import annotations

import json

import numpy as np
import pytest

from portkit.signature import ModelSignature, TensorSpec

pytest.importorskip("starlette")

from portkit.serving.protocol import (  # noqa: E402
    InferRequest,
    ProtocolError,
    RequestedOutput,
    _binary_plan,
    decode_request,
    encode_response,
)

SIG = ModelSignature(
    (TensorSpec("x", "float32", ("N", 4)), TensorSpec("k", "int64", ("N", 2))),
    (TensorSpec("y", "float32", ("N", 3)), TensorSpec("z", "int64", ("N", 2))),
)


def binary_body(arrays: dict[str, np.ndarray], **extra) -> tuple[bytes, int]:
    dt = {"float32": "FP32", "int64": "INT64"}
    header = {
        "inputs": [
            {
                "name": n,
                "datatype": dt[a.dtype.name],
                "shape": list(a.shape),
                "parameters": {"binary_data_size": a.nbytes},
            }
            for n, a in arrays.items()
        ],
        **extra,
    }
    head = json.dumps(header).encode()
    return head + b"".join(a.tobytes() for a in arrays.values()), len(head)


def feeds(rows: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((rows, 4)).astype(np.float32),
        "k": rng.integers(-9, 9, (rows, 2)).astype(np.int64),
    }


def test_repeated_binary_header_is_planned_once_and_decodes_each_body():
    _binary_plan.cache_clear()
    extra = {"outputs": [{"name": "y", "parameters": {"binary_data": True}}], "parameters": {"x-trace": 1}}
    for seed in range(3):  # same header, different tensors
        f = feeds(2, seed)
        body, n = binary_body(f, **extra)
        req = decode_request(body, n, SIG, "m")
        for name, arr in f.items():
            np.testing.assert_array_equal(req.inputs[name], arr)
        assert req.outputs == [RequestedOutput("y", True)] and req.parameters == {"x-trace": 1}
    info = _binary_plan.cache_info()
    assert info.misses == 1 and info.hits == 2


def test_planned_header_with_a_short_body_still_gets_the_precise_error():
    body, n = binary_body(feeds(2, 0))
    decode_request(body, n, SIG, "m")  # the header is planned now
    with pytest.raises(ProtocolError, match="runs past the end") as e:
        decode_request(body[:-8], n, SIG, "m")
    assert e.value.status == 400


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda h: h["inputs"][0].update(datatype="FP64"), "datatype 'FP64'"),
        (lambda h: h["inputs"][0].update(shape=[2, 5]), "shape"),
        (lambda h: h["inputs"].__setitem__(1, dict(h["inputs"][0])), "given twice"),
        (lambda h: h["inputs"].pop(), "missing input"),
        (lambda h: h.update(outputs=[{"name": "nope"}]), "unknown output"),
    ],
)
def test_bad_binary_headers_raise_every_time(mutate, message):
    body, n = binary_body(feeds(2, 0))
    header = json.loads(body[:n])
    mutate(header)
    head = json.dumps(header).encode()
    data = body[n:] if "missing" not in message else body[n : n + 2 * 4 * 4]
    for _ in range(2):  # exceptions are not cached: the second time fails the same way
        with pytest.raises(ProtocolError, match=message):
            decode_request(head + data, len(head), SIG, "m")


def test_encoded_header_is_the_json_of_the_outputs():
    outs = {"y": np.arange(6, dtype=np.float32).reshape(2, 3), 'z"': np.array([[1, 2]], dtype=np.int64)}
    body, n = encode_response('m"1', "1", InferRequest({}, [], True, "req-7"), outs)
    head = json.loads(body[:n])
    assert head == {
        "model_name": 'm"1',
        "model_version": "1",
        "id": "req-7",
        "outputs": [
            {"name": "y", "datatype": "FP32", "shape": [2, 3], "parameters": {"binary_data_size": 24}},
            {"name": 'z"', "datatype": "INT64", "shape": [1, 2], "parameters": {"binary_data_size": 16}},
        ],
    }
    assert body[n:] == outs["y"].tobytes() + outs['z"'].tobytes()
    body, n = encode_response("m", "1", InferRequest({}, [], False), outs)
    assert n is None and json.loads(body)["outputs"][0]["data"] == [0, 1, 2, 3, 4, 5]
