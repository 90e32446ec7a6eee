"""Report renderings: JSON (documented schema), Markdown, JUnit XML (parsed), self-contained HTML."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from portkit import api
from portkit.errors import BadInput
from portkit.report import to_html, to_json, to_junit, to_markdown, write_report
from tests import validation_models as vm
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def failing(tmp_path_factory):
    d = tmp_path_factory.mktemp("rep")
    a, b = vm.two_heads(d / "a.onnx"), vm.two_heads(d / "b.onnx", nudge_b=1e-3)
    return a, b, api.validate(a, b, batches=(1, 2))


SCHEMA_KEYS = {"schema", "reference", "candidate", "passed", "criteria", "max_abs", "max_rel", "batches", "cases",
               "seed", "seeds", "input_source", "warnings", "notes", "mapping", "summary", "failing_outputs",
               "passing_outputs", "outputs", "locate", "output_spread"}
OUTPUT_KEYS = {"name", "candidate_name", "case", "batch", "shape", "dtype", "candidate_dtype", "passed", "criteria",
               "max_abs", "mean_abs", "max_rel", "cosine", "argmax_agreement", "top_k_agreement", "nan_mismatch",
               "atol", "rtol", "required_atol", "required_rtol", "p99_abs", "percentiles", "min_cosine",
               "min_agreement", "reason", "histogram",
               "failed_to_run"}  # added in schema 1 (additive): true when a side did not run at that case


def test_json_schema_is_stable(failing) -> None:
    _, _, res = failing
    data = json.loads(to_json(res))
    assert set(data) == SCHEMA_KEYS
    assert set(data["outputs"][0]) == OUTPUT_KEYS
    assert data["schema"] == "portkit.validation/1"
    assert data["failing_outputs"] == ["head_b"]


def test_json_schema_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "validation.md").read_text()
    for key in SCHEMA_KEYS | OUTPUT_KEYS:
        assert f"`{key}`" in doc, key


def test_non_finite_numbers_stay_valid_json(tmp_path) -> None:
    ref = vm.two_heads(tmp_path / "dyn.onnx")
    static = vm.two_heads(tmp_path / "static.onnx", batch=1)
    res = api.validate(ref, static, batches=(1, 2))
    text = to_json(res)
    assert "Infinity" not in text and "NaN" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard constant {c}"))


def test_junit_parses_and_names_the_failing_output(failing) -> None:
    _, _, res = failing
    root = ET.fromstring(to_junit(res).encode())
    assert root.tag == "testsuite" and root.get("tests") == "4" and root.get("failures") == "2"
    failed = [tc.get("name") for tc in root.iter("testcase") if tc.find("failure") is not None]
    assert failed == ["head_b [batch 1]", "head_b [batch 2]"]
    assert "max_abs=" in root.find("testcase/failure").text


def test_markdown(failing) -> None:
    _, _, res = failing
    md = to_markdown(res)
    assert md.startswith("# Validation: FAILED")
    assert "| head_b | batch 1 | FAILED |" in md and "| head_a | batch 1 | ok |" in md
    assert "p99.9" in md


def test_html_is_self_contained_with_histograms(failing) -> None:
    _, _, res = failing
    page = to_html(res)
    assert page.startswith("<!DOCTYPE html>") and "FAILED" in page
    assert page.count("<svg") == 2  # one histogram per output
    for ext in ("src=", "href=", "http://", "https://", "@import"):
        assert ext not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    embedded = page.split("id='portkit-result'>")[1].split("</script>")[0]
    assert json.loads(embedded.replace("<\\/", "</"))["failing_outputs"] == ["head_b"]


def test_write_report_by_suffix(failing, tmp_path) -> None:
    _, _, res = failing
    for name in ("r.json", "r.md", "r.html", "r.xml"):
        assert write_report(res, tmp_path / name).stat().st_size > 100
    with pytest.raises(BadInput, match="unknown report type"):
        write_report(res, tmp_path / "r.pdf")


def test_cli_writes_all_reports(failing, tmp_path) -> None:
    a, b, _ = failing
    r = run_cli("validate", a, b, "--report", str(tmp_path / "o.json"), "--report", str(tmp_path / "o.md"),
                "--report", str(tmp_path / "o.html"), "--junit", str(tmp_path / "o.xml"))
    assert r.returncode == 1
    assert json.loads((tmp_path / "o.json").read_text())["passed"] is False
    assert "FAILED" in (tmp_path / "o.md").read_text()
    assert "<svg" in (tmp_path / "o.html").read_text()
    ET.parse(tmp_path / "o.xml")
    assert "head_b" in r.stdout and "FAILED" in r.stdout
