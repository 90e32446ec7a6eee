"""HopRecord: the typed view of what a hop recorded; the metadata dict / sidecar JSON stays readable."""
from __future__ import annotations

import json

from portkit.artifact import Artifact, HopRecord
from portkit.formats import Format

# a sidecar as portkit 0.1 wrote it (onnx2tf hop: NCHW→NHWC, renamed input, flat rename form included)
OLD_SIDECAR = {
    "location": "m.tflite", "format": "tflite", "signature": None,
    "metadata": {"producer": "onnx2tf", "versions": {"onnx2tf": "1.29.24"}, "quantized": "int8", "int8_io": True,
                 "layout": {"inputs": {"x": {"from": "NCHW", "to": "NHWC", "perm": [0, 2, 3, 1]}}},
                 "renamed": {"inputs": {"x": "serving_default_x:0"}}, "dynamic": True, "opset": 17,
                 "normalised": ["alias_initializers"], "route": ["onnx", "tflite"], "validation": "passed",
                 "input_ranges": {"ids": [0, 100]}, "custom_key": {"kept": 1}},
}


def test_old_sidecars_read_into_the_typed_record_and_back(tmp_path):
    (tmp_path / "m.tflite").write_bytes(b"")
    (tmp_path / "m.tflite.portkit.json").write_text(json.dumps(OLD_SIDECAR))
    art = Artifact(str(tmp_path / "m.tflite"), Format.TFLITE)
    art.read_sidecar_metadata()
    r = art.record
    assert (r.producer, r.quantized, r.int8_io, r.dynamic, r.opset) == ("onnx2tf", "int8", True, True, 17)
    assert r.tensors.perm("inputs", "x") == (0, 2, 3, 1) and r.tensors.name("inputs", "x") == "serving_default_x:0"
    assert r.normalised == ("alias_initializers",) and r.input_ranges == {"ids": [0, 100]}
    assert r.extra == {"custom_key": {"kept": 1}}
    assert r.to_metadata() == OLD_SIDECAR["metadata"]  # written back as it was read


def test_flat_renames_and_empty_records():
    r = HopRecord.from_metadata({"renamed": {"x": "x_1"}})
    assert r.tensors.name("inputs", "x") == "x_1" and r.tensors.name("outputs", "x") == "x_1"
    assert HopRecord.from_metadata(None).to_metadata() == {}
    assert HopRecord.from_metadata({"hop": {"layout": {}, "renamed": {}}}).hop_tensors is not None


def test_what_steps_and_converters_record_reads_typed():
    """The keys quantize/optimise steps and converters return (read by tests, the web manifest and reports)
    are fields of the record, not untyped `extra`."""
    md = {"quantization": {"mode": "dynamic"}, "optimized": {"steps": ["onnxslim"]}, "converted_from": "torchscript",
          "keras_flavour": "tf_keras", "max_batch": 15, "channels_last_inputs": ["x"]}
    r = HopRecord.from_metadata(md)
    assert (r.quantization, r.optimized, r.converted_from, r.keras_flavour, r.max_batch, r.channels_last_inputs) == \
        ({"mode": "dynamic"}, {"steps": ["onnxslim"]}, "torchscript", "tf_keras", 15, ("x",))
    assert r.extra == {} and r.to_metadata() == md
