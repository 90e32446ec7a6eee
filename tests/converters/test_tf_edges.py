"""Every TensorFlow-side edge and the multi-hop routes through ONNX, on the real samples.

The pytest process imports neither tensorflow nor torch: conversions run through `portkit.convert` (each
hop and each runtime in its own worker) and models are built by tests/tf_models.py inside workers."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import portkit

from ..conftest import SAMPLES, run_cli

KERAS = SAMPLES / "digits_keras.keras"
H5 = SAMPLES / "digits_keras.h5"
JSON = SAMPLES / "digits_keras.json"
WEIGHTS = SAMPLES / "digits_keras.weights.h5"


def tf_build(func: str, *args, **kwargs):
    """Run tests.tf_models.<func> in a fresh worker (the test process never imports tensorflow)."""
    from portkit.workers import call_in_worker

    return call_in_worker(f"build {func}", "tests.tf_models", func, *args, **kwargs)


def _single_hop(result, edge: str) -> None:
    assert result.passed, result.to_dict()
    assert [h.edge for h in result.hops] == [edge], result.route
    assert result.hops[0].validation is not None and result.hops[0].validation.passed


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tf_edges")


@pytest.fixture(scope="module")
def keras_savedmodel(out) -> Path:
    """keras_to_savedmodel, once for the module."""
    res = portkit.convert(KERAS, "savedmodel", out / "digits_sm")
    _single_hop(res, "keras→savedmodel")
    return Path(res.output.location)


@pytest.fixture(scope="module")
def keras_tflite(out) -> Path:
    """keras_to_tflite, once for the module."""
    res = portkit.convert(KERAS, "tflite", out / "digits_keras.tflite")
    _single_hop(res, "keras→tflite")
    return Path(res.output.location)


@pytest.fixture(scope="module")
def torch_onnx_to_tflite(out, digits_onnx) -> Path:
    res = portkit.convert(digits_onnx, "tflite", out / "digits_torch.tflite")
    _single_hop(res, "onnx→tflite")
    return Path(res.output.location)


# --- Keras inputs: keras_to_keras, keras_to_keras_h5 -----------------------------------------------------

def test_keras_h5_to_keras(out):
    res = portkit.convert(H5, "keras", out / "from_h5.keras")
    _single_hop(res, "keras_h5→keras")
    assert [s.name for s in res.output.signature.inputs] == ["x"]


def test_keras_json_with_weights_to_keras(out):
    res = portkit.convert(JSON, "keras", out / "from_json.keras", weights=str(WEIGHTS))
    _single_hop(res, "keras_json→keras")


def test_keras_json_without_weights_is_bad_input(out):
    proc = run_cli("convert", str(JSON), "--to", "keras", "-o", str(out / "nowts.keras"))
    assert proc.returncode == 2, proc.stderr
    assert "--weights" in proc.stderr
    assert not (out / "nowts.keras").exists()


def test_keras_to_keras_h5(out):
    res = portkit.convert(KERAS, "keras_h5", out / "digits.h5")
    _single_hop(res, "keras→keras_h5")
    assert Path(res.output.location).read_bytes()[:4] == b"\x89HDF"


# --- keras_to_savedmodel, keras_to_tflite, keras_to_onnx --------------------------------------------------

def test_keras_to_savedmodel_keeps_names(keras_savedmodel):
    assert (keras_savedmodel / "saved_model.pb").is_file()
    sidecar = json.loads((keras_savedmodel.parent / (keras_savedmodel.name + ".portkit.json")).read_text())
    assert [t["name"] for t in sidecar["signature"]["inputs"]] == ["x"]
    assert [t["name"] for t in sidecar["signature"]["outputs"]] == ["output"]
    assert not list(keras_savedmodel.parent.glob(".*.tmp*")), "temporary folder left behind"


def test_keras_to_tflite(keras_tflite):
    assert keras_tflite.read_bytes()[4:8] == b"TFL3"


def test_keras_to_onnx_keeps_nhwc_and_names(out):
    res = portkit.convert(KERAS, "onnx", out / "digits_keras.onnx")
    _single_hop(res, "keras→onnx")
    sig = res.output.signature
    assert [s.name for s in sig.inputs] == ["x"] and [s.name for s in sig.outputs] == ["output"]
    assert list(sig.inputs[0].shape[1:]) == [8, 8, 1]
    assert res.output.record.channels_last_inputs == ("x",)


@pytest.mark.slow
def test_keras_h5_to_tflite_direct(out):
    res = portkit.convert(H5, "tflite", out / "from_h5.tflite")
    _single_hop(res, "keras_h5→tflite")


# --- savedmodel_to_tflite, savedmodel_to_onnx, tflite_to_onnx ---------------------------------------------

def test_savedmodel_to_tflite(keras_savedmodel, out):
    res = portkit.convert(keras_savedmodel, "tflite", out / "from_sm.tflite")
    _single_hop(res, "savedmodel→tflite")


def test_savedmodel_to_onnx(keras_savedmodel, out):
    res = portkit.convert(keras_savedmodel, "onnx", out / "from_sm.onnx")
    _single_hop(res, "savedmodel→onnx")
    assert [s.name for s in res.output.signature.outputs] == ["output"]


def test_tflite_to_onnx_uses_signature_names(keras_tflite, out):
    res = portkit.convert(keras_tflite, "onnx", out / "from_tflite.onnx")
    _single_hop(res, "tflite→onnx")
    assert [s.name for s in res.output.signature.inputs] == ["x"]
    assert [s.name for s in res.output.signature.outputs] == ["output"]


# --- onnx2tf: onnx_to_tflite, onnx_to_savedmodel, onnx_to_keras -------------------------------------------

def test_onnx_to_tflite_records_the_layout_change(torch_onnx_to_tflite, digits_onnx):
    sidecar = json.loads(Path(str(torch_onnx_to_tflite) + ".portkit.json").read_text())
    md = sidecar["metadata"]
    assert md["layout"]["inputs"]["x"]["perm"] == [0, 2, 3, 1]
    assert md["layout"]["inputs"]["x"]["from"] == "NCHW"
    assert [t["shape"][1:] for t in sidecar["signature"]["inputs"]] == [[8, 8, 1]]
    # a user validating later gets the mapping from the sidecar, not from guessing
    assert portkit.validate(digits_onnx, torch_onnx_to_tflite, batches=(1, 3))


@pytest.mark.slow
def test_onnx_to_tflite_keep_layout(digits_onnx, out):
    res = portkit.convert(digits_onnx, "tflite", out / "nchw.tflite", keep_layout=True)
    _single_hop(res, "onnx→tflite")
    assert list(res.output.signature.inputs[0].shape[1:]) == [1, 8, 8]
    assert not res.output.record.tensors.layout.get("inputs")


def test_onnx_to_savedmodel(digits_onnx, out):
    res = portkit.convert(digits_onnx, "savedmodel", out / "onnx_sm")
    _single_hop(res, "onnx→savedmodel")
    assert (Path(res.output.location) / "saved_model.pb").is_file()
    assert res.output.record.tensors.perm("inputs", "x") == (0, 2, 3, 1)


@pytest.mark.slow
def test_onnx_to_keras_is_tf_keras(digits_onnx, out):
    res = portkit.convert(digits_onnx, "keras", out / "onnx.keras")
    _single_hop(res, "onnx→keras")
    assert res.output.record.keras_flavour == "tf_keras"
    # and the file is a .keras zip that portkit reads back (inspect runs the Keras runtime)
    info = portkit.inspect(res.output.location)
    assert info.format.value == "keras" and info.details["runtime"] == "tf_keras"


def test_onnx_to_tflite_imports_no_torch(digits_onnx, out):
    mods = tf_build("run_edge_and_list_frameworks", "onnx_to_tflite", str(digits_onnx), "onnx",
                    str(out / "probe.tflite"))
    assert mods["tensorflow"] and not mods["torch"] and not mods["onnx2torch"], mods


@pytest.mark.slow
def test_onnx_from_tf2onnx_round_trips_through_onnx2tf(out):
    """An NHWC ONNX (tf2onnx keeps the Keras layout) goes through onnx2tf without a layout change."""
    onnx_path = out / "nhwc.onnx"
    portkit.convert(KERAS, "onnx", onnx_path)
    res = portkit.convert(onnx_path, "tflite", out / "nhwc.tflite")
    _single_hop(res, "onnx→tflite")
    assert list(res.output.signature.inputs[0].shape[1:]) == [8, 8, 1]
    assert not res.output.record.tensors.layout.get("inputs")


# --- multi-hop routes through ONNX ----------------------------------------------------------------------

def test_pytorch_model_to_tflite(digits_ref, digits_weights, out):
    res = portkit.convert(digits_ref, "tflite", out / "mh" / "digits.tflite", weights=str(digits_weights))
    assert res.passed and res.route == ["torch → onnx → tflite"]
    assert res.validation is not None and res.validation.passed  # end to end
    assert (out / "mh" / "digits.onnx").is_file(), "intermediate kept"
    assert res.output.record.tensors.perm("inputs", "x") == (0, 2, 3, 1)


@pytest.mark.slow
def test_keras_to_torchscript_clean(out):
    res = portkit.convert(KERAS, "torchscript", out / "k2ts" / "digits.pt", clean=True)
    assert res.passed and res.route == ["keras → onnx → torchscript"]
    assert [p.name for p in (out / "k2ts").iterdir() if not p.name.endswith(".portkit.json")] == ["digits.pt"]


def test_tflite_to_torchscript(keras_tflite, out):
    res = portkit.convert(keras_tflite, "torchscript", out / "t2ts" / "digits.pt")
    assert res.passed and res.route == ["tflite → onnx → torchscript"]
    assert res.validation is not None and res.validation.passed


@pytest.mark.slow
def test_torchscript_to_keras_h5(digits_ts, out):
    """Four formats, three hops: the layout map composes to the original NCHW model."""
    res = portkit.convert(digits_ts, "keras_h5", out / "ts2h5" / "digits.h5")
    assert res.passed and res.route == ["torchscript → onnx → keras → keras_h5"]
    assert res.output.record.tensors.perm("inputs", "x") == (0, 2, 3, 1)


# --- safety and custom objects ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lambda_keras(out) -> Path:
    return Path(tf_build("lambda_model", str(out / "lambda.keras")))


def test_lambda_layer_refused_without_allow_unsafe(lambda_keras, out):
    target = out / "lambda.onnx"
    proc = run_cli("convert", str(lambda_keras), "--to", "onnx", "-o", str(target))
    assert proc.returncode == 2, proc.stderr
    assert "--allow-unsafe" in proc.stderr and "Lambda" in proc.stderr
    assert len([ln for ln in proc.stderr.splitlines() if ln.startswith("portkit: error:")]) == 1, proc.stderr
    assert not target.exists()


@pytest.mark.slow
def test_lambda_layer_with_allow_unsafe(lambda_keras, out):
    res = portkit.convert(lambda_keras, "tflite", out / "lambda.tflite", allow_unsafe=True)
    assert res.passed


def test_custom_objects_module(out):
    model = tf_build("custom_layer_model", str(out / "custom.keras"))
    proc = run_cli("convert", model, "--to", "onnx", "-o", str(out / "custom_missing.onnx"))
    assert proc.returncode == 2, proc.stderr
    assert "--custom-objects" in proc.stderr
    res = portkit.convert(model, "onnx", out / "custom.onnx", custom_objects="tests.tf_custom_layers")
    assert res.passed


# --- errors: one line, exit 3, nothing left behind -----------------------------------------------------

def test_onnx2tf_failure_is_one_line_exit_3(out):
    src = tf_build("onnx_with_unconvertible_op", str(out / "unknown.onnx"))
    folder = out / "fail"
    folder.mkdir()
    proc = run_cli("convert", src, "--to", "tflite", "-o", str(folder / "unknown.tflite"))
    assert proc.returncode == 3, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("portkit: error:")]
    assert len(errors) == 1, proc.stderr
    assert "onnx→" in errors[0] and "onnx2tf" in errors[0]
    assert "unsupported op 'BitCast'" in errors[0]
    # both fallbacks (onnx → keras → tflite, through a SavedModel) hit the same op: the hint suggests no
    # route that already failed, it says so and where each tool's limits are listed
    assert "every route failed" in errors[0] and "troubleshooting" in errors[0], errors[0]
    assert "--via" not in errors[0], errors[0]
    assert not any(p.suffix in (".tflite", ".keras") or p.name.endswith(".tmp") for p in folder.iterdir()), \
        list(folder.iterdir())


def test_onnx2tf_failure_names_the_onnx_node():
    """onnx2tf re-raises an op converter's bare error ("'NoneType' object has no attribute 'shape'": swin_t's
    TorchScript-exported ONNX); portkit names the node its per-op wrapper was converting (local `graph_node`,
    an onnx-graphsurgeon Node: name, op, inputs with shapes). No TensorFlow needed: the walk is over the
    traceback, so a stand-in wrapper with onnx-graphsurgeon's attribute names raises here."""
    from types import SimpleNamespace as NS

    from portkit.converters._onnx2tf_common import failed_node

    def op_converter():
        return None.shape  # the bare AttributeError onnx2tf's Sub converter raised

    def print_wrapper_func(graph_node):  # onnx2tf's wrapper: holds the node, re-raises
        try:
            op_converter()
        except Exception:
            raise

    graph_node = NS(name="wa/features/1/1/attn/Sub_3", op="Sub",
                    inputs=[NS(shape=[2, 64, 1, 49]), NS(shape=None)])
    with pytest.raises(AttributeError) as info:
        print_wrapper_func(graph_node)
    assert failed_node(info.value) == "ONNX node '/features/1/1/attn/Sub_3' (Sub; inputs [2, 64, 1, 49], ?)"
    assert failed_node(ValueError("no onnx2tf frame")) is None
