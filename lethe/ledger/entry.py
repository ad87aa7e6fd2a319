"""A ledger entry: what one step of a run did, validated so that no personal value can be signed into it.

Entries carry counts, instants, names and keyed fingerprints (``lethe.crypto.fingerprint``), never values;
``LedgerEntry`` refuses anything else. ``signed_body`` is what the chain signs; ``read_stored`` reads a
ledger row's body back and refuses any spelling but the canonical one (``lethe.crypto.canonical_json``),
since the MAC covers the exact stored bytes; ``parse_body`` is its lenient twin for journal copies.
Storage and the HMAC chain live in ``lethe.ledger.chain``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lethe.crypto import canonical_json
from lethe.errors import LedgerError, LedgerTamperedError

Scalar = str | int | float | bool | None
BODY_VERSION = 1  # bodies without key ids, as written before they were recorded
KEYED_BODY_VERSION = 2  # bodies with ``keys``: the ids of the keys in use (lethe.ledger.keys)
NOT_CANONICAL = (
    "its stored body is not in canonical form (whitespace, key order or a duplicated key differ from the "
    "bytes that were signed)"
)
# Stricter than "starts with fp": the shape lethe.crypto.fingerprint produces, so no raw value slips in.
_FINGERPRINT = re.compile(r"fp[0-9]+:[0-9a-f]{16,64}")
LIMITS = {"run_id": 255, "flow": 255, "rule": 255, "policy_hash": 128, "action": 64, "outcome": 64}
TEXT_COLUMNS = ("run_id", "flow", "policy_hash", "rule", "action", "outcome")
TIME_COLUMNS = ("recorded_at", "started_at", "ended_at")


@dataclass(frozen=True)
class LedgerEntry:
    """What one step of a run did: counts and fingerprints of affected keys, never values."""

    run_id: str
    flow: str
    policy_hash: str
    action: str
    outcome: str
    started_at: datetime
    ended_at: datetime
    rule: str | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    fingerprints: Sequence[str] = ()
    details: Mapping[str, Scalar] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Reject raw values, naive datetimes and anything the signed body cannot hold exactly."""
        for name, limit in LIMITS.items():
            value = getattr(self, name)
            if name == "rule" and value is None:
                continue
            if not isinstance(value, str) or len(value) > limit:
                raise LedgerError(f"ledger entry field {name} must be a string of at most {limit} characters")
        for name in ("started_at", "ended_at"):
            moment = getattr(self, name)
            if not isinstance(moment, datetime) or moment.utcoffset() is None:
                raise LedgerError(f"ledger entry field {name} must be a timezone-aware datetime")
        if isinstance(self.fingerprints, str) or not all(
            isinstance(fp, str) and _FINGERPRINT.fullmatch(fp) for fp in self.fingerprints
        ):
            # The value is not echoed: it may be exactly the personal data this guard keeps out.
            raise LedgerError("ledger fingerprints must be keyed fingerprints (fp1:...), never raw values")
        if not all(isinstance(k, str) and type(v) is int for k, v in self.counts.items()):
            raise LedgerError("ledger counts must map names to integers")
        for key, value in self.details.items():
            ok = value is None or isinstance(value, str | int | float | bool)
            if not isinstance(key, str) or not ok or (isinstance(value, float) and not math.isfinite(value)):
                raise LedgerError(
                    f"ledger detail {key!r} must be a finite scalar (str, int, float, bool, None)"
                )
        # Frozen copies, so an entry cannot change after it was validated or signed.
        object.__setattr__(self, "counts", dict(self.counts))
        object.__setattr__(self, "fingerprints", tuple(self.fingerprints))
        object.__setattr__(self, "details", dict(self.details))


@dataclass(frozen=True)
class RecordedEntry:
    """An entry as stored: its position in the chain, when it was recorded, and its MAC (hex)."""

    seq: int
    recorded_at: datetime
    entry: LedgerEntry
    mac: str
    # Ids of the keys in use when it was appended ({"ledger": id, "master": id, "master_version": n}); empty
    # for entries written before key ids were recorded.
    keys: Mapping[str, str | int] = field(default_factory=dict)


def signed_body(
    entry: LedgerEntry, recorded_at: datetime, keys: Mapping[str, str | int] | None = None
) -> dict[str, object]:
    """The signed body of an entry: every field, datetimes as UTC ISO 8601, and the key ids if given."""
    body: dict[str, object] = {name: getattr(entry, name) for name in TEXT_COLUMNS}
    for name, moment in (("recorded_at", recorded_at), ("started_at", entry.started_at)):
        body[name] = moment.astimezone(UTC).isoformat()
    version = BODY_VERSION if not keys else KEYED_BODY_VERSION
    body.update(v=version, ended_at=entry.ended_at.astimezone(UTC).isoformat())
    if keys:
        body["keys"] = dict(keys)
    body.update(counts=dict(entry.counts), fingerprints=list(entry.fingerprints), details=dict(entry.details))
    return body


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's members, refusing a name given twice (a lenient reader would keep the last)."""
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("duplicated key")  # the name is not echoed: an attacker chose it
    return members


def _exact(text: str) -> dict[str, Any] | None:
    """The JSON object ``text`` holds if ``text`` is exactly its canonical form, else None."""
    try:
        body = json.loads(text, object_pairs_hook=_no_duplicates)
        same = canonical_json(body) == text.encode("utf-8")
    except (ValueError, TypeError):
        return None
    return body if same and isinstance(body, dict) else None


def canonical_problem(text: str) -> str | None:
    """None when ``text`` is exactly the canonical JSON of what it holds, else why it is not."""
    return None if _exact(text) is not None else NOT_CANONICAL


def read_stored(seq: int, text: str) -> tuple[datetime, LedgerEntry, dict[str, str | int]]:
    """(recorded_at, entry, key ids) of a ledger row's body; anything but canonical bytes is tampering."""
    body = _exact(text)
    if body is None:
        raise LedgerTamperedError(f"entry {seq} was modified: {NOT_CANONICAL}")
    recorded_at, entry = _entry_of(seq, body)
    keys = body.get("keys") or {}
    if not isinstance(keys, dict) or not all(isinstance(v, str | int) for v in keys.values()):
        raise LedgerTamperedError(f"entry {seq} has an unreadable body (key ids)")
    return recorded_at, entry, keys


def parse_body(seq: int, text: str) -> tuple[datetime, LedgerEntry]:
    """Rebuild (recorded_at, entry) from a body in any JSON spelling (a journal copy); unreadable is tampering."""
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise LedgerTamperedError(f"entry {seq} has an unreadable body") from exc
    return _entry_of(seq, body)


def _entry_of(seq: int, body: Any) -> tuple[datetime, LedgerEntry]:
    """(recorded_at, entry) from a parsed body; anything missing or malformed counts as tampering."""
    try:
        fields: dict[str, Any] = {name: body[name] for name in (*TEXT_COLUMNS, "counts", "fingerprints")}
        fields.update({name: datetime.fromisoformat(body[name]) for name in TIME_COLUMNS})
        recorded_at = fields.pop("recorded_at")
        return recorded_at, LedgerEntry(**fields, details=body["details"])
    except (ValueError, TypeError, KeyError, AttributeError, LedgerError) as exc:
        raise LedgerTamperedError(f"entry {seq} has an unreadable body") from exc
