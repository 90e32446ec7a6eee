"""Terminal output: rich tables on a TTY, plain text in pipelines (CI=true, no TTY, NO_COLOR, --quiet).

stdout carries results (and `--json` alone); progress goes to stderr.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

_QUIET = False


def set_quiet(quiet: bool) -> None:
    global _QUIET
    _QUIET = quiet


def is_quiet() -> bool:
    return _QUIET


def plain() -> bool:
    return bool(os.environ.get("CI")) or bool(os.environ.get("NO_COLOR")) or not sys.stdout.isatty()


def _console(stderr: bool = False):
    from rich.console import Console

    p = plain()
    return Console(stderr=stderr, no_color=p, color_system=None if p else "auto", highlight=False,
                   force_terminal=False if p else None, width=160 if p else None, soft_wrap=p)


def progress(message: str) -> None:
    if not _QUIET:
        print(message, file=sys.stderr, flush=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]],
          stderr: bool = False) -> None:
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=escape(title) if title else None, show_lines=False)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[escape(str(x)) for x in r])
    _console(stderr).print(t)


def line(text: str) -> None:
    from rich.markup import escape

    _console().print(escape(text))


def error(text: str) -> None:
    print(f"portkit: error: {text}", file=sys.stderr, flush=True)


def fmt_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)
