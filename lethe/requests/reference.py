"""Continuing a request by its reference (D-2): the subject's key, sealed, beside the request register.

An orchestrator keeps a run's parameters; so, once a request is registered, its runs carry only the
request's reference (the register's id). A later attempt (a retry, the real erasure after a dry run)
names that reference instead of an identifier, and finds the subject through the key sealed here: the key
encrypted with AES-GCM under a key derived from the master key, the request id as associated data (a sealed
key copied to another request does not open). The table ``lethe_request_subjects`` lives in Lethe's state
database, the register's; ``forget_subject`` deletes a closed request's row.
"""

from __future__ import annotations

import json
import os
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from lethe.crypto import derive_key
from lethe.errors import StoreError
from lethe.requests.register import RequestError, state_engine, type_name
from lethe.settings import Settings
from lethe.stores.engines import ensure_table

SUBJECTS_TABLE = "lethe_request_subjects"
_PURPOSE = "lethe/request-subject/v1"
_TABLE = sa.Table(
    SUBJECTS_TABLE,
    sa.MetaData(),
    sa.Column("request_id", sa.String(36), primary_key=True),
    sa.Column("sealed", sa.LargeBinary(512), nullable=False),
    mysql_charset="utf8mb4",
)


def _aead(settings: Settings) -> AESGCM:
    return AESGCM(derive_key(settings.require_master_key(), _PURPOSE))


def _table(settings: Settings) -> tuple[sa.Engine, sa.Table]:
    engine = state_engine(settings)
    ensure_table(engine, _TABLE)
    return engine, _TABLE


def remember_subject(settings: Settings, request_id: str, key: Any) -> None:
    """Seal the subject's key for ``request_id`` (kept when already there: the same request, the same key)."""
    nonce = os.urandom(12)
    plain = json.dumps({"key": key}, default=str).encode("utf-8")
    sealed = nonce + _aead(settings).encrypt(nonce, plain, request_id.encode("ascii"))
    engine, table = _table(settings)
    try:
        with engine.begin() as connection:
            connection.execute(table.insert().values(request_id=request_id, sealed=sealed))
    except IntegrityError:
        return
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot write {SUBJECTS_TABLE} ({type_name(exc)})") from None


def recall_subject(settings: Settings, request_id: str) -> str:
    """The key sealed for ``request_id``, as text a request resolves; RequestError when there is none."""
    engine, table = _table(settings)
    try:
        with engine.connect() as connection:
            sealed = connection.execute(
                sa.select(table.c.sealed).where(table.c.request_id == request_id)
            ).scalar()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read {SUBJECTS_TABLE} ({type_name(exc)})") from None
    if sealed is None:
        raise RequestError(
            f"request {request_id} cannot be continued by its reference alone (closed, or registered "
            "before references were kept): give the subject's identifier"
        )
    try:
        plain = _aead(settings).decrypt(bytes(sealed[:12]), bytes(sealed[12:]), request_id.encode("ascii"))
    except InvalidTag:
        raise RequestError(
            f"the subject of request {request_id} cannot be unsealed (another master key?)"
        ) from None
    return str(json.loads(plain)["key"])


def forget_subject(settings: Settings, request_id: str) -> None:
    """Delete the sealed key of ``request_id`` (its request is closed: nothing continues it)."""
    engine, table = _table(settings)
    try:
        with engine.begin() as connection:
            connection.execute(table.delete().where(table.c.request_id == request_id))
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot write {SUBJECTS_TABLE} ({type_name(exc)})") from None
