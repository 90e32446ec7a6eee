"""--debug reaches every hop: a converter's warnings (here torch.jit's deprecation warnings from onnx2torch's
TorchScript hop) show on stderr with it, and stay out of a plain run's one-line output."""
from __future__ import annotations

from ..conftest import run_cli
from ..portkit.test_formats import tiny_onnx


def test_debug_shows_a_converters_warnings(tmp_path):
    src = tiny_onnx(tmp_path / "m.onnx")
    plain = run_cli("convert", str(src), "--to", "torchscript", "-o", str(tmp_path / "a.pt"))
    assert plain.returncode == 0, plain.stderr
    assert "Warning" not in plain.stderr, plain.stderr
    debug = run_cli("convert", str(src), "--to", "torchscript", "-o", str(tmp_path / "b.pt"), "--debug")
    assert debug.returncode == 0, debug.stderr
    # the warning is raised inside the hop's converter (torch.jit.trace, called by converters/onnx_to_torchscript)
    assert "Warning" in debug.stderr and "torch.jit" in debug.stderr, debug.stderr
