"""Start-up stays light: `import portkit` and `portkit --help` import no framework, and a route imports
only the frameworks it needs."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from ..conftest import ROOT, run_cli

HEAVY = ("torch", "tensorflow", "keras", "onnxruntime", "onnx", "tf2onnx", "onnx2tf", "ai_edge_litert")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_portkit_is_light():
    mods = _modules_after("import portkit")
    assert not [m for m in HEAVY if m in mods]


def test_cli_help_imports_no_framework():
    mods = _modules_after(
        "import sys\nfrom portkit.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert not [m for m in HEAVY if m in mods]


def test_inspect_onnx_imports_neither_torch_nor_tf(digits_onnx):
    mods = _modules_after(f"from portkit import api\napi.inspect({str(digits_onnx)!r})")
    assert "torch" not in mods and "tensorflow" not in mods


def test_torch_route_never_imports_tensorflow(tmp_path):
    """A tensorflow that records its import sits first on the path; converting .pt → ONNX must not touch it."""
    marker = tmp_path / "tf-imported"
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "poison"), str(ROOT)]),
           "PORTKIT_POISON_MARKER": str(marker)}
    proc = run_cli("convert", str(ROOT / "samples" / "digits_cnn.ts.pt"), "--to", "onnx",
                   "-o", str(tmp_path / "m.onnx"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists(), "the torch → onnx route imported tensorflow"
    proc = run_cli("convert", str(tmp_path / "m.onnx"), "--to", "torchscript", "-o", str(tmp_path / "m.ts.pt"),
                   env=env)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists(), "the onnx → torchscript route imported tensorflow"
