"""Match the intermediate tensors of two models and find where they first part.

Names rarely survive a conversion (onnx2tf's TFLite names its tensors after the TF ops it emitted, an
onnx2torch TorchScript after its fx nodes), so a tensor of the *graph side* (the model whose names the
report uses: ONNX, else Keras, else the reference) is matched to the *other side's* tensors by provenance
first — the same name, where a converter kept it — and otherwise by value: a counterpart has the same
elements up to a layout permutation (NCHW↔NHWC or any axis order that gives the same shape) or a reshape,
and agrees within tolerance. Permutation-invariant statistics (sum, sum of squares, extremes) pick the few
counterparts worth an element-wise comparison.

Each graph-side tensor ends up `match` (a counterpart agrees), `miss` (counterparts of its shape exist but
none agrees) or `unmatched` (nothing of its shape: a tensor the other side fused away). The first
divergence is the earliest `miss` tensor, in graph order, that nothing downstream contradicts: a tensor
whose consumers (through unmatched ones) reach a matching tensor was only fused away — a Conv whose ReLU
TFLite fused into it has no counterpart of its own, while the ReLU's output matches. The report gives that
tensor's op, its inputs' errors (so a reader sees this op, not an earlier drift), the best counterpart's
error, and every tensor's error along the depth of the graph.
"""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np

__all__ = ["align", "MIN_REL"]

MIN_REL = 1e-3  # relative floor for intermediate agreement: float kernels differ by ~1e-6 per op, and drift
PREFILTER = 0.05  # statistics within 5 % (relative): an element-wise comparison is worth it
CLAIMED = 1e-3  # statistics this close (relative): the same values, another tensor's counterpart
FUSED = 4  # ops a converter fuses into one (MatMul + Add + Relu, Conv + BatchNorm + Relu + Clip), at most
SLACK = 4  # other-side positions a counterpart may lie outside its neighbours' (branches ordered apart)
TOP = 3  # counterparts compared element-wise per tensor when none passes the prefilter (for the report)


def _stats(a: np.ndarray) -> tuple[float, float, float, float]:
    f = a.astype(np.float64, copy=False).ravel()
    return float(f.sum()), float(np.sqrt((f * f).sum())), float(f.min()), float(f.max())


def _key(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sorted(d for d in shape if d != 1))


def _views(c: np.ndarray, shape: tuple[int, ...]) -> list[tuple[str, np.ndarray]]:
    """The ways `c` can be read as an array of `shape`: as is, reshaped (same order), or axis-permuted."""
    out: list[tuple[str, np.ndarray]] = []
    if c.shape == shape:
        out.append(("same", c))
    elif c.size == int(np.prod(shape)):  # the same elements in the same order (a Reshape, a view)
        out.append(("reshape", c.reshape(shape)))
    if c.ndim == len(shape) and c.ndim <= 5:
        for p in itertools.permutations(range(c.ndim)):
            if p != tuple(range(c.ndim)) and tuple(c.shape[i] for i in p) == shape:
                out.append((f"perm {list(p)}", np.transpose(c, p)))
    elif c.ndim != len(shape) and _key(c.shape) == _key(shape):
        sq = c.squeeze()
        target = tuple(d for d in shape if d != 1)
        if sq.ndim <= 5:
            for p in itertools.permutations(range(sq.ndim)):
                if p != tuple(range(sq.ndim)) and tuple(sq.shape[i] for i in p) == target:
                    out.append((f"squeeze+perm {list(p)}", np.transpose(sq, p).reshape(shape)))
    elif c.size == int(np.prod(shape)) and len(shape) <= 4:
        # split heads: a [1, S, 32] projection is an attention's [1, 2, S, 16] after a Reshape and Transpose
        for p in itertools.permutations(range(len(shape))):
            if p != tuple(range(len(shape))):
                inv = np.argsort(p)
                out.append((f"reshape+perm {list(inv)}", c.reshape([shape[i] for i in p]).transpose(inv)))
    return out


def _error(r: np.ndarray, c: np.ndarray) -> tuple[float, float]:
    r64, c64 = r.astype(np.float64, copy=False), c.astype(np.float64, copy=False)
    fin = np.isfinite(r64) & np.isfinite(c64)
    if not fin.all() and (np.isnan(r64) != np.isnan(c64)).any():
        return float("inf"), float("inf")
    d = np.abs(r64[fin] - c64[fin])
    max_abs = float(d.max()) if d.size else 0.0
    scale = float(np.abs(r64[fin]).max()) if d.size else 0.0
    return max_abs, (max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf")))


def _cosine(r: np.ndarray, c: np.ndarray) -> float:
    rf, cf = r.astype(np.float64).ravel(), c.astype(np.float64).ravel()
    den = float(np.linalg.norm(rf) * np.linalg.norm(cf))
    return float(rf @ cf / den) if den > 0 else 1.0


class _Other:
    """The other side's float tensors, indexed by element count, with their statistics."""

    def __init__(self, probes: list[dict[str, Any]]) -> None:
        self.by_size: dict[int, list[int]] = {}
        self.by_name: dict[str, int] = {}
        self.probes = probes
        self.stats: list[tuple[float, float, float, float]] = []
        for i, p in enumerate(probes):
            a = p["array"]
            self.stats.append(_stats(a) if a.dtype.kind == "f" and a.size else (0.0, 0.0, 0.0, 0.0))
            if a.dtype.kind == "f" and a.size >= 2:
                self.by_size.setdefault(a.size, []).append(i)
            self.by_name.setdefault(p["node"], i)
            self.by_name.setdefault(p["name"], i)


def _close(s: tuple[float, ...], t: tuple[float, ...], scale: float) -> float:
    """A permutation-invariant distance between two tensors' statistics, relative to their magnitude."""
    n = max(scale, 1e-12)
    return max(abs(a - b) for a, b in zip(s, t)) / n


def align(graph: list[dict[str, Any]], other: list[dict[str, Any]], atol: float, rtol: float,
          quantized: str | None = None, graph_is_reference: bool = True) -> dict[str, Any]:
    """Match every float tensor of `graph` to `other`'s; return the tensors' errors and the first divergence."""
    oth = _Other(other)
    rel_tol = max(rtol, MIN_REL)
    tensors: list[dict[str, Any]] = []
    status: dict[str, str] = {}
    counterpart: dict[str, int] = {}  # graph tensor -> index of its best counterpart in `other`
    own: dict[str, tuple[float, ...]] = {}  # graph tensor -> (size, its statistics)
    for depth, g in enumerate(graph):
        a = g["array"]
        row: dict[str, Any] = {"tensor": g["name"], "node": g["node"], "op": g["op"], "depth": depth}
        if a.dtype.kind != "f" or a.size < 2:
            continue
        s = _stats(a)
        scale = max(abs(s[2]), abs(s[3]))
        if s[2] == s[3] and oth.by_name.get(g["name"]) is None:
            continue  # one value repeated (a zero state, a filled mask): nothing to tell counterparts apart by
        best = _best(a, s, scale, g["name"], oth, None, atol, rel_tol, quantized)
        if best is None:
            row["status"] = "unmatched"
        else:
            row.update({k: best[k] for k in ("other", "view", "max_abs", "max_rel") if k in best})
            row["status"] = "match" if best["passed"] else "miss"
            counterpart[g["name"]] = best["index"]
        row["scale"] = scale
        status[g["name"]] = row["status"]
        own[g["name"]] = (a.size, *s)
        tensors.append(row)
    _in_order(graph, tensors, status, counterpart, oth, atol, rel_tol, quantized)
    explained = _explained(graph, tensors, counterpart, own, oth)
    first = _first_divergence(graph, tensors, status, explained)
    report: dict[str, Any] = {
        "compared": sum(1 for t in tensors if t["status"] != "unmatched"),
        "matched": sum(1 for t in tensors if t["status"] == "match"),
        "unmatched": sum(1 for t in tensors if t["status"] == "unmatched"),
        "graph_tensors": len(graph), "other_tensors": len(other), "tolerance": {"atol": atol, "rel": rel_tol},
        "tensors": tensors, "first_divergence": first,
    }
    if first is not None:
        last = [t for t in tensors if t["status"] == "match" and t["depth"] < first["index"]]
        if last:
            report["last_match"] = {"node": last[-1]["node"], "op_type": last[-1]["op"], "output": last[-1]["tensor"]}
    return report


def _best(a: np.ndarray, s: tuple[float, ...], scale: float, name: str, oth: _Other, window: range | None,
          atol: float, rel_tol: float, quantized: str | None) -> dict[str, Any] | None:
    """`a`'s best counterpart among `oth`'s tensors of its size (those in `window` only, when given)."""
    pool = [i for i in oth.by_size.get(a.size, []) if window is None or i in window]
    ranked = sorted(((_close(s, oth.stats[i], max(scale, s[1] / np.sqrt(a.size))), i) for i in pool),
                    key=lambda x: x[0])
    same = oth.by_name.get(name)
    if same is not None and same in pool:  # provenance first: the same name, where it survived
        ranked = [(0.0, same)] + [x for x in ranked if x[1] != same]
    best: dict[str, Any] | None = None
    tried = 0
    for dist, i in ranked:
        if tried >= TOP and (dist > PREFILTER or best is not None):
            break
        c = oth.probes[i]["array"]
        for how, view in _views(c, a.shape):
            tried += 1
            max_abs, rel = _error(a, view)
            cos = _cosine(a, view) if quantized else None
            ok = (cos is not None and cos >= 0.99) if quantized else max_abs <= atol + rel_tol * scale
            cand = {"other": oth.probes[i]["node"], "index": i, "view": how, "max_abs": max_abs, "max_rel": rel,
                    "passed": ok, **({"cosine": cos} if cos is not None else {})}
            if best is None or (ok and not best["passed"]) or (ok == best["passed"] and max_abs < best["max_abs"]):
                best = cand
        if best is not None and best["passed"]:
            break
    return best


def _anchors(tensors: list[dict[str, Any]], counterpart: dict[str, int]) -> list[tuple[int, int]]:
    """(graph depth, other index) of the matching tensors that agree on order: the longest chain whose other
    indices never decrease (a match out of that order is a coincidence of values, or a parallel branch)."""
    pts = [(t["depth"], counterpart[t["tensor"]]) for t in tensors if t["status"] == "match"]
    tails: list[int] = []  # tails[n]: index in pts of the smallest last other-index of a chain of length n+1
    prev = [-1] * len(pts)
    for j, (_, o) in enumerate(pts):
        lo, hi = 0, len(tails)
        while lo < hi:
            mid = (lo + hi) // 2
            if pts[tails[mid]][1] <= o:
                lo = mid + 1
            else:
                hi = mid
        prev[j] = tails[lo - 1] if lo else -1
        if lo == len(tails):
            tails.append(j)
        else:
            tails[lo] = j
    chain: list[tuple[int, int]] = []
    j = tails[-1] if tails else -1
    while j >= 0:
        chain.append(pts[j])
        j = prev[j]
    return chain[::-1]


def _in_order(graph: list[dict[str, Any]], tensors: list[dict[str, Any]], status: dict[str, str],
              counterpart: dict[str, int], oth: _Other, atol: float, rel_tol: float, quantized: str | None) -> None:
    """Re-match each `miss` tensor among the other side's tensors between its neighbours' counterparts.

    Both sides run the same computation in an order close to one another's, so a tensor's counterpart
    lies between the counterparts of the matches around it (give or take SLACK for parallel branches
    ordered differently). A `miss` whose best counterpart lies far outside that window was compared with a
    tensor of the same size from elsewhere (a BERT's attention scores against a later layer's output when
    the other side fused its attention into one op): it is re-matched in the window, or left unmatched."""
    anchors = _anchors(tensors, counterpart)
    if not anchors:
        return
    depths = [d for d, _ in anchors]
    import bisect

    for t in tensors:
        if t["status"] != "miss":
            continue
        j = bisect.bisect_left(depths, t["depth"])
        lo = anchors[j - 1][1] - SLACK if j > 0 else 0
        hi = anchors[j][1] + SLACK if j < len(anchors) else len(oth.probes) - 1
        if lo <= counterpart[t["tensor"]] <= hi:
            continue
        a = graph[t["depth"]]["array"]
        s = _stats(a)
        best = _best(a, s, t["scale"], t["tensor"], oth, range(max(lo, 0), hi + 1), atol, rel_tol, quantized)
        for k in ("other", "view", "max_abs", "max_rel"):
            t.pop(k, None)
        if best is None:
            t["status"] = "unmatched"
            counterpart.pop(t["tensor"])
        else:
            t.update({k: best[k] for k in ("other", "view", "max_abs", "max_rel") if k in best})
            t["status"] = "match" if best["passed"] else "miss"
            counterpart[t["tensor"]] = best["index"]
        status[t["tensor"]] = t["status"]


def _same_values(s: tuple[float, ...], t: tuple[float, ...]) -> bool:
    """Norm and extremes within CLAIMED of each other (the sum drifts with the size, so it is left out)."""
    scale = max(abs(s[2]), abs(s[3]), 1e-12)
    return abs(s[1] - t[1]) <= CLAIMED * max(s[1], 1e-12) and max(abs(s[2] - t[2]), abs(s[3] - t[3])) <= CLAIMED * scale


def _consumers(graph: list[dict[str, Any]]) -> dict[str, list[str]]:
    consumers: dict[str, list[str]] = {}
    if any(g.get("inputs") for g in graph):
        for g in graph:
            for i in g.get("inputs") or []:
                consumers.setdefault(i, []).append(g["name"])
    else:  # no edges (hooks, layer lists): each tensor feeds the next
        names = [g["name"] for g in graph]
        for a, b in zip(names, names[1:]):
            consumers[a] = [b]
    return consumers


def _explained(graph: list[dict[str, Any]], tensors: list[dict[str, Any]], counterpart: dict[str, int],
               own: dict[str, tuple[float, ...]], oth: _Other) -> set[str]:
    """The `miss` tensors whose best counterpart is the one a *matching* tensor FUSED hops downstream of it
    holds (the same tensor, or equal values: a copy the other side made in another layout). Such a tensor
    was compared with a stand-in: the output of the op the other side fused it into (a Conv's output against
    the one its fused ReLU wrote). A miss whose counterpart nothing downstream explains was compared with its
    own and really differs, even when the difference fades downstream (a scaled attention key barely moves
    a tiny BERT's softmax)."""
    consumers = _consumers(graph)
    rows = {t["tensor"]: t for t in tensors}
    out: set[str] = set()
    for t in tensors:
        if t["status"] != "miss":
            continue
        i = counterpart[t["tensor"]]
        size, st = oth.probes[i]["array"].size, oth.stats[i]
        frontier, seen = [t["tensor"]], set()
        for _ in range(FUSED):
            frontier = [c for n in frontier for c in consumers.get(n, []) if c not in seen]
            seen.update(frontier)
        for n in seen:
            m = rows.get(n)
            if m is not None and m["status"] == "match" and (
                    counterpart.get(n) == i or (own[n][0] == size and _same_values(st, own[n][1:]))):
                out.add(t["tensor"])
                break
    return out


def _first_divergence(graph: list[dict[str, Any]], tensors: list[dict[str, Any]],
                      status: dict[str, str], explained: set[str]) -> dict[str, Any] | None:
    consumers = _consumers(graph)
    names = [g["name"] for g in graph]
    rescued: dict[str, bool] = {}  # a path to a matching tensor, through any others
    direct: dict[str, bool] = {}  # ... through tensors without a counterpart of their own only
    for n in reversed(names):  # graph order is topological: consumers are settled first
        rescued[n] = any(status.get(c) == "match" or rescued.get(c, False) for c in consumers.get(n, []))
        direct[n] = any(status.get(c) == "match" or ((status.get(c) != "miss" or c in explained)
                                                     and direct.get(c, False)) for c in consumers.get(n, []))
    by_name = {t["tensor"]: t for t in tensors}
    gmap = {g["name"]: g for g in graph}
    for t in tensors:
        # passed over: a tensor fused away or renamed, whose stand-in counterpart (see _explained) or whose
        # consumers' counterparts show the computation goes on unharmed. A miss compared with its own
        # counterpart stays a divergence even where the difference fades out downstream.
        n = t["tensor"]
        if t["status"] != "miss" or direct.get(n, False) or (rescued.get(n, False) and n in explained):
            continue
        g = gmap[t["tensor"]]
        inputs = []
        for i in g.get("inputs") or []:
            it = by_name.get(i)
            inputs.append({"tensor": i, "status": it["status"] if it else "not compared",
                           **({"max_abs": it.get("max_abs"), "max_rel": it.get("max_rel")} if it else {})})
        return {"node": t["node"], "op_type": t["op"], "output": t["tensor"], "index": t["depth"],
                "max_abs": t.get("max_abs"), "max_rel": t.get("max_rel"), "counterpart": t.get("other"),
                "view": t.get("view"), "inputs": inputs, "weights": g.get("weights") or [],
                "module": _module(g), "reason": f"no counterpart within tolerance (best: max abs "
                                                f"{t.get('max_abs', float('nan')):.3g}, rel {t.get('max_rel', 0):.3g})"}
    return None


def _module(g: dict[str, Any]) -> str:
    """The source module a tensor came from: its weights' common path (`layer1.0.conv1.weight` →
    `layer1.0.conv1`, torch.onnx keeps parameter names), else the exporter's name scope."""
    paths = {w.rsplit(".", 1)[0] for w in g.get("weights") or [] if "." in w and not w.startswith("onnx::")}
    if len(paths) == 1:
        return paths.pop()
    return g.get("scope") or ""
