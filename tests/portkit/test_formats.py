"""Content sniffing: formats are decided by bytes, never by extension."""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from portkit.errors import BadInput
from portkit.formats import Format, is_reference, sniff

from ..conftest import ROOT, run_cli


def tiny_onnx(path: Path, external: bool = False) -> Path:
    w = numpy_helper.from_array(np.ones((4, 3), dtype=np.float32), "w")
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if external:
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=path.name + ".data", size_threshold=0)
    else:
        onnx.save(model, str(path))
    return path


def test_onnx_detected_even_with_pt_extension(tmp_path):
    p = tiny_onnx(tmp_path / "model.onnx")
    shutil.copy(p, tmp_path / "really_onnx.pt")
    assert sniff(tmp_path / "really_onnx.pt") is Format.ONNX


def test_onnx_external_data(tmp_path):
    p = tiny_onnx(tmp_path / "ext.onnx", external=True)
    assert (tmp_path / "ext.onnx.data").exists()
    assert sniff(p) is Format.ONNX


def test_torchscript_and_pickle(digits_ts, digits_weights):
    assert sniff(digits_ts) is Format.TORCHSCRIPT
    assert sniff(digits_weights) is Format.TORCH  # a torch.save pickle: loadable only with --allow-pickle


def test_reference():
    assert is_reference("samples.digits_torch:build")
    assert sniff("torchvision.models:resnet18") is Format.TORCH
    assert not is_reference("model.onnx")


def test_tflite_magic(tmp_path):
    p = tmp_path / "m.bin"
    p.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 64)
    assert sniff(p) is Format.TFLITE


def test_savedmodel_dir(tmp_path):
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"\x08\x01")
    assert sniff(tmp_path / "sm") is Format.SAVEDMODEL


def test_keras_zip(tmp_path):
    p = tmp_path / "m.bin"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", b"")
        z.writestr("metadata.json", "{}")
    assert sniff(p) is Format.KERAS


def test_keras_json(tmp_path):
    p = tmp_path / "model.json"
    p.write_text(json.dumps({"class_name": "Sequential", "config": {}}))
    assert sniff(p) is Format.KERAS_JSON


def test_keras_h5(tmp_path):
    h5py = pytest.importorskip("h5py")
    p = tmp_path / "m.h5"
    with h5py.File(p, "w") as f:
        f.attrs["model_config"] = "{}"
    assert sniff(p) is Format.KERAS_H5
    w = tmp_path / "w.h5"
    with h5py.File(w, "w") as f:
        f.create_dataset("kernel", data=np.zeros(3))
    with pytest.raises(BadInput, match="weights only"):
        sniff(w)


@pytest.mark.parametrize("content,msg", [
    (b"", "empty"),
    (b"this is not a model at all", "unrecognised"),
    (b"PK\x03\x04garbage", "corrupt"),
    (b'{"not": "keras"', "does not parse"),
])
def test_bad_files(tmp_path, content, msg):
    p = tmp_path / "bad.onnx"
    p.write_bytes(content)
    with pytest.raises(BadInput, match=msg) as e:
        sniff(p)
    assert e.value.exit_code == 2 and str(p) in e.value.one_line()


def test_truncated_onnx(tmp_path):
    full = tiny_onnx(tmp_path / "full.onnx").read_bytes()
    p = tmp_path / "trunc.onnx"
    p.write_bytes(full[: len(full) // 2])
    with pytest.raises(BadInput):
        sniff(p)


def test_missing_file(tmp_path):
    with pytest.raises(BadInput, match="not found"):
        sniff(tmp_path / "nope.onnx")


def test_format_parse_suggests():
    assert Format.parse("TFLite") is Format.TFLITE
    assert Format.parse("h5") is Format.KERAS_H5
    with pytest.raises(BadInput, match="did you mean 'onnx'"):
        Format.parse("onx")


def test_file_path_factory_references(tmp_path):
    """`path/to/models.py:factory` names a model as `pkg.module:factory` does (the documented
    `examples/hf_models.py:bert_tiny`); a .py path that does not exist is not a reference."""
    assert is_reference("examples/hf_models.py:bert_tiny") and sniff("examples/hf_models.py:bert_tiny") is Format.TORCH
    assert not is_reference(str(tmp_path / "missing.py") + ":build")
    model = tmp_path / "my_models.py"
    model.write_text("import torch\n\nclass Tiny(torch.nn.Module):\n    input_shape = (1, 4)\n\n"
                     "    def forward(self, x):\n        return x * 2\n\n\ndef build():\n    return Tiny()\n")
    r = run_cli("inspect", f"{model}:build", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["format"] == "torch"


def test_every_format_has_its_row_and_every_row_its_runtime():
    """One table says what a format is (portkit.formats.FORMATS): suffix, runtime module, worker family,
    quantize kinds, sniffing; the runtimes, workers and prep read it instead of tables of their own."""
    from portkit.formats import FORMATS
    from portkit.runtimes import runtime_module

    assert set(FORMATS) == set(Format)
    for fmt, info in FORMATS.items():
        assert (ROOT / "src" / "portkit" / "runtimes" / f"{info.runtime}.py").is_file(), fmt
        assert runtime_module(fmt) == f"portkit.runtimes.{info.runtime}"
        assert info.family in ("tf", "torch", None)
        assert info.folder == (info.suffix == ""), fmt
        for alias in info.aliases:
            assert Format.parse(alias) is fmt
    assert Format.ONNX.info.in_process and not Format.TFLITE.info.in_process
    assert Format.TFLITE.info.family == "tf" and Format.PT2.info.family == "torch"


def test_quantize_kinds_come_from_the_table(tmp_path):
    from portkit.options import convert_options
    from portkit.prep import check_options

    check_options(Format.TORCH, Format.EXECUTORCH, convert_options(quantize="dynamic"))
    with pytest.raises(BadInput, match="--quantize fp16 does not apply to executorch"):
        check_options(Format.TORCH, Format.EXECUTORCH, convert_options(quantize="fp16"))
    with pytest.raises(BadInput, match="applies to onnx, ort, web, tflite and executorch targets, not torchscript"):
        check_options(Format.ONNX, Format.TORCHSCRIPT, convert_options(quantize="dynamic"))
    # 4-bit weights exist for causal LMs exported with their cache only (portkit.generative.quantize)
    for to in (Format.ONNX, Format.TFLITE, Format.EXECUTORCH):
        with pytest.raises(BadInput, match="--quantize int4 .* applies to a causal LM exported with its key/value"):
            check_options(Format.TORCH, to, convert_options(quantize="int4"))
