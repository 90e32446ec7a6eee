"""Bugs look like bugs: an exception raised by portkit's own code in a worker is an InternalError (exit 70)
with the remote traceback; one raised inside a library stays a ConversionFailed naming the task."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from portkit.errors import EXIT_INTERNAL, ConversionFailed, InternalError, PortkitError
from portkit.workers import Worker, raised_by_portkit


def test_internal_error_is_not_a_user_error():
    assert not issubclass(InternalError, PortkitError)
    assert InternalError.exit_code == EXIT_INTERNAL == 70




def test_library_failure_is_conversion_failed_and_portkit_failure_is_internal():
    with Worker("lib") as w:
        # json.loads raises inside the json module: a library failing on its input
        with pytest.raises(ConversionFailed) as lib:
            w.call("json", "loads", "{not json")
        assert "JSONDecodeError" in lib.value.message
        # portkit.inputs.dim_key indexes spec.shape: a None spec is portkit's own code failing
        with pytest.raises(InternalError) as bug:
            w.call("portkit.inputs", "dim_key", None, 0)
        assert "AttributeError" in str(bug.value)
        assert "portkit/inputs.py" in bug.value.remote_traceback
        assert w.alive  # the worker survives a bug in one call


def test_raised_by_portkit_reads_the_innermost_frame():
    try:
        json.loads("{")
    except ValueError as e:
        assert not raised_by_portkit(e)
    from portkit.inputs import dim_key

    try:
        dim_key(None, 0)  # type: ignore[arg-type]
    except AttributeError as e:
        assert raised_by_portkit(e)


def test_cli_reports_a_bug_with_exit_70_and_the_traceback(tmp_path):
    # a bug reached from the CLI: the command module's function raises a non-portkit error
    code = ("import sys; import portkit.commands.inspect as m\n"
            "def boom(*a, **k):\n    raise RuntimeError('deliberate bug')\n"
            "import portkit.api as api; api.inspect = boom\n"
            "from portkit.cli import main; sys.exit(main(['inspect', 'x.onnx']))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert p.returncode == 70, p.stderr
    assert "Traceback" in p.stderr and "internal error" in p.stderr and "deliberate bug" in p.stderr
