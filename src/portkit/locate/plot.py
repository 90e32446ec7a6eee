"""The HTML report's locate section: relative error of every compared tensor along the graph's depth."""
from __future__ import annotations

import html
import math
from typing import Any

__all__ = ["depth_svg"]


def depth_svg(loc: dict[str, Any]) -> str:
    """An inline SVG: x = depth (graph order), y = log10 relative error; matches green, misses red, the
    first divergence circled, the tolerance dashed."""
    pts = [t for t in loc.get("tensors") or [] if isinstance(t.get("max_rel"), (int, float))]
    if not pts:
        return ""
    w, h, pad = 640, 200, 36
    lo, hi = -8.0, 1.0
    n = max(t["depth"] for t in pts) or 1
    first = (loc.get("first_divergence") or {}).get("output")

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
             f'aria-label="relative error along depth">',
             f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#444"/>']
    for e in range(int(lo), int(hi) + 1, 2):
        y = h - pad - (e - lo) / (hi - lo) * (h - 2 * pad)
        parts.append(f'<text x="2" y="{y + 3:.1f}" font-size="9">1e{e}</text>'
                     f'<line x1="{pad}" y1="{y:.1f}" x2="{w - pad}" y2="{y:.1f}" stroke="#eee"/>')
    tol = (loc.get("tolerance") or {}).get("rel")
    if tol:
        y = h - pad - (math.log10(tol) - lo) / (hi - lo) * (h - 2 * pad)
        parts.append(f'<line x1="{pad}" y1="{y:.1f}" x2="{w - pad}" y2="{y:.1f}" stroke="#c0392b" '
                     f'stroke-dasharray="4 2"/>')
    for t in pts:
        v = min(max(math.log10(max(t["max_rel"], 1e-12)), lo), hi)
        x = pad + t["depth"] / n * (w - 2 * pad)
        y = h - pad - (v - lo) / (hi - lo) * (h - 2 * pad)
        color = "#2e7d32" if t.get("status") == "match" else "#c0392b"
        r = 5 if t["tensor"] == first else 2.5
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{color}"><title>'
                     f'{html.escape(str(t["node"]))} ({html.escape(str(t["op"]))}): rel {t["max_rel"]:.3g}'
                     f'</title></circle>')
    parts.append(f'<text x="{w / 2:.0f}" y="{h - 8}" font-size="10" text-anchor="middle">depth (graph order) → '
                 f'relative max error per tensor; red: beyond tolerance</text></svg>')
    return "".join(parts)
