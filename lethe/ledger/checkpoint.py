"""Signed checkpoints: the ledger's size, head and tree root at one instant, signed with Ed25519.

A checkpoint is a small JSON document kept outside the ledger (a bucket with object lock, a mail to the DPO, a
ticket). Checked later (``lethe ledger verify --expect-checkpoint FILE``) it catches what the HMAC chain alone
cannot: a ledger wiped or rolled back to an earlier consistent copy (the checkpoint's entry is gone or
different), and a stored entry that is no longer byte for byte what was signed (the first ``size`` entries
no longer give the signed tree root, ``lethe.ledger.history``). Proofs (``lethe.ledger.proof``) are anchored
in its tree root, which anyone can check without the ledger key.

The document (``FORMAT``)::

    {"format": "lethe-checkpoint/1", "ledger": "<URL, no credentials>", "size": N,
     "head_mac": "<hex MAC of entry N>", "tree_root": "<hex RFC 9162 root of entries 1..N>",
     "time": "<UTC ISO 8601>", "public_key": "<base64 raw Ed25519 key>", "key_id": "ed25519:<16 hex>",
     "signature": "<base64 Ed25519 signature>"}

The signature covers the canonical JSON (sorted keys, no spaces, UTF-8) of every field but ``signature``.
The ``public_key`` in the file says who claims to have signed; it is never trusted by itself (anyone can sign
a forged checkpoint with a key of their own). The key to trust is given out of band:
``LETHE_CHECKPOINT_PUBLIC_KEY`` or ``--public-key``; failing both, the public half of
``LETHE_CHECKPOINT_KEY`` when this machine holds the signing key.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lethe.crypto import canonical_json
from lethe.errors import LedgerTamperedError, ParameterError, SettingsError
from lethe.ledger.chain import ZERO_MAC, Ledger
from lethe.ledger.history import read_tree
from lethe.ledger.verify import VerifyReport, verify_ledger, verify_or_raise
from lethe.settings import Settings, decode_key

FORMAT = "lethe-checkpoint/1"
_HEX = re.compile(r"[0-9a-f]*")
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement of the ledger's size, head MAC and tree root at ``time``."""

    ledger: str
    size: int
    head_mac: str
    tree_root: str
    time: str
    public_key: str
    key_id: str
    signature: str
    format: str = FORMAT

    def message(self) -> bytes:
        """The bytes the signature covers: canonical JSON of every field but the signature."""
        fields = asdict(self)
        del fields["signature"]
        return canonical_json(fields)

    def to_json(self) -> str:
        """The document, indented for people, with a final newline."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def signer_id(public_key: Ed25519PublicKey) -> str:
    """A short name of a public key: ``ed25519:`` and 16 hex digits of the SHA-256 of its raw bytes."""
    return "ed25519:" + sha256(public_key.public_bytes(*_RAW)).hexdigest()[:16]


def new_key() -> tuple[str, str]:
    """A new signing key: (private seed, public key), both base64 of their raw 32 bytes."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(seed).decode(), base64.b64encode(
        private.public_key().public_bytes(*_RAW)
    ).decode()


def parse_private_key(name: str, text: str) -> Ed25519PrivateKey:
    """An Ed25519 private key given as a PEM (PKCS #8) or a 32-byte seed in hex or base64."""
    if text.lstrip().startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.strip().encode(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise SettingsError(f"{name} is not a readable unencrypted PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SettingsError(f"{name} is a {type(key).__name__}, not an Ed25519 key")
        return key
    seed = decode_key(name, text)
    if len(seed) != 32:
        raise SettingsError(f"{name} must be a 32-byte Ed25519 seed, got {len(seed)} bytes")
    return Ed25519PrivateKey.from_private_bytes(seed)


def parse_public_key(name: str, text: str) -> Ed25519PublicKey:
    """An Ed25519 public key given as a PEM (SubjectPublicKeyInfo) or 32 raw bytes in hex or base64."""
    if text.lstrip().startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.strip().encode())
        except (ValueError, UnsupportedAlgorithm):
            raise SettingsError(f"{name} is not a readable PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise SettingsError(f"{name} is a {type(key).__name__}, not an Ed25519 key")
        return key
    raw = decode_key(name, text)
    if len(raw) != 32:
        raise SettingsError(f"{name} must be a 32-byte Ed25519 public key, got {len(raw)} bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The key that signs checkpoints, from LETHE_CHECKPOINT_KEY, or a clear error saying how to make one."""
    if not settings.checkpoint_key:
        raise SettingsError(
            "LETHE_CHECKPOINT_KEY is not set: checkpoints need an Ed25519 signing key "
            "(make one with `lethe ledger checkpoint --new-key`)"
        )
    return parse_private_key("LETHE_CHECKPOINT_KEY", settings.checkpoint_key)


def trusted_key(settings: Settings, given: str | None = None) -> Ed25519PublicKey:
    """The public key to trust: ``given`` (an option), else LETHE_CHECKPOINT_PUBLIC_KEY, else the signing key's.

    Never the key written in a checkpoint: a forger would write their own there.
    """
    if given:
        return parse_public_key("--public-key", given)
    if settings.checkpoint_public_key:
        return parse_public_key("LETHE_CHECKPOINT_PUBLIC_KEY", settings.checkpoint_public_key)
    if settings.checkpoint_key:
        return signing_key(settings).public_key()
    raise SettingsError(
        "no trusted checkpoint key: give --public-key or set LETHE_CHECKPOINT_PUBLIC_KEY (the key written in "
        "a checkpoint cannot vouch for itself)"
    )


def ledger_name(ledger: Ledger) -> str:
    """The ledger's URL without user name or password."""
    url = sa.make_url(ledger.url)
    bare = sa.URL.create(url.drivername, host=url.host, port=url.port, database=url.database, query=url.query)
    return bare.render_as_string(hide_password=False)


def make_checkpoint(ledger: Ledger, key: Ed25519PrivateKey, now: datetime | None = None) -> Checkpoint:
    """Verify the ledger (a tampered one is never signed), then sign its size, head MAC and tree root."""
    report = verify_or_raise(ledger)
    size = report.head_seq or 0
    tree = read_tree(ledger, size)
    if tree.head_mac != (report.head_mac or ZERO_MAC.hex()):
        raise LedgerTamperedError(f"entry {size} changed while the checkpoint was made; run it again")
    public = key.public_key()
    unsigned = Checkpoint(
        ledger=ledger_name(ledger),
        size=size,
        head_mac=tree.head_mac,
        tree_root=tree.root().hex(),
        time=(now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
        public_key=base64.b64encode(public.public_bytes(*_RAW)).decode(),
        key_id=signer_id(public),
        signature="",
    )
    return replace(unsigned, signature=base64.b64encode(key.sign(unsigned.message())).decode())


def parse_checkpoint(text: str) -> Checkpoint:
    """Read a checkpoint document; ParameterError naming the first field that is missing or malformed."""
    try:
        data: Any = json.loads(text)
    except ValueError:
        raise ParameterError("not a Lethe checkpoint: the file is not JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ParameterError(f"not a Lethe checkpoint: its format is not {FORMAT!r}")
    fields: dict[str, Any] = {}
    for name in Checkpoint.__dataclass_fields__:
        value: Any = data.get(name)
        wanted = int if name == "size" else str
        if type(value) is not wanted or (isinstance(value, int) and value < 0):
            raise ParameterError(f"not a Lethe checkpoint: field {name!r} is missing or malformed")
        fields[name] = value
    for name, length in (("head_mac", 64), ("tree_root", 64)):
        if len(fields[name]) != length or not _is_hex(fields[name]):
            raise ParameterError(f"not a Lethe checkpoint: field {name!r} is not {length} hex digits")
    return Checkpoint(**fields)


def read_checkpoint(path: Path) -> Checkpoint:
    """``parse_checkpoint`` of a file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"cannot read the checkpoint {path} ({type(exc).__name__})") from None
    return parse_checkpoint(text)


def check_signature(checkpoint: Checkpoint, trusted: Ed25519PublicKey) -> None:
    """Refuse (LedgerTamperedError) a checkpoint not signed by ``trusted``, or altered after signing."""
    expected = signer_id(trusted)
    if checkpoint.key_id != expected or checkpoint.public_key != base64.b64encode(
        trusted.public_bytes(*_RAW)
    ).decode("ascii"):
        raise LedgerTamperedError(
            f"the checkpoint names the key {checkpoint.key_id}, not the trusted key {expected}: "
            "it was signed by someone else or its key was replaced"
        )
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
        trusted.verify(signature, checkpoint.message())
    except (InvalidSignature, binascii.Error, ValueError):
        raise LedgerTamperedError(
            "the checkpoint's signature is invalid: the checkpoint was altered or forged"
        ) from None


def verify_with_checkpoint(
    ledger: Ledger, checkpoint: Checkpoint, trusted: Ed25519PublicKey, min_count: int | None = None
) -> VerifyReport:
    """Check the signature, then verify the ledger anchored at the checkpoint, then its first entries' root.

    A bad signature raises; anything wrong with the ledger comes back as a failed report, like ``verify_ledger``.
    """
    check_signature(checkpoint, trusted)
    report = verify_ledger(ledger, (checkpoint.size, checkpoint.head_mac), min_count)
    if not report.ok:
        return report
    try:
        root = read_tree(ledger, checkpoint.size).root().hex()
    except LedgerTamperedError as exc:  # entries removed between the walk and this read
        return replace(report, ok=False, problem=str(exc))
    if root != checkpoint.tree_root:
        return replace(
            report,
            ok=False,
            problem=(
                f"entries 1..{checkpoint.size} do not give the checkpoint's tree root: a stored entry is not "
                "byte for byte what was checkpointed"
            ),
        )
    return report


def _is_hex(text: str) -> bool:
    """True for lower-case hex digits only."""
    return _HEX.fullmatch(text) is not None
