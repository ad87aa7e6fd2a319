"""No personal data in what consent and breach commands print, write or record, except the encrypted list.

Runs the commands as a user would (``lethe consent report``, ``consent honour``, ``breach open``, ``breach
assess``) on the demo shop, then searches their output, every file of the breach folder but the encrypted
contact list, and the ledger's bytes for the shop's personal values; on all three engines.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from support.personal import leaked, personal_values
from support.shop import DEMO, Shop, settings_env

from lethe.cli.main import main

PASSPHRASE = "a long enough passphrase"


def run(shop: Shop, tmp_path: Path, *args: str, code: int = 0) -> str:
    env = {**settings_env(tmp_path), "LETHE_DEMO_URL": shop.url, "LETHE_BREACH_PASSPHRASE": PASSPHRASE}
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_consent_and_breach_outputs_carry_no_personal_data(shop: Shop, tmp_path: Path) -> None:
    values = personal_values(shop)
    assert len(values) > 100  # the search has something to find
    outputs = [run(shop, tmp_path, "consent", "report", str(DEMO), code=5)]  # the demo's stale sends
    outputs.append(run(shop, tmp_path, "consent", "honour", str(DEMO), "--dry-run"))
    outputs.append(run(shop, tmp_path, "consent", "honour", str(DEMO)))
    outputs.append(run(shop, tmp_path, "consent", "report", str(DEMO), "--json"))
    assert '"honoured": true' in outputs[-1]
    out_dir = tmp_path / "breaches"
    opened = run(
        shop, tmp_path, "breach", "open", str(DEMO), "--tables", "shop.customers,shop.addresses",
        "--columns", "shop.web_sessions.ip_address", "--from", "2026-11-01T08:00:00Z", "--to", "2026-11-01T09:00:00Z",
        "--description", "a backup copy was readable from a public bucket", "--out", str(out_dir),
    )  # fmt: skip
    outputs.append(opened)
    breach_id = opened.split()[1]
    outputs.append(
        run(shop, tmp_path, "breach", "assess", str(DEMO), breach_id, "--high-risk", "--proportionate")
    )
    assert outputs[-1].startswith("communicate")
    files = sorted(p for p in (out_dir / breach_id).rglob("*") if p.is_file())
    assert {p.name for p in files} == {
        "notification.md",
        "notification.html",
        "scope.json",
        "contacts.csv.enc",
    }
    for text in [*outputs, *(p.read_text() for p in files if p.suffix != ".enc")]:
        assert leaked(text, values) == []
    raw = shop.ledger_bytes() + (out_dir / breach_id / "contacts.csv.enc").read_bytes()
    assert not [v for v in values if v.encode() in raw]
