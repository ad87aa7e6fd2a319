"""Exports killed mid-write: no plaintext of an encrypted export on disk, and stale part files removed.

The killed export is a real child process (``tests/support/export_worker.py``) that SIGKILLs itself right after a
zip member is written, the way a power cut or the OOM killer would end it.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.exports import DEMO_POLICY, LEDGER_HEX, MASTER_HEX, PASSPHRASE, busiest_customer, only_files

from lethe.demo.seed import DemoSpec, seed
from lethe.errors import SubjectError
from lethe.ledger.chain import Ledger
from lethe.policy.loading import parse_policy
from lethe.policy.model import Policy
from lethe.requests.export.archive import export_subject
from lethe.requests.export.crypto import MAGIC, decrypt_file
from lethe.requests.export.part import part_file, remove_stale_parts
from lethe.settings import Settings, load_settings
from lethe.stores.engines import Stores

WORKER = Path(__file__).resolve().parents[1] / "support" / "export_worker.py"
ZIP_SIGNATURES = (
    b"PK\x03\x04",
    b"PK\x01\x02",
    b"PK\x05\x06",
    b"PK\x07\x08",
)  # local, central, end, descriptor


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
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
    """The demo shop with 50 customers and its policy."""
    seed(db_engine, DemoSpec(customers=50))
    policy = parse_policy(
        DEMO_POLICY.read_text(), source=str(DEMO_POLICY), environ={"LETHE_DEMO_URL": db_url}
    )
    with Stores(policy) as stores:
        yield policy, stores


def killed_export(
    db_url: str, env: dict[str, str], identifier: str, out: Path, passphrase: str | None
) -> None:
    """Run an export in a child process that dies after writing ``index.html`` (most of the archive)."""
    config = dict(
        db_url=db_url,
        env=env,
        identifier=identifier,
        out=str(out),
        passphrase=passphrase,
        kill_after="index.html",
    )
    done = subprocess.run(
        [sys.executable, str(WORKER), json.dumps(config)], capture_output=True, timeout=300, check=False
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()


def subject_values(engine: sa.Engine, key: int) -> list[bytes]:
    """The customer's own values, as the export would write them."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT email, full_name, phone, postcode, iban FROM customers WHERE id = :k"), {"k": key}
        ).one()
    return [str(v).encode() for v in row if v is not None]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_killed_encrypted_export_leaves_only_ciphertext(
    shop: tuple[Policy, Stores],
    db_url: str,
    db_engine: sa.Engine,
    env: dict[str, str],
    settings: Settings,
    ledger: Ledger,
    tmp_path: Path,
) -> None:
    policy, stores = shop
    key, email = busiest_customer(db_engine)
    out = tmp_path / "out"
    killed_export(db_url, env, email, out, PASSPHRASE)

    (part,) = only_files(out)  # the export died: its part file is all there is
    assert part.name.startswith(".lethe-") and part.name.endswith(".part")
    blob = part.read_bytes()
    assert blob.startswith(MAGIC) and len(blob) > 4096  # killed with most of the archive written
    for needle in (*ZIP_SIGNATURES, b"data.json", b"index.html", *subject_values(db_engine, key)):
        assert needle not in blob, needle

    # The next export in the folder removes the dead part and leaves its own file only.
    result = export_subject(
        policy,
        stores,
        "customer",
        email,
        out,
        settings=settings,
        ledger=ledger,
        run_id="next",
        passphrase=PASSPHRASE,
    )
    assert only_files(out) == [result.path]
    decrypt_file(result.path, PASSPHRASE, tmp_path / "plain")  # the new format decrypts as before


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_killed_plain_export_part_is_removed_by_the_next(
    shop: tuple[Policy, Stores],
    db_url: str,
    db_engine: sa.Engine,
    env: dict[str, str],
    settings: Settings,
    ledger: Ledger,
    tmp_path: Path,
) -> None:
    policy, stores = shop
    _, email = busiest_customer(db_engine)
    out = tmp_path / "out"
    killed_export(db_url, env, email, out, None)
    (part,) = only_files(out)
    assert part.read_bytes().startswith(b"PK\x03\x04")  # a plain export's part is plain: it must go
    result = export_subject(
        policy, stores, "customer", email, out, settings=settings, ledger=ledger, run_id="next"
    )
    assert only_files(out) == [result.path]


def test_a_part_being_written_is_left_alone(tmp_path: Path) -> None:
    """Another export's part (locked while written) survives a sweep; a dead one and strangers do not matter."""
    stranger = tmp_path / "notes.part"
    stranger.write_text("not ours")
    link = tmp_path / ".lethe-link.part"
    link.symlink_to(stranger)
    dead = tmp_path / ".lethe-dead.part"
    dead.write_bytes(b"left by a killed export")
    with part_file(tmp_path / "live.zip") as live:
        live.write(b"being written")
        assert remove_stale_parts(tmp_path) == 1
        names = sorted(p.name for p in tmp_path.iterdir())
        assert len(names) == 3 and stranger.name in names and link.name in names
    assert (tmp_path / "live.zip").read_bytes() == b"being written"
    assert stranger.read_text() == "not ours"


def test_a_failed_write_leaves_no_part(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), part_file(tmp_path / "x.zip") as out:
        out.write(b"half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_a_part_is_private_and_locked(tmp_path: Path) -> None:
    with part_file(tmp_path / "x.zip"):
        (part,) = tmp_path.iterdir()
        assert part.stat().st_mode & 0o777 == 0o600
        fd = os.open(part, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_stale_parts_go_even_when_the_request_fails_and_before_a_decryption(
    shop: tuple[Policy, Stores], settings: Settings, ledger: Ledger, tmp_path: Path
) -> None:
    """An unknown subject still sweeps the folder; a killed decryption's plaintext goes with the next one."""
    policy, stores = shop
    out = tmp_path / "out"
    out.mkdir()
    (out / ".lethe-dead.part").write_bytes(b"PK\x03\x04 plain")
    with pytest.raises(SubjectError):
        export_subject(policy, stores, "customer", "nobody@example.invalid", out, settings=settings,
                       ledger=ledger, run_id="x")  # fmt: skip
    assert only_files(out) == []
    sealed = export_subject(
        policy,
        stores,
        "customer",
        "3",
        out,
        settings=settings,
        ledger=ledger,
        run_id="y",
        passphrase=PASSPHRASE,
    )
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / ".lethe-killed.part").write_bytes(b"PK\x03\x04 unauthenticated plaintext")
    opened = decrypt_file(sealed.path, PASSPHRASE, plain)
    assert only_files(plain) == [opened]
