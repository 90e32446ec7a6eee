"""One warm worker per framework per command: a validated conversion imports torch once (the hop's worker
also runs the reference side of validation), and the CLI leaves nothing running in its process group."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import portkit
from portkit import workers
from portkit.workers import WorkerPool, family_of

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "digits_cnn.ts.pt"


def test_family_of_keeps_tensorflow_away_from_torch():
    assert family_of(("torch", "onnxscript")) == "torch"
    assert family_of(("onnx2tf", "tensorflow")) == "tf"
    assert family_of(("ai_edge_litert",)) == "tf"
    assert family_of(()) == "torch"


def test_pool_replaces_a_dead_worker():
    with WorkerPool() as pool:
        w = pool.get("torch")
        assert pool.get("torch") is w
        w._proc.kill()
        w._proc.join()
        again = pool.get("torch")
        assert again is not w and again.alive
        assert again.call("os", "getpid") != w._proc.pid


def test_commands_in_a_shared_pool_reuse_its_workers():
    """The coverage corpus converts one checkpoint to five targets inside shared_pool(): each conversion's
    command_pool() is that pool (left open), so torch is imported once; outside it, a fresh pool per command."""
    with workers.shared_pool() as shared:
        with workers.command_pool() as pool:
            assert pool is shared
        assert not shared._workers  # asking for the pool started no worker
    with workers.command_pool() as pool:
        assert pool is not shared


def test_validated_conversion_spawns_one_worker(tmp_path, monkeypatch):
    started: list[str] = []
    real_init = workers.Worker.__init__

    def counting_init(self, label="worker"):
        started.append(label)
        real_init(self, label)

    monkeypatch.setattr(workers.Worker, "__init__", counting_init)
    result = portkit.convert(str(SAMPLE), "onnx", tmp_path / "d.onnx")
    assert result.passed and result.hops[0].validation is not None
    # the TorchScript hop and the TorchScript reference runner share the torch worker; ONNX runs in-process
    assert started == ["torch worker"], started


def test_cli_leaves_nothing_running_in_its_process_group(tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "portkit", "convert", str(SAMPLE), "--to", "onnx",
                          "-o", str(tmp_path / "d.onnx")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         start_new_session=True)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err.decode()
    time.sleep(0.3)
    ps = subprocess.run(["ps", "-eo", "pgid=,stat=,args="], capture_output=True, text=True).stdout
    left = [ln for ln in ps.splitlines() if ln.split() and ln.split()[0] == str(p.pid)]
    assert not left, left
