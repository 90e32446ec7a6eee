"""Self-contained HTML report of a benchmark: the table, the environment, and per batch size a latency CDF
(every series on one chart) plus a histogram per series, all as inline SVG (no scripts, no downloads)."""
from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["cdf_svg", "histogram_svg", "render_html", "write_html"]

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
W, H, PAD = 640, 300, 48


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def _axes(x0: float, x1: float, xlabel: str, ylabel: str, yticks: Sequence[tuple[float, str]]) -> list[str]:
    out = [f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#333"/>',
           f'<line x1="{PAD}" y1="10" x2="{PAD}" y2="{H - PAD}" stroke="#333"/>',
           f'<text x="{(W + PAD) / 2:.0f}" y="{H - 8}" text-anchor="middle" font-size="12">'
           f'{html.escape(xlabel)}</text>',
           (f'<text x="12" y="{(H - PAD) / 2:.0f}" font-size="12" transform="rotate(-90 12 {(H - PAD) / 2:.0f})" '
            f'text-anchor="middle">{html.escape(ylabel)}</text>')]
    for v in _ticks(x0, x1):
        x = PAD + (v - x0) / ((x1 - x0) or 1) * (W - PAD - 10)
        out.append(f'<text x="{x:.1f}" y="{H - PAD + 16}" text-anchor="middle" font-size="10">{v:.3g}</text>')
    for frac, label in yticks:
        y = (H - PAD) - frac * (H - PAD - 10)
        out.append(f'<text x="{PAD - 4}" y="{y + 3:.1f}" text-anchor="end" font-size="10">{label}</text>')
        out.append(f'<line x1="{PAD}" y1="{y:.1f}" x2="{W - 10}" y2="{y:.1f}" stroke="#eee"/>')
    return out


def cdf_svg(series: Sequence[tuple[str, np.ndarray]]) -> str:
    """Empirical CDF of latency (ms) for each (label, samples) on shared axes; x clipped at the p99.9."""
    if not series:
        return ""
    allv = np.concatenate([s for _, s in series])
    x0, x1 = float(allv.min()), float(np.percentile(allv, 99.9))
    x1 = x1 if x1 > x0 else x0 + 1e-9
    parts = _axes(x0, x1, "latency (ms)", "fraction of calls ≤ x",
                  [(f, f"{f:.2f}") for f in (0, 0.25, 0.5, 0.75, 1.0)])
    for i, (label, s) in enumerate(series):
        xs = np.sort(s)
        n = xs.size
        idx = np.unique(np.linspace(0, n - 1, min(n, 400)).astype(int))  # thinned: the file stays small
        pts = []
        for k in idx:
            x = PAD + (min(xs[k], x1) - x0) / (x1 - x0) * (W - PAD - 10)
            y = (H - PAD) - (k + 1) / n * (H - PAD - 10)
            pts.append(f"{x:.1f},{y:.1f}")
        c = COLORS[i % len(COLORS)]
        parts.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.6" points="{" ".join(pts)}"/>')
        parts.append(f'<text x="{PAD + 8}" y="{20 + 14 * i}" font-size="11" fill="{c}">{html.escape(label)}</text>')
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" role="img">{"".join(parts)}</svg>'


def histogram_svg(label: str, samples: np.ndarray, bins: int = 40, color: str = COLORS[0]) -> str:
    """Histogram of latency (ms); the p50 and p99 marked; the top 0.1 % folded into the last bin."""
    s = np.asarray(samples, dtype=np.float64)
    lo, hi = float(s.min()), float(np.percentile(s, 99.9))
    hi = hi if hi > lo else lo + 1e-9
    counts, _ = np.histogram(np.clip(s, lo, hi), bins=bins, range=(lo, hi))
    top = int(counts.max()) or 1
    parts = _axes(lo, hi, f"latency (ms) — {label}", "calls", [(f, f"{f * top:.0f}") for f in (0, 0.5, 1.0)])
    bw = (W - PAD - 10) / bins
    for i, c in enumerate(counts):
        h = c / top * (H - PAD - 10)
        parts.append(f'<rect x="{PAD + i * bw:.1f}" y="{H - PAD - h:.1f}" width="{max(bw - 1, 1):.1f}" '
                     f'height="{h:.1f}" fill="{color}" opacity="0.75"/>')
    for q, dash in ((50, "4,2"), (99, "2,2")):
        v = float(np.percentile(s, q))
        x = PAD + (min(v, hi) - lo) / (hi - lo) * (W - PAD - 10)
        parts.append(f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{H - PAD}" stroke="#000" '
                     f'stroke-dasharray="{dash}"/>')
        parts.append(f'<text x="{x + 3:.1f}" y="22" font-size="10">p{q} {v:.3g}</text>')
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" role="img">{"".join(parts)}</svg>'


def render_html(result: Any) -> str:
    esc = html.escape
    cols = result.TABLE_COLUMNS
    rows = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in result.table_rows())
    body = [f"<h1>portkit bench</h1><table><tr>{''.join(f'<th>{esc(c)}</th>' for c in cols)}</tr>{rows}</table>"]
    notes = result.notes + [f"{m.label} batch {m.batch}: {n}" for m in result.measurements for n in m.notes]
    if notes:
        body.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    for b in sorted({m.batch for m in result.measurements}):
        ms = [m for m in result.measurements if m.batch == b and m.samples_ns]
        if not ms:
            continue
        body.append(f"<h2>batch {b}</h2>")
        series = [(m.label, np.asarray(m.samples_ns, dtype=np.float64) / 1e6) for m in ms]
        body.append(cdf_svg(series))
        for i, (label, s) in enumerate(series):
            body.append(histogram_svg(label, s, color=COLORS[i % len(COLORS)]))
    body.append("<h2>environment</h2><pre>" + esc(json.dumps(result.environment, indent=2, default=str)) + "</pre>")
    style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}"
             "svg{display:block;margin:1em 0}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>portkit bench</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def write_html(result: Any, path: str | Path) -> Path:
    """Write the report atomically (temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_html(result), encoding="utf-8")
    os.replace(tmp, path)
    return path
