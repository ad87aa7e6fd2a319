"""The access and portability export on real databases: the demo shop and Chinook, on all three engines.

Value types, two keys to the subject and the HTML page on hand-made tables: test_export_values.py.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from support.databases import ChinookDb, make_engine
from support.exports import (
    DEMO_POLICY,
    LEDGER_HEX,
    MASTER_HEX,
    PASSPHRASE,
    busiest_customer,
    check_archive,
    members,
    only_files,
)

from lethe.cli.main import main
from lethe.crypto import fingerprint
from lethe.demo.seed import DemoSpec, seed
from lethe.errors import LetheError, SettingsError, SubjectError
from lethe.ledger.chain import Ledger
from lethe.ledger.verify import verify_or_raise
from lethe.policy.loading import parse_policy
from lethe.policy.model import Policy
from lethe.requests.export.archive import ExportResult, export_subject
from lethe.requests.export.crypto import MAGIC, decrypt_file, encrypt_file
from lethe.settings import Settings, load_settings
from lethe.stores.engines import Stores

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"^export-[a-z_]+-\d{8}T\d{6}Z-[0-9a-f]{8}\.zip(\.enc)?$")
DEMO_TABLES = (
    "addresses",
    "orders",
    "support_tickets",
    "marketing_consents",
    "newsletter_sends",
    "web_sessions",
)


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Keys and a ledger file of this test."""
    return {
        "LETHE_MASTER_KEY": MASTER_HEX,
        "LETHE_LEDGER_KEY": LEDGER_HEX,
        "LETHE_LEDGER_URL": f"sqlite:///{tmp_path}/ledger/ledger.db",
        "LETHE_HOME": str(tmp_path / "home"),
    }


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return load_settings(env)


@pytest.fixture
def ledger(settings: Settings) -> Iterator[Ledger]:
    book = Ledger.from_settings(settings)
    yield book
    book._engine.dispose()


@pytest.fixture
def shop(db_url: str, db_engine: sa.Engine) -> Iterator[tuple[Policy, Stores]]:
    """The demo shop with 50 customers and its policy (config/demo.yaml)."""
    seed(db_engine, DemoSpec(customers=50))
    policy = parse_policy(
        DEMO_POLICY.read_text(), source=str(DEMO_POLICY), environ={"LETHE_DEMO_URL": db_url}
    )
    with Stores(policy) as stores:
        yield policy, stores


def hand_counts(engine: sa.Engine, key: int) -> dict[str, int]:
    """Rows of the customer per table, by hand-written SQL."""

    def count(sql: str) -> int:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(sql), {"k": key}).scalar_one())

    counts = {"shop.customers": count("SELECT COUNT(*) FROM customers WHERE id = :k")}
    counts |= {f"shop.{t}": count(f"SELECT COUNT(*) FROM {t} WHERE customer_id = :k") for t in DEMO_TABLES}
    counts["shop.order_lines"] = count(
        "SELECT COUNT(*) FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.customer_id = :k"
    )
    return counts


# ------------------------------------------------------------------------------------------ demo shop


def test_export_demo_customer(
    shop: tuple[Policy, Stores], db_engine: sa.Engine, settings: Settings, ledger: Ledger, tmp_path: Path
) -> None:
    policy, stores = shop
    key, email = busiest_customer(db_engine)
    moment = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    by_id = export_subject(
        policy,
        stores,
        "customer",
        str(key),
        tmp_path / "a",
        settings=settings,
        ledger=ledger,
        run_id="r1",
        now=moment,
    )
    by_email = export_subject(
        policy, stores, "customer", email, tmp_path / "b", settings=settings, ledger=ledger, run_id="r2"
    )
    expected = hand_counts(db_engine, key)
    assert by_id.counts == by_email.counts == expected
    assert expected["shop.orders"] > 0 and expected["shop.order_lines"] > 0
    assert by_id.file_name.startswith("export-customer-20261125T093000Z-")
    for result in (by_id, by_email):
        assert NAME.match(result.file_name) and email not in result.file_name and not result.encrypted
        assert only_files(result.path.parent) == [result.path]  # no temporary file left behind
        assert result.path.stat().st_mode & 0o777 == 0o600
        assert hashlib.sha256(result.path.read_bytes()).hexdigest() == result.sha256

    data = check_archive(members(by_id.path), expected)
    other = check_archive(members(by_email.path), expected)
    assert data["tables"] == other["tables"] and data["facts"] == other["facts"]
    tables = data["tables"]
    (customer,) = tables["shop.customers"]["rows"]
    assert customer["id"] == key and customer["email"] == email and customer["legal_hold"] in (True, False)
    order_ids = {o["id"] for o in tables["shop.orders"]["rows"]}
    assert all(o["customer_id"] == key for o in tables["shop.orders"]["rows"])
    assert {line["order_id"] for line in tables["shop.order_lines"]["rows"]} <= order_ids
    assert all(re.fullmatch(r"\d+\.\d\d", o["total"]) for o in tables["shop.orders"]["rows"])
    assert all(o["created_at"].endswith("+00:00") for o in tables["shop.orders"]["rows"])
    assert {"columns": ["order_id"], "table": "shop.orders", "ref_columns": ["id"]} in tables[
        "shop.order_lines"
    ]["references"]
    facts = data["facts"]
    assert facts["activities"][0]["purpose"].startswith("deliver purchased goods")
    bases = {a["lawful_basis_text"] for a in facts["activities"]}
    assert {
        "contract (Art. 6(1)(b))",
        "consent (Art. 6(1)(a))",
        "legitimate interests (Art. 6(1)(f))",
    } <= bases
    assert "carrier" in facts["activities"][0]["recipients"]
    assert any("7 years" in r["text"] and "deleted" in r["text"] for r in facts["activities"][0]["retention"])
    assert facts["activities"][1]["transfers"][0]["safeguard"].startswith("standard contractual clauses")
    assert {r["article"] for r in facts["rights"]} >= {f"Art. {n}" for n in range(15, 23)} | {"Art. 77"}
    assert facts["dpo"]["email"] == "dpo@example.com"
    html = members(by_id.path)["index.html"].decode()
    assert "http://" not in html and "https://" not in html  # no URL at all in the demo's page
    assert "contract (Art. 6(1)(b))" in html and "mailto:dpo@example.com" in html and "Art. 77" in html

    entries = [r.entry for r in ledger.entries()]
    assert [(e.flow, e.action, e.outcome, e.run_id) for e in entries] == [
        ("export", "export", "completed", "r1"),
        ("export", "export", "completed", "r2"),
    ]
    assert entries[0].counts == expected and entries[0].details["sha256"] == by_id.sha256
    assert list(entries[0].fingerprints) == [fingerprint(bytes.fromhex(MASTER_HEX), "shop.customers", key)]
    assert entries[0].fingerprints == entries[1].fingerprints
    verify_or_raise(ledger)
    ledger._engine.dispose()
    ledger_bytes = b"".join(p.read_bytes() for p in (tmp_path / "ledger").iterdir())
    assert email.encode() not in ledger_bytes and customer["full_name"].encode() not in ledger_bytes


def test_unknown_and_ambiguous_subjects(
    shop: tuple[Policy, Stores], db_engine: sa.Engine, settings: Settings, ledger: Ledger, tmp_path: Path
) -> None:
    policy, stores = shop
    out = tmp_path / "out"
    kwargs: dict[str, Any] = {"settings": settings, "ledger": ledger, "run_id": "r"}
    with pytest.raises(SubjectError, match="no customer matches") as missing:
        export_subject(policy, stores, "customer", "nobody@example.invalid", out, **kwargs)
    assert "nobody" not in str(missing.value)
    with db_engine.begin() as conn:  # customer 8's email is customer 7's id
        conn.execute(sa.text("UPDATE customers SET email = '7' WHERE id = 8"))
    with pytest.raises(SubjectError, match="more than one"):
        export_subject(policy, stores, "customer", "7", out, **kwargs)
    with pytest.raises(SubjectError, match="unknown subject"):
        export_subject(policy, stores, "supplier", "7", out, **kwargs)
    assert only_files(out) == []
    entries = [r.entry for r in ledger.entries()]
    assert [e.outcome for e in entries] == ["not-found", "ambiguous"]
    assert all(not e.counts and not e.fingerprints for e in entries)


# -------------------------------------------------------------------------------------------- chinook


def chinook_policy(db: ChinookDb) -> Policy:
    name = "chinook.yaml" if db.naming == "pascal" else "chinook_snake.yaml"
    text = (ROOT / "tests" / "policies" / name).read_text()
    return parse_policy(text, source=name, environ={"CHINOOK_URL": db.url})


def test_export_chinook(chinook_url: ChinookDb, settings: Settings, tmp_path: Path) -> None:
    n = chinook_url.name
    engine = make_engine(chinook_url.url)
    with engine.connect() as conn:
        email = conn.execute(
            sa.text(f"SELECT {n('Email')} FROM {n('Customer')} WHERE {n('CustomerId')} = 5")
        ).scalar_one()
        invoices = conn.execute(
            sa.text(f"SELECT COUNT(*) FROM {n('Invoice')} WHERE {n('CustomerId')} = 5")
        ).scalar_one()
        lines = conn.execute(
            sa.text(
                f"SELECT COUNT(*) FROM {n('InvoiceLine')} l JOIN {n('Invoice')} i ON i.{n('InvoiceId')} = l.{n('InvoiceId')}"
                f" WHERE i.{n('CustomerId')} = 5"
            )
        ).scalar_one()
    engine.dispose()
    policy = chinook_policy(chinook_url)
    with Stores(policy) as stores:
        result = export_subject(
            policy, stores, "customer", email, tmp_path / "c", settings=settings, ledger=None, run_id="c"
        )
        staff = export_subject(
            policy, stores, "employee", "3", tmp_path / "e", settings=settings, ledger=None, run_id="e"
        )
    tables = {
        f"chinook.{n(t)}": c for t, c in (("Customer", 1), ("Invoice", invoices), ("InvoiceLine", lines))
    }
    assert result.counts == tables and invoices > 0 and lines > invoices
    data = check_archive(members(result.path), tables)
    invoice_rows = data["tables"][f"chinook.{n('Invoice')}"]["rows"]
    assert {r[n("CustomerId")] for r in invoice_rows} == {5}
    line_rows = data["tables"][f"chinook.{n('InvoiceLine')}"]["rows"]
    assert {r[n("InvoiceId")] for r in line_rows} <= {r[n("InvoiceId")] for r in invoice_rows}
    bases = {a["lawful_basis_text"] for a in data["facts"]["activities"]}
    assert bases == {"contract (Art. 6(1)(b))", "legal obligation (Art. 6(1)(c))"}
    assert "Art. 7(3)" not in {r["article"] for r in data["facts"]["rights"]}  # nothing rests on consent
    # Employee 3 looks after customers: their rows are theirs, not the employee's.
    assert staff.counts == {f"chinook.{n('Employee')}": 1}
    staff_files = members(staff.path)
    manifest = json.loads(staff_files["manifest.json"])
    assert f"chinook.{n('Customer')}" in manifest["other_subjects_tables"]
    assert email.encode() not in b"".join(staff_files.values())


# ------------------------------------------------------------------------------------------- encryption


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_encrypted_export(
    shop: tuple[Policy, Stores], settings: Settings, ledger: Ledger, tmp_path: Path
) -> None:
    policy, stores = shop
    out = tmp_path / "out"
    args: dict[str, Any] = {"settings": settings, "ledger": ledger, "run_id": "enc"}
    with pytest.raises(SettingsError, match="at least 12"):
        export_subject(policy, stores, "customer", "3", out, passphrase="short", **args)
    assert only_files(out) == [] and list(ledger.entries()) == []
    result: ExportResult = export_subject(policy, stores, "customer", "3", out, passphrase=PASSPHRASE, **args)
    assert result.encrypted and result.file_name.endswith(".zip.enc") and only_files(out) == [result.path]
    blob = result.path.read_bytes()
    assert blob.startswith(MAGIC) and result.path.stat().st_mode & 0o777 == 0o600
    (entry,) = [r.entry for r in ledger.entries()]
    assert entry.details["encrypted"] is True and entry.details["sha256"] == result.sha256

    plain = decrypt_file(result.path, PASSPHRASE, tmp_path / "plain")
    assert plain.name == result.file_name.removesuffix(".enc")
    assert hashlib.sha256(plain.read_bytes()).hexdigest() == entry.details["zip_sha256"]
    check_archive(members(plain), result.counts)
    # The documented format decrypts with any AES-GCM implementation.
    key = Scrypt(salt=blob[15:31], length=32, n=2**15, r=8, p=1).derive(PASSPHRASE.encode())
    assert AESGCM(key).decrypt(blob[31:43], blob[43:], MAGIC) == plain.read_bytes()
    with pytest.raises(LetheError, match="already exists"):
        decrypt_file(result.path, PASSPHRASE, tmp_path / "plain")

    with pytest.raises(LetheError, match="wrong passphrase or damaged file"):
        decrypt_file(result.path, PASSPHRASE + "!", tmp_path / "wrong")
    damaged = tmp_path / "damaged.zip.enc"
    damaged.write_bytes(blob[:60] + bytes([blob[60] ^ 1]) + blob[61:])
    with pytest.raises(LetheError, match="wrong passphrase or damaged file"):
        decrypt_file(damaged, PASSPHRASE, tmp_path / "wrong")
    assert only_files(tmp_path / "wrong") == []  # unauthenticated plaintext never left behind
    with pytest.raises(LetheError, match="not a Lethe encrypted export"):
        decrypt_file(plain, PASSPHRASE, tmp_path / "wrong")
    again = encrypt_file(plain, PASSPHRASE)
    assert again.name == plain.name + ".enc" and not plain.exists()


# ---------------------------------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_export_and_decrypt(
    shop: tuple[Policy, Stores], db_url: str, db_engine: sa.Engine, env: dict[str, str], tmp_path: Path
) -> None:
    _, email = busiest_customer(db_engine)
    runner = CliRunner()
    env = {**env, "LETHE_DEMO_URL": db_url, "EXPORT_PASS": PASSPHRASE}
    base = ["export", "--policy", str(DEMO_POLICY), "--out", str(tmp_path / "out")]

    done = runner.invoke(main, [*base, "--subject", email], env=env)
    assert done.exit_code == 0, done.output
    assert "wrote " in done.stdout and "shop.order_lines" in done.stdout and email not in done.output

    unknown = runner.invoke(main, [*base, "--subject", "nobody@example.invalid"], env=env)
    assert unknown.exit_code == 2 and "error: no customer matches" in unknown.stderr
    assert "Traceback" not in unknown.output and "nobody" not in unknown.output

    no_tty = runner.invoke(main, [*base, "--subject", email, "--encrypt"], env=env)
    assert no_tty.exit_code == 2 and "--passphrase-env" in no_tty.stderr
    plain_arg = runner.invoke(main, [*base, "--subject", email, "--passphrase", PASSPHRASE], env=env)
    assert plain_arg.exit_code == 2 and "No such option" in plain_arg.output
    assert runner.invoke(main, ["export", "--policy", str(DEMO_POLICY)], env=env).exit_code == 2

    sealed = runner.invoke(main, [*base, "--subject", email, "--passphrase-env", "EXPORT_PASS"], env=env)
    assert sealed.exit_code == 0, sealed.output
    (enc,) = (tmp_path / "out").glob("*.zip.enc")
    opened = runner.invoke(
        main,
        ["export", "decrypt", str(enc), "--out", str(tmp_path / "dec"), "--passphrase-env", "EXPORT_PASS"],
        env=env,
    )
    assert opened.exit_code == 0, opened.output
    (zipped,) = (tmp_path / "dec").glob("*.zip")
    assert json.loads(members(zipped)["data.json"])["tables"]["shop.customers"]["rows"][0]["email"] == email
    wrong = runner.invoke(
        main, ["export", "decrypt", str(enc), "--out", str(tmp_path / "x")], env={**env, "P": "x" * 12}
    )
    assert wrong.exit_code == 2  # no passphrase source and no terminal
    bad = runner.invoke(
        main,
        ["export", "decrypt", str(enc), "--out", str(tmp_path / "x"), "--passphrase-env", "P"],
        env={**env, "P": "x" * 12},
    )
    assert bad.exit_code == 2 and "wrong passphrase or damaged file" in bad.stderr  # a parameter error
