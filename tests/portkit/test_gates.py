"""Gates: limits on error, agreement, latency (decided from confidence intervals), size, and regressions
against a baseline — as options of `convert`, `validate` and `bench`, each failure naming the gate."""

from __future__ import annotations

import json
import re

import pytest

from portkit.errors import BadInput
from portkit.gates import GateFailed, Gates, check, evaluate, parse_latency

from ..conftest import run_cli
from ..recipes.test_pipeline_models import large, small, wrong

ANSI = re.compile(r"\x1b\[")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("gates")
    return {
        "small": small(d / "small.onnx"),
        "large": large(d / "large.onnx"),
        "wrong": wrong(d / "wrong.onnx"),
        "dir": d,
    }


def _bench_dict(p50, ci, p99=None, model="m.onnx", batch=1):
    return {
        "schema": "portkit.bench/1",
        "results": [
            {
                "model": model,
                "batch": batch,
                "provider": "cpu",
                "requested_provider": "cpu",
                "latency_ms": {"p50": p50, "p99": p99 or p50 * 2},
                "median_ci95_ms": list(ci),
            }
        ],
    }


# ---------------------------------------------------------------- the rules, on plain dicts


def test_parse_latency():
    assert parse_latency(5) == ("p50", 5.0)
    assert parse_latency("7.5") == ("p50", 7.5)
    assert parse_latency("p99=8") == ("p99", 8.0)
    assert parse_latency("p99:8") == ("p99", 8.0)
    assert parse_latency({"p99": 3}) == ("p99", 3.0)
    with pytest.raises(BadInput, match="p99=8"):
        parse_latency("p95=3")


def test_gates_refuse_bad_limits():
    with pytest.raises(BadInput, match="go together"):
        Gates(baseline="x.json")
    with pytest.raises(BadInput, match="between 0 and 1"):
        Gates(min_agreement=95)
    with pytest.raises(BadInput, match="unknown gate"):
        Gates.of({"max_eror": 1})


def test_latency_gate_decides_from_the_confidence_interval():
    g = {"max_latency_ms": 1.0}
    above = evaluate(g, bench=_bench_dict(1.5, (1.4, 1.6)), kind="bench")
    assert not above and "entirely above" in above.verdicts[0].detail
    # the point estimate is over the limit, but the interval contains it: noise, not a failure
    straddle = evaluate(g, bench=_bench_dict(1.05, (0.95, 1.1)), kind="bench")
    assert straddle and "within noise" in straddle.verdicts[0].detail
    below = evaluate(g, bench=_bench_dict(0.5, (0.45, 0.55)), kind="bench")
    assert below and "confidence" in below.notes[0]


def test_regression_against_a_baseline(tmp_path):
    base = tmp_path / "base.json"
    base.write_text(json.dumps(_bench_dict(1.0, (0.98, 1.02))))
    g = {"baseline": str(base), "max_regression": 10}
    same = evaluate(g, bench=_bench_dict(1.05, (1.0, 1.1)), kind="bench")  # overlaps the allowed band
    assert same, same.rows()
    slower = evaluate(g, bench=_bench_dict(2.0, (1.9, 2.1)), kind="bench")
    assert not slower and slower.verdicts[0].gate == "max_regression"
    assert "entirely above" in slower.verdicts[0].detail


def test_error_and_agreement_gates_on_a_validation_dict():
    v = {
        "schema": "portkit.validation/1",
        "candidate": "c.onnx",
        "max_abs": 0.2,
        "outputs": [{"argmax_agreement": 0.9}, {"argmax_agreement": None}],
    }
    r = check(v, {"max_error": 0.1, "min_agreement": 0.95}, kind="validate")
    assert [(x.gate, x.passed) for x in r.verdicts] == [("max_error", False), ("min_agreement", False)]
    assert r.verdicts[1].measured == 0.9


def test_gate_failed_is_exit_1_and_names_each_gate():
    r = evaluate({"max_latency_ms": 1}, bench=_bench_dict(3, (2.9, 3.1)), kind="bench")
    e = GateFailed(r)
    assert e.exit_code == 1 and "max_latency_ms" in str(e) and "limit 1 ms" in str(e)


# ---------------------------------------------------------------- the commands


def test_bench_same_model_against_its_own_baseline_passes(models):
    base = models["dir"] / "small.bench.json"
    p = run_cli("bench", str(models["small"]), "--duration", "0.3", "--json")
    assert p.returncode == 0, p.stderr
    base.write_text(p.stdout)
    p = run_cli(
        "bench",
        str(models["small"]),
        "--duration",
        "0.3",
        "--baseline",
        str(base),
        "--max-regression",
        "300",  # two runs of a ~15 µs model on a shared 2-core CI machine (the other pytest worker busy) drift
        # by 50 % and more between runs (measured in CI: 0.0143 → 0.0218 ms); the larger model below, ~2000× the
        # arithmetic, still fails a 50 % limit by far
        "--json",
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)  # --json alone on stdout, the gate verdicts inside
    assert out["gates"]["passed"] and out["gates"]["verdicts"][0]["gate"] == "max_regression"
    assert not ANSI.search(p.stdout + p.stderr)


def test_slower_larger_candidate_fails_latency_regression_and_size(models):
    base = models["dir"] / "small.base.json"
    p = run_cli("bench", str(models["small"]), "--duration", "0.3", "--json")
    base.write_text(p.stdout)
    p = run_cli(
        "bench",
        str(models["large"]),
        "--duration",
        "0.3",
        "--baseline",
        str(base),
        "--max-regression",
        "50",  # two runs on a shared CI machine drift more than the in-run interval; 50 % still catches
        # the deliberately larger model below
        "--max-size-mb",
        "1",
    )
    assert p.returncode == 1, p.stderr
    table = p.stdout
    assert "gates: FAILED" in table
    assert "max_regression (p50 latency)" in table and "max_size_mb" in table and "FAIL" in table
    assert "confidence" in table  # the report says how the latency verdict was decided
    assert "gate(s) failed" in p.stderr and "max_regression" in p.stderr and "max_size_mb" in p.stderr


def test_latency_limit_fails_with_a_table(models):
    p = run_cli("bench", str(models["large"]), "--duration", "0.3", "--max-latency-ms", "0.001", "--json")
    assert p.returncode == 1
    d = json.loads(p.stdout)
    v = d["gates"]["verdicts"][0]
    assert v["gate"] == "max_latency_ms" and v["stat"] == "p50" and not v["passed"] and v["limit"] == 0.001
    assert "max_latency_ms (p50)" in p.stderr  # with --json the table goes to stderr


def test_wrong_candidate_fails_error_and_agreement_gates(models):
    # loose tolerances: the validation itself passes, so exit 1 comes from the gates
    p = run_cli(
        "validate",
        str(models["small"]),
        str(models["wrong"]),
        "--atol",
        "100",
        "--rtol",
        "100",
        "--max-error",
        "1e-4",
        "--min-agreement",
        "0.99",
    )
    assert p.returncode == 1, p.stderr
    assert "max_error" in p.stdout and "min_agreement" in p.stdout and "FAIL" in p.stdout
    ok = run_cli(
        "validate",
        str(models["small"]),
        str(models["small"]),
        "--max-error",
        "1e-6",
        "--min-agreement",
        "1",
        "--max-size-mb",
        "1",
    )
    assert ok.returncode == 0, ok.stderr
    assert "gates: passed" in ok.stdout


def test_validate_baseline_and_size_regression(models):
    base = models["dir"] / "val.json"
    p = run_cli("validate", str(models["small"]), str(models["small"]), "--json")
    base.write_text(p.stdout)
    p = run_cli(
        "validate",
        str(models["small"]),
        str(models["wrong"]),
        "--atol",
        "100",
        "--rtol",
        "100",
        "--baseline",
        str(base),
        "--max-regression",
        "10",
        "--json",
    )
    assert p.returncode == 1
    failed = [v for v in json.loads(p.stdout)["gates"]["verdicts"] if not v["passed"]]
    assert {v["stat"] for v in failed} >= {"error"}


def test_convert_gates(models):
    out = models["dir"] / "web"
    p = run_cli(
        "convert",
        str(models["small"]),
        "--to",
        "web",
        "-o",
        str(out),
        "--max-error",
        "1e-5",
        "--max-size-mb",
        "0.000001",
        "--json",
    )
    assert p.returncode == 1, p.stderr
    d = json.loads(p.stdout)
    verdicts = {v["gate"]: v["passed"] for v in d["gates"]["verdicts"]}
    assert verdicts == {"max_error": True, "max_size_mb": False}


def test_a_gate_the_command_cannot_measure_is_refused_before_work(models):
    p = run_cli(
        "validate",
        str(models["small"]),
        str(models["small"]),
        "--baseline",
        str(models["dir"] / "no.json"),
        "--max-regression",
        "5",
    )
    assert p.returncode == 2 and "baseline file not found" in p.stderr
    from portkit import api

    with pytest.raises(BadInput, match="does not measure"):
        api.bench(str(models["small"]), gates={"max_error": 1e-4})
