"""Option helpers shared by the command modules."""
from __future__ import annotations

from typing import Any

import typer

JSON = typer.Option(False, "--json", help="Print the result as JSON on stdout (nothing else there).")


def input_shape_option() -> Any:
    return typer.Option(None, "--input-shape", "-s",
                        help="Input shape, e.g. 1,3,224,224, or name=1,3,224,224 per input (repeatable).")


def input_dtype_option() -> Any:
    return typer.Option(None, "--input-dtype",
                        help="Input dtype: name=float32|float16|int64|int32|bool|uint8 (repeatable).")


def dynamic_axis_option() -> Any:
    return typer.Option(None, "--dynamic-axis",
                        help="Make an input axis dynamic: name=AXIS:SYMBOL, e.g. input_ids=1:sequence (repeatable).")
