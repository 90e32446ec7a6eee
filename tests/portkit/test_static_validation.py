"""--static fixes the batch: validation runs at that batch only (the default sweep's batch 2 exists to catch
a dynamic batch lost on the way, which a static conversion never promised)."""
from __future__ import annotations

import json

from ..conftest import SAMPLES, run_cli


def test_static_conversion_is_validated_at_its_fixed_batch(tmp_path):
    p = run_cli("convert", str(SAMPLES / "digits_cnn.ts.pt"), "--to", "onnx", "--static", "-o",
                str(tmp_path / "st.onnx"), "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["passed"] and [h["validation"]["batches"] for h in d["hops"]] == [[1]]
    assert d["signature"]["inputs"][0]["shape"][0] == 1


def test_static_with_a_batch_of_its_own(tmp_path):
    p = run_cli("convert", str(SAMPLES / "digits_cnn.ts.pt"), "--to", "onnx", "--static", "--input-shape",
                "3,1,8,8", "-o", str(tmp_path / "st3.onnx"), "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert [h["validation"]["batches"] for h in d["hops"]] == [[3]] and d["signature"]["inputs"][0]["shape"][0] == 3


def test_a_deliberately_fixed_candidate_is_validated_at_its_sizes_not_swept():
    """A checkpoint's sequence is dynamic; litert-torch's fixed-shape export (--static, or the fallback after
    onnx2tf's routes failed) takes [1, 32]: validation uses 32 instead of sweeping sequence lengths the
    candidate cannot take. A candidate that lost the axis without saying so still meets the sweep."""
    from portkit.artifact import Artifact
    from portkit.formats import Format
    from portkit.options import ValidateOptions
    from portkit.signature import InputSpec, ModelSignature, TensorSpec
    from portkit.validation import ValidationResult, make_cases
    from portkit.validation.mapping import fixed_by_candidate, plan_mapping

    ids = ("input_ids", "attention_mask")
    rsig = ModelSignature(tuple(TensorSpec(n, "int64", ("batch", "sequence")) for n in ids))
    csig = ModelSignature(tuple(TensorSpec(n, "int32", (1, 32)) for n in ids))
    for record, want in (({"dynamic_axes": "none (static)"}, {n: ("batch", 32) for n in ids}), ({}, {})):
        cand = Artifact("m.tflite", Format.TFLITE, csig, record)
        result = ValidationResult("ref", "cand")
        shapes = fixed_by_candidate(rsig, csig, plan_mapping(rsig, csig, cand, result), cand, {}, result)
        assert shapes == want
        specs = tuple(InputSpec(k, v) for k, v in shapes.items())
        cases = make_cases(rsig, ValidateOptions(batches=(1,), input_specs=specs), result)
        lengths = {c.feeds["input_ids"].shape[1] for c in cases}
        if want:
            assert lengths == {32} and any("candidate's fixed shape" in n for n in result.notes)
        else:
            assert len(lengths) > 1  # swept: a lost dynamic sequence axis fails there
