"""portkit's public names, listed once: the package's `__all__` and lazy attributes, `portkit.api.__all__`
and the API test all read these."""

from __future__ import annotations

__all__ = ["API_FUNCTIONS", "PUBLIC_TYPES"]

# one function per CLI command (and the recipe loader), defined in portkit.api
API_FUNCTIONS = (
    "convert",
    "validate",
    "bench",
    "inspect",
    "verify",
    "routes",
    "export_triton",
    "serve",
    "matrix",
    "ops",
    "run",
    "init",
    "load_recipe",
)

# options, results, gates and errors (each error carries the CLI's exit code): name -> module below portkit
PUBLIC_TYPES = {
    "Format": "formats",
    "Gates": "gates",
    "GateReport": "gate_report",
    "Recipe": "recipes",
    "RunResult": "recipes",
    "PortkitError": "errors",
    "BadInput": "errors",
    "ConversionFailed": "errors",
    "ValidationFailed": "errors",
    "GateFailed": "gate_report",
    "MissingDependency": "errors",
    "RuntimeUnavailable": "errors",
}
