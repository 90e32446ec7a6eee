"""`portkit export triton`: the written config.pbtxt parses as Triton's ModelConfig (tritonclient's bundled
proto) and its dims match the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from portkit.serving import export_triton

from portkit import onnxutil
from portkit.errors import BadInput

from ..conftest import run_cli
from .test_serving import tiny_model

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")


def parse_config(path: Path):
    from google.protobuf import text_format

    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def expected_dims(spec, batched: bool) -> list[int]:
    dims = [d if isinstance(d, int) else -1 for d in spec.shape]
    return dims[1:] if batched else dims


def check_against_model(cfg, onnx_path: Path, batched: bool) -> None:
    sig = onnxutil.signature(onnxutil.load(onnx_path))
    dtype = {"float32": model_config_pb2.TYPE_FP32, "int64": model_config_pb2.TYPE_INT64}
    assert [i.name for i in cfg.input] == [t.name for t in sig.inputs]
    assert [o.name for o in cfg.output] == [t.name for t in sig.outputs]
    for got, spec in zip([*cfg.input, *cfg.output], [*sig.inputs, *sig.outputs], strict=True):
        assert list(got.dims) == expected_dims(spec, batched), spec.name
        assert got.data_type == dtype[spec.dtype]


def test_export_tiny_model_with_dynamic_batching(tmp_path):
    src = tiny_model(tmp_path / "tiny.onnx")
    result = export_triton(src, tmp_path / "repo", max_batch=16, max_delay_us=500)
    assert result.model_path == tmp_path / "repo" / "tiny" / "1" / "model.onnx"
    assert result.model_path.read_bytes() == src.read_bytes()
    cfg = parse_config(result.config_path)
    assert cfg.name == "tiny" and cfg.platform == "onnxruntime_onnx" and cfg.max_batch_size == 16
    assert cfg.dynamic_batching.max_queue_delay_microseconds == 500
    assert cfg.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    check_against_model(cfg, src, batched=True)
    assert json.loads(json.dumps(result.to_dict()))["max_batch_size"] == 16


def test_export_digits_sample(tmp_path, digits_onnx):
    result = export_triton(digits_onnx, tmp_path / "repo", name="digits")
    cfg = parse_config(result.config_path)
    assert cfg.name == "digits" and cfg.max_batch_size == 8  # default: the sample's batch dim is dynamic
    check_against_model(cfg, Path(digits_onnx), batched=True)


def test_static_batch_model_exports_without_batching(tmp_path):
    src = tiny_model(tmp_path / "static.onnx", batch=2)
    cfg = parse_config(export_triton(src, tmp_path / "repo").config_path)
    assert cfg.max_batch_size == 0 and not cfg.HasField("dynamic_batching")
    check_against_model(cfg, src, batched=False)
    with pytest.raises(BadInput, match="dynamic batch dim"):
        export_triton(src, tmp_path / "repo", max_batch=4)


def test_max_batch_zero_keeps_full_dims(tmp_path):
    src = tiny_model(tmp_path / "tiny.onnx")
    cfg = parse_config(export_triton(src, tmp_path / "repo", max_batch=0, version=3).config_path)
    assert cfg.max_batch_size == 0
    assert (tmp_path / "repo" / "tiny" / "3" / "model.onnx").is_file()
    check_against_model(cfg, src, batched=False)


def test_export_refuses_non_onnx(tmp_path):
    bad = tmp_path / "m.tflite"
    bad.write_bytes(b"\0\0\0\0TFL3" + b"\0" * 64)
    with pytest.raises(BadInput, match="ONNX"):
        export_triton(bad, tmp_path / "repo")


def test_cli_export_triton_json(tmp_path):
    src = tiny_model(tmp_path / "tiny.onnx")
    r = run_cli(
        "export",
        "triton",
        str(src),
        "-o",
        str(tmp_path / "repo"),
        "--name",
        "m",
        "--max-batch",
        "4",
        "--json",
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["name"] == "m" and out["max_batch_size"] == 4
    assert parse_config(Path(out["config"])).max_batch_size == 4
    r = run_cli("export", "triton", str(tmp_path / "missing.onnx"), "-o", str(tmp_path / "repo"), timeout=120)
    assert r.returncode == 2 and "portkit: error:" in r.stderr
