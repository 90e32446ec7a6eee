"""The run manifest (`OUT/manifest.json`) and its renderings: JUnit XML for CI, a self-contained HTML page.

The manifest records, for every artifact a recipe produced: its path (relative to OUT), sha256, size,
source (path + sha256), route, the tools and versions that produced it, the options used, the validation
and benchmark results (their `--json` schemas) and the gate verdicts; plus the recipe (path + sha256),
the seed, the machine and every library version, so a run can be audited and repeated.
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from .environment import environment
from .hashing import sha256_of

__all__ = ["SCHEMA", "environment", "sha256_of", "tool_versions", "write_json", "to_junit", "to_html", "summary"]

SCHEMA = "portkit.manifest/1"
TOOLS = (
    "numpy",
    "onnx",
    "onnxruntime",
    "torch",
    "onnxscript",
    "onnx2torch",
    "onnxslim",
    "tensorflow",
    "keras",
    "tf2onnx",
    "onnx2tf",
    "ai_edge_litert",
    "pydantic",
    "pyyaml",
)


def tool_versions() -> dict[str, str | None]:
    from .versions import versions

    return versions(*TOOLS)


def write_json(data: Any, path: str | Path) -> Path:
    """Write JSON atomically (temp file beside it, then rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(p)
    return p


def _write_text(text: str, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(p)
    return p


def summary(manifest: dict[str, Any]) -> dict[str, int]:
    arts = [a for m in manifest["models"] for a in m["artifacts"]]
    verdicts = manifest.get("gates") or []
    return {
        "models": len(manifest["models"]),
        "artifacts": len(arts),
        "artifacts_failed": sum(1 for a in arts if not a["passed"]),
        "errors": sum(1 for a in arts if a.get("error"))
        + sum(1 for m in manifest["models"] if m.get("error")),
        "gates": len(verdicts),
        "gates_failed": sum(1 for v in verdicts if not v["passed"]),
    }


def artifact_rows(manifest: dict[str, Any]) -> list[list[str]]:
    """One row per artifact: model, target, format, size, validation, p50, gates, verdict."""
    rows = []
    for m in manifest["models"]:
        if m.get("error") and not m["artifacts"]:
            rows.append([m["name"], "-", "-", "-", "-", "-", "-", f"ERROR: {m['error']['message']}"])
        for a in m["artifacts"]:
            v = a.get("validation")
            val = "skipped" if v is None else ("ok" if v.get("passed") else "FAILED")
            if v is not None and v.get("max_abs") is not None:
                val += f" ({_num(v['max_abs'])})"
            b = (a.get("bench") or {}).get("results") or []
            p50 = ", ".join(f"{r['latency_ms']['p50']:.3f}" for r in b) or "-"
            g = a.get("gates") or {}
            verdicts = g.get("verdicts") or []
            gates = "-" if not verdicts else f"{sum(x['passed'] for x in verdicts)}/{len(verdicts)} passed"
            size = "-" if a.get("size_bytes") is None else f"{a['size_bytes'] / 1e6:.3f} MB"
            status = (
                "ok" if a["passed"] else ("ERROR: " + a["error"]["message"] if a.get("error") else "FAILED")
            )
            rows.append([m["name"], a["name"], a["format"], size, val, p50, gates, status])
    return rows


ARTIFACT_COLUMNS = ("model", "target", "format", "size", "validation (max abs)", "p50 ms", "gates", "verdict")
GATE_COLUMNS = ("model/target", "gate", "measured on", "limit", "measured", "verdict", "how decided")


def gate_rows(manifest: dict[str, Any], failed_only: bool = False) -> list[list[str]]:
    from .gates import GateVerdict

    rows = []
    for v in manifest.get("gates") or []:
        if failed_only and v["passed"]:
            continue
        gv = GateVerdict(
            **{k: v[k] for k in ("gate", "target", "limit", "measured", "passed", "unit", "detail", "stat")}
        )
        rows.append(
            [
                v["artifact"],
                gv.name(),
                gv.target,
                gv.limit_text(),
                gv.measured_text(),
                "pass" if gv.passed else "FAIL",
                gv.detail,
            ]
        )
    return rows


def _num(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, (int, float)) else str(v)


def to_junit(manifest: dict[str, Any]) -> str:
    """One <testsuite> per model; one <testcase> per artifact step (convert, validate, bench, export) and per
    gate verdict, so CI lists each gate by name with its limit and measured value."""
    suites = ET.Element("testsuites", name="portkit.run")
    for m in manifest["models"]:
        cases: list[ET.Element] = []
        if m.get("error"):
            tc = ET.Element("testcase", classname=f"portkit.run.{m['name']}", name="model", time="0")
            ET.SubElement(tc, "error", message=m["error"]["message"], type=m["error"]["type"])
            cases.append(tc)
        for a in m["artifacts"]:
            cls = f"portkit.run.{m['name']}.{a['name']}"
            for step in ("convert", "validate", "bench", *sorted(a.get("exports") or {})):
                st = (a.get("steps") or {}).get(step)
                if st is None:
                    continue
                tc = ET.Element("testcase", classname=cls, name=step, time=f"{st.get('seconds', 0):.3f}")
                if st["status"] == "failed":
                    ET.SubElement(tc, "failure", message=st.get("message", ""), type="StepFailed")
                elif st["status"] == "error":
                    ET.SubElement(tc, "error", message=st.get("message", ""), type=st.get("type", "Error"))
                elif st["status"] == "skipped":
                    ET.SubElement(tc, "skipped", message=st.get("message", ""))
                else:
                    ET.SubElement(tc, "system-out").text = st.get("message", "")
                cases.append(tc)
            for v in (a.get("gates") or {}).get("verdicts") or []:
                name = (
                    f"gate {v['gate']}" + (f" ({v['stat']})" if v.get("stat") else "") + f" [{v['target']}]"
                )
                tc = ET.Element("testcase", classname=cls, name=name, time="0")
                text = f"limit {v['limit']}{v['unit']}, measured {v['measured']}{v['unit']}: {v['detail']}"
                if not v["passed"]:
                    ET.SubElement(tc, "failure", message=text, type="GateFailed")
                else:
                    ET.SubElement(tc, "system-out").text = text
                cases.append(tc)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"portkit.run.{m['name']}",
            tests=str(len(cases)),
            failures=str(sum(1 for c in cases if c.find("failure") is not None)),
            errors=str(sum(1 for c in cases if c.find("error") is not None)),
            skipped=str(sum(1 for c in cases if c.find("skipped") is not None)),
        )
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="source", value=str(m["source"]["path"]))
        ET.SubElement(props, "property", name="seed", value=str(manifest["seed"]))
        suite.extend(cases)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def to_html(manifest: dict[str, Any]) -> str:
    """A self-contained page: verdict, artifact table, gate table, versions (inline CSS, no assets)."""
    e = html.escape
    ok = manifest["passed"]

    def table(cols: tuple[str, ...], rows: list[list[str]], status_col: int) -> str:
        body = "".join(
            "<tr class='{}'>{}</tr>".format(
                "ok" if str(r[status_col]).startswith(("ok", "pass")) else "bad",
                "".join(f"<td>{e(str(c))}</td>" for c in r),
            )
            for r in rows
        )
        return f"<table><tr>{''.join(f'<th>{e(c)}</th>' for c in cols)}</tr>{body}</table>"

    s = manifest["summary"]
    css = (
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
        "margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}"
        "tr.bad td{background:#fde2e0}tr.ok td{background:#eaf7ea}.verdict{font-size:1.4em;font-weight:bold;"
        "color:" + ("#2e7d32" if ok else "#c0392b") + "}code{font-size:12px}"
    )
    notes = "".join(f"<li>{e(n)}</li>" for n in manifest.get("notes") or [])
    versions = ", ".join(f"{k} {v}" for k, v in (manifest.get("tools") or {}).items() if v)
    arts = "".join(
        f"<li><code>{e(a['path'] or '-')}</code> sha256 <code>{e(str(a['sha256']))}</code></li>"
        for m in manifest["models"]
        for a in m["artifacts"]
    )
    gates_html = table(GATE_COLUMNS, gate_rows(manifest), 5) if manifest.get("gates") else "<p>none</p>"
    embedded = json.dumps(manifest, default=str).replace("</", "<\\/")
    recipe = manifest.get("recipe") or {}
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>portkit run</title><style>{css}</style>"
        f"</head><body><h1>portkit run{(': ' + e(recipe['name'])) if recipe.get('name') else ''}</h1>"
        f"<p class='verdict'>{'PASSED' if ok else 'FAILED'}</p>"
        f"<p>{s['models']} model(s), {s['artifacts']} artifact(s) ({s['artifacts_failed']} failed), "
        f"{s['gates']} gate(s) ({s['gates_failed']} failed). "
        f"Recipe <code>{e(str(recipe.get('path')))}</code> "
        f"(sha256 <code>{e(str(recipe.get('sha256')))}</code>), seed {manifest['seed']}.</p>"
        f"<h2>Artifacts</h2>{table(ARTIFACT_COLUMNS, artifact_rows(manifest), 7)}"
        f"<h2>Gates</h2>{gates_html}"
        f"{'<ul>' + notes + '</ul>' if notes else ''}<h2>Files</h2><ul>{arts}</ul>"
        f"<h2>Environment</h2><p>{e(versions)}</p>"
        f"<script type='application/json' id='portkit-manifest'>{embedded}</script></body></html>\n"
    )


def write_junit(manifest: dict[str, Any], path: str | Path) -> Path:
    return _write_text(to_junit(manifest), path)


def write_html(manifest: dict[str, Any], path: str | Path) -> Path:
    return _write_text(to_html(manifest), path)
