"""The reversible ``encrypt`` operator: AES-SIV pseudonyms, deterministic per column and key version.

It runs in Python (``in_database = False``): the tests select, encrypt and write back as the engine does.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from support.operators import SIV_KEY, applied_rows, context, create_people, read

from lethe.errors import OperatorError, SettingsError
from lethe.operators import ColumnShape, OperatorContext
from lethe.operators.encrypt import EncryptOperator, ciphertext_length, decrypt_pseudonym, encrypt_pseudonym


def test_encrypt_round_trip_and_determinism() -> None:
    """Deterministic per column and version, reversible with the key and the scope, nothing else."""
    token = encrypt_pseudonym(SIV_KEY, "crm.people.name", "Zoë Ångström")
    assert token == encrypt_pseudonym(SIV_KEY, "crm.people.name", "Zoë Ångström")
    assert re.fullmatch(r"~e1:[A-Za-z0-9_-]+", token)
    assert len(token) == ciphertext_length(len("Zoë Ångström".encode()))
    assert decrypt_pseudonym(SIV_KEY, "crm.people.name", token) == "Zoë Ångström"
    assert token != encrypt_pseudonym(SIV_KEY, "crm.people.email", "Zoë Ångström")
    v2 = encrypt_pseudonym(SIV_KEY, "crm.people.name", "Zoë Ångström", key_version=2)
    assert v2.startswith("~e2:") and v2[4:] != token[4:]
    assert decrypt_pseudonym(SIV_KEY, "crm.people.name", v2) == "Zoë Ångström"
    with pytest.raises(OperatorError, match="does not decrypt"):
        decrypt_pseudonym(SIV_KEY, "crm.people.email", token)
    with pytest.raises(OperatorError, match="does not decrypt"):
        decrypt_pseudonym(bytes(64), "crm.people.name", token)
    with pytest.raises(OperatorError, match="not an encrypt pseudonym"):
        decrypt_pseudonym(SIV_KEY, "crm.people.name", "~h1:abc")


@pytest.mark.parametrize("size", [0, 1, 2, 3, 17, 100])
def test_ciphertext_length_is_exact(size: int) -> None:
    """The documented length is the real one: prefix + unpadded base64url of tag and data."""
    assert len(encrypt_pseudonym(SIV_KEY, "s", "a" * size)) == ciphertext_length(size)


def test_encrypt_needs_its_key_and_a_text_column() -> None:
    """No SIV key: a settings error; a bounded column never holds the longer pseudonym."""
    ctx = OperatorContext("sqlite", "crm.people.name", ColumnShape("text", None, True))
    with pytest.raises(SettingsError, match="LETHE_SIV_KEY"):
        EncryptOperator.python(EncryptOperator.options_model(), "Ann", (1,), ctx)
    with pytest.raises(NotImplementedError):
        EncryptOperator.sql(EncryptOperator.options_model(), sa.column("name"), [], ctx)
    assert EncryptOperator.check(EncryptOperator.options_model(), ColumnShape("text", 200, True)) is not None
    assert EncryptOperator.check(EncryptOperator.options_model(), ColumnShape("text", None, True)) is None


def test_encrypt_rewrites_in_python(engine: Engine) -> None:
    """As the engine runs an ``in_database = False`` operator: select, encrypt in Python, write back."""
    table = create_people(engine)
    ctx = context(engine, "note")
    options = EncryptOperator.options_model()
    predicate = EncryptOperator.applied(options, table.c.note, ctx)
    assert predicate is not None
    before = read(engine, table, "note")
    assert applied_rows(engine, table, predicate) == {id_ for id_, value in before.items() if value is None}
    with engine.begin() as conn:
        rows = conn.execute(sa.select(table.c.id, table.c.note).where(sa.not_(predicate))).all()
        updates = [
            {"pk": id_, "new": EncryptOperator.python(options, note, (id_,), ctx)} for id_, note in rows
        ]
        conn.execute(
            sa.update(table).where(table.c.id == sa.bindparam("pk")).values(note=sa.bindparam("new")), updates
        )
    after = read(engine, table, "note")
    assert applied_rows(engine, table, predicate) == set(before)
    rotated = EncryptOperator.applied(options, table.c.note, context(engine, "note", key_version=3))
    assert rotated is not None and applied_rows(engine, table, rotated) == set(before)
    for id_, value in before.items():
        assert after[id_] == EncryptOperator.python(options, value, (id_,), ctx)
        assert value is None or decrypt_pseudonym(SIV_KEY, ctx.scope, after[id_]) == value
