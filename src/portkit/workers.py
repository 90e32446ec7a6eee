"""One worker process per framework hop (spawned; forked only at the command line's very start).

TensorFlow and torch's compiler stack (triton) cannot share a process, converters crash for real on odd
graphs, and onnxruntime does not survive fork. So framework work runs in a spawned child: the parent sends
`(module, function, args, kwargs)`, the child imports the module, calls the function and sends the result
back. A `Worker` stays warm for several calls (bench, serve, validation of one hop); `call_in_worker` is
the one-shot form. A child that dies becomes a ConversionFailed naming the task and the signal.

What a call raises arrives in the parent as one of three things: a PortkitError as itself (rebuilt, with
the worker's traceback attached); an exception raised inside a library (the innermost frame is not
portkit's: a converter or runtime failing on this model) as ConversionFailed naming the task; and an
exception raised by portkit's own code as InternalError (exit 70) with the remote traceback: a bug.
"""
from __future__ import annotations

import contextlib
import importlib
import multiprocessing as mp
import os
import signal
import traceback
from collections.abc import Iterator
from typing import Any, NoReturn

from .errors import ConversionFailed, InternalError, PortkitError

__all__ = ["PRELOAD", "TF_MODULES", "Worker", "WorkerCrashed", "WorkerPool", "call_in_worker", "command_pool",
           "exit_now", "family_of", "prestart", "raised_by_portkit", "reap_at_exit", "shared_pool", "show_output",
           "shutdown", "warm"]


class WorkerCrashed(ConversionFailed):
    """The worker process died (segfault, out of memory, os._exit)."""


def _serve(conn: Any, preload: tuple[str, ...] = (), inherited: tuple[Any, ...] = ()) -> None:  # in the child
    # a forked child holds copies of the parent's ends of its own pipe and of the workers started before it:
    # closed, so that the parent's exit (even a SIGKILL) reaches this worker as EOF and ends it
    for other in inherited:
        other.close()
    # stdout belongs to the parent's results (`--json` alone there). What libraries print (TensorFlow's
    # "Saved artifact at ...", LiteRT's C++ INFO lines, torch.export's graph dumps on failure) is chatter
    # that would bury portkit's one-line messages: dropped at the file-descriptor level (stdout and
    # stderr), or sent to stderr with --debug.
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    global _STDERR
    _STDERR = os.dup(2)
    if os.environ.get("PORTKIT_DEBUG"):
        os.dup2(2, 1)
    else:  # errors reach the parent through the pipe, as one line; the rest is noise without --debug
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)
    # Quieter framework start-up; TF's C++ logs would otherwise flood stderr.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not os.environ.get("PORTKIT_DEBUG"):
        # deprecation chatter from torch.jit / tf would bury portkit's own one-line messages
        import warnings

        warnings.filterwarnings("ignore")
    for module in preload:  # a prestarted worker imports its framework while the parent still parses
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - the task that needs it imports it again and reports the error
            pass
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            msg = None
        if msg is None:
            exit_now()
        module, func, args, kwargs = msg
        try:
            result = getattr(importlib.import_module(module), func)(*args, **kwargs)
            conn.send(("ok", result))
        except PortkitError as e:
            conn.send(("portkit", (type(e).__module__, type(e).__qualname__, _error_state(e),
                                   traceback.format_exc())))
        except BaseException as e:  # noqa: BLE001 - everything must reach the parent, even SystemExit
            status = "bug" if raised_by_portkit(e) else "error"
            conn.send((status, (type(e).__name__, str(e), traceback.format_exc())))


_STDERR: int | None = None  # the worker's own stderr, kept when `_serve` silences it


def show_output() -> None:
    """In a worker: send what libraries print (stdout and stderr) to the parent's stderr again — a task run
    with --debug (ConvertOptions.debug) by a caller that did not set PORTKIT_DEBUG before the worker started."""
    import sys

    if _STDERR is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(_STDERR, 1)
    os.dup2(_STDERR, 2)


def exit_now(code: int = 0) -> NoReturn:
    """End the process without the interpreter's teardown: with torch + litert-torch (or TensorFlow) loaded,
    freeing every module takes 2-3 s that the parent waits for in `close()` (measured: 2.3-2.8 s against
    0.14 s); the command line's own process ends so too (portkit.cli.run: numpy, onnxruntime, typer). The
    atexit handlers still run (temp folders of weakref finalizers, multiprocessing's own clean-up, logging's
    flush); the results already went through the pipe and hops write their files before returning.
    benchmarks/bench_process.py ends its bare script with this same function, so ratios compare like with like."""
    import atexit
    import sys

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (`portkit ... | head`), a closed stream
            pass
    os._exit(code)


def raised_by_portkit(e: BaseException) -> bool:
    """True when the innermost frame of `e`'s traceback is portkit's own code (a bug), False when it is a
    library's (the library failed on this input) or there is no traceback (SystemExit from a library)."""
    tb = e.__traceback__
    if tb is None or isinstance(e, (SystemExit, KeyboardInterrupt, MemoryError)):
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__") or ""
    return module == "portkit" or module.startswith("portkit.")


def _error_state(e: PortkitError) -> dict[str, Any]:
    state = {k: v for k, v in vars(e).items() if k not in ("result",)}
    state["args"] = e.args
    return state


def _rebuild(module: str, qualname: str, state: dict[str, Any]) -> PortkitError:
    cls = getattr(importlib.import_module(module), qualname.split(".")[-1])
    err = cls.__new__(cls)
    Exception.__init__(err, *state.pop("args", ()))
    err.__dict__.update(state)
    return err


class Worker:
    """A spawned child process that runs `module.function(*args, **kwargs)` calls in turn."""

    def __init__(self, label: str = "worker", preload: tuple[str, ...] = (), fork: bool = False) -> None:
        """`preload`: modules the child imports before it waits for its first call. `fork`: fork this
        process instead of spawning a fresh interpreter, where that is safe (see `_forkable`)."""
        self.label = label
        self.preload = preload
        self.method = "fork" if fork and _forkable() else "spawn"
        ctx = mp.get_context(self.method)
        self._conn, child = ctx.Pipe()
        inherited = (self._conn, *(w._conn for w in _PRESTARTED.values())) if self.method == "fork" else ()
        self._proc = ctx.Process(target=_serve, args=(child, preload, inherited), daemon=True,
                                 name=f"portkit-{label}")
        self._proc.start()
        child.close()

    def call_as(self, label: str, module: str, func: str, *args: Any, **kwargs: Any) -> Any:
        """`call` with errors named after `label` (a pooled worker runs several tasks in turn)."""
        old, self.label = self.label, label
        try:
            return self.call(module, func, *args, **kwargs)
        finally:
            self.label = old

    def call(self, module: str, func: str, *args: Any, **kwargs: Any) -> Any:
        try:
            self._conn.send((module, func, args, kwargs))
            status, payload = self._conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
            raise self._crashed() from None
        if status == "ok":
            return payload
        if status == "portkit":
            mod, qual, state, tb = payload
            err = _rebuild(mod, qual, state)
            err.worker_traceback = tb  # type: ignore[attr-defined]
            raise err
        name, text, tb = payload
        first = next((ln for ln in text.splitlines() if ln.strip()), text)[:300]
        if status == "bug":
            raise InternalError(f"{self.label}: {name}: {first}", tb)
        err = ConversionFailed(f"{self.label}: {name}: {first}", hint="run with --debug for the traceback")
        err.worker_traceback = tb  # type: ignore[attr-defined]
        raise err

    def _crashed(self) -> WorkerCrashed:
        self._proc.join(timeout=5)
        code = self._proc.exitcode
        if code is not None and code < 0:
            try:
                how = f"signal {signal.Signals(-code).name}"
            except ValueError:
                how = f"signal {-code}"
        else:
            how = f"exit code {code}"
        return WorkerCrashed(f"{self.label}: worker process died ({how})",
                             hint="the library crashed on this model; try --via another route or --debug")

    @property
    def alive(self) -> bool:
        return self._proc.is_alive()

    def close(self) -> None:
        """Tell the child to end and wait for it (or, after reap_at_exit(), leave the wait to shutdown())."""
        if self._proc.is_alive():
            try:
                self._conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            if _REAP_AT_EXIT:
                _ENDING.append(self)
            else:
                self._reap()
        self._conn.close()

    def _reap(self) -> None:
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()

    def kill(self) -> None:
        """End the child now, whatever it is doing (a prestarted worker nobody took: it ran no task)."""
        self._proc.kill()
        self._proc.join()
        self._conn.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _forkable() -> bool:
    """Whether forking this process gives a clean worker: on Linux (macOS's system libraries do not
    survive fork) and with no other thread running (a fork copies no thread but every lock one holds)."""
    import sys
    import threading

    return sys.platform.startswith("linux") and threading.active_count() == 1 and \
        "fork" in mp.get_all_start_methods()


def call_in_worker(label: str, module: str, func: str, *args: Any, **kwargs: Any) -> Any:
    """Run one call in a fresh worker and return its result; the worker's memory goes back afterwards."""
    with Worker(label) as w:
        return w.call(module, func, *args, **kwargs)


# Import names whose process must never load torch's compiler stack afterwards (see the module docstring):
# work that needs any of them runs in the "tf" worker of a pool, everything else in the "torch" worker.
TF_MODULES = frozenset({"tensorflow", "keras", "tf_keras", "tf2onnx", "onnx2tf", "ai_edge_litert", "h5py"})


def family_of(modules: Any) -> str:
    """The pool worker a task belongs in, from the import names it needs: "tf" or "torch"."""
    return "tf" if any(str(m).split(".")[0] in TF_MODULES for m in modules) else "torch"


class WorkerPool:
    """One warm worker per framework family for the length of one command.

    A conversion's hop and the reference side of its validation then share one process, so the framework
    is imported once (the bare-script cost), not once per hop and again per runner. Families never mix
    (TensorFlow before triton is a SIGSEGV); a worker that died is replaced on the next `get`."""

    def __init__(self) -> None:
        self._workers: dict[str, Worker] = {}

    def get(self, family: str) -> Worker:
        w = self._workers.get(family)
        if w is None or not w.alive:
            if w is not None:
                w.close()
            w = self._workers[family] = _PRESTARTED.pop(family, None) or Worker(f"{family} worker")
        return w

    def close(self) -> None:
        for w in self._workers.values():
            w.close()
        self._workers.clear()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# What a worker of each family imports first when it is started ahead of its first task (prestart)
PRELOAD = {"torch": ("torch",), "tf": ("tensorflow",)}
_PRESTARTED: dict[str, Worker] = {}  # started by prestart(), until the first pool asks for that family


def prestart(families: Any, fork: bool = False) -> None:
    """Start a worker per family now and let it import its framework, for the first WorkerPool to take.

    The command line calls this first thing for a command whose source is a framework model, so the
    worker's Python start and `import torch` (the bulk of a small conversion) run while the parent is still
    importing its own modules and parsing, instead of after. A worker nobody takes is killed by shutdown().

    `fork`: fork this process instead of spawning one (the console command, portkit.cli.run, asks for it:
    at that point it has imported only the standard library and a few of portkit's own modules, and runs no
    thread). The child then starts importing torch at once, without a second interpreter's start, its
    site-packages scan and multiprocessing's bootstrap, nor the resource tracker process a spawn starts
    (0.1-0.2 s before `import torch` even begins: bench_process.py). Anything later — a worker started once
    numpy, onnxruntime or a thread is loaded — is spawned: only a process that holds nothing yet is forked."""
    for family in families:
        if family in PRELOAD and family not in _PRESTARTED:
            _PRESTARTED[family] = Worker(f"{family} worker", preload=PRELOAD[family], fork=fork)


_WARMING: list[Any] = []  # threads of warm(), joined by shutdown()
_REAP_AT_EXIT = False  # set by reap_at_exit()
_ENDING: list[Worker] = []  # workers told to end whose exit shutdown() waits for


def reap_at_exit() -> None:
    """For a process that calls shutdown() before it ends (the command line, portkit.cli.run): a worker's
    close() then tells it to end and returns at once, and shutdown() waits for it. The worker's own exit
    (a torch process's: 0.1-0.2 s of freeing memory) then runs beside the command's table and exit instead
    of before them; nothing outlives the command all the same."""
    global _REAP_AT_EXIT
    _REAP_AT_EXIT = True


def warm(*modules: str) -> Any:
    """Import `modules` in this process on a background thread and return the thread (join it before
    leaving). For what the parent needs once a worker call returns (onnxruntime for validation, rich for the
    result table): the parent only waits on the pipe meanwhile, so the imports cost no time on the command's
    path. A module that fails to import here is imported again, with its error, where it is needed."""
    import threading

    def _import() -> None:
        for module in modules:
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001 - reported by the import that needs it
                pass

    t = threading.Thread(target=_import, name="portkit-warm", daemon=True)
    t.start()
    _WARMING.append(t)
    return t


_SHARED: list[WorkerPool] = []  # the pool of an enclosing shared_pool(), innermost last


@contextlib.contextmanager
def shared_pool() -> Iterator[WorkerPool]:
    """One warm pool for several commands run by one process (the coverage corpus converts one checkpoint to
    five targets): each command's `command_pool()` reuses its workers, so torch and TensorFlow are imported
    once for all of them instead of once per command; closed on leaving."""
    with WorkerPool() as pool:
        _SHARED.append(pool)
        try:
            yield pool
        finally:
            _SHARED.remove(pool)


@contextlib.contextmanager
def command_pool() -> Iterator[WorkerPool]:
    """The pool of one command: the enclosing shared_pool()'s (left open), else a fresh one closed after it."""
    if _SHARED:
        yield _SHARED[-1]
        return
    with WorkerPool() as pool:
        yield pool


def shutdown() -> None:
    """Kill the prestarted workers nobody took, wait for the closed ones still ending (reap_at_exit), and
    stop multiprocessing's resource tracker (the first spawn starts it) and reap it, so that nothing portkit
    started outlives the command: without this it lingers in the caller's process group."""
    from multiprocessing import resource_tracker

    while _PRESTARTED:
        _PRESTARTED.popitem()[1].kill()
    while _ENDING:
        _ENDING.pop()._reap()
    while _WARMING:  # no thread may be mid-import while the interpreter ends
        _WARMING.pop().join()

    tracker = getattr(resource_tracker, "_resource_tracker", None)
    if tracker is not None and getattr(tracker, "_pid", None) is not None:
        try:
            tracker._stop()
        except (OSError, ChildProcessError):
            pass
