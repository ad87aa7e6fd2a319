"""Lay out a ``Ropa`` as Markdown, self-contained HTML, or CSV (one row per processing activity)."""

from __future__ import annotations

import csv
import io
import re
from html import escape

from lethe.ropa.record import ART9_MARKER, ART10_MARKER, CONTROLLER_FIELDS, NONE, RECORD_FIELDS, Ropa, Value

TITLE = "Record of processing activities (GDPR Art. 30(1))"
ACTIVITY_LABEL = "Processing activity"
GAPS_LABEL = "Gaps to fill"
PROCESSOR_TITLE = "Processing on behalf of controllers (GDPR Art. 30(2))"
CSV_COLUMNS: tuple[str, ...] = (
    ACTIVITY_LABEL,
    *(label for _, label in CONTROLLER_FIELDS),
    *(label for _, label in RECORD_FIELDS),
    GAPS_LABEL,
    "Record generated",
    "Policy SHA-256",
)


def _header_line(ropa: Ropa) -> str:
    return f"Generated {ropa.generated.isoformat()} from {ropa.policy_source}, policy SHA-256 {ropa.policy_hash}."


# -- Markdown ----------------------------------------------------------------------------------------

# Characters that would start emphasis, code, links or HTML; "_" only at a word's edge, since CommonMark
# ignores it inside words (last_login_at) and escaping it there would clutter the source.
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|])|(?<!\w)_|_(?!\w)")


def _md(text: str) -> str:
    flat = " ".join(text.split())  # a newline in a value must not end the list item
    escaped = _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), flat)
    for marker in (ART9_MARKER, ART10_MARKER):
        escaped = escaped.replace(marker, f"**{marker}**")
    return escaped


def _md_field(label: str, value: Value) -> list[str]:
    if isinstance(value, str):
        return [f"- **{_md(label)}:** {_md(value)}"]
    return [f"- **{_md(label)}:**", *(f"  - {_md(item)}" for item in value)]


def render_markdown(ropa: Ropa) -> str:
    """The record as a Markdown document."""
    out = [f"# {TITLE}", "", _md(_header_line(ropa)), "", "## Controller", ""]
    for label, value in ropa.controller.fields():
        out += _md_field(label, value)
    out += ["", f"## Processing activities ({len(ropa.records)})"]
    if not ropa.records:
        out += ["", NONE]
    for i, record in enumerate(ropa.records, 1):
        out += ["", f"### {i}. {_md(record.name)}", ""]
        for label, value in record.fields():
            out += _md_field(label, value)
    if ropa.processor:
        out += ["", f"## {PROCESSOR_TITLE} ({len(ropa.processor)})"]
    for entry in ropa.processor:
        out += ["", f"### {_md(entry.controller)}", ""]
        for label, value in entry.fields():
            out += _md_field(label, value)
    out += ["", f"## {GAPS_LABEL} ({len(ropa.gaps)})", ""]
    out += [f"- {_md(str(gap))}" for gap in ropa.gaps] or ["None: the policy states every field."]
    return "\n".join(out) + "\n"


# -- HTML --------------------------------------------------------------------------------------------

_CSS = """
body { font: 15px/1.45 system-ui, sans-serif; color: #1b1b1b; max-width: 70rem; margin: 2rem auto;
       padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ccc; } h3 { margin-top: 1.6rem; }
.meta { color: #555; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { border: 1px solid #d0d0d0; padding: .35rem .6rem; vertical-align: top; text-align: left; }
th { width: 30%; background: #f5f5f5; font-weight: 600; }
td ul { margin: 0; padding-left: 1.1rem; }
.none { color: #8a5a00; font-style: italic; }
.special { color: #a00000; font-weight: 600; }
.gaps li { color: #8a5a00; }
@media print { body { margin: 0; max-width: none; } section { break-inside: avoid; } }
"""


def _html_text(text: str) -> str:
    escaped = escape(text)
    if text in (NONE, "none"):
        return f'<span class="none">{escaped}</span>'
    for marker in (ART9_MARKER, ART10_MARKER):
        escaped = escaped.replace(escape(marker), f'<span class="special">{escape(marker)}</span>')
    return escaped


def _html_value(value: Value) -> str:
    if isinstance(value, str):
        return _html_text(value)
    return "<ul>" + "".join(f"<li>{_html_text(item)}</li>" for item in value) + "</ul>"


def _html_table(rows: list[tuple[str, Value]]) -> list[str]:
    out = ["<table>"]
    out += [f'<tr><th scope="row">{escape(label)}</th><td>{_html_value(v)}</td></tr>' for label, v in rows]
    return [*out, "</table>"]


def render_html(ropa: Ropa) -> str:
    """The record as one self-contained HTML page: inline CSS, no scripts, no external references."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{escape(TITLE)}: {escape(ropa.controller.name)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(TITLE)}</h1>",
        f'<p class="meta">{escape(_header_line(ropa))}</p>',
        "<h2>Controller</h2>",
        *_html_table(ropa.controller.fields()),
        f"<h2>Processing activities ({len(ropa.records)})</h2>",
    ]
    if ropa.records:
        out.append("<ol>")
        out += [
            f'<li><a href="#activity-{i}">{escape(r.name)}</a></li>' for i, r in enumerate(ropa.records, 1)
        ]
        out.append("</ol>")
    else:
        out.append(f'<p class="none">{escape(NONE)}</p>')
    for i, record in enumerate(ropa.records, 1):
        out.append(f'<section id="activity-{i}">')
        out.append(f"<h3>{i}. {escape(record.name)}</h3>")
        out += _html_table(record.fields())
        out.append("</section>")
    if ropa.processor:
        out.append(f"<h2>{escape(PROCESSOR_TITLE)} ({len(ropa.processor)})</h2>")
    for i, entry in enumerate(ropa.processor, 1):
        out.append(f'<section id="controller-{i}">')
        out.append(f"<h3>{escape(entry.controller)}</h3>")
        out += _html_table(entry.fields())
        out.append("</section>")
    out.append(f"<h2>{escape(GAPS_LABEL)} ({len(ropa.gaps)})</h2>")
    if ropa.gaps:
        out += ['<ul class="gaps">', *(f"<li>{escape(str(gap))}</li>" for gap in ropa.gaps), "</ul>"]
    else:
        out.append("<p>None: the policy states every field.</p>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


# -- CSV ---------------------------------------------------------------------------------------------


def _cell(value: Value) -> str:
    text = value if isinstance(value, str) else "; ".join(value)
    # A spreadsheet would run a cell starting like a formula; the quote makes it text (OWASP CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def render_csv(ropa: Ropa) -> str:
    """The record as CSV: a header row, then one row per activity and one column per field.

    The processor's record (Art. 30(2)) has other fields: it is in the Markdown and HTML forms.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    controller = [value for _, value in ropa.controller.fields()]
    for i, record in enumerate(ropa.records):
        # The controller's gaps belong to every row, as its fields do.
        gaps = tuple(
            f"{gap.field}: {gap.message}" for gap in ropa.gaps if gap.activity is None or gap.activity == i
        )
        row: list[Value] = [record.name, *controller, *(value for _, value in record.fields())]
        row += [gaps or "none", ropa.generated.isoformat(), ropa.policy_hash]
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue()
