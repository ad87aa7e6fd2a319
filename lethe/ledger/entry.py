"""A ledger entry: what one step of a run did, validated so that no personal value can be signed into it.

Entries carry counts, instants, names and keyed fingerprints (``lethe.crypto.fingerprint``), never values;
``LedgerEntry`` refuses anything else. ``signed_body`` is what the chain signs, ``parse_body`` reads it
back. Storage and the HMAC chain live in ``lethe.ledger.chain``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lethe.errors import LedgerError, LedgerTamperedError

Scalar = str | int | float | bool | None
BODY_VERSION = 1
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


def signed_body(entry: LedgerEntry, recorded_at: datetime) -> dict[str, object]:
    """The signed body of an entry: every field, datetimes as UTC ISO 8601."""
    body: dict[str, object] = {name: getattr(entry, name) for name in TEXT_COLUMNS}
    for name, moment in (("recorded_at", recorded_at), ("started_at", entry.started_at)):
        body[name] = moment.astimezone(UTC).isoformat()
    body.update(v=BODY_VERSION, ended_at=entry.ended_at.astimezone(UTC).isoformat())
    body.update(counts=dict(entry.counts), fingerprints=list(entry.fingerprints), details=dict(entry.details))
    return body


def parse_body(seq: int, text: str) -> tuple[datetime, LedgerEntry]:
    """Rebuild (recorded_at, entry) from a stored body; an unreadable body counts as tampering."""
    try:
        body = json.loads(text)
        fields: dict[str, Any] = {name: body[name] for name in (*TEXT_COLUMNS, "counts", "fingerprints")}
        fields.update({name: datetime.fromisoformat(body[name]) for name in TIME_COLUMNS})
        recorded_at = fields.pop("recorded_at")
        return recorded_at, LedgerEntry(**fields, details=body["details"])
    except (ValueError, TypeError, KeyError, AttributeError, LedgerError) as exc:
        raise LedgerTamperedError(f"entry {seq} has an unreadable body") from exc
