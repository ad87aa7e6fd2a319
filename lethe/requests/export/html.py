"""The export's ``index.html``: one self-contained page a person can read without any other file.

The facts come first (who the controller is, why and on what basis the data is processed, for how long,
who receives it, the subject's rights), then one section per table with its rows. Everything is inline: the
CSS sits in the page, there is no script, and a Content-Security-Policy forbids loading anything at all, so
opening the page contacts no server. Every value from the database or the policy is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

_CSS = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ccc; } h3 { margin-bottom: .3rem; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.null { color: #999; } .meta { color: #555; }
.scroll { overflow-x: auto; } dt { font-weight: 600; } dd { margin: 0 0 .5rem 1.5rem; }
"""
# No network, no script, no frames: the page shows what is in it and nothing else.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'"


def _text(value: Any) -> str:
    return escape(str(value), quote=True)


def _contact(title: str, contact: Mapping[str, Any] | None) -> str:
    if not contact:
        return ""
    parts = [_text(contact["name"])]
    if contact.get("address"):
        parts.append(_text(contact["address"]))
    if contact.get("email"):
        email = _text(contact["email"])
        parts.append(f'<a href="mailto:{email}">{email}</a>')
    return f"<dt>{escape(title)}</dt><dd>{'<br>'.join(parts)}</dd>"


def _items(values: Iterable[str]) -> str:
    listed = [f"<li>{_text(v)}</li>" for v in values]
    return f"<ul>{''.join(listed)}</ul>" if listed else "<p>none</p>"


def _activity(activity: Mapping[str, Any]) -> str:
    basis = _text(activity["lawful_basis_text"])
    if activity.get("legitimate_interest"):
        basis += f": {_text(activity['legitimate_interest'])}"
    transfers = [
        f"{t['country']}{' (' + t['recipient'] + ')' if t.get('recipient') else ''}: {t['safeguard']}"
        for t in activity["transfers"]
    ]
    retention = [r["text"] for r in activity["retention"]]
    if activity.get("retention_note"):
        retention.append(activity["retention_note"])
    categories = [f"{c['description']} ({c['name']})" for c in activity["categories"]]
    rows = [
        ("Purpose", f"<p>{_text(activity['purpose'])}</p>"),
        ("Lawful basis", f"<p>{basis}</p>"),
        ("Categories of data", _items(categories)),
        ("Recipients", _items(activity["recipients"])),
        ("Transfers outside the EU/EEA", _items(transfers)),
        ("How long it is kept", _items(retention)),
        ("Where the data comes from", _items(activity["sources"])),
        ("Automated decisions", f"<p>{_text(activity.get('automated_decisions') or 'none')}</p>"),
    ]
    body = "".join(f"<dt>{title}</dt><dd>{html}</dd>" for title, html in rows)
    return f"<h3>{_text(activity['name'])}</h3><dl>{body}</dl>"


def _facts(facts: Mapping[str, Any]) -> str:
    contacts = "".join(
        (
            _contact("Controller", facts["controller"]),
            _contact("Data protection officer", facts.get("dpo")),
            _contact("Representative in the EU", facts.get("representative_eu")),
        )
    )
    activities = "".join(_activity(a) for a in facts["activities"]) or "<p>No processing activity.</p>"
    rights = "".join(
        f"<li><strong>{_text(r['right'])}</strong> ({_text(r['article'])}): {_text(r['text'])}</li>"
        for r in facts["rights"]
    )
    recipients = "".join(
        f"<li><strong>{_text(r['name'])}</strong>: {_text(r['description'] or ', '.join(r['data']))}</li>"
        for r in facts.get("recipients", [])
    )
    told = (
        f"<h2>Who receives your data (Art. 15(1)(c), told of changes under Art. 19)</h2><ul>{recipients}</ul>"
        if recipients
        else ""
    )
    return (
        f"<h2>Who we are</h2><dl>{contacts}</dl>"
        f"<h2>Why we process your data</h2>{activities}{told}"
        f"<h2>Your rights</h2><ul>{rights}</ul>"
        "<p>To exercise them, write to the data protection officer or the controller above.</p>"
    )


def _cell(value: Any) -> str:
    if value is None:
        return '<td class="null">(empty)</td>'
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    return f"<td>{_text(value)}</td>"


def _table(name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_text(c)}</th>" for c in columns)
    body = "".join(f"<tr>{''.join(_cell(v) for v in row)}</tr>" for row in rows)
    count = f"{len(rows)} row{'s' if len(rows) != 1 else ''}"
    anchor = _text("t-" + name)
    grid = f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>' if rows else ""
    return f'<h3 id="{anchor}">{_text(name)}</h3><p class="meta">{count}</p>{grid}'


def render_index(
    head: Mapping[str, str],
    facts: Mapping[str, Any],
    tables: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]],
) -> str:
    """The whole page; ``head`` has subject, exported_at and policy_hash, ``tables`` are (``store.table``,
    column names, rows of JSON-safe values)."""
    subject, exported_at, policy_hash = head["subject"], head["exported_at"], head["policy_hash"]
    contents = "".join(
        f'<li><a href="#{_text("t-" + n)}">{_text(n)}</a> ({len(r)})</li>' for n, _, r in tables
    )
    sections = "".join(_table(name, columns, rows) for name, columns, rows in tables)
    title = f"Your personal data ({_text(subject)})"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{_CSS}</style></head><body>"
        f"<h1>{title}</h1>"
        f'<p class="meta">Exported {_text(exported_at)} under GDPR Art. 15 (access) and Art. 20 '
        f"(portability). Policy SHA-256 {_text(policy_hash or 'unknown')}. The same data is in "
        "data.json (with its JSON Schema data.schema.json) and in one CSV file per table; "
        "manifest.json lists every file with its SHA-256.</p>"
        f"{_facts(facts)}"
        f"<h2>Your data</h2><ul>{contents}</ul>{sections}"
        "</body></html>\n"
    )
