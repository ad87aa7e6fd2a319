"""Settings and secrets, read from the environment (never from code or the policy file).

| variable | meaning | default |
|---|---|---|
| ``LETHE_HOME`` | folder for local state (ledger, exports, reports) | ``./var`` |
| ``LETHE_LEDGER_URL`` | SQLAlchemy URL of the evidence ledger | ``sqlite:///$LETHE_HOME/ledger.db`` |
| ``LETHE_LEDGER_KEY`` | key of the ledger's HMAC chain (hex or base64, >= 32 bytes) | required to write or verify |
| ``LETHE_MASTER_KEY`` | master key for pseudonymisation tokens and fingerprints (>= 32 bytes) | required to anonymise |
| ``LETHE_KEY_VERSION`` | version of the master key, written into token prefixes; raise it to rotate | ``1`` |
| ``LETHE_SIV_KEY`` | 64-byte key of reversible AES-SIV pseudonyms (``encrypt`` operator) | only when used |
| ``LETHE_BREACH_PASSPHRASE`` | passphrase of a breach's encrypted contact list (``lethe breach open``) | no list |
| ``LETHE_CHECKPOINT_KEY`` | Ed25519 private key that signs ledger checkpoints (base64/hex seed or PEM) | only to sign |
| ``LETHE_CHECKPOINT_PUBLIC_KEY`` | the trusted Ed25519 public key of checkpoints (base64/hex or PEM) | to check them |
| ``LETHE_CONTRACT_PASSPHRASE`` | passphrase of the export returned at the end of a processor's contract | only then |
| ``LETHE_EXPORT_DESTINATION`` | where exports are delivered: a folder or an fsspec URL (``s3://bucket/prefix``) | ``$LETHE_HOME/exports`` |
| ``LETHE_EXPORT_ENDPOINT_URL`` | endpoint of an S3-compatible store (credentials: the usual ``AWS_*`` variables) | AWS |
| ``LETHE_EXPORT_STORAGE_OPTIONS`` | further fsspec options of the destination, as a JSON object | none |
| ``LETHE_EXPORT_RETENTION_DAYS`` | days an export is kept before the clean-up flow deletes it | ``30`` |

The ledger registers the id of the master key of each version on first use and refuses another key for
that version (``lethe.ledger.keys``): a rotation is declared by raising ``LETHE_KEY_VERSION``.

Keys are given as hex (64+ characters) or standard base64. In Prefect, put them in Secret blocks and
export them into the worker's environment, or set them on the work pool's job variables.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lethe.errors import SettingsError

MIN_KEY_BYTES = 32


def decode_key(name: str, text: str, *, min_bytes: int = MIN_KEY_BYTES) -> bytes:
    """Decode a key given as hex or base64; the error names the variable, never the value."""
    text = text.strip()
    raw: bytes | None = None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None:
        raise SettingsError(f"{name} is neither hex nor base64")
    if len(raw) < min_bytes:
        raise SettingsError(f"{name} must be at least {min_bytes} bytes, got {len(raw)}")
    return raw


@dataclass(frozen=True)
class Settings:
    """Resolved settings; keys stay ``None`` until a command needs them."""

    # Keys, and URLs that may carry a password, never appear in the printed form (repr) of the settings.
    home: Path
    ledger_url: str = field(repr=False)
    ledger_key: bytes | None = field(repr=False)
    master_key: bytes | None = field(repr=False)
    key_version: int
    siv_key: bytes | None = field(repr=False)
    # Text as given (seed or PEM): parsed by lethe.ledger.checkpoint, which owns the Ed25519 formats.
    checkpoint_key: str | None = field(default=None, repr=False)
    checkpoint_public_key: str | None = None
    # Processor mode: encrypts the data returned to a controller at the end of its contract (never logged).
    contract_passphrase: str | None = field(default=None, repr=False)
    # Where exports are delivered (a folder or an fsspec URL), its fsspec options, and how long they are kept.
    export_destination: str = ""
    # Not hashed (a dict cannot be): settings are part of the key of a flow run's shared resources (tasks/shared.py).
    export_storage_options: dict[str, Any] = field(default_factory=dict, hash=False, repr=False)
    export_retention_days: int = 30

    def require_ledger_key(self) -> bytes:
        """The ledger key, or a clear error saying how to set it."""
        if self.ledger_key is None:
            raise SettingsError("LETHE_LEDGER_KEY is not set: the ledger cannot be written or verified")
        return self.ledger_key

    def require_master_key(self) -> bytes:
        """The master key, or a clear error saying how to set it."""
        if self.master_key is None:
            raise SettingsError("LETHE_MASTER_KEY is not set: tokens and fingerprints need it")
        return self.master_key

    def require_siv_key(self) -> bytes:
        """The AES-SIV key of reversible pseudonyms."""
        if self.siv_key is None:
            raise SettingsError("LETHE_SIV_KEY is not set: the encrypt operator needs a 64-byte key")
        return self.siv_key


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings from ``environ`` (default: the process environment)."""
    env = dict(os.environ if environ is None else environ)
    home = Path(env.get("LETHE_HOME", "var"))
    ledger_url = env.get("LETHE_LEDGER_URL") or f"sqlite:///{home / 'ledger.db'}"

    def key(name: str, min_bytes: int = MIN_KEY_BYTES) -> bytes | None:
        value = env.get(name)
        return decode_key(name, value, min_bytes=min_bytes) if value else None

    version_text = env.get("LETHE_KEY_VERSION", "1")
    if not version_text.isdigit() or int(version_text) < 1:
        raise SettingsError("LETHE_KEY_VERSION must be a positive integer")
    siv_key = key("LETHE_SIV_KEY", 64)
    if siv_key is not None and len(siv_key) != 64:
        raise SettingsError("LETHE_SIV_KEY must be exactly 64 bytes (AES-256-SIV)")
    retention_text = env.get("LETHE_EXPORT_RETENTION_DAYS", "30")
    if not retention_text.isdigit() or int(retention_text) < 1:
        raise SettingsError("LETHE_EXPORT_RETENTION_DAYS must be a positive number of days")
    return Settings(
        home=home,
        ledger_url=ledger_url,
        ledger_key=key("LETHE_LEDGER_KEY"),
        master_key=key("LETHE_MASTER_KEY"),
        key_version=int(version_text),
        siv_key=siv_key,
        checkpoint_key=env.get("LETHE_CHECKPOINT_KEY") or None,
        checkpoint_public_key=env.get("LETHE_CHECKPOINT_PUBLIC_KEY") or None,
        contract_passphrase=env.get("LETHE_CONTRACT_PASSPHRASE") or None,
        export_destination=env.get("LETHE_EXPORT_DESTINATION") or str(home / "exports"),
        export_storage_options=_storage_options(env),
        export_retention_days=int(retention_text),
    )


def _storage_options(env: dict[str, str]) -> dict[str, Any]:
    """The fsspec options of the export destination: the JSON object given, plus the endpoint URL."""
    text = env.get("LETHE_EXPORT_STORAGE_OPTIONS", "").strip()
    try:
        options = json.loads(text) if text else {}
    except ValueError:
        raise SettingsError("LETHE_EXPORT_STORAGE_OPTIONS is not valid JSON") from None
    if not isinstance(options, dict):
        raise SettingsError("LETHE_EXPORT_STORAGE_OPTIONS must be a JSON object")
    if endpoint := env.get("LETHE_EXPORT_ENDPOINT_URL", "").strip():
        options["endpoint_url"] = endpoint
    return options
