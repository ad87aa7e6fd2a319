"""The DPIA report of a check run: ``dpia.html`` for people, ``dpia.json`` for machines, ``dpia.md`` for Prefect.

The HTML is one self-contained page: inline CSS, inline SVG charts (``lethe.dpia.charts``), no script, no link
to anything, and a Content-Security-Policy that forbids loading anything. It shows the checks' status, the
risk register (likelihood x severity per finding, its mitigation and owner), every check with what it
measured and who evaluated it (Great Expectations inside the database, or Lethe), and the backlog of
expired rows per retention rule over time, read from the evidence ledger (``pending:<rule>`` counts of
``retention.plan`` and ``dpia.checks`` entries, ``remaining`` of enforcement summaries). Results hold
counts and names only, so the report holds no personal value.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from lethe.dpia.charts import STATUS_COLOURS, bar_chart, line_chart
from lethe.dpia.checks import CheckResult, CheckRun
from lethe.dpia.risk import RISKS
from lethe.ledger.chain import Ledger
from lethe.policy.model import Policy

Backlog = dict[str, list[tuple[datetime, int]]]
_CSS = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 76rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } .meta { color: #555; } .charts { display: flex; flex-wrap: wrap; gap: 2rem; }
.pass { color: #2e7d32; font-weight: 600; } .fail { color: #c62828; font-weight: 600; }
.error { color: #ef6c00; font-weight: 600; } .banner { padding: .5rem 1rem; border-radius: 4px; }
.banner.pass { background: #e8f5e9; } .banner.fail { background: #ffebee; } .banner.error { background: #fff3e0; }
.scroll { overflow-x: auto; } .high { background: #ffcdd2; } .medium { background: #ffe0b2; } .low { background: #fff9c4; }
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'"
EVIDENCE = {"great_expectations": "Great Expectations", "lethe": "Lethe"}
_RETENTION_SUMMARIES = ("retention.delete", "retention.anonymise")


@dataclass(frozen=True)
class ReportFiles:
    """Where the report was written."""

    html: Path
    json: Path
    markdown: Path


def backlog(ledger: Ledger | None, policy: Policy) -> Backlog:
    """Pending rows per retention rule of the policy over time, from the ledger's counts."""
    series: Backlog = defaultdict(list)
    if ledger is None:
        return {}
    rules = {r.name for r in policy.retention}
    for recorded in ledger.entries():
        entry = recorded.entry
        if entry.action in ("retention.plan", "dpia.checks"):
            for key, value in entry.counts.items():
                name = key.removeprefix("pending:")
                if key.startswith("pending:") and name in rules:
                    series[name].append((recorded.recorded_at, value))
        elif entry.action in _RETENTION_SUMMARIES and entry.rule in rules and "remaining" in entry.counts:
            series[entry.rule].append((recorded.recorded_at, entry.counts["remaining"]))
    return dict(series)


def _observed(result: CheckResult) -> str:
    return ", ".join(f"{k}={v}" for k, v in result.observed.items()) or "-"


def report_data(run: CheckRun, policy: Policy, series: Backlog) -> dict[str, Any]:
    """The JSON document of the report."""
    results = []
    for result in run.results:
        item = asdict(result)
        item.update(where=list(result.where), risk=result.risk, rating=result.rating)
        results.append(item)
    return {
        "report": "lethe-dpia",
        "version": 1,
        "controller": policy.controller.name,
        "policy": {"source": run.policy_source, "sha256": run.policy_hash},
        "run_id": run.run_id,
        "as_of": run.as_of.isoformat(),
        "started": run.started.isoformat(),
        "ended": run.ended.isoformat(),
        "status": run.status,
        "evaluated": run.evaluated_count,
        "expected": run.expected_count,
        "counts": {s: run.count(s) for s in ("pass", "fail", "error")},
        "risk_register": [r.id for r in run.findings()],
        "results": results,
        "backlog": {rule: [[t.isoformat(), n] for t, n in sorted(points)] for rule, points in series.items()},
    }


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _table(head: list[str], rows: list[list[str]]) -> str:
    """A table of already escaped cells."""
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></div>'


def _status(status: str) -> str:
    return f'<span class="{_e(status)}">{_e(status)}</span>'


def _register_rows(run: CheckRun) -> list[list[str]]:
    return [
        [
            _e(r.id), _status(r.status), _e(r.likelihood), _e(r.severity),
            f'<span class="{_e(r.rating)}">{r.risk} ({_e(r.rating)})</span>', _e(r.mitigation), _e(r.owner),
        ]
        for r in run.findings()
    ]  # fmt: skip


def _check_rows(run: CheckRun) -> list[list[str]]:
    rows = []
    for r in run.results:
        remark = r.error or r.note or ""
        rows.append(
            [
                f"{_e(r.id)}<br><small>{_e(r.title)}</small>", _status(r.status), _e(_observed(r)),
                _e(r.threshold), _e(EVIDENCE[r.evidence]), _e(", ".join(r.where)), _e(remark),
            ]
        )  # fmt: skip
    return rows


def render_html(run: CheckRun, policy: Policy, series: Backlog) -> str:
    """The self-contained HTML page."""
    counts = [(s, run.count(s), STATUS_COLOURS[s]) for s in ("pass", "fail", "error")]
    status_chart = bar_chart(counts, title="Checks by status")
    backlog_chart = line_chart(
        series,
        title="Expired rows pending per retention rule",
        empty_text="no retention plan in the ledger yet",
    )
    complete = f"{run.evaluated_count} of {run.expected_count} checks evaluated" + (
        "" if run.complete else " (INCOMPLETE: the run is an error, not a pass)"
    )
    risk_scale = _table(
        ["kind", "likelihood", "severity", "mitigation"],
        [[_e(k), _e(v.likelihood), _e(v.severity), _e(v.mitigation)] for k, v in RISKS.items()],
    )
    findings = _register_rows(run)
    register = (
        _table(["check", "status", "likelihood", "severity", "score", "mitigation", "owner"], findings)
        if findings
        else "<p>No finding: every check passed.</p>"
    )
    checks = _table(
        ["check", "status", "observed", "threshold", "evaluated by", "where", "error / note"],
        _check_rows(run),
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>DPIA checks: {_e(policy.controller.name)}</title><style>{_CSS}</style></head>
<body>
<h1>Data protection impact assessment: checks</h1>
<p class="meta">{_e(policy.controller.name)} &middot; policy {_e(run.policy_source)} (sha256 {_e(run.policy_hash[:12])})
&middot; as of {_e(run.as_of.isoformat())} &middot; run {_e(run.run_id)}, {_e(run.started.isoformat(timespec="seconds"))}
to {_e(run.ended.isoformat(timespec="seconds"))}</p>
<p class="banner {_e(run.status)}">Overall: {_status(run.status)} &middot; {run.count("pass")} passed,
{run.count("fail")} failed, {run.count("error")} errors &middot; {_e(complete)}</p>
<div class="charts">{status_chart}{backlog_chart}</div>
<h2>Risk register</h2>
<p>One row per failed or errored check, highest score first; score = likelihood x severity (1-5 each).</p>
{register}
<h2>Checks</h2>
<p>Every result is a count or a measure: no personal value is copied into this report. "Great Expectations"
checks ran as expectations inside the store's database; "Lethe" checks (coverage, localisation) were
evaluated by Lethe from its schema scan and the policy.</p>
{checks}
<h2>Method</h2>
<p>Likelihood and severity per kind of check, fixed so that runs compare; an erroring check keeps its
kind's values, because a check that cannot run gives no assurance.</p>
{risk_scale}
</body></html>
"""


def _md(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(run: CheckRun, policy: Policy) -> str:
    """The Markdown summary (also the Prefect artifact)."""
    lines = [
        f"# DPIA checks: {_md(policy.controller.name)}",
        "",
        f"**{run.status.upper()}**: {run.count('pass')} passed, {run.count('fail')} failed, "
        f"{run.count('error')} errors; {run.evaluated_count} of {run.expected_count} checks evaluated "
        f"(as of {run.as_of.isoformat()}, policy sha256 `{run.policy_hash[:12]}`).",
        "",
        "## Risk register",
        "",
    ]
    findings = run.findings()
    if findings:
        lines += ["| check | status | L | S | score | mitigation | owner |", "|---|---|---|---|---|---|---|"]
        lines += [
            f"| {_md(r.id)} | {r.status} | {r.likelihood} | {r.severity} | {r.risk} ({r.rating}) "
            f"| {_md(r.mitigation)} | {_md(r.owner)} |"
            for r in findings
        ]
    else:
        lines.append("No finding: every check passed.")
    lines += [
        "",
        "## Checks",
        "",
        "| check | status | observed | threshold | evaluated by |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {_md(r.id)} | {r.status} | {_md(_observed(r))} | {_md(r.threshold)} | {EVIDENCE[r.evidence]} |"
        for r in run.results
    ]
    return "\n".join(lines) + "\n"


def write_report(run: CheckRun, policy: Policy, out_dir: Path | str, *, ledger: Ledger | None) -> ReportFiles:
    """Write ``dpia.html``, ``dpia.json`` and ``dpia.md`` into ``out_dir`` (created when missing)."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    series = backlog(ledger, policy)
    files = ReportFiles(folder / "dpia.html", folder / "dpia.json", folder / "dpia.md")
    files.html.write_text(render_html(run, policy, series), encoding="utf-8")
    files.json.write_text(json.dumps(report_data(run, policy, series), indent=2) + "\n", encoding="utf-8")
    files.markdown.write_text(render_markdown(run, policy), encoding="utf-8")
    return files
