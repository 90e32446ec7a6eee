"""Bad input gets one clear line, a stable exit code, no traceback and no output file."""
from __future__ import annotations

import json
import os

import pytest

from ..conftest import ROOT, build, run_cli


def _assert_clean_error(proc, code: int, *needles: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    last = err.splitlines()[-1]
    assert last.startswith("portkit: error:"), err
    for n in needles:
        assert n in last, (n, last)


@pytest.mark.parametrize("name,content,needle", [
    ("empty.pt", b"", "empty"),
    ("garbage.onnx", b"\x00\x01not a model" * 10, "unrecognised"),
    ("truncated.pt", None, "corrupt"),
    ("mislabelled.tflite", b"PK\x03\x04" + b"\x00" * 40, "corrupt"),
])
def test_bad_files_exit_2_without_output(tmp_path, name, content, needle):
    src = tmp_path / name
    if content is None:  # the first half of a real TorchScript archive
        full = (ROOT / "samples" / "digits_cnn.ts.pt").read_bytes()
        src.write_bytes(full[: len(full) // 2])
    else:
        src.write_bytes(content)
    out = tmp_path / "out.onnx"
    proc = run_cli("convert", str(src), "--to", "onnx", "-o", str(out))
    _assert_clean_error(proc, 2, needle, str(src))
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no temp leftovers


def test_missing_file(tmp_path):
    proc = run_cli("convert", str(tmp_path / "nope.onnx"), "--to", "torchscript")
    _assert_clean_error(proc, 2, "not found")


def test_debug_shows_traceback(tmp_path):
    proc = run_cli("convert", str(tmp_path / "nope.onnx"), "--to", "torchscript", "--debug")
    assert proc.returncode == 2 and "Traceback" in proc.stderr


def test_unknown_format_suggests(tmp_path):
    proc = run_cli("convert", str(ROOT / "samples" / "digits_cnn.ts.pt"), "--to", "onx")
    _assert_clean_error(proc, 2, "did you mean 'onnx'")


def test_torch_module_needs_input_shape(tmp_path):
    proc = run_cli("convert", "torch.nn:Identity", "--to", "onnx", "-o", str(tmp_path / "i.onnx"))
    _assert_clean_error(proc, 2, "--input-shape")
    assert not (tmp_path / "i.onnx").exists()


def test_bad_reference(tmp_path):
    proc = run_cli("convert", "no_such_pkg.mod:factory", "--to", "onnx", "-o", str(tmp_path / "x.onnx"))
    _assert_clean_error(proc, 2, "cannot import module 'no_such_pkg.mod'")


def test_weights_that_do_not_fit(tmp_path):
    proc = run_cli("convert", "samples.digits_torch:build", "--model-args", '{"num_classes": 3}',
                   "--weights", str(ROOT / "samples" / "digits_cnn.pt"), "--to", "onnx",
                   "-o", str(tmp_path / "x.onnx"))
    _assert_clean_error(proc, 2, "weights do not fit")
    assert not (tmp_path / "x.onnx").exists()


def test_bad_model_args_json(tmp_path):
    proc = run_cli("convert", "samples.digits_torch:build", "--model-args", "{oops", "--to", "onnx")
    _assert_clean_error(proc, 2, "--model-args")


def test_malicious_pickle_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    evil = build("malicious_pickle", str(tmp_path / "evil.pt"), str(marker))
    proc = run_cli("convert", evil, "--to", "onnx", "-o", str(tmp_path / "evil.onnx"))
    _assert_clean_error(proc, 2, "--allow-pickle")
    assert not marker.exists(), "the pickle payload ran"
    proc = run_cli("inspect", evil)
    assert proc.returncode == 2 and not marker.exists()
    # weights are loaded with weights_only=True even when named explicitly
    proc = run_cli("convert", "samples.digits_torch:build", "--weights", evil, "--to", "onnx",
                   "-o", str(tmp_path / "w.onnx"))
    _assert_clean_error(proc, 2, "does not load safely")
    assert not marker.exists()


def test_allow_pickle_loads_a_trusted_module(tmp_path):
    path = build("pickled_digits_module", str(tmp_path / "whole.pt"))
    out = tmp_path / "whole.onnx"
    proc = run_cli("convert", path, "--to", "onnx", "-o", str(out), "--allow-pickle", "--input-shape", "1,1,8,8")
    assert proc.returncode == 0, proc.stderr
    assert out.exists()


def test_fallback_route_caught_by_validation(tmp_path):
    """Data-dependent control flow: torch.export refuses it (hop fails, exit-3 material), the planner falls
    back to torch.jit.trace, which silently bakes one branch in — and validation catches that: exit 1,
    the output kept but marked FAILED, one line naming the output, no exporter chatter."""
    import json

    out = tmp_path / "dd.onnx"
    proc = run_cli("convert", "tests.torch_models:DataDependent", "--input-shape", "2,4", "--to", "onnx",
                   "-o", str(out))
    _assert_clean_error(proc, 1, "disagrees with its source", "output 'output'")
    assert "trying torch → torchscript → onnx" in proc.stderr
    assert "def forward" not in proc.stderr  # torch.export's graph dump stays out of the user's way
    assert json.loads((tmp_path / "dd.onnx.portkit.json").read_text())["metadata"]["validation"] == "FAILED"
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_worker_crash_is_a_clean_exit_3(tmp_path):
    """A converter that kills its process (segfault, OOM) becomes one line naming the hop and the signal."""
    proc = run_cli("convert", "tests.torch_models:Crasher", "--input-shape", "1,4", "--to", "onnx",
                   "-o", str(tmp_path / "c.onnx"))
    _assert_clean_error(proc, 3, "SIGSEGV")
    assert not (tmp_path / "c.onnx").exists()


def test_help_lists_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for cmd in ("convert", "inspect", "routes", "validate"):
        assert cmd in proc.stdout


def test_ci_output_has_no_ansi(tmp_path):
    proc = run_cli("routes")
    assert proc.returncode == 0 and "\x1b[" not in proc.stdout


def test_relative_paths_survive_converters_that_change_directory(tmp_path, digits_onnx):
    """onnx2tf works in its own folder; relative source and output paths must still resolve."""
    import shutil

    shutil.copy(digits_onnx, tmp_path / "m.onnx")
    proc = run_cli("convert", "m.onnx", "--to", "tflite", "-o", "sub/m.tflite", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "sub" / "m.tflite").is_file()


def _onnx_pair(folder):
    """identity.onnx (dynamic batch) and fixed.onnx, which reshapes to a hard-coded batch of 1."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    for name, nodes, inits in (
        ("identity", [helper.make_node("Identity", ["x"], ["y"])], []),
        ("fixed", [helper.make_node("Reshape", ["x", "shape"], ["y"])],
         [numpy_helper.from_array(np.array([1, 4], np.int64), "shape")]),
    ):
        model = helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits),
                                  opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.save(model, str(folder / f"{name}.onnx"))
    return folder / "identity.onnx", folder / "fixed.onnx"


def test_candidate_that_fails_to_run_says_so(tmp_path):
    """Not "max abs inf (atol 0 ...; needs atol ≥ inf)": the reason the candidate did not run, and the case."""
    ref, cand = _onnx_pair(tmp_path)
    proc = run_cli("validate", str(ref), str(cand))
    _assert_clean_error(proc, 1, "candidate failed to run at batch 2:", "requested shape")
    assert "inf" not in proc.stderr.strip().splitlines()[-1]


def test_cli_runs_without_the_click_package(tmp_path):
    """typer >= 0.29 vendors click: portkit must not need the `click` package itself (a fresh [cpu]
    install crashed on every command with `No module named 'click'`)."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "click.py").write_text("raise ImportError('click is not installed here')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(hide), str(ROOT)])}
    assert run_cli("--help", env=env).returncode == 0
    _assert_clean_error(run_cli("convert", "x.onnx", "--to", env=env), 2, "--to")
    _assert_clean_error(run_cli("inspect", str(tmp_path / "nope.onnx"), env=env), 2, "not found")


def test_missing_extra_names_the_route_not_the_alphabet(tmp_path):
    """A route whose libraries are missing names them and their extra (not the first missing library of
    the whole graph, which said "'h5py' ... pip install 'portkit[dev]'")."""
    from portkit.errors import missing

    line = missing(["tensorflow", "onnx2tf", "tf_keras"], "onnx → tflite").one_line()
    assert "'portkit[tf]'" in line and "pip install --no-deps onnx2tf tf-keras" in line and "[dev]" not in line
    assert "'portkit[serve]'" in missing(["starlette"]).one_line()


@pytest.mark.slow
def test_every_route_failing_leads_with_the_preferred_one(tmp_path):
    proc = run_cli("convert", "tests.bad_models:RouteSensitive", "--input-shape", "1,4", "--to", "onnx",
                   "-o", str(tmp_path / "rs.onnx"))
    line = proc.stderr.strip().splitlines()[-1]
    _assert_clean_error(proc, 3)
    head, _, fallbacks = line.partition("fallbacks also failed")
    assert "export-route-reason" in head and "trace-route-reason" not in head, line
    assert "trace-route-reason" in fallbacks, line
    assert not (tmp_path / "rs.onnx").exists()


@pytest.mark.slow
def test_init_starter_runs_as_written(tmp_path, digits_ts):
    """`portkit init model.pt -s ...` then `portkit run`: exit 0 — every target benchmarked, the TFLite one
    (NHWC after onnx2tf) with the recipe's NCHW input shape in its own layout. int8 needs calibration data,
    so without it the int8 target is written commented out, saying why; with --calibration it is active."""
    import shutil

    shutil.copy(digits_ts, tmp_path / "model.pt")
    proc = run_cli("init", "model.pt", "-s", "1,1,8,8", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "recipe.yaml").read_text()
    assert "# - to: tflite" in text and "#   quantize: int8" in text and "--calibration" in text
    run = run_cli("run", "recipe.yaml", "--out", "build", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    manifest = json.loads((tmp_path / "build" / "manifest.json").read_text())
    steps = {a["name"]: a["steps"] for m in manifest["models"] for a in m["artifacts"]}
    assert {name: s["bench"]["status"] for name, s in steps.items()} == dict.fromkeys(steps, "ok")
    assert "tflite" in steps
    calib = ROOT / "samples" / "digits_calib.npz"
    proc = run_cli("init", "model.pt", "-o", "with-data.yaml", "--calibration", str(calib), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    check = run_cli("run", "with-data.yaml", "--check", "--json", cwd=tmp_path)
    assert check.returncode == 0, check.stderr[-3000:]
    assert "quantize: int8" in (tmp_path / "with-data.yaml").read_text().replace("#   quantize", "")
