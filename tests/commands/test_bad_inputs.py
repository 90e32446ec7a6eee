"""The bad-input corpus: every malformed file, flag or request a user can hand portkit gets one clear line.

Each case runs the real command line (a subprocess, as a user would) in a folder of corpus files made by
the fixture below (plain Python, numpy and onnx: no framework starts unless the case needs one) and
asserts the contract of docs/troubleshooting.md: the documented exit code, exactly one `portkit: error:`
line on stderr, last, naming the file or flag and saying what to do (`— fix`), no traceback, nothing at
`-o`, no temp files left, and no pickle payload run (each payload would create a marker file).
"""
from __future__ import annotations

import json
import os
import pickle
import socket
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from ..conftest import run_cli

MARKER_DIR = "payload-markers"


# ---------------------------------------------------------------- corpus files


class _Payload:
    """Unpickling this runs `touch MARKER`: proof, if the marker appears, that portkit unpickled it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _onnx_model(path: Path, *, op: str = "Add", domain: str = "", opset: int = 17, weight: np.ndarray | None = None,
                external: bool = False, dims: tuple = ("N", 3, 4, 4)) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.ones((1, *dims[1:]), np.float32) if weight is None else weight
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(dims))
    ins = ["x", "w"] if op == "Add" else ["x"]
    graph = helper.make_graph([helper.make_node(op, ins, ["y"], domain=domain)], "g", [x], [y],
                              [numpy_helper.from_array(w, "w")] if op == "Add" else [])
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=imports)
    model.ir_version = 8
    if external:
        onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=f"{path.stem}.weights", size_threshold=0)
    else:
        onnx.save(model, str(path))
    return path


def _fixed_batch_model(path: Path) -> Path:
    """Declares a dynamic batch but reshapes to a hard-coded batch of 1: runs at batch 1 only."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 4, 4])
    shape = numpy_helper.from_array(np.array([1, 3, 4, 4], np.int64), "shape")
    graph = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"])], "g", [x], [y], [shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("corpus")
    (d / MARKER_DIR).mkdir()
    rng = np.random.default_rng(0)

    def payload(name: str) -> _Payload:
        return _Payload(str(d / MARKER_DIR / name))

    good = _onnx_model(d / "good.onnx")
    good_bytes = good.read_bytes()
    # model files: empty, truncated, random bytes, magic bytes followed by garbage
    for ext in (".onnx", ".tflite", ".pt", ".h5", ".keras", ".json", ".ort"):
        (d / f"empty{ext}").write_bytes(b"")
    (d / "truncated.onnx").write_bytes(good_bytes[: len(good_bytes) // 2])
    (d / "random.onnx").write_bytes(rng.bytes(512))
    (d / "random.bin").write_bytes(rng.bytes(4096))
    (d / "magic.tflite").write_bytes(b"\x1c\x00\x00\x00TFL3" + rng.bytes(200))
    (d / "magic.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + rng.bytes(200))
    (d / "magic.keras").write_bytes(b"PK\x03\x04" + rng.bytes(200))
    (d / "magic.ort").write_bytes(b"\x00\x00\x00\x00ORTM" + rng.bytes(200))
    with zipfile.ZipFile(d / "garbage.keras", "w") as z:  # the members a .keras has, their contents garbage
        z.writestr("config.json", '{"class_name": "Sequential", "config": {"layers": "oops"}}')
        z.writestr("metadata.json", "{}")
        z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + rng.bytes(100))
    (d / "truncated.json").write_text('{"class_name": "Sequential", "config": {')
    (d / "notkeras.json").write_text('{"layers": []}')
    # zips and folders that pose as models
    with zipfile.ZipFile(d / "poser.keras", "w") as z:
        z.writestr("readme.txt", "not a model")
    with zipfile.ZipFile(d / "poser.pt", "w") as z:
        z.writestr("model/weights.bin", rng.bytes(64))
    (d / "folder_model").mkdir()
    (d / "folder_model" / "variables").mkdir()
    # symlinks that lead nowhere
    os.symlink("loop_b.onnx", d / "loop_a.onnx")
    os.symlink("loop_a.onnx", d / "loop_b.onnx")
    os.symlink("does-not-exist.onnx", d / "dangling.onnx")
    # ONNX models no converter can take
    _onnx_model(d / "external.onnx", external=True)
    (d / "external.weights").unlink()
    _onnx_model(d / "unknown_op.onnx", op="Frobnicate")
    _fixed_batch_model(d / "fixed_batch.onnx")
    _onnx_model(d / "custom_domain.onnx", op="Frobnicate", domain="com.example.private")
    _onnx_model(d / "future_opset.onnx", op="Relu", opset=99)
    nan = np.ones((1, 3, 4, 4), np.float32)
    nan[0, 0, 0, 0] = np.nan
    _onnx_model(d / "nan_weights.onnx", weight=nan)
    # data files: wrong names, shapes, dtypes, empty, corrupt, pickled
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    np.savez(d / "data_ok.npz", x=x)
    np.savez(d / "data_wrong_name.npz", image=x)
    np.savez(d / "data_wrong_shape.npz", x=x[:, :, :2])
    np.savez(d / "data_wrong_dtype.npz", x=np.array([["a", "b"]]))
    np.savez(d / "data_empty.npz")
    (d / "data_zero_bytes.npz").write_bytes(b"")
    (d / "data_truncated.npz").write_bytes((d / "data_ok.npz").read_bytes()[:100])
    (d / "data_text.npz").write_text("x = [1, 2, 3]\n")
    (d / "data_empty_dir").mkdir()
    np.savez(d / "data_no_labels.npz", x=x)
    # pickles with payloads, one per place a file is read
    np.savez(d / "evil_inputs.npz", x=np.array([payload("inputs")], dtype=object))
    np.save(d / "evil_inputs.npy", np.array([payload("npy")], dtype=object), allow_pickle=True)
    (d / "evil_dir").mkdir()
    np.save(d / "evil_dir" / "x.npy", np.array([payload("dir")], dtype=object), allow_pickle=True)
    np.savez(d / "evil_calibration.npz", x=np.array([payload("calibration")], dtype=object))
    np.savez(d / "evil_eval.npz", x=np.array([payload("eval")], dtype=object),
             labels=np.array([payload("labels")], dtype=object))
    for name in ("model", "weights", "bench", "serve", "validate", "init", "matrix"):
        with zipfile.ZipFile(d / f"evil_{name}.pt", "w") as z:  # what torch.save writes, payload inside
            z.writestr("archive/data.pkl", pickle.dumps(payload(f"pt_{name}"), protocol=2))
            z.writestr("archive/version", "3\n")
    (d / "evil_legacy.pt").write_bytes(pickle.dumps(payload("legacy"), protocol=2))
    (d / "evil_baseline.json").write_bytes(pickle.dumps(payload("baseline"), protocol=2))
    (d / "evil_recipe.yaml").write_text(
        f"version: 1\nmodels: !!python/object/apply:os.system ['touch {d / MARKER_DIR / 'yaml'}']\n")
    # options, recipes, baselines
    (d / "bad_recipe.yaml").write_text("version: 1\nmodels:\n  - name: m\n    sorce: good.onnx\n")
    (d / "not_yaml.yaml").write_text("version: 1\nmodels: [\n")
    (d / "baseline_empty.json").write_text("{}")
    (d / "a_file").write_text("not a folder")
    (d / "occupied").mkdir()
    (d / "occupied" / "keep.txt").write_text("the user's file")
    return d


# ---------------------------------------------------------------- the contract


@dataclass
class Case:
    id: str
    argv: list[str]
    code: int
    needles: list[str] = field(default_factory=list)  # each must be in the error line (the file / the flag)
    out: str | None = None  # must not exist afterwards
    marker: str | None = None  # a payload that must not have run
    issue15: bool = False  # input shapes/data the other half of the bad-input work covers


def _leftovers(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*")
                  if ".tmp" in p.name or p.name.startswith(".portkit-probe"))


def check_clean_error(proc, code: int, needles: list[str]) -> str:
    """The documented exit code, one `portkit: error:` line (the last), no traceback; returns that line."""
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out[-3000:]
    assert proc.returncode == code, (proc.returncode, proc.stderr[-3000:])
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("portkit: error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], proc.stderr[-3000:]
    line = errors[0]
    assert " — " in line, f"the line says what went wrong but not what to do: {line}"
    for n in needles:
        assert n in line, (n, line)
    return line


M = MARKER_DIR
CASES = [
    # model files: empty, truncated, random, magic bytes + garbage, posers
    Case("empty-onnx", ["inspect", "empty.onnx"], 2, ["empty.onnx", "empty"]),
    Case("empty-tflite", ["convert", "empty.tflite", "--to", "onnx", "-o", "o1.onnx"], 2, ["empty.tflite"], "o1.onnx"),
    Case("empty-pt", ["validate", "empty.pt", "good.onnx"], 2, ["empty.pt", "empty"]),
    Case("empty-h5", ["bench", "empty.h5", "-n", "2"], 2, ["empty.h5"]),
    Case("empty-keras", ["serve", "empty.keras", "--port", "0"], 2, ["empty.keras"]),
    Case("empty-json", ["inspect", "empty.json"], 2, ["empty.json"]),
    Case("empty-ort", ["ops", "empty.ort"], 2, ["empty.ort"]),
    Case("truncated-onnx", ["convert", "truncated.onnx", "--to", "ort", "-o", "o2.ort"], 2, ["truncated.onnx"],
         "o2.ort"),
    Case("random-onnx", ["validate", "good.onnx", "random.onnx"], 2, ["random.onnx", "unrecognised"]),
    Case("random-bin", ["serve", "random.bin", "--port", "0"], 2, ["random.bin"]),
    Case("magic-h5", ["inspect", "magic.h5"], 2, ["magic.h5"]),
    Case("magic-keras-zip", ["convert", "magic.keras", "--to", "onnx", "-o", "o3.onnx"], 2,
         ["magic.keras", "corrupt"], "o3.onnx"),
    Case("zip-poser-keras", ["inspect", "poser.keras"], 2, ["poser.keras"]),
    Case("zip-poser-pt", ["convert", "poser.pt", "--to", "onnx", "-o", "o4.onnx"], 2, ["poser.pt"], "o4.onnx"),
    Case("truncated-json", ["inspect", "truncated.json"], 2, ["truncated.json"]),
    Case("json-not-keras", ["convert", "notkeras.json", "--to", "onnx"], 2, ["notkeras.json", "class_name"]),
    Case("folder-poser", ["convert", "folder_model", "--to", "onnx", "-o", "o5.onnx"], 2, ["folder_model"], "o5.onnx"),
    # the same, read by the framework runtimes (LiteRT, onnxruntime's ORT format, Keras)
    Case("garbage-tflite", ["inspect", "magic.tflite"], 2, ["magic.tflite", "does not load"]),
    Case("garbage-ort", ["bench", "magic.ort", "-n", "2"], 2, ["magic.ort"]),
    Case("garbage-keras", ["convert", "garbage.keras", "--to", "onnx", "-o", "o30.onnx"], 2, ["garbage.keras"],
         "o30.onnx"),
    Case("symlink-loop", ["inspect", "loop_a.onnx"], 2, ["loop_a.onnx", "link"]),
    Case("symlink-dangling", ["convert", "dangling.onnx", "--to", "ort", "-o", "o6.ort"], 2, ["dangling.onnx"],
         "o6.ort"),
    Case("missing-file", ["bench", "nope.onnx"], 2, ["nope.onnx", "not found"]),
    # ONNX models no converter or runtime can take
    Case("external-data-inspect", ["inspect", "external.onnx"], 2, ["external.onnx", "external.weights"]),
    Case("external-data-convert", ["convert", "external.onnx", "--to", "ort", "-o", "o7.ort"], 2,
         ["external.onnx", "external.weights"], "o7.ort"),
    Case("external-data-validate", ["validate", "good.onnx", "external.onnx"], 2, ["external.weights"]),
    Case("external-data-serve", ["serve", "external.onnx", "--port", "0"], 2, ["external.weights"]),
    Case("unknown-op", ["convert", "unknown_op.onnx", "--to", "ort", "-o", "o8.ort"], 2,
         ["unknown_op.onnx", "'Frobnicate'"], "o8.ort"),
    Case("custom-domain", ["convert", "custom_domain.onnx", "--to", "web", "-o", "o9_web"], 2,
         ["custom_domain.onnx", "com.example.private"], "o9_web"),
    Case("future-opset", ["convert", "future_opset.onnx", "--to", "ort", "-o", "o10.ort"], 2,
         ["future_opset.onnx", "opset 99"], "o10.ort"),
    Case("nan-weights", ["convert", "nan_weights.onnx", "--to", "ort", "-o", "o11.ort"], 2,
         ["nan_weights.onnx", "NaN"], "o11.ort"),
    Case("candidate-fails-to-run", ["validate", "good.onnx", "fixed_batch.onnx"], 1,
         ["fixed_batch.onnx", "candidate failed to run at batch 2"]),
    # flags: shapes, dtypes, formats, numbers, JSON
    Case("input-shape-text", ["validate", "good.onnx", "good.onnx", "--input-shape", "1,3.5,4,4"], 2, ["1,3.5,4,4"]),
    Case("input-shape-rank", ["validate", "good.onnx", "good.onnx", "--input-shape", "1,3,16"], 2, ["x"]),
    Case("input-shape-channels", ["bench", "good.onnx", "--input-shape", "1,5,4,4", "-n", "2"], 2, ["x"]),
    Case("unknown-target", ["convert", "good.onnx", "--to", "tflight"], 2, ["did you mean 'tflite'"]),
    Case("unknown-via", ["convert", "good.onnx", "--to", "ort", "--via", "xyz"], 2, ["'xyz'"]),
    Case("unknown-quantize", ["convert", "good.onnx", "--to", "onnx", "--quantize", "int3", "-o", "o12.onnx"], 2,
         ["--quantize", "int3"], "o12.onnx"),
    Case("int8-without-calibration", ["convert", "good.onnx", "--to", "onnx", "--quantize", "int8", "-o", "o13.onnx"],
         2, ["--calibration"], "o13.onnx"),
    Case("bad-provider", ["bench", "good.onnx", "--provider", "xpu"], 2, ["'xpu'"]),
    Case("bad-batch", ["bench", "good.onnx", "--batch", "0"], 2, ["--batch"]),
    Case("bad-tolerance", ["validate", "good.onnx", "good.onnx", "--tolerance", "y=abc"], 2, ["--tolerance"]),
    Case("bad-number", ["convert", "good.onnx", "--to", "ort", "--atol", "small"], 2, ["--atol"]),
    Case("unknown-option", ["convert", "good.onnx", "--to", "ort", "--optimise-harder"], 2, ["--optimise-harder"]),
    Case("bad-model-args-json", ["convert", "samples.digits_torch:build", "--to", "onnx", "--model-args", "{oops"],
         2, ["--model-args"]),
    Case("model-args-not-object", ["convert", "samples.digits_torch:build", "--to", "onnx", "--model-args", "[1, 2]"],
         2, ["--model-args"]),
    Case("missing-factory-module", ["convert", "no_such_pkg.models:build", "--to", "onnx", "-o", "o14.onnx"], 2,
         ["no_such_pkg.models"], "o14.onnx"),
    # data files
    Case("inputs-wrong-name", ["validate", "good.onnx", "good.onnx", "--inputs", "data_wrong_name.npz"], 2,
         ["data_wrong_name.npz", "'x'"]),
    Case("inputs-wrong-shape", ["validate", "good.onnx", "good.onnx", "--inputs", "data_wrong_shape.npz"], 2,
         ["data_wrong_shape.npz", "[2, 3, 2, 4]"]),
    Case("inputs-wrong-dtype", ["validate", "good.onnx", "good.onnx", "--inputs", "data_wrong_dtype.npz"], 2,
         ["data_wrong_dtype.npz"]),
    Case("inputs-empty-npz", ["validate", "good.onnx", "good.onnx", "--inputs", "data_empty.npz"], 2,
         ["data_empty.npz", "no arrays"]),
    Case("inputs-zero-bytes", ["convert", "good.onnx", "--to", "ort", "-o", "o15.ort", "--inputs",
                               "data_zero_bytes.npz"], 2, ["data_zero_bytes.npz", "empty"], "o15.ort"),
    Case("inputs-truncated", ["validate", "good.onnx", "good.onnx", "--inputs", "data_truncated.npz"], 2,
         ["data_truncated.npz"]),
    Case("inputs-text", ["validate", "good.onnx", "good.onnx", "--inputs", "data_text.npz"], 2, ["data_text.npz"]),
    Case("inputs-empty-folder", ["validate", "good.onnx", "good.onnx", "--inputs", "data_empty_dir"], 2,
         ["data_empty_dir"]),
    Case("inputs-missing", ["convert", "good.onnx", "--to", "ort", "-o", "o16.ort", "--inputs", "nope.npz"], 2,
         ["nope.npz", "not found"], "o16.ort"),
    Case("calibration-empty", ["convert", "good.onnx", "--to", "onnx", "--quantize", "int8", "--calibration",
                               "data_empty.npz", "-o", "o17.onnx"], 2, ["data_empty.npz"], "o17.onnx"),
    Case("eval-data-no-labels", ["convert", "good.onnx", "--to", "ort", "-o", "o18.ort", "--eval-data",
                                 "data_no_labels.npz"], 2, ["data_no_labels.npz", "labels"], "o18.ort"),
    # pickles with payloads wherever a file is read
    Case("pickle-model-convert", ["convert", "evil_model.pt", "--to", "onnx", "-o", "o19.onnx"], 2,
         ["evil_model.pt", "--allow-pickle"], "o19.onnx", f"{M}/pt_model"),
    Case("pickle-model-legacy", ["inspect", "evil_legacy.pt"], 2, ["evil_legacy.pt", "--allow-pickle"], None,
         f"{M}/legacy"),
    Case("pickle-model-bench", ["bench", "evil_bench.pt"], 2, ["evil_bench.pt"], None, f"{M}/pt_bench"),
    Case("pickle-model-serve", ["serve", "evil_serve.pt", "--port", "0"], 2, ["evil_serve.pt"], None,
         f"{M}/pt_serve"),
    Case("pickle-model-validate", ["validate", "evil_validate.pt", "good.onnx"], 2, ["evil_validate.pt"], None,
         f"{M}/pt_validate"),
    Case("pickle-model-init", ["init", "evil_init.pt", "-o", "o20.yaml"], 2, ["evil_init.pt"], "o20.yaml",
         f"{M}/pt_init"),
    Case("pickle-model-matrix", ["matrix", "evil_matrix.pt", "-o", "o21"], 2, ["evil_matrix.pt"], "o21",
         f"{M}/pt_matrix"),
    Case("pickle-weights", ["convert", "samples.digits_torch:build", "--weights", "evil_weights.pt", "--to", "onnx",
                            "-o", "o22.onnx"], 2, ["evil_weights.pt"], "o22.onnx", f"{M}/pt_weights"),
    Case("pickle-inputs-npz", ["validate", "good.onnx", "good.onnx", "--inputs", "evil_inputs.npz"], 2,
         ["evil_inputs.npz"], None, f"{M}/inputs"),
    Case("pickle-inputs-npy", ["convert", "good.onnx", "--to", "ort", "-o", "o23.ort", "--inputs",
                               "evil_inputs.npy"], 2, ["evil_inputs.npy"], "o23.ort", f"{M}/npy"),
    Case("pickle-inputs-folder", ["validate", "good.onnx", "good.onnx", "--inputs", "evil_dir"], 2, ["evil_dir"],
         None, f"{M}/dir"),
    Case("pickle-calibration", ["convert", "good.onnx", "--to", "onnx", "--quantize", "int8", "--calibration",
                                "evil_calibration.npz", "-o", "o24.onnx"], 2, ["evil_calibration.npz"], "o24.onnx",
         f"{M}/calibration"),
    Case("pickle-eval-data", ["convert", "good.onnx", "--to", "ort", "-o", "o25.ort", "--eval-data",
                              "evil_eval.npz"], 2, ["evil_eval.npz"], "o25.ort", f"{M}/eval"),
    Case("pickle-baseline", ["bench", "good.onnx", "--baseline", "evil_baseline.json", "--max-regression", "5"], 2,
         ["evil_baseline.json"], None, f"{M}/baseline"),
    Case("yaml-payload-recipe", ["run", "evil_recipe.yaml", "--out", "o26"], 2, ["evil_recipe.yaml"], "o26",
         f"{M}/yaml"),
    # recipes and baselines
    Case("recipe-unknown-key", ["run", "bad_recipe.yaml", "--out", "o27"], 2, ["bad_recipe.yaml", "sorce"], "o27"),
    Case("recipe-not-yaml", ["run", "not_yaml.yaml", "--check"], 2, ["not_yaml.yaml"]),
    Case("baseline-empty", ["bench", "good.onnx", "--baseline", "baseline_empty.json", "--max-regression", "5"], 2,
         ["baseline_empty.json"]),
    # output paths that collide with the source or cannot be written
    Case("output-is-source", ["convert", "good.onnx", "--to", "ort", "-o", "good.onnx"], 2,
         ["good.onnx", "overwrite the source"]),
    Case("output-is-source-quantize", ["convert", "good.onnx", "--to", "onnx", "--quantize", "dynamic", "-o",
                                       "good.onnx"], 2, ["overwrite the source"]),
    Case("output-under-a-file", ["convert", "good.onnx", "--to", "ort", "-o", "a_file/o28.ort"], 2,
         ["a_file", "not a folder"], "a_file/o28.ort"),
    Case("output-is-a-folder", ["convert", "good.onnx", "--to", "ort", "-o", "occupied"], 2, ["occupied", "-o"]),
    Case("output-folder-not-ours", ["convert", "good.onnx", "--to", "web", "-o", "occupied"], 2, ["occupied"]),
    Case("output-unwritable", ["convert", "good.onnx", "--to", "ort", "-o", "/proc/portkit-o29.ort"], 2,
         ["/proc", "-o"]),
    Case("init-exists", ["init", "good.onnx", "-o", "a_file"], 2, ["a_file", "--force"]),
    # serving
    Case("serve-bad-host", ["serve", "good.onnx", "--host", "no-such-host.invalid", "--port", "0"], 2, ["--host"]),
    Case("serve-bad-port", ["serve", "good.onnx", "--port", "70000"], 2, ["--port"]),
    Case("serve-missing-model", ["serve", "m=nope.onnx", "--port", "0"], 2, ["nope.onnx"]),
]


def _params():
    for c in CASES:
        marks = [pytest.mark.xfail(reason="issue 15", strict=False)] if c.issue15 else []
        yield pytest.param(c, id=c.id, marks=marks)


@pytest.mark.parametrize("case", list(_params()))
def test_bad_input(corpus, case):
    proc = run_cli(*case.argv, cwd=corpus, timeout=300)
    check_clean_error(proc, case.code, case.needles)
    if case.out:
        assert not (corpus / case.out).exists(), f"{case.out} was written"
    assert not _leftovers(corpus), _leftovers(corpus)
    if case.marker:
        assert not (corpus / case.marker).exists(), "the pickle payload ran"
    assert sorted(p.name for p in (corpus / MARKER_DIR).iterdir()) == [], "a payload ran"


def test_the_corpus_is_large_enough():
    assert len([c for c in CASES if not c.issue15]) >= 40


def test_busy_port_is_one_line_and_no_hang(corpus):
    """`portkit serve` on a port something else listens on: exit 5 in one line, at once."""
    import time

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for extra in ([], ["--workers", "2"]):
            t = time.monotonic()
            proc = run_cli("serve", "good.onnx", "--port", str(port), *extra, cwd=corpus, timeout=60)
            line = check_clean_error(proc, 5, [str(port), "--port"])
            assert "already in use" in line and time.monotonic() - t < 30


def test_relative_calibration_through_onnx2tf(corpus):
    """onnx2tf works in its own folder: a relative --calibration must still be found (it was resolved after
    the hop changed directory: "calib.npz: input data not found")."""
    import importlib.util

    if importlib.util.find_spec("onnx2tf") is None:  # find, never import: onnx2tf imports TensorFlow
        pytest.skip("onnx2tf is not installed")
    _onnx_model(corpus / "small.onnx", dims=(1, 3, 4, 4))
    out = corpus / "calib-rel" / "small.tflite"
    proc = run_cli("convert", "small.onnx", "--to", "tflite", "--quantize", "int8", "--calibration",
                   "data_ok.npz", "-o", "calib-rel/small.tflite", "--atol", "10", cwd=corpus)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # int8 may disagree; the data must have been read
    assert "not found" not in proc.stderr and out.is_file()
    meta = json.loads(out.with_name(out.name + ".portkit.json").read_text())
    assert "data_ok.npz" in json.dumps(meta)


def test_usage_errors_are_one_line(corpus):
    for argv, needle in ((["convert", "good.onnx", "--to"], "--to"), (["frobnicate"], "frobnicate")):
        proc = run_cli(*argv, cwd=corpus)
        check_clean_error(proc, 2, [needle])


def test_debug_keeps_the_traceback(corpus):
    proc = run_cli("inspect", "external.onnx", "--debug", cwd=corpus)
    assert proc.returncode == 2 and "Traceback" in proc.stderr


def test_no_payload_ran_and_no_framework_was_imported_here(corpus):
    import sys

    assert not list((corpus / MARKER_DIR).iterdir())
    # the corpus runs the CLI in subprocesses: this process must stay free of TF and torch (they share
    # pytest workers with other files, and TensorFlow before triton is a SIGSEGV)
    assert "tensorflow" not in sys.modules and "torch" not in sys.modules
