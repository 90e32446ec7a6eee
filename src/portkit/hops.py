"""The hop executor: one edge of the conversion graph run in a worker, its output written to a temp path
beside the destination and renamed into place only when it succeeded (with its sidecar), and the
validation of a hop against its input. Routes (portkit.conversion) and the post-route ONNX steps
(portkit.prep) both run their hops through here.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .artifact import Artifact
from .errors import ConversionFailed, PortkitError
from .formats import Format
from .graph import Edge, Route
from .options import ConvertOptions, ValidateOptions
from .tensormap import TensorMap
from .workers import WorkerPool, call_in_worker, family_of, show_output

if TYPE_CHECKING:  # validation (numpy, comparison) is the parent's: a hop's worker never loads it
    from .validation import ValidationResult

__all__ = ["HopResult", "hop_paths", "hop_view", "place", "relative_to_source", "remove", "run_edge", "run_hop",
           "tmp_path", "validate_pair", "without_maps"]


@dataclass
class HopResult:
    edge: str
    tool: str
    output: str
    seconds: float
    validation: ValidationResult | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"edge": self.edge, "tool": self.tool, "output": self.output, "seconds": round(self.seconds, 3),
                "validation": self.validation.to_dict() if self.validation is not None else None}


def run_edge(edge_name: str, src: Artifact, out: str, opts: ConvertOptions) -> Artifact:
    """Runs inside the worker. With --debug (opts.debug) the converter's warnings and logs reach stderr;
    without it they are noise beside portkit's one-line messages."""
    import importlib
    import logging

    if opts.debug:
        show_output()
        warnings.resetwarnings()
        logging.disable(logging.NOTSET)
    else:
        warnings.filterwarnings("ignore")
        logging.disable(logging.WARNING)
    mod = importlib.import_module(f"portkit.converters.{edge_name}")
    return mod.convert(src, Path(out), opts)


def tmp_path(final: Path) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp" + (final.suffix or ""), dir=final.parent)
    os.close(fd)
    Path(name).unlink()
    return Path(name)


def remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists():
        p.unlink()


def place(tmp: Path, final: Path, art: Artifact) -> Artifact:
    """Rename a finished hop output into place, replacing an older file, and record its sidecar."""
    remove(final)
    tmp.rename(final)
    art.location = str(final)
    art.write_sidecar()
    return art


def run_hop(edge: Edge, src: Artifact, final: Path, opts: ConvertOptions,
            pool: WorkerPool | None = None) -> Artifact:
    """Run one edge in a worker (`pool`'s warm worker of the edge's framework family, else a fresh one)."""
    tmp = tmp_path(final)
    if Path(src.location).exists():
        # converters may change directory (onnx2tf runs in a work folder): hand them absolute paths
        src = replace(src, location=str(Path(src.location).resolve()))
    try:
        label, call = f"{edge} ({edge.tool})", ("portkit.hops", "run_edge", edge.name, src,
                                                 str(tmp.resolve()), opts)
        if pool is not None:
            art = pool.get(family_of(edge.requires)).call_as(label, *call)
        else:
            art = call_in_worker(label, *call)
        if not tmp.exists():
            raise ConversionFailed(f"{edge} ({edge.tool}) produced no output", hint="run with --debug")
        return place(tmp, final, art)
    except BaseException:
        remove(tmp)
        raise


def validate_pair(ref: Artifact, cand: Artifact, runners: dict[str, Any], vopts: ValidateOptions,
                   open_runner: Callable[..., Any]) -> ValidationResult:
    from .validation import validate_runners

    for a in (ref, cand):
        if a.location not in runners:
            try:
                runners[a.location] = open_runner(a)
            except PortkitError as e:
                if isinstance(e, ConversionFailed):
                    raise
                raise ConversionFailed(f"cannot load {a.location} to validate it: {e.message}",
                                       hint=e.hint) from e
    return validate_runners(runners[ref.location], runners[cand.location], cand, vopts,
                            ref.location, cand.location, reference=ref)


# ---------------------------------------------------------------- where a route's hops write

def _hop_path(out: Path, fmt: Format, is_last: bool) -> Path:
    if is_last:
        return out
    stem = out.name.split(".")[0] if fmt.suffix else out.name
    return out.parent / (f"{stem}{fmt.suffix}" if fmt.suffix else f"{stem}_{fmt.value}")


def hop_paths(route: Route, out: Path) -> list[Path]:
    """Where each hop writes: the last at `out`; before post-route steps (optimise/quantize), the route's
    ONNX result as `NAME.float.onnx` and an optimised one as `NAME.opt.onnx`; other intermediates beside
    `out` under their format's suffix."""
    paths = []
    for i, edge in enumerate(route):
        if i == len(route) - 1:
            paths.append(out)
        elif route[i + 1].step:
            paths.append(_step_path(out, "float" if not edge.step else "opt"))
        else:
            paths.append(_hop_path(out, edge.target, False))
    return paths


def _step_path(out: Path, tag: str) -> Path:
    return out.parent / (out.name.removesuffix(".onnx") + f".{tag}.onnx")


# ---------------------------------------------------------------- each hop's tensor map

def hop_view(art: Artifact) -> Artifact:
    """The artifact with the layout/renaming of its own hop (relative to the hop's input)."""
    record = art.record
    view = Artifact(art.location, art.format, art.signature, dict(art.metadata))
    view.note(tensors=record.hop_tensors or TensorMap())
    return view


def without_maps(art: Artifact) -> Artifact:
    view = Artifact(art.location, art.format, art.signature, dict(art.metadata))
    view.note(tensors=TensorMap(), hop_tensors=None)
    return view


def relative_to_source(prev: Artifact, nxt: Artifact, keeps_graph: bool = False) -> None:
    """Make nxt's `layout`/`renamed` relative to the route's source by composing them with prev's.

    A converter records what its own hop changed (e.g. onnx2tf: NCHW→NHWC); later hops that keep the
    layout record nothing. Composing keeps the final artifact's map true to the original model, so
    end-to-end validation and users can map tensors without guessing. The hop's own map stays under
    the record's hop_tensors."""
    own = nxt.record.tensors
    if nxt.record.hop_tensors is not None:  # already composed (a reused route prefix)
        return
    if keeps_graph:  # a step (optimise, quantize) carried its input's map over and changed nothing itself
        nxt.note(hop_tensors=TensorMap())
    else:
        nxt.note(hop_tensors=own, tensors=prev.record.tensors.then(own))
    nxt.write_sidecar()
