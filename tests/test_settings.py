"""Settings: keys never in their printed form, and settings usable as a cache key (tasks/shared.py)."""

from __future__ import annotations

from lethe.settings import load_settings

MASTER = "ab" * 32
LEDGER = "cd" * 32
SIV = "ef" * 64
CHECKPOINT = "0123456789abcdef" * 4


def _settings() -> object:
    return load_settings(
        {
            "LETHE_MASTER_KEY": MASTER,
            "LETHE_LEDGER_KEY": LEDGER,
            "LETHE_SIV_KEY": SIV,
            "LETHE_CHECKPOINT_KEY": CHECKPOINT,
            "LETHE_LEDGER_URL": "postgresql+psycopg://lethe:s3cret-pw@db.example/ledger",
            "LETHE_EXPORT_STORAGE_OPTIONS": '{"key": "AKIAEXAMPLE", "secret": "s3-secret"}',
        }
    )


def test_the_printed_settings_carry_no_key_or_password() -> None:
    text = repr(_settings()) + str(_settings())
    for secret in (
        MASTER, LEDGER, SIV, CHECKPOINT, "s3cret-pw", "s3-secret", "AKIAEXAMPLE",
        repr(bytes.fromhex(MASTER)), repr(bytes.fromhex(LEDGER)),
    ):  # fmt: skip
        assert secret not in text


def test_settings_are_hashable_and_equal_when_read_twice() -> None:
    assert hash(_settings()) == hash(_settings())
    assert {_settings(): 1}[_settings()] == 1
