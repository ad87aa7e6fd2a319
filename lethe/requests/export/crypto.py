"""Passphrase encryption of an export file: scrypt for the key, AES-256-GCM for the bytes.

File format, version 1 (``<name>.zip.enc``)::

    offset  size  content
    0       15    magic b"LETHE-EXPORT-1\\n" (names the format and fixes the parameters below)
    15      16    salt, random per file
    31      12    nonce, random per file
    43      n     ciphertext of the zip (n = size of the zip)
    43+n    16    GCM authentication tag

key = scrypt(passphrase, NFC-normalised, as UTF-8; salt; n=2**15, r=8, p=1; length 32) (RFC 7914);
cipher = AES-256-GCM (NIST SP 800-38D) with the magic as associated data, so a file of another format or
version never decrypts as this one. Any scrypt and AES-GCM implementation decrypts it, e.g. ``cryptography``::

    key = Scrypt(salt=data[15:31], length=32, n=2**15, r=8, p=1).derive(passphrase.encode())
    zip_bytes = AESGCM(key).decrypt(data[31:43], data[43:], b"LETHE-EXPORT-1\\n")

A wrong passphrase and a damaged file look the same to GCM: both fail the tag. Decryption writes to a
temporary file and only renames it into place once the tag has been verified, so unauthenticated plaintext
is never left behind (a killed decryption's part file is removed by the next one in the folder). The
passphrase is never logged nor stored.

An encrypted export never exists in clear on disk: ``encrypted_output`` encrypts the zip as it is written,
so its part file (``lethe.requests.export.part``) only ever holds the header and ciphertext.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from lethe.errors import LetheError, ParameterError, SettingsError
from lethe.requests.export.part import part_file, remove_stale_parts

MAGIC = b"LETHE-EXPORT-1\n"
SALT_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MIN_PASSPHRASE = 12
SUFFIX = ".enc"
_CHUNK = 1 << 20
_HEADER = len(MAGIC) + SALT_BYTES + NONCE_BYTES


def check_passphrase(passphrase: str) -> None:
    """Refuse passphrases too short to resist guessing (scrypt slows guessing, it cannot make it hopeless)."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise SettingsError(f"the export passphrase must be at least {MIN_PASSPHRASE} characters long")


def _key(passphrase: str, salt: bytes) -> bytes:
    # NFC: the same passphrase typed on another system may arrive with its accents composed differently.
    secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(secret)


@contextmanager
def atomic_output(target: Path) -> Iterator[BinaryIO]:
    """A private (0600) temporary file beside ``target``, renamed onto it on success, removed on failure."""
    with part_file(target) as out:
        yield out


class SealedStream:
    """A write-only, unseekable stream passing what it is given to ``out`` encrypted; it hashes the plaintext.

    Having no ``tell``, it makes ``zipfile`` write each member in one pass (sizes in data descriptors).
    """

    def __init__(self, out: BinaryIO, encryptor: CipherContext) -> None:
        self._out, self._encryptor = out, encryptor
        self.plain_sha256 = hashlib.sha256()

    def write(self, data: bytes, /) -> int:
        """Encrypt and pass on ``data``; its plaintext never reaches the file."""
        self.plain_sha256.update(data)
        self._out.write(self._encryptor.update(data))
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered here (the part file is flushed and synced when complete)."""

    def close(self) -> None:
        """Closed by ``encrypted_output``, which adds the tag."""


@contextmanager
def sealing(out: BinaryIO, passphrase: str) -> Iterator[SealedStream]:
    """A stream whose bytes reach ``out`` (any writable stream, e.g. a remote file) encrypted as above."""
    check_passphrase(passphrase)
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    encryptor = Cipher(algorithms.AES(_key(passphrase, salt)), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(MAGIC)
    out.write(MAGIC + salt + nonce)
    sealed = SealedStream(out, encryptor)
    yield sealed
    out.write(encryptor.finalize())
    out.write(encryptor.tag)


@contextmanager
def encrypted_output(target: Path, passphrase: str) -> Iterator[SealedStream]:
    """A stream whose bytes reach ``target`` encrypted in the format above, renamed into place once whole."""
    check_passphrase(passphrase)
    with part_file(target) as out, sealing(out, passphrase) as sealed:
        yield sealed


def encrypt_to(source: Path, target: Path, passphrase: str) -> Path:
    """Encrypt the file ``source`` into ``target`` (written atomically, mode 0600); ``source`` is kept."""
    with source.open("rb") as plain, encrypted_output(target, passphrase) as sealed:
        while chunk := plain.read(_CHUNK):
            sealed.write(chunk)
    return target


def encrypt_file(path: Path, passphrase: str) -> Path:
    """Encrypt ``path`` into ``<name>.enc`` beside it and remove the plain file; return the new path."""
    target = encrypt_to(path, path.with_name(path.name + SUFFIX), passphrase)
    path.unlink()
    return target


def decrypt_file(path: Path, passphrase: str, out: Path) -> Path:
    """Decrypt ``path`` into the folder ``out`` (name without ``.enc``); never overwrites a file."""
    try:
        size = path.stat().st_size
        handle = path.open("rb")
    except OSError as exc:
        raise LetheError(f"cannot read {path} ({type(exc).__name__})") from None
    with handle:
        header = handle.read(_HEADER)
        if not header.startswith(MAGIC):
            raise LetheError(f"{path} is not a Lethe encrypted export (no {MAGIC.strip().decode()} header)")
        if size < _HEADER + TAG_BYTES:
            raise ParameterError("wrong passphrase or damaged file")
        salt, nonce = header[len(MAGIC) : len(MAGIC) + SALT_BYTES], header[len(MAGIC) + SALT_BYTES :]
        handle.seek(size - TAG_BYTES)
        tag = handle.read(TAG_BYTES)
        handle.seek(_HEADER)
        name = path.name.removesuffix(SUFFIX) if path.name.endswith(SUFFIX) else path.name + ".zip"
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(out)  # a killed decryption's unauthenticated plaintext
        target = out / name
        if target.exists():
            raise LetheError(f"{target} already exists: remove it or choose another --out folder")
        decryptor = Cipher(algorithms.AES(_key(passphrase, salt)), modes.GCM(nonce, tag)).decryptor()
        decryptor.authenticate_additional_data(MAGIC)
        remaining = size - _HEADER - TAG_BYTES
        try:
            with atomic_output(target) as plain:
                while remaining > 0:
                    chunk = handle.read(min(_CHUNK, remaining))
                    if not chunk:
                        raise ParameterError("wrong passphrase or damaged file")
                    remaining -= len(chunk)
                    plain.write(decryptor.update(chunk))
                plain.write(decryptor.finalize())
        except InvalidTag:
            raise ParameterError("wrong passphrase or damaged file") from None
    return target
