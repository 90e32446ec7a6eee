"""portkit bench: statistics on synthetic timings, structure of results, CLI behaviour. Nothing here asserts
on a measured time (no timed unit tests); models are tiny and built without importing a framework into
the pytest process (ONNX with onnx.helper; TorchScript and TFLite inside worker processes)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from portkit.benchmark import (
    SCHEMA,
    BenchOptions,
    BenchResult,
    Measurement,
    _batches_for,
    _ratios,
    bootstrap_median_ci,
    environment,
    percentile,
    summarize,
)
from portkit.errors import BadInput
from portkit.runtimes.base import Runner
from portkit.runtimes.onnx import classify, parse_profile
from portkit.signature import ModelSignature, TensorSpec
from tests.conftest import run_cli

W = (np.arange(64 * 10, dtype=np.float32).reshape(64, 10) % 7 - 3) / 10


# ---------------------------------------------------------------- model builders (worker side for frameworks)

def onnx_model(path: Path, static_batch: int | None = None) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    b = static_batch if static_batch else "batch"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [b, 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [b, 10])
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Relu", ["m"], ["y"])],
                          "tiny", [x], [y], [numpy_helper.from_array(W, "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


def make_torchscript(path: str) -> str:  # runs in a worker
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.from_numpy(W.copy()))

        def forward(self, x):
            return torch.relu(x @ self.w)

    m = torch.jit.trace(Tiny().eval(), torch.zeros(1, 64))
    torch.jit.save(m, path)
    return path


def make_tflite(path: str) -> str:  # runs in a worker
    import tensorflow as tf

    w = tf.constant(W)

    @tf.function(input_signature=[tf.TensorSpec([None, 64], tf.float32)])
    def f(x):
        return tf.nn.relu(tf.matmul(x, w))

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    Path(path).write_bytes(conv.convert())
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    from portkit.workers import call_in_worker

    d = tmp_path_factory.mktemp("bench")
    out = {"onnx": onnx_model(d / "m.onnx"), "static": onnx_model(d / "s.onnx", static_batch=2)}
    out["pt"] = Path(call_in_worker("torchscript", __name__, "make_torchscript", str(d / "m.pt")))
    try:
        out["tflite"] = Path(call_in_worker("tflite", __name__, "make_tflite", str(d / "m.tflite")))
    except Exception as e:  # noqa: BLE001 - the TF side is optional here; the table test then runs without it
        print(f"no TFLite model for the side-by-side test: {e}")
    return out


# ---------------------------------------------------------------- statistics on known arrays

def test_percentiles_interpolate_between_ranks():
    x = np.arange(1, 101, dtype=float)  # 1..100
    assert percentile(x, 50) == pytest.approx(50.5)
    assert percentile(x, 90) == pytest.approx(90.1)
    assert percentile(x, 99) == pytest.approx(99.01)
    # perf_test's element q*N makes P99.9 of 1000 runs the maximum; interpolation does not
    y = np.arange(1, 1001, dtype=float)
    assert percentile(y, 99.9) == pytest.approx(999.001)
    assert percentile(y, 99.9) < y.max()
    assert percentile([7.0], 99) == 7.0


def test_summarize_known_timings():
    ns = np.array([1_000_000, 2_000_000, 3_000_000, 4_000_000], dtype=np.int64)  # 1..4 ms
    s = summarize(ns, batch=8)
    assert (s.count, s.min, s.max, s.mean, s.p50) == (4, 1.0, 4.0, 2.5, 2.5)
    assert s.std == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert s.p90 == pytest.approx(3.7)
    assert s.throughput == pytest.approx(8 * 4 / 0.010)  # items per second over 10 ms of calls
    assert s.total_s == pytest.approx(0.010)
    d = s.to_dict()
    assert set(d) >= {"mean", "std", "min", "p50", "p90", "p95", "p99", "max", "median_ci95", "throughput",
                      "outliers", "count"}


def test_outliers_are_counted_and_kept():
    t = np.full(200, 1_000_000, dtype=np.int64) + np.arange(200) * 10
    t[[5, 50]] = 90_000_000  # two 90 ms hiccups
    s = summarize(t)
    assert s.outliers == 2
    assert s.max == pytest.approx(90.0)  # kept, not trimmed
    assert s.mean > 1.5


def test_bootstrap_ci_contains_median_and_is_reproducible():
    rng = np.random.default_rng(1)
    x = rng.lognormal(0, 0.3, 2001)
    lo, hi = bootstrap_median_ci(x, seed=3)
    assert lo <= np.median(x) <= hi
    assert hi - lo < 0.2
    assert bootstrap_median_ci(x, seed=3) == (lo, hi)
    assert bootstrap_median_ci([5.0]) == (5.0, 5.0)
    big = rng.normal(10, 1, 200_000)  # capped work: still an interval around the median
    lo, hi = bootstrap_median_ci(big)
    assert lo <= np.median(big) <= hi


def test_empty_timings_are_a_user_error():
    with pytest.raises(BadInput):
        summarize([])


# ---------------------------------------------------------------- timing loop structure (no time asserted)

class Counting(Runner):
    def __init__(self) -> None:
        self.signature = ModelSignature((TensorSpec("x", "float32", ("batch", 4)),))
        self.calls = 0

    def run(self, feeds):
        self.calls += 1
        return {}


def test_time_calls_excludes_warmup_and_counts():
    r = Counting()
    times = r.time_calls({"x": np.zeros((1, 4), np.float32)}, iterations=25, warmup=7)
    assert len(times) == 25 and r.calls == 32
    assert all(isinstance(t, int) and t >= 0 for t in times)
    r2 = Counting()
    times = r2.time_calls({}, duration=0.01, warmup=0, min_iterations=5)
    assert len(times) >= 5 and r2.calls >= len(times)


def test_options_are_checked():
    with pytest.raises(BadInput):
        BenchOptions(iterations=10, duration=1.0)
    with pytest.raises(BadInput):
        BenchOptions(batches=(0,))
    with pytest.raises(BadInput):
        BenchOptions(providers=("gpu",))
    assert BenchOptions().loop_options() == {"duration": 2.0, "warmup": 10}


def test_batches_static_vs_dynamic():
    dyn = ModelSignature((TensorSpec("x", "float32", ("batch", 4)),))
    static = ModelSignature((TensorSpec("x", "float32", (1, 4)),))
    assert _batches_for(dyn, [1, 8, 32]) == ([1, 8, 32], None)
    batches, note = _batches_for(static, [1, 8, 32])
    assert batches == [1] and "static batch 1" in note and "8, 32" in note


# ---------------------------------------------------------------- provider placement (synthetic profiles)

def _ev(name: str, op: str, provider: str) -> dict:
    return {"cat": "Node", "name": f"{name}_kernel_time", "args": {"op_name": op, "provider": provider}}


def test_profile_placement_and_honest_label():
    events = [{"cat": "Session", "name": "model_run"}, _ev("mm", "MatMul", "CUDAExecutionProvider"),
              _ev("relu", "Relu", "CUDAExecutionProvider"), _ev("det", "Det", "CPUExecutionProvider"),
              {"cat": "Node", "name": "det_fence_before",
               "args": {"op_name": "Det", "provider": "CPUExecutionProvider"}}]
    p = parse_profile(events)
    assert p["nodes"] == 3 and p["per_provider"] == {"cuda": 2, "cpu": 1}
    assert p["cpu_nodes"] == ["det (Det)"] and p["cpu_ops"] == {"Det": 1}
    assert classify("cuda", p) == "cuda+cpu"
    all_cpu = parse_profile([_ev("a", "Det", "CPUExecutionProvider")])
    assert classify("cuda", all_cpu) == "cpu"
    assert classify("cuda", parse_profile([_ev("a", "MatMul", "CUDAExecutionProvider")])) == "cuda"


# ---------------------------------------------------------------- results object and report

def _fake_result() -> BenchResult:
    rng = np.random.default_rng(0)
    ms = []
    for model, prov, scale in (("a.onnx", "cpu", 1.0), ("b.pt", "cpu", 2.0)):
        for b in (1, 8):
            ns = (rng.lognormal(0, 0.2, 300) * 1e6 * scale * (1 + b / 8)).astype(np.int64)
            ms.append(Measurement(model, "onnx", "onnxruntime", prov, prov, b, summarize(ns, b),
                                  samples_ns=ns.tolist()))
    _ratios(ms)
    return BenchResult(ms, environment(), BenchOptions(batches=(1, 8)))


def test_ratio_against_first_model_and_schema():
    r = _fake_result()
    assert [m.ratio for m in r.measurements[:2]] == [1.0, 1.0]
    assert all(m.ratio > 1.5 for m in r.measurements[2:])
    d = json.loads(json.dumps(r.to_dict(), default=str))
    assert d["schema"] == SCHEMA
    assert {"cpu", "usable_cores", "threads", "versions", "onnxruntime_providers"} <= set(d["environment"])
    row = d["results"][0]
    assert {"p50", "p90", "p99", "mean"} <= set(row["latency_ms"]) and row["throughput"] > 0
    assert "samples_ns" not in row
    assert "| a.onnx |" in r.to_markdown()


def test_html_report_is_self_contained(tmp_path):
    from portkit.report_bench import write_html

    out = write_html(_fake_result(), tmp_path / "r.html")
    text = out.read_text()
    assert text.count("<svg") == 2 * (1 + 2)  # per batch: one CDF + one histogram per series
    assert "<polyline" in text and "<script" not in text and "http://" not in text.replace(
        "http://www.w3.org/2000/svg", "")


# ---------------------------------------------------------------- the command line

def test_cuda_without_gpu_exits_5_without_traceback(tiny):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has CUDA")
    r = run_cli("bench", str(tiny["onnx"]), "--provider", "cuda", "--iterations", "5")
    assert r.returncode == 5, r.stderr
    assert "Traceback" not in r.stderr and "CUDAExecutionProvider" in r.stderr
    assert r.stderr.count("\n") <= 2


def test_json_schema_per_batch(tiny, tmp_path):
    r = run_cli("bench", str(tiny["onnx"]), str(tiny["static"]), "--json", "--iterations", "20",
                "--warmup", "2", "--batch", "1,4", "--report", str(tmp_path / "r.html"))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    rows = [(Path(x["model"]).name, x["batch"]) for x in d["results"]]
    assert rows == [("m.onnx", 1), ("m.onnx", 4), ("s.onnx", 2)]  # static model: its own batch only
    for x in d["results"]:
        assert {"p50", "p90", "p99", "mean"} <= set(x["latency_ms"]) and x["iterations"] == 20
        assert x["provider"] == "cpu" and x["throughput"] > 0
        lo, hi = x["median_ci95_ms"]
        assert lo <= x["latency_ms"]["p50"] <= hi
    assert any("static batch 2" in n for n in d["results"][2]["notes"])
    assert d["environment"]["versions"]["onnxruntime"]
    assert (tmp_path / "r.html").read_text().count("<svg") >= 3


def test_side_by_side_one_table(tiny):
    models = [str(tiny["pt"]), str(tiny["onnx"])] + ([str(tiny["tflite"])] if "tflite" in tiny else [])
    r = run_cli("bench", *models, "--iterations", "20", "--warmup", "2", "--batch", "1,3", "--input-shape", "1,64")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.count("latency per call") == 1  # one table
    for runtime in ["torch", "onnxruntime"] + (["litert"] if "tflite" in tiny else []):
        assert runtime in out
    assert out.count(" 1×") >= 2  # the first model is the baseline at each batch


@pytest.mark.gpu
def test_cuda_io_binding_runs(tiny):
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers() or not os.path.exists("/dev/nvidia0"):
        pytest.skip("needs onnxruntime-gpu and an NVIDIA GPU")
    from portkit.benchmark import bench

    r = bench([str(tiny["onnx"])], providers="cpu,cuda", batches=[1, 8], iterations=50, io_binding=True)
    cuda = [m for m in r.measurements if m.requested_provider == "cuda"]
    assert cuda and all(m.placement is not None and m.io_binding for m in cuda)


def test_same_inputs_shared_across_models_and_layouts():
    from portkit.artifact import Artifact
    from portkit.benchmark import shared_feeds
    from portkit.formats import Format

    nchw = ModelSignature((TensorSpec("x", "float32", ("batch", 1, 8, 8)),))
    nhwc = ModelSignature((TensorSpec("input_1", "float32", ("batch", 8, 8, 1)),))
    ref, note = shared_feeds(None, nchw, Artifact("a.onnx", Format.ONNX), 2, BenchOptions())
    assert note is None and ref["x"].shape == (2, 1, 8, 8)
    recorded = Artifact("b.tflite", Format.TFLITE, metadata={"layout": {"inputs": {"x": {"perm": [0, 2, 3, 1]}}}})
    feeds, note = shared_feeds(ref, nhwc, recorded, 2, BenchOptions())
    assert note is None and np.array_equal(feeds["input_1"], ref["x"].transpose(0, 2, 3, 1))
    feeds, note = shared_feeds(ref, nhwc, Artifact("c.tflite", Format.TFLITE), 2, BenchOptions())
    assert "inferred" in note and np.array_equal(feeds["input_1"], ref["x"].transpose(0, 2, 3, 1))
    other = ModelSignature((TensorSpec("z", "float32", ("batch", 5)),))
    feeds, note = shared_feeds(ref, other, Artifact("d.onnx", Format.ONNX), 2, BenchOptions())
    assert "own random inputs" in note and feeds["z"].shape == (2, 5)
