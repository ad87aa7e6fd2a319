"""Drafts of the Art. 33 notification (to the authority, or as a processor to a controller), with the gaps.

Every Art. 33(3) field has a section: (a) the nature of the breach, with the categories and approximate
numbers of subjects and records; (b) the contact point; (c) the likely consequences; (d) the measures taken
or proposed. What Lethe cannot know (consequences, measures, often the nature) is left as a gap to fill and
listed at the top. Art. 33(4): what is not known yet may follow in phases. Counts and names only.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime

from lethe.breach.clock import deadline
from lethe.breach.scope import BreachScope
from lethe.policy import categories
from lethe.policy.model import Policy

GAP = "TO FILL"


@dataclass(frozen=True)
class Draft:
    """A notification draft: its sections (title, lines) and the gaps left."""

    title: str
    recipient: str
    sections: list[tuple[str, list[str]]]
    gaps: list[str] = field(default_factory=list)


def draft_notification(
    policy: Policy,
    breach_id: str,
    scope: BreachScope,
    *,
    description: str,
    aware_at: datetime,
    started: datetime | None,
    ended: datetime | None,
    recipient: str,
) -> Draft:
    """The Art. 33 draft to ``recipient`` (the authority, or a controller when Lethe runs as a processor)."""
    gaps: list[str] = []
    contact = policy.breach.contact or policy.controller.dpo
    window = f"from {started.isoformat() if started else GAP} to {ended.isoformat() if ended else GAP}"
    if not started or not ended:
        gaps.append("when the breach happened (--from, --to)")
    nature = description.strip() or GAP
    if not description.strip():
        gaps.append("Art. 33(3)(a): the nature of the breach (--description)")
    described = [f"{c} ({categories.describe(c, policy.categories)})" for c in scope.categories]
    kinds = ", ".join(f"{n} {k}(s)" for k, n in scope.subjects_by_kind.items()) or "none counted"
    a = [
        f"Nature: {nature}",
        f"When: {window}; became aware at {aware_at.isoformat()}",
        f"Categories of personal data: {', '.join(described) or 'none mapped'}",
        f"Special categories (Arts. 9, 10): {', '.join(scope.special_categories) or 'none'}",
        f"Approximate number of data subjects: {scope.subjects} ({kinds})",
        f"Approximate number of personal data records: {scope.records}",
        "Tables concerned: " + ", ".join(f"{t.table} ({t.records} records)" for t in scope.tables),
    ]
    if scope.unknown_subjects:
        a.append("Subjects not counted in: " + ", ".join(scope.unknown_subjects))
        gaps.append(
            "subjects of tables the data map does not link to a subject: " + ", ".join(scope.unknown_subjects)
        )
    if contact is None:
        gaps.append(
            "Art. 33(3)(b): the DPO or another contact point (policy `breach.contact` or `controller.dpo`)"
        )
        b = [f"Contact point: {GAP}"]
    else:
        b = [f"Contact point: {contact.name}" + (f", {contact.email}" if contact.email else "")]
    c = [f"Likely consequences for the data subjects: {GAP}"]
    d = [
        f"Measures taken or proposed to address the breach: {GAP}",
        f"Measures to mitigate its possible adverse effects: {GAP}",
    ]
    gaps += [
        "Art. 33(3)(c): the likely consequences of the breach",
        "Art. 33(3)(d): the measures taken or proposed, including to mitigate adverse effects",
    ]
    timing = [
        f"Notification due by {deadline(aware_at).isoformat()} (72 hours after becoming aware, Art. 33(1)).",
        "If later: the reasons for the delay (Art. 33(1)). Information not yet known may follow in phases (Art. 33(4)).",
    ]
    sections = [
        ("Controller", [policy.controller.name, policy.controller.address or GAP]),
        ("Art. 33(3)(a) Nature of the breach", a),
        ("Art. 33(3)(b) Contact point", b),
        ("Art. 33(3)(c) Likely consequences", c),
        ("Art. 33(3)(d) Measures", d),
        ("Timing", timing),
    ]
    return Draft(f"Personal data breach {breach_id}: notification (Art. 33)", recipient, sections, gaps)


def render_markdown(draft: Draft) -> str:
    """The draft as Markdown."""
    lines = [f"# {draft.title}", "", f"To: {draft.recipient}", ""]
    if draft.gaps:
        lines += ["## Gaps to fill before sending", "", *[f"- [ ] {g}" for g in draft.gaps], ""]
    for title, body in draft.sections:
        lines += [f"## {title}", "", *[f"- {line}" for line in body], ""]
    return "\n".join(lines)


def render_html(draft: Draft) -> str:
    """The draft as a self-contained HTML page."""
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(draft.title)}</title></head><body>",
        f"<h1>{e(draft.title)}</h1><p>To: {e(draft.recipient)}</p>",
    ]
    if draft.gaps:
        parts.append("<h2>Gaps to fill before sending</h2><ul>")
        parts += [f"<li>{e(g)}</li>" for g in draft.gaps]
        parts.append("</ul>")
    for title, body in draft.sections:
        parts.append(f"<h2>{e(title)}</h2><ul>")
        parts += [f"<li>{e(line)}</li>" for line in body]
        parts.append("</ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
