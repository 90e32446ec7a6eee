"""Input specs (name, shape, dtype, dynamic axes) as one definition; typed inputs through the torch edges;
signatures borrowed from the other model of a command; errors that name the input and the flag."""
from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest

import portkit
from portkit.api import convert_options
from portkit.errors import BadInput
from portkit.options import ConvertOptions, ValidateOptions
from portkit.signature import (
    InputSpec,
    merge_input_specs,
    parse_dtype,
    parse_input_specs,
    specs_from_arrays,
)
from portkit.workers import call_in_worker

from ..conftest import run_cli

ONNX_TYPES = {"float16": 10, "int32": 6, "bool": 9, "float32": 1, "int64": 7}


def _build(func: str, *args: str) -> None:
    call_in_worker(f"build {func}", "tests.spec_models", func, *args)


def _onnx_inputs(path) -> dict[str, tuple[int, list]]:
    m = onnx.load(str(path))
    return {i.name: (i.type.tensor_type.elem_type, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim])
            for i in m.graph.input}


# ------------------------------------------------------------------------------------------ the definition

def test_flags_make_one_spec_per_input():
    specs = parse_input_specs(["input_ids=1,16", "attention_mask=1,16"], ["input_ids=int64", "attention_mask=long"],
                              ["input_ids=1:sequence", "attention_mask=1:sequence"])
    assert specs == (InputSpec("input_ids", (1, 16), "int64", ((1, "sequence"),)),
                     InputSpec("attention_mask", (1, 16), "int64", ((1, "sequence"),)))
    assert specs[0].symbolic_shape(batch_dynamic=True) == ("batch", "sequence")
    assert specs[0].symbolic_shape(batch_dynamic=False) == (1, "sequence")
    # API forms: dicts, and a bare axis gets a name
    same = parse_input_specs({"ids": (1, 8)}, {"ids": "int32"}, {"ids": {1: "seq"}})
    assert same == (InputSpec("ids", (1, 8), "int32", ((1, "seq"),)),)
    assert parse_input_specs(None, None, ["x=2"])[0].dynamic_axes == ((2, "x_2"),)


def test_options_carry_the_specs_and_their_shapes_are_a_view():
    o = convert_options(input_shapes={"": (1, 3, 8, 8)})
    assert o.input_specs == (InputSpec("", (1, 3, 8, 8)),) and o.shapes == {"": (1, 3, 8, 8)}
    specs = parse_input_specs(["x=1,4"], ["x=float16"], ["x=1:seq"])
    v = ValidateOptions(input_specs=specs)
    assert v.shapes == {"x": (1, "seq")} and v.input_specs[0].dtype == "float16"
    # no second field to keep in step: the options hold the specs alone
    assert not {"input_shapes", "input_dtypes"} & {f.name for f in dataclasses.fields(ConvertOptions)}
    assert convert_options(input_dtypes={"x": "bool"}, input_shapes="x=2,3").input_specs == (
        InputSpec("x", (2, 3), "bool"),)


def test_specs_from_data_make_batch_and_token_sequence_dynamic():
    specs = specs_from_arrays({"input_ids": np.zeros((2, 16), np.int64), "attention_mask": np.ones((2, 16), np.int64),
                               "pixels": np.zeros((2, 3, 8, 8), np.float32)})
    assert [s.dtype for s in specs] == ["int64", "int64", "float32"]
    assert specs[0].symbolic_shape(True) == ("batch", "sequence") == specs[1].symbolic_shape(True)
    assert specs[2].symbolic_shape(True) == ("batch", 3, 8, 8)


def test_merge_lets_the_first_win_and_fills_gaps():
    a = (InputSpec("x", None, "int32"),)
    b = (InputSpec("x", (1, 4), "int64"), InputSpec("y", (1,), "bool"))
    assert merge_input_specs(a, b) == (InputSpec("x", (1, 4), "int32"), InputSpec("y", (1,), "bool"))


@pytest.mark.parametrize("text,want", [("int64", "int64"), ("fp16", "float16"), ("torch.bool", "bool"),
                                       ("uint8", "uint8"), ("int32", "int32")])
def test_dtype_names(text, want):
    assert parse_dtype(text) == want


def test_unknown_dtype_is_bad_usage():
    with pytest.raises(BadInput, match="--input-dtype"):
        parse_input_specs(None, ["x=complex64"])
    proc = run_cli("convert", "m.pt", "--to", "onnx", "--input-dtype", "x=quaternion")
    assert proc.returncode == 2 and "quaternion" in proc.stderr and "Traceback" not in proc.stderr


def test_recipes_take_the_same_fields():
    from portkit.recipes.loading import parse_recipe

    r = parse_recipe({"models": [{"name": "bert", "source": "examples.hf_models:bert_tiny",
                                  "input_shapes": {"input_ids": [1, 16]}, "input_dtypes": {"input_ids": "int64"},
                                  "dynamic_axes": {"input_ids": {1: "sequence"}}, "targets": [{"to": "onnx"}]}]},
                     check_files=False)
    m = r.models[0]
    opts = convert_options(**m.loading(r.resolve))
    assert opts.input_specs == (InputSpec("input_ids", (1, 16), "int64", ((1, "sequence"),)),)


# ------------------------------------------------------------------------------------------- typed inputs

@pytest.fixture(scope="module")
def d(tmp_path_factory):
    return tmp_path_factory.mktemp("specs")


@pytest.mark.parametrize("func,flags,dtypes", [
    ("fp16_model", ["--input-shape", "x=1,4", "--input-dtype", "x=float16"], {"x": "float16"}),
    ("int32_model", ["--input-shape", "ids=1,5", "--input-dtype", "ids=int32", "--dynamic-axis", "ids=1:sequence"],
     {"ids": "int32"}),
    ("bool_model", ["--input-shape", "x=1,6", "--input-shape", "keep=1,6", "--input-dtype", "keep=bool"],
     {"x": "float32", "keep": "bool"}),
])
def test_typed_inputs_convert_and_validate(d, func, flags, dtypes):
    src, out = d / f"{func}.pt", d / f"{func}.onnx"
    _build(func, str(src))
    proc = run_cli("convert", str(src), "--to", "onnx", "-o", str(out), *flags)
    assert proc.returncode == 0, proc.stderr
    got = _onnx_inputs(out)
    assert {k: v[0] for k, v in got.items()} == {k: ONNX_TYPES[t] for k, t in dtypes.items()}
    assert all(v[1][0] == "batch" for v in got.values())
    if func == "int32_model":
        assert got["ids"][1] == ["batch", "sequence"]


def test_rejected_shape_names_input_shape_dtype_and_flag(d):
    src = d / "fp16_model.pt"
    if not src.exists():
        _build("fp16_model", str(src))
    proc = run_cli("convert", str(src), "--to", "onnx", "-o", str(d / "bad.onnx"),
                   "--input-shape", "x=1,5", "--input-dtype", "x=float16")
    assert proc.returncode == 2, proc.stderr
    err = [ln for ln in proc.stderr.splitlines() if ln.startswith("portkit: error")]
    assert len(err) == 1 and "Traceback" not in proc.stderr
    assert "x shape [1, 5] float16" in err[0] and "--input-shape x=" in err[0]
    assert not (d / "bad.onnx").exists()


def test_nothing_declared_names_the_flags_with_forward_names(d):
    src = d / "bool_model.pt"
    if not src.exists():
        _build("bool_model", str(src))
    proc = run_cli("convert", str(src), "--to", "onnx", "-o", str(d / "none.onnx"))
    assert proc.returncode == 2
    assert "forward(x, keep)" in proc.stderr and "--input-shape x=" in proc.stderr
    assert "--input-shape keep=" in proc.stderr and "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------------ borrowed signatures

@pytest.fixture(scope="module")
def cnn(d):
    pt, onnx_path = d / "cnn.pt", d / "cnn.onnx"
    _build("cnn", str(pt), str(onnx_path))
    return pt, onnx_path


def test_validate_bare_torchscript_borrows_from_onnx(cnn):
    pt, onnx_path = cnn
    proc = run_cli("validate", str(pt), str(onnx_path))
    assert proc.returncode == 0, proc.stderr
    assert "declares no inputs: using those of cnn.onnx" in proc.stderr
    r = portkit.validate(str(pt), str(onnx_path))
    assert r.passed and any("declares no inputs" in n for n in r.notes)
    assert r.batches == [1, 2, 7]


def test_bench_bare_torchscript_borrows(cnn):
    pt, onnx_path = cnn
    r = portkit.bench([str(pt), str(onnx_path)], iterations=3, warmup=1)
    assert [m.runtime for m in r.measurements] == ["torch", "onnxruntime"]
    assert any("declares no inputs" in n for n in r.notes)


def test_wrong_shaped_data_is_bad_input(cnn, d):
    _, onnx_path = cnn
    data = d / "wrong.npz"
    np.savez(data, x=np.zeros((2, 3, 15, 16), np.float32))
    proc = run_cli("validate", str(onnx_path), str(onnx_path), "--inputs", str(data))
    assert proc.returncode == 2, proc.stderr
    assert "'x' has shape [2, 3, 15, 16]; the model expects [batch, 3, 16, 16]" in proc.stderr


@pytest.mark.slow
def test_bench_bare_torchscript_onnx_tflite(cnn, d):
    """`portkit bench m.pt m.onnx m.tflite` with no shape flag: the TorchScript borrows from the ONNX."""
    pt, onnx_path = cnn
    tfl = d / "cnn.tflite"
    proc = run_cli("convert", str(onnx_path), "--to", "tflite", "-o", str(tfl))
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("bench", str(pt), str(onnx_path), str(tfl), "--iterations", "5", "--warmup", "1")
    assert proc.returncode == 0, proc.stderr
    assert "declares no inputs: using those of cnn.onnx" in proc.stdout + proc.stderr


def test_api_takes_dtypes_and_dynamic_axes(d):
    src = d / "int32_api.pt"
    _build("int32_model", str(src))
    r = portkit.convert(str(src), "onnx", d / "int32_api.onnx", input_shapes={"ids": (1, 5)},
                        input_dtypes={"ids": "int32"}, dynamic_axes={"ids": {1: "tokens"}})
    assert r.passed
    assert _onnx_inputs(d / "int32_api.onnx") == {"ids": (ONNX_TYPES["int32"], ["batch", "tokens"])}
    # validation swept the named axis and kept ids below the embedding's 50 rows (ONNX Gather)
    assert any("tokens 7" in c for c in r.hops[0].validation.cases)
    assert any("integers in [0, 50)" in n for n in r.hops[0].validation.notes)


def test_token_ranges_stored_in_torchscript_are_read_without_torch(tmp_path):
    """torch→torchscript stores {input_ids: [0, vocab)} in the archive's portkit.json; read back as a zip."""
    import json
    import zipfile

    from portkit.artifact import Artifact
    from portkit.formats import Format
    from portkit.inputs import infer_ranges, make_inputs
    from portkit.signature import ModelSignature, TensorSpec

    p = tmp_path / "m.pt"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("m/extra/portkit.json", json.dumps({"inputs": [], "input_ranges": {"input_ids": [0, 1000]}}))
    ranges = infer_ranges(Artifact(str(p), Format.TORCHSCRIPT))
    assert ranges == {"input_ids": (0.0, 1000.0)}
    sig = ModelSignature((TensorSpec("input_ids", "int64", ("batch", "sequence")),
                          TensorSpec("attention_mask", "int64", ("batch", "sequence"))))
    feeds = make_inputs(sig, batch=3, ranges=ranges, dims={"sequence": 12})
    assert feeds["input_ids"].max() < 1000 and feeds["input_ids"].max() >= 10  # the whole vocabulary
    mask = feeds["attention_mask"]
    assert set(np.unique(mask)) == {0, 1} and mask[:-1].all() and mask[-1, :9].all() and not mask[-1, 9:].any()


def test_static_fixes_the_axes_a_module_declares_dynamic(tmp_path):
    """--static fixes every axis, also those a model declares dynamic itself (examples/hf_models.py)."""
    out = tmp_path / "bert_static.onnx"
    r = run_cli("convert", "examples.hf_models:bert_tiny", "--to", "onnx", "-o", str(out), "--static")
    assert r.returncode == 0, r.stderr
    import json

    r = run_cli("inspect", str(out), "--json")
    shapes = {t["name"]: t["shape"] for t in json.loads(r.stdout)["inputs"]}
    assert shapes == {"input_ids": [1, 16], "attention_mask": [1, 16]}, shapes
