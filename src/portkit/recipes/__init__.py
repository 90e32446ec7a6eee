"""Declarative deployment recipes: `portkit run recipe.yaml` and `portkit init MODEL`.

schema.py declares a recipe, loading.py checks it completely before anything runs; runner.py runs its
models (inline, in spawned processes, or as Ray tasks) and writes OUT/manifest.json; starter.py writes a
commented starter recipe.
"""

from __future__ import annotations

from .loading import load_recipe, parse_recipe
from .runner import EXECUTORS, RunResult, run_model, run_recipe
from .schema import Recipe, RecipeError
from .starter import starter_recipe, write_starter

__all__ = [
    "Recipe",
    "RecipeError",
    "RunResult",
    "EXECUTORS",
    "load_recipe",
    "parse_recipe",
    "run_recipe",
    "run_model",
    "starter_recipe",
    "write_starter",
]
