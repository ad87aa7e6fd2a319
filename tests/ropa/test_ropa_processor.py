"""The processor's record (Art. 30(2)) in the RoPA: one entry per controller, every field, its gaps.

Built from the policy alone (no database is read: the store URL is a dummy), so it is the same on every engine.
"""

from __future__ import annotations

from datetime import date
from html import escape

from support.processor import processor_policy, processor_policy_text

from lethe.policy.loading import parse_policy
from lethe.ropa.record import PROCESSOR_FIELDS, build_ropa
from lethe.ropa.render import PROCESSOR_TITLE, render_html, render_markdown

DAY = date(2026, 5, 1)
RULE = """
- name: events
  table: db.events
  after: 3 years
  since: at
  action: delete
  per_controller: {acme: 30 days}
  contract_periods: true
"""


def test_every_art_30_2_field_per_controller() -> None:
    ropa = build_ropa(processor_policy("sqlite:///x.db", RULE), generated=DAY)
    assert [e.controller for e in ropa.processor] == ["Acme Ltd (key acme)", "Globex plc (key globex)"]
    acme = dict(ropa.processor[0].fields())
    assert list(acme) == [label for _, label in PROCESSOR_FIELDS]
    assert acme["Processor and its data protection officer (Art. 30(2)(a))"].startswith(
        "Hosting Ltd; DPO: DPO"
    )
    assert acme["Controller's contact details (Art. 30(2)(a))"] == "privacy@acme.example"
    processing = acme["Categories of processing carried out on behalf of the controller (Art. 30(2)(b))"]
    assert processing == ("hosting: host the controllers' shops (user.contact.email)",)
    assert acme["Transfers to third countries and safeguards (Art. 30(2)(c))"] == (
        "US (support desk), safeguard: SCC",
    )
    measures = acme["Technical and organisational security measures (Art. 30(2)(d), Art. 32(1))"]
    assert measures == ("encryption at rest", "tenant isolation", "backups")
    retention = acme["Retention for the controller and return at the end of the contract (Art. 28(3)(g))"]
    assert retention[0] == "events: 30 days after at for this controller"
    assert "from db.contracts" in retention[1]
    # globex declares no contact: a gap to fill, not a blank
    assert any(g.where == "controller globex" and "no email or address" in g.message for g in ropa.gaps)


def test_rendered_in_markdown_and_html() -> None:
    ropa = build_ropa(processor_policy("sqlite:///x.db", RULE), generated=DAY)
    markdown, html = render_markdown(ropa), render_html(ropa)
    assert f"## {PROCESSOR_TITLE} (2)" in markdown and f"{escape(PROCESSOR_TITLE)} (2)" in html
    for _, label in PROCESSOR_FIELDS:  # once per controller (a gap may name a field once more)
        assert (
            markdown.count(f"**{label}:**") == 2 and html.count(f'<th scope="row">{escape(label)}</th>') == 2
        )


def test_a_controller_policy_has_no_processor_record() -> None:
    text = processor_policy_text().split("role: processor\n")[0] + "stores:\n  db: {url: 'sqlite:///x.db'}\n"
    ropa = build_ropa(parse_policy(text), generated=DAY)
    assert ropa.processor == () and PROCESSOR_TITLE not in render_markdown(ropa)
