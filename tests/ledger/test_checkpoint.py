"""Signed checkpoints: made from a verified ledger, they catch a wiped, rolled-back or re-stored ledger later,
and a checkpoint that was altered, forged or signed by another key is refused.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from support.ledger import KEY, make_entry, sql
from support.proofs import OTHER_SIGNING_KEY, PUBLIC_B64, SEED, SEED_B64, SIGNING_KEY

from lethe.errors import LedgerTamperedError, ParameterError, SettingsError
from lethe.ledger import merkle
from lethe.ledger.chain import Ledger
from lethe.ledger.checkpoint import (
    check_signature,
    ledger_name,
    make_checkpoint,
    parse_checkpoint,
    parse_private_key,
    parse_public_key,
    signing_key,
    trusted_key,
    verify_with_checkpoint,
)
from lethe.ledger.history import entry_leaf, read_tree
from lethe.ledger.verify import verify_ledger
from lethe.settings import load_settings

TRUSTED = SIGNING_KEY.public_key()


@pytest.fixture
def any_ledger(db_url: str) -> Iterator[Ledger]:
    """A ledger of five entries on each engine."""
    engine = sa.create_engine(db_url)
    led = Ledger(engine, KEY)
    led.append_many([make_entry(i) for i in range(1, 6)])
    yield led
    engine.dispose()


def test_checkpoint_signs_size_head_and_tree_root(ledger: Ledger) -> None:
    """The document holds the head and the RFC 9162 root of the stored entries, under a valid signature."""
    signed = make_checkpoint(ledger, SIGNING_KEY)
    seq, mac = ledger.head() or (0, "")
    bodies = [row.body.encode() for row in ledger.rows(0, None)]
    expected_root = merkle.root([entry_leaf(i, body) for i, body in enumerate(bodies, 1)])
    assert (signed.size, signed.head_mac, signed.tree_root) == (seq, mac, expected_root.hex())
    assert signed.public_key == PUBLIC_B64 and signed.key_id.startswith("ed25519:")
    assert signed.ledger.startswith("sqlite:///") and signed.ledger.endswith("/ledger.db")
    TRUSTED.verify(base64.b64decode(signed.signature), signed.message())
    assert parse_checkpoint(signed.to_json()) == signed
    assert verify_with_checkpoint(ledger, signed, TRUSTED).ok


def test_checkpoint_url_has_no_credentials() -> None:
    """A server ledger's user name and password stay out of the document."""
    engine = sa.create_engine("postgresql+psycopg://lethe:s3cret@db.example:5432/evidence")
    assert ledger_name(Ledger(engine, KEY)) == "postgresql+psycopg://db.example:5432/evidence"


def test_ledger_that_grew_still_matches(ledger: Ledger) -> None:
    """Entries appended after the checkpoint are fine: the checkpoint only pins what it saw."""
    signed = make_checkpoint(ledger, SIGNING_KEY)
    ledger.append_many([make_entry(i) for i in range(6, 9)])
    report = verify_with_checkpoint(ledger, signed, TRUSTED)
    assert report.ok and report.count == 8


def test_empty_ledger_checkpoint(url: str) -> None:
    """An empty ledger is checkpointed at size 0, with the empty tree's root."""
    led = Ledger(sa.create_engine(url), KEY)
    signed = make_checkpoint(led, SIGNING_KEY)
    assert (signed.size, signed.head_mac, signed.tree_root) == (0, "0" * 64, merkle.EMPTY_ROOT.hex())
    led.append(make_entry(1))
    assert verify_with_checkpoint(led, signed, TRUSTED).ok


def test_wiped_ledger_is_caught(any_ledger: Ledger, db_url: str) -> None:
    """Every entry and the head deleted: verify alone sees an empty ledger, the checkpoint sees it was wiped."""
    signed = make_checkpoint(any_ledger, SIGNING_KEY)
    sql(db_url, "DELETE FROM lethe_ledger")
    sql(db_url, "DELETE FROM lethe_ledger_head")
    assert verify_ledger(any_ledger).ok, "without the checkpoint a wiped ledger looks like a new one"
    report = verify_with_checkpoint(any_ledger, signed, TRUSTED)
    assert not report.ok
    assert "expects entry 5 but the ledger ends at 0" in (report.problem or "")


def test_rolled_back_ledger_is_caught(any_ledger: Ledger, db_url: str) -> None:
    """Entries after 3 deleted and the head row of that time restored: a consistent ledger, but not the one
    the checkpoint signed."""
    (old_head,) = sql(db_url, "SELECT seq, mac, head_mac FROM lethe_ledger_head")
    any_ledger.append_many([make_entry(i) for i in range(6, 8)])
    signed = make_checkpoint(any_ledger, SIGNING_KEY)
    sql(db_url, "DELETE FROM lethe_ledger WHERE seq > 5")
    sql(db_url, "UPDATE lethe_ledger_head SET seq = :s, mac = :m, head_mac = :h", s=old_head[0], m=old_head[1],
        h=old_head[2])  # fmt: skip
    assert verify_ledger(any_ledger).ok
    report = verify_with_checkpoint(any_ledger, signed, TRUSTED)
    assert not report.ok and report.first_bad_seq == 6
    assert "expects entry 7 but the ledger ends at 5" in (report.problem or "")


def test_truncated_ledger_is_caught(ledger: Ledger, url: str) -> None:
    """Entries removed from the tail and the head left: verify says so, and so does the checkpoint."""
    signed = make_checkpoint(ledger, SIGNING_KEY)
    sql(url, "DELETE FROM lethe_ledger WHERE seq >= 4")
    report = verify_with_checkpoint(ledger, signed, TRUSTED)
    assert not report.ok and report.first_bad_seq == 4


def test_ledger_rewritten_with_the_key_is_caught(url: str) -> None:
    """Someone holding the ledger key rebuilds a ledger of the same size with other entries: the head differs."""
    led = Ledger(sa.create_engine(url), KEY)
    led.append_many([make_entry(i) for i in range(1, 4)])
    signed = make_checkpoint(led, SIGNING_KEY)
    sql(url, "DELETE FROM lethe_ledger")
    sql(url, "DELETE FROM lethe_ledger_head")
    led.append_many([make_entry(i, outcome="rewritten") for i in range(1, 4)])
    report = verify_with_checkpoint(led, signed, TRUSTED)
    assert not report.ok and report.first_bad_seq == 3
    assert "does not match the anchor" in (report.problem or "")


def test_restored_body_with_other_bytes_is_caught(ledger: Ledger, url: str) -> None:
    """A body re-stored with other whitespace (the same JSON) no longer gives the signed tree root."""
    signed = make_checkpoint(ledger, SIGNING_KEY)
    (body,) = sql(url, "SELECT body FROM lethe_ledger WHERE seq = 2")[0]
    sql(url, "UPDATE lethe_ledger SET body = :b WHERE seq = 2", b=json.dumps(json.loads(body), indent=1))
    assert read_tree(ledger, 5).root().hex() != signed.tree_root
    report = verify_with_checkpoint(ledger, signed, TRUSTED)
    assert not report.ok
    # Whichever check sees it first: a verify that refuses non-canonical bodies, or the tree root.
    assert "entry 2" in (report.problem or "") or "byte for byte" in (report.problem or "")


def test_altered_checkpoint_is_refused(ledger: Ledger) -> None:
    """Any signed field changed (a smaller size, another root) breaks the signature."""
    signed = make_checkpoint(ledger, SIGNING_KEY)
    for forged in (replace(signed, size=3), replace(signed, tree_root="00" * 32), replace(signed, time="x")):
        with pytest.raises(LedgerTamperedError, match="signature is invalid"):
            verify_with_checkpoint(ledger, forged, TRUSTED)
    with pytest.raises(LedgerTamperedError, match="signature is invalid"):
        check_signature(replace(signed, signature="not base64!"), TRUSTED)


def test_checkpoint_of_another_key_is_refused(ledger: Ledger) -> None:
    """A checkpoint signed by a key of the forger's own, naming that key, is refused: trust is out of band."""
    forged = make_checkpoint(ledger, OTHER_SIGNING_KEY)
    check_signature(forged, OTHER_SIGNING_KEY.public_key())  # valid in itself
    with pytest.raises(LedgerTamperedError, match="not the trusted key"):
        verify_with_checkpoint(ledger, forged, TRUSTED)
    # The trusted key's name written into a forged document does not help either.
    renamed = replace(forged, public_key=PUBLIC_B64, key_id=make_checkpoint(ledger, SIGNING_KEY).key_id)
    with pytest.raises(LedgerTamperedError, match="signature is invalid"):
        verify_with_checkpoint(ledger, renamed, TRUSTED)


def test_tampered_ledger_is_not_signed(ledger: Ledger, url: str) -> None:
    """make_checkpoint verifies first: a modified entry is never vouched for."""
    sql(url, "UPDATE lethe_ledger SET action = 'keep' WHERE seq = 3")
    with pytest.raises(LedgerTamperedError, match="entry 3"):
        make_checkpoint(ledger, SIGNING_KEY)


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda d: "not json", "not JSON"),
        (lambda d: json.dumps({**d, "format": "other/1"}), "format"),
        (lambda d: json.dumps({k: v for k, v in d.items() if k != "tree_root"}), "'tree_root'"),
        (lambda d: json.dumps({**d, "size": "5"}), "'size'"),
        (lambda d: json.dumps({**d, "size": -1}), "'size'"),
        (lambda d: json.dumps({**d, "head_mac": "AB" * 32}), "'head_mac' is not 64 hex"),
        (lambda d: json.dumps({**d, "tree_root": "ab"}), "'tree_root' is not 64 hex"),
    ],
)
def test_malformed_checkpoint_is_refused(ledger: Ledger, mutate: object, words: str) -> None:
    """A file that is not a well-formed checkpoint is a parameter error naming what is wrong."""
    document = json.loads(make_checkpoint(ledger, SIGNING_KEY).to_json())
    with pytest.raises(ParameterError, match=words):
        parse_checkpoint(mutate(document))  # type: ignore[operator]


def test_key_formats() -> None:
    """Seeds in base64 or hex and PEM keys are read; the wrong kind or length is a clear settings error."""
    pem_private = SIGNING_KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    pem_public = TRUSTED.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    raw = TRUSTED.public_bytes_raw()
    for text in (SEED_B64, SEED.hex(), pem_private):
        assert parse_private_key("K", text).public_key().public_bytes_raw() == raw
    for text in (PUBLIC_B64, raw.hex(), pem_public):
        assert parse_public_key("P", text).public_bytes_raw() == raw
    with pytest.raises(SettingsError, match="K must be a 32-byte Ed25519 seed, got 48"):
        parse_private_key("K", "ab" * 48)
    with pytest.raises(SettingsError, match="P is not a readable PEM"):
        parse_public_key("P", "-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----")
    with pytest.raises(SettingsError, match="neither hex nor base64"):
        parse_public_key("P", "not a key")


def test_keys_from_settings() -> None:
    """The signing key comes from LETHE_CHECKPOINT_KEY; the trusted one from an option, the public setting,
    or the signing key; never from nowhere."""
    with pytest.raises(SettingsError, match=r"LETHE_CHECKPOINT_KEY is not set.*--new-key"):
        signing_key(load_settings({}))
    with pytest.raises(SettingsError, match="no trusted checkpoint key"):
        trusted_key(load_settings({}))
    other = base64.b64encode(OTHER_SIGNING_KEY.public_key().public_bytes_raw()).decode()
    both = load_settings({"LETHE_CHECKPOINT_KEY": SEED_B64, "LETHE_CHECKPOINT_PUBLIC_KEY": other})
    assert trusted_key(both).public_bytes_raw() == OTHER_SIGNING_KEY.public_key().public_bytes_raw()
    assert trusted_key(both, PUBLIC_B64).public_bytes_raw() == TRUSTED.public_bytes_raw()
    signer_only = load_settings({"LETHE_CHECKPOINT_KEY": SEED_B64})
    assert trusted_key(signer_only).public_bytes_raw() == TRUSTED.public_bytes_raw()
