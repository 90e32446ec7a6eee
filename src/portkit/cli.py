"""portkit's command line: a thin typer layer over portkit.api.

Each command lives in portkit/commands/<name>.py with a `register(app)`; frameworks are imported only
inside the functions that need them, so `portkit --help` stays fast.
"""
from __future__ import annotations

import importlib
import os
import sys

import typer

from . import __version__

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


def _version(value: bool) -> None:
    if value:
        typer.echo(f"portkit {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
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


def main(argv: list[str] | None = None) -> int:
    import click

    # typer >= 0.29 raises its own Exit/Abort and its vendored click's usage errors, not click's
    exits, aborts, usage = [click.exceptions.Exit], [click.exceptions.Abort], [click.ClickException]
    exits += [typer.Exit] if hasattr(typer, "Exit") else []
    aborts += [typer.Abort] if hasattr(typer, "Abort") else []
    try:
        from typer._click.exceptions import ClickException as VendoredClickException

        usage.append(VendoredClickException)
    except ImportError:
        pass

    from .errors import PortkitError

    args = list(sys.argv[1:] if argv is None else argv)
    # --debug is accepted anywhere on the line (before or after the command)
    debug = "--debug" in args or bool(os.environ.get("PORTKIT_DEBUG"))
    args = [a for a in args if a != "--debug"]
    if debug:
        os.environ["PORTKIT_DEBUG"] = "1"
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
    except tuple(exits) as e:
        return e.exit_code
    except tuple(aborts):
        print("portkit: aborted", file=sys.stderr)
        return 130
    except tuple(usage) as e:
        e.show()
        return 2 if e.exit_code in (1, 2) else e.exit_code
    except KeyboardInterrupt:
        print("portkit: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
