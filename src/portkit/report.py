"""Renderings of a ValidationResult: terminal table, JSON, Markdown, JUnit XML, self-contained HTML.

Every function takes the result object (or its `to_dict()`); nothing here runs a model. The JSON schema
("portkit.validation/1") is documented in docs/validation.md.
"""
from __future__ import annotations

import html
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from .errors import BadInput

__all__ = ["REPORT_SUFFIXES", "render_table", "to_html", "to_json", "to_junit", "to_markdown", "write_report"]

REPORT_SUFFIXES = {".json": "json", ".md": "markdown", ".markdown": "markdown", ".html": "html",
                   ".htm": "html", ".xml": "junit"}


def _d(result: Any) -> dict[str, Any]:
    return result if isinstance(result, dict) else result.to_dict()


def _num(v: Any, spec: str = ".2e") -> str:
    if v is None:
        return "-"
    if isinstance(v, str):  # "inf" / "nan" from the JSON form
        return v
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return format(v, spec)


def _status(o: dict[str, Any]) -> str:
    return "ok" if o["passed"] else "FAILED"


def _rows(d: dict[str, Any]) -> list[list[str]]:
    return [[o["name"], o.get("case") or f"batch {o['batch']}", _status(o), _num(o["max_abs"]),
             _num(o["mean_abs"]), _num(o["max_rel"]), _num((o.get("percentiles") or {}).get("p99")),
             _num(o["cosine"], ".6f"), _num(o.get("argmax_agreement"), ".3f"),
             _num(o["required_atol"]), _criteria(o)] for o in d["outputs"]]


_COLUMNS = ["output", "case", "status", "max abs", "mean abs", "max rel", "p99 abs", "cosine", "argmax",
            "min atol", "criteria"]


def _criteria(o: dict[str, Any]) -> str:
    if o.get("min_cosine") is not None:
        return f"cos≥{o['min_cosine']:g}, agree≥{o['min_agreement']:g}"
    return f"atol {o['atol']:g} rtol {o['rtol']:g}"


def _locate_lines(d: dict[str, Any]) -> list[str]:
    loc = d.get("locate")
    if not loc:
        return []
    if not loc.get("supported"):
        return [f"locate: {loc.get('reason')}"]
    f = loc.get("first_divergence")
    if not f:
        return [f"locate: compared {loc['compared']} intermediate tensors; {loc.get('reason', 'none diverged')}"]
    tol = f" (atol {f['atol']:g})" if f.get("atol") is not None else ""
    lines = [(f"locate: first diverging node '{f['node']}' ({f['op_type']}), output '{f['output']}': "
              f"max abs {_num(f['max_abs'])}{tol} after {loc.get('matched', loc['compared'] - 1)} matching tensors")]
    if f.get("module"):
        lines.append(f"locate: that node comes from module '{f['module']}'")
    for i in f.get("inputs") or []:
        if isinstance(i, dict):
            err = f", max abs {_num(i['max_abs'])}" if i.get("max_abs") is not None else ""
            lines.append(f"locate: its input '{i['tensor']}': {i['status']}{err}")
    if loc.get("unmatched"):
        lines.append(f"locate: {loc['unmatched']} tensors had no counterpart in the other model (fused or "
                     f"renamed away)")
    if loc.get("last_match"):
        lines.append(f"locate: last matching node '{loc['last_match']['node']}' ({loc['last_match']['op_type']})")
    for w in f.get("differing_initializers") or []:
        lines.append(f"locate: weight '{w['initializer']}' of that node differs (max abs {_num(w['max_abs'])})")
    red = loc.get("reduce")
    if red and red.get("written"):
        lines.append(f"reduce: {red['subgraph']} ({red['nodes']} of {red['original_nodes']} nodes), inputs "
                     f"{red['inputs']}; {red['reason']}")
        if red.get("command"):
            lines.append(f"reduce: repro ({'exits 1' if red.get('reproduces') else 'does not reproduce'}): "
                         f"{red['command']}")
    elif red:
        lines.append(f"reduce: {red.get('reason')}")
    return lines


def render_table(result: Any) -> None:
    """The terminal view: a rich table per comparison, then warnings, notes and the one-line summary."""
    from . import ui

    d = _d(result)
    ui.table(f"{d['reference']} vs {d['candidate']}", _COLUMNS, _rows(d))
    for w in d["warnings"]:
        ui.progress(f"warning: {w}")
    for n in d.get("notes") or []:
        ui.progress(f"note: {n}")
    for line in _locate_lines(d):
        ui.line(line)
    ui.line(("PASSED: " if d["passed"] else "FAILED: ") + d["summary"])


def to_json(result: Any) -> str:
    return json.dumps(_d(result), indent=2, default=str)


def to_markdown(result: Any) -> str:
    d = _d(result)
    out = [f"# Validation: {'PASSED' if d['passed'] else 'FAILED'}", "",
           f"- reference: `{d['reference']}`", f"- candidate: `{d['candidate']}`",
           f"- criteria: {d['criteria']}; inputs: {d['input_source']} (seed {d['seed']})",
           f"- cases: {', '.join(d['cases'])}", "", f"**{d['summary']}**", "",
           "| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    for r in _rows(d):
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
    extra = [f"- warning: {w}" for w in d["warnings"]] + [f"- note: {n}" for n in d.get("notes") or []] + \
        [f"- {x}" for x in _locate_lines(d)]
    if extra:
        out += ["", "## Notes", "", *extra]
    pct = [o for o in d["outputs"] if o.get("percentiles")]
    if pct:
        keys = list(pct[0]["percentiles"])
        out += ["", "## Error percentiles (|diff|)", "", "| output | case | " + " | ".join(keys) + " |",
                "|---|---|" + "---|" * len(keys)]
        for o in pct:
            out.append(f"| {o['name']} | {o['case']} | " + " | ".join(_num(o['percentiles'].get(k)) for k in keys)
                       + " |")
    return "\n".join(out) + "\n"


def to_junit(result: Any) -> str:
    """One <testcase> per output and case; failures carry the metrics. Parses with xml.etree."""
    d = _d(result)
    failures = sum(1 for o in d["outputs"] if not o["passed"])
    suite = ET.Element("testsuite", name="portkit.validate", tests=str(len(d["outputs"])),
                       failures=str(failures), errors="0", skipped="0")
    props = ET.SubElement(suite, "properties")
    for k in ("reference", "candidate", "criteria", "input_source", "seed"):
        ET.SubElement(props, "property", name=k, value=str(d[k]))
    for o in d["outputs"]:
        tc = ET.SubElement(suite, "testcase", classname=f"portkit.validate.{d['candidate']}",
                           name=f"{o['name']} [{o['case']}]", time="0")
        metrics = (f"max_abs={_num(o['max_abs'])} mean_abs={_num(o['mean_abs'])} max_rel={_num(o['max_rel'])} "
                   f"cosine={_num(o['cosine'], '.6f')} required_atol={_num(o['required_atol'])} "
                   f"({_criteria(o)})")
        if not o["passed"]:
            f = ET.SubElement(tc, "failure", message=f"output '{o['name']}' differs at {o['case']}{o['reason']}",
                              type="ValidationFailed")
            f.text = metrics
        else:
            ET.SubElement(tc, "system-out").text = metrics
    if d.get("warnings"):
        ET.SubElement(suite, "system-err").text = "\n".join(d["warnings"])
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def _histogram_svg(name: str, hists: list[dict[str, Any]], atol: float) -> str:
    """An inline SVG bar chart of log10 |diff| counts (merged over cases), with the atol marked."""
    edges = hists[0]["log10_edges"]
    counts = [sum(h["counts"][i] for h in hists if len(h["counts"]) == len(hists[0]["counts"]))
              for i in range(len(hists[0]["counts"]))]
    w, h, pad = 560, 160, 30
    n = len(counts)
    top = max(counts) or 1
    bw = (w - 2 * pad) / n
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h + 30}" role="img" '
              f'aria-label="error histogram for {html.escape(name)}">'),
             f'<line x1="{pad}" y1="{h}" x2="{w - pad}" y2="{h}" stroke="#444"/>']
    for i, c in enumerate(counts):
        bh = 0 if not c else max(1.0, (h - 10) * math.log1p(c) / math.log1p(top))
        x = pad + i * bw
        parts.append(f'<rect x="{x:.1f}" y="{h - bh:.1f}" width="{bw - 1:.1f}" height="{bh:.1f}" fill="#4a7ab7">'
                     f'<title>1e{edges[i]:g}..1e{edges[i + 1]:g}: {c}</title></rect>')
    for i in range(0, n + 1, 4):
        x = pad + i * bw
        parts.append(f'<text x="{x:.1f}" y="{h + 14}" font-size="10" text-anchor="middle">1e{edges[i]:g}</text>')
    if atol > 0:
        la = min(max(math.log10(atol), edges[0]), edges[-1])
        x = pad + (la - edges[0]) / (edges[-1] - edges[0]) * (w - 2 * pad)
        parts.append(f'<line x1="{x:.1f}" y1="5" x2="{x:.1f}" y2="{h}" stroke="#c0392b" stroke-dasharray="4 2"/>'
                     f'<text x="{x + 3:.1f}" y="14" font-size="10" fill="#c0392b">atol</text>')
    parts.append(f'<text x="{w / 2:.0f}" y="{h + 28}" font-size="10" text-anchor="middle">|diff| '
                 f'(log scale; bar height log count)</text></svg>')
    return "".join(parts)


def to_html(result: Any) -> str:
    """One self-contained page (inline CSS and SVG, no external assets)."""
    d = _d(result)
    e = html.escape
    ok = d["passed"]
    rows = "".join("<tr class='{}'>{}</tr>".format("ok" if r[2] == "ok" else "bad",
                                                 "".join(f"<td>{e(str(c))}</td>" for c in r)) for r in _rows(d))
    by_name: dict[str, list[dict[str, Any]]] = {}
    for o in d["outputs"]:
        by_name.setdefault(o["name"], []).append(o)
    hist = []
    for name, outs in by_name.items():
        hs = [o["histogram"] for o in outs if o.get("histogram")]
        status = "ok" if all(o["passed"] for o in outs) else "FAILED"
        svg = _histogram_svg(name, hs, outs[0]["atol"]) if hs else "<p>no finite differences to plot</p>"
        hist.append(f"<section><h3>{e(name)} — {status}</h3>{svg}</section>")
    notes = "".join(f"<li>warning: {e(w)}</li>" for w in d["warnings"]) + \
        "".join(f"<li>note: {e(n)}</li>" for n in d.get("notes") or []) + \
        "".join(f"<li>{e(x)}</li>" for x in _locate_lines(d))
    css = ("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
           "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}tr.bad td{background:#fde2e0}"
           "tr.ok td{background:#eaf7ea}.verdict{font-size:1.4em;font-weight:bold;color:"
           + ("#2e7d32" if ok else "#c0392b") + "}")
    embedded = to_json(d).replace("</", "<\\/")
    from .locate.plot import depth_svg

    depth = depth_svg(d.get("locate") or {})
    depth = f"<h2>Error along depth (locate)</h2>{depth}" if depth else ""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>portkit validation</title>"
            f"<style>{css}</style></head><body><h1>portkit validation</h1>"
            f"<p class='verdict'>{'PASSED' if ok else 'FAILED'}</p><p>{e(d['summary'])}</p>"
            f"<ul><li>reference: <code>{e(d['reference'])}</code></li>"
            f"<li>candidate: <code>{e(d['candidate'])}</code></li>"
            f"<li>criteria: {e(d['criteria'])}; inputs: {e(d['input_source'])} (seed {d['seed']})</li></ul>"
            f"<table><tr>{''.join(f'<th>{e(c)}</th>' for c in _COLUMNS)}</tr>{rows}</table>"
            f"{'<ul>' + notes + '</ul>' if notes else ''}{depth}<h2>Error histograms</h2>{''.join(hist)}"
            f"<script type='application/json' id='portkit-result'>"
            f"{embedded}</script></body></html>\n")


def write_report(result: Any, path: str | Path, kind: str | None = None) -> Path:
    """Write a report; the kind comes from the suffix (.json .md .html .xml) unless given."""
    p = Path(path)
    kind = kind or REPORT_SUFFIXES.get(p.suffix.lower())
    if kind is None:
        raise BadInput(f"unknown report type '{p.suffix}'", path=p,
                       hint=f"use one of {', '.join(sorted(REPORT_SUFFIXES))}")
    text = {"json": to_json, "markdown": to_markdown, "html": to_html, "junit": to_junit}[kind](result)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(p)
    return p
