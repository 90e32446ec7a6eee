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
