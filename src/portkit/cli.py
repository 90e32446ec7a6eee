"""portkit's command line: a thin typer layer over portkit.api.

Each command lives in portkit/commands/<name>.py with a `register(app)`; frameworks are imported only
inside the functions that need them, so `portkit --help` stays fast. typer itself is imported only when
the line is parsed: `run()` first prestarts the framework worker a convert/validate will need (see
_prestart), and a spawned worker that imports this module (the `portkit` console script is its main
module) needs none of it.
"""
from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING

from .versions import PORTKIT

if TYPE_CHECKING:
    import typer

# one line per command module; each registers its own command(s)
COMMAND_MODULES = ("convert", "inspect", "routes", "validate", "bench", "serve", "export", "verify", "matrix",
                   "run", "init", "ops")

HELP = """Move trained models between Keras, SavedModel, PyTorch, ONNX and TFLite — every hop validated.

\b
Examples:
  portkit convert model.pt --to onnx
  portkit convert samples.digits_torch:build --weights samples/digits_cnn.pt --to onnx -o digits.onnx
  portkit inspect model.onnx --json
  portkit routes

\b
Exit codes: 0 ok · 1 validation failed · 2 bad usage/input · 3 conversion failed ·
4 missing optional dependency · 5 runtime/provider unavailable. Add --debug for tracebacks."""


# the commands whose positional arguments are models (how many), each loaded in its format's worker
PRESTART_COMMANDS = {"convert": 1, "validate": 2}


def _prestart(args: list[str], fork: bool = False) -> None:
    """Start the worker a convert/validate of a framework model will use before anything else is imported:
    its Python start and framework import (`import torch`: most of a small conversion) then run beside the
    parent's own imports and parsing instead of after them (benchmarks/bench_process.py). `fork`: the
    console command's own process, which holds nothing yet, forks the worker (portkit.workers.prestart)."""
    words = [a for a in args if not a.startswith("-")]
    if not words or words[0] not in PRESTART_COMMANDS or "--help" in args or "-h" in args:
        return
    from .formats import family_guess
    from .workers import prestart

    prestart(dict.fromkeys(f for w in words[1:1 + PRESTART_COMMANDS[words[0]]] if (f := family_guess(w))),
             fork=fork)


def _version(value: bool) -> None:
    import typer

    if value:
        typer.echo(f"portkit {PORTKIT}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    import typer

    app = typer.Typer(name="portkit", help=HELP, no_args_is_help=True, add_completion=False,
                      rich_markup_mode=None, pretty_exceptions_enable=False,
                      context_settings={"help_option_names": ["-h", "--help"]})

    @app.callback()
    def _root(
        version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                     help="Print the version and exit."),
        debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines on stderr."),
    ) -> None:
        from . import ui

        ui.set_quiet(quiet)

    for name in COMMAND_MODULES:
        importlib.import_module(f"portkit.commands.{name}").register(app)
    return app


def _click_exceptions() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """(exit, abort, usage-error) classes of whichever click typer runs on: typer >= 0.29 vendors its own
    (`typer._click`) and does not depend on click; older typer uses the click package."""
    import typer

    exits: list[type] = [typer.Exit] if hasattr(typer, "Exit") else []
    aborts: list[type] = [typer.Abort] if hasattr(typer, "Abort") else []
    usage: list[type] = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        if module.startswith("click.") and "click" not in sys.modules and hasattr(typer, "_click"):
            continue  # typer runs on its own click: nothing raises the click package's exceptions (~40 ms)
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        exits += [mod.Exit] if hasattr(mod, "Exit") else []
        aborts += [mod.Abort] if hasattr(mod, "Abort") else []
        usage.append(mod.ClickException)
    return tuple(exits), tuple(aborts), tuple(usage)


def main(argv: list[str] | None = None, *, prestart: bool = False, fork: bool = False) -> int:
    """Run one command line; `prestart`: start its framework worker first (run() does; a caller that keeps
    its process, such as a test, must call portkit.workers.shutdown() afterwards); `fork`: fork it rather
    than spawn it (run() only: the console's fresh process, whose atexit handlers the worker inherits)."""
    args = list(sys.argv[1:] if argv is None else argv)
    # --debug is accepted anywhere on the line (before or after the command)
    debug = "--debug" in args or bool(os.environ.get("PORTKIT_DEBUG"))
    args = [a for a in args if a != "--debug"]
    if debug:
        os.environ["PORTKIT_DEBUG"] = "1"  # before any worker starts: it reads this once
    if prestart:
        _prestart(args, fork=fork)
    exits, aborts, usage = _click_exceptions()

    from .errors import PortkitError
    if "--quiet" in args[1:] or "-q" in args[1:]:
        from . import ui

        ui.set_quiet(True)  # accepted anywhere on the line, like --debug
        args = ["--quiet"] + [a for a in args if a not in ("--quiet", "-q")]
    app = build_app()
    try:
        rv = app(args=args, prog_name="portkit", standalone_mode=False)
        return int(rv or 0)
    except PortkitError as e:
        if debug:
            import traceback

            traceback.print_exc()
            tb = getattr(e, "worker_traceback", None)
            if tb:
                print(f"--- in the worker process:\n{tb}", file=sys.stderr)
        from . import ui

        ui.error(e.one_line())
        return e.exit_code
    except exits as e:
        return e.exit_code
    except aborts as e:
        if isinstance(e.__context__, EOFError):
            raise e.__context__ from None  # click turns any EOFError into Abort: an unexpected one is a bug, not Ctrl+C
        print("portkit: aborted", file=sys.stderr)
        return 130
    except usage as e:
        code = 2 if e.exit_code in (1, 2) else e.exit_code
        if type(e).__name__ == "NoArgsIsHelpError" or debug:
            e.show()  # a bare `portkit convert` shows its help
            return code
        from . import ui

        ctx = getattr(e, "ctx", None)
        where = ctx.command_path if ctx is not None and getattr(ctx, "command_path", None) else "portkit"
        ui.error(f"{e.format_message()} — see '{where} --help'")
        return code
    except KeyboardInterrupt:
        print("portkit: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a bug in portkit: the traceback is the report, exit 70
        import traceback

        from .errors import EXIT_INTERNAL

        traceback.print_exc()
        remote = getattr(e, "remote_traceback", "")
        if remote:
            print(f"--- in the worker process:\n{remote}", file=sys.stderr)
        print(f"portkit: internal error (a bug in portkit, please report it with the traceback above): {e}",
              file=sys.stderr)
        return EXIT_INTERNAL


def run() -> None:
    from .workers import exit_now, reap_at_exit, shutdown

    reap_at_exit()  # the workers' exits overlap the table and this process's end; shutdown() reaps them
    code = main(prestart=True, fork=True)
    import threading

    shutdown()  # nothing of portkit's may outlive the command (multiprocessing's tracker process)
    for t in threading.enumerate():  # what the interpreter's own shutdown would wait for
        if t is not threading.main_thread() and not t.daemon:
            t.join()
    # as the workers end: atexit handlers and flushed streams, without freeing every module (0.1-0.3 s of
    # numpy, onnxruntime and typer teardown that nobody waits for otherwise)
    exit_now(code)


if __name__ == "__main__":
    run()
