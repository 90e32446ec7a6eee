"""Fuzzing (hypothesis, a bounded number of examples) the two places that read bytes a user or a client
controls before anything else looks at them: format sniffing (`formats.sniff`) and the Open Inference
Protocol request parser (`serving.protocol.decode_request`). Nothing may escape but a PortkitError (exit
2 material) or a ProtocolError with a 4xx status; never a crash, a hang or a stray exception type."""
from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from portkit.serving.protocol import InferRequest, ProtocolError, decode_request  # noqa: E402

from portkit.errors import PortkitError  # noqa: E402
from portkit.formats import Format, sniff  # noqa: E402
from portkit.signature import ModelSignature, TensorSpec  # noqa: E402

EXAMPLES = int(os.environ.get("PORTKIT_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# the first bytes each sniffing branch keys on, so that random tails reach every branch
MAGICS = [b"", b"\x1c\x00\x00\x00TFL3", b"\x00\x00\x00\x00ORTM", b"\x00\x00\x00\x00ET12", b"\x89HDF\r\n\x1a\n",
          b"PK\x03\x04", b"{", b"\x80\x02", b"\x08\x07\x12\x07pytorch:"]
ZIP_MEMBERS = ["config.json", "model.weights.h5", "metadata.json", "archive/code/m.py", "archive/constants.pkl",
               "archive/data.pkl", "archive/version", "archive_format", "m/serialized_exported_program.json",
               "m/data/aotinductor/x.so", "readme.txt", "../escape.txt", "\u00e9t\u00e9/x"]


def _sniff_file(data: bytes, suffix: str = ".bin") -> Format | None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"model{suffix}"
        path.write_bytes(data)
        try:
            fmt = sniff(path)
        except PortkitError as e:
            assert e.exit_code == 2 and e.one_line(), e
            return None
        assert isinstance(fmt, Format)
        return fmt


@FUZZ
@given(magic=st.sampled_from(MAGICS), tail=st.binary(max_size=2048),
       suffix=st.sampled_from([".bin", ".onnx", ".tflite", ".pt", ".h5", ".keras", ".json"]))
def test_sniff_random_bytes(magic, tail, suffix):
    _sniff_file(magic + tail, suffix)


@FUZZ
@given(members=st.lists(st.tuples(st.sampled_from(ZIP_MEMBERS), st.binary(max_size=256)), max_size=6,
                        unique_by=lambda m: m[0]),
       cut=st.one_of(st.none(), st.integers(min_value=0, max_value=4096)))
def test_sniff_random_zips(members, cut):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members:
            z.writestr(name, data)
    data = buf.getvalue()
    _sniff_file(data if cut is None else data[:cut], ".keras")


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20)


@FUZZ
@given(doc=st.dictionaries(st.sampled_from(["class_name", "config", "layers", "keras_version"]), JSON, max_size=4),
       deep=st.integers(min_value=0, max_value=3000))
def test_sniff_json_documents(doc, deep):
    text = json.dumps(doc)
    if deep:  # deeply nested arrays: a parser's recursion limit must still be a clean error
        text = "{" + '"config": ' + "[" * deep + "]" * deep + "}"
    _sniff_file(text.encode(), ".json")


@FUZZ
@given(data=st.binary(max_size=512))
def test_sniff_folders(data):
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "model"
        folder.mkdir()
        for name in ("saved_model.pb", "manifest.json", "index.html")[: len(data) % 4]:
            (folder / name).write_bytes(data)
        try:
            assert isinstance(sniff(folder), Format)
        except PortkitError as e:
            assert e.exit_code == 2


SIG = ModelSignature(
    (TensorSpec("x", "float32", ("N", 4)), TensorSpec("k", "int64", ("N", 2)), TensorSpec("s", "str", ("N",))),
    (TensorSpec("y", "float32", ("N", 3)),),
)
NAMES = st.sampled_from(["x", "k", "s", "y", "", "X"])
DATATYPES = st.sampled_from(["FP32", "INT64", "BYTES", "FP16", "BOOL", "fp32", "", "UINT8"])
SHAPES = st.one_of(st.lists(st.integers(min_value=-2, max_value=6), max_size=4),
                   st.just([2, 4]), st.just([2, 2]), st.just([2]), st.text(max_size=3), st.none(),
                   st.lists(st.sampled_from([True, 1.5, "2", None]), max_size=2), st.just([10**12, 10**12]))
DATA = st.one_of(st.lists(st.floats(width=32, allow_nan=True), max_size=10), st.lists(st.integers(), max_size=10),
                 st.lists(st.text(max_size=4), max_size=4), JSON)


@st.composite
def tensors(draw):
    t = {}
    if draw(st.booleans()):
        t["name"] = draw(NAMES)
    if draw(st.booleans()):
        t["datatype"] = draw(DATATYPES)
    if draw(st.integers(0, 4)):
        t["shape"] = draw(SHAPES)
    if draw(st.booleans()):
        t["parameters"] = {"binary_data_size": draw(st.one_of(st.integers(-4, 64), st.text(max_size=2),
                                                              st.none(), st.booleans()))}
    elif draw(st.booleans()):
        t["data"] = draw(DATA)
    return t


@st.composite
def bodies(draw):
    header = {}
    if draw(st.integers(0, 5)):
        header["inputs"] = draw(st.one_of(st.lists(tensors(), max_size=4), JSON))
    if draw(st.booleans()):
        header["outputs"] = draw(st.one_of(st.lists(st.fixed_dictionaries(
            {"name": NAMES, "parameters": st.dictionaries(st.just("binary_data"), JSON)}), max_size=3), JSON))
    if draw(st.booleans()):
        header["parameters"] = draw(st.one_of(st.dictionaries(
            st.sampled_from(["binary_data_output", "x"]), JSON, max_size=2), JSON))
    if draw(st.booleans()):
        header["id"] = draw(JSON)
    head = json.dumps(header).encode()
    tail = draw(st.binary(max_size=128))
    binary = draw(st.booleans())
    length = len(head) + draw(st.integers(-3, 3)) if binary else None
    return head + (tail if binary else b""), length


def _decode(body: bytes, length: int | None) -> None:
    try:
        req = decode_request(body, length, SIG, "m")
    except ProtocolError as e:
        assert 400 <= e.status < 500 and e.message, e
        return
    assert isinstance(req, InferRequest)
    for name, arr in req.inputs.items():
        assert isinstance(arr, np.ndarray) and name in {"x", "k", "s"}


@FUZZ
@given(body=bodies())
def test_request_parser_structured(body):
    _decode(*body)


@FUZZ
@given(body=st.binary(max_size=1024), length=st.one_of(st.none(), st.integers(-8, 2048)))
def test_request_parser_random_bytes(body, length):
    _decode(body, length)


@FUZZ
@given(text=JSON, depth=st.integers(0, 5000))
def test_request_parser_odd_json(text, depth):
    _decode(json.dumps(text).encode(), None)
    if depth:
        _decode(b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}", None)


@FUZZ
@given(location=st.text(max_size=40), op=st.sampled_from(["Add", "Relu", "Frobnicate", ""]),
       opset=st.integers(min_value=-1, max_value=200), domain=st.sampled_from(["", "ai.onnx.ml", "com.example"]))
def test_sniff_onnx_with_odd_external_data_and_ops(location, op, opset, domain):
    """A parseable ModelProto whose external-data location or operators are nonsense: exit 2, never a
    crash (locations with NUL bytes, `..`, absolute paths; opsets from the future or negative)."""
    import onnx
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])
    if location:
        w.ClearField("float_data")
        w.data_location = TensorProto.EXTERNAL
        w.external_data.add(key="location", value=location)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    graph = helper.make_graph([helper.make_node(op or "Add", ["x", "w"], ["y"], domain=domain)], "g", [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", max(opset, 1))])
    model.opset_import[0].version = opset
    fmt = _sniff_file(model.SerializeToString(), ".onnx")
    assert fmt in (None, Format.ONNX)
    if fmt is Format.ONNX:
        from portkit.onnxutil import check_operators

        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "m.onnx"
            onnx.save(model, str(path))
            try:
                check_operators(path)
            except PortkitError as e:
                assert e.exit_code == 2
