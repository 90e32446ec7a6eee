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


def _left_running(*args: str, code: int = 0) -> list[str]:
    p = subprocess.Popen([sys.executable, "-m", "portkit", *args], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, start_new_session=True)
    _, err = p.communicate(timeout=300)
    assert p.returncode == code, err.decode()
    time.sleep(0.3)
    ps = subprocess.run(["ps", "-eo", "pgid=,stat=,args="], capture_output=True, text=True).stdout
    return [ln for ln in ps.splitlines() if ln.split() and ln.split()[0] == str(p.pid)]


def test_cli_leaves_nothing_running_in_its_process_group(tmp_path):
    assert not _left_running("convert", str(SAMPLE), "--to", "onnx", "-o", str(tmp_path / "d.onnx"))
    # bad usage after the torch worker was prestarted (still importing torch): killed, not left behind
    assert not _left_running("convert", str(SAMPLE), "--to", "onnx", "--opset", "3", code=2)


def test_the_cli_prestarts_the_sources_worker_for_the_pool():
    """`portkit convert model.pt` starts the torch worker (importing torch) before it parses anything else,
    and the command's pool takes that worker instead of starting one after the parent's imports."""
    from portkit.cli import _prestart

    try:
        _prestart(["convert", str(SAMPLE), "--to", "onnx"])
        w = workers._PRESTARTED["torch"]
        assert w.preload == workers.PRELOAD["torch"] == ("torch",)  # imported before the first call
        with WorkerPool() as pool:  # (test_cli_leaves_nothing_running... converts through it for real)
            assert pool.get("torch") is w and not workers._PRESTARTED
            w.kill()  # not waiting for its torch import
    finally:
        workers.shutdown()


def test_prestart_only_for_a_framework_model_and_an_unused_one_is_killed(tmp_path):
    from portkit.cli import _prestart

    from ..portkit.test_formats import tiny_onnx

    onnx_file = str(tiny_onnx(tmp_path / "a.onnx"))
    try:
        for args in (["convert", onnx_file, "--to", "tflite"], ["convert", str(SAMPLE), "--help"],
                     ["routes"], ["inspect", str(SAMPLE)], ["convert", str(tmp_path / "missing.pt")]):
            _prestart(args)
            assert not workers._PRESTARTED, args
        _prestart(["validate", onnx_file, str(SAMPLE)])
        w = workers._PRESTARTED["torch"]
    finally:
        workers.shutdown()
    assert not workers._PRESTARTED and not w.alive


FORKED = """
import os, sys
from portkit import workers
first = workers.Worker("first", fork=True)
assert first.method == "fork" and first.call("os", "getpid") == first._proc.pid
second = workers.Worker("second", fork=True)  # holds a copy of the first's pipe: closed in the child
workers.reap_at_exit()
done = workers.Worker("done", fork=True)
done.close()  # told to end, not waited for: shutdown() reaps it
assert done in workers._ENDING
workers.shutdown()
assert not workers._ENDING and done._proc.exitcode == 0
print(first._proc.pid, second._proc.pid, flush=True)
os._exit(0)  # killed as by SIGKILL: no close(), no shutdown()
"""


def test_the_consoles_forked_workers_end_with_it_and_are_reaped_at_exit():
    """portkit.cli.run forks its prestarted worker (no second interpreter start before `import torch`) and
    reaps closed workers in shutdown(): a forked worker works like a spawned one, and ends when the command's
    process dies, even a worker forked after another (whose pipe it inherited)."""
    out = subprocess.run([sys.executable, "-c", FORKED], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    pids = [int(p) for p in out.stdout.split()]

    def running(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.monotonic() + 20
    while any(running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(running(p) for p in pids), "a forked worker outlived its command"


def test_fork_only_where_no_thread_runs():
    import threading

    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not workers._forkable()  # a fork would copy the locks that thread holds, not the thread
    finally:
        stop.set()
        t.join()
