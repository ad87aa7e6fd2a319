"""tasks/secrets.py: ``LETHE_SECRET_BLOCKS`` fills the keys from Prefect Secret blocks, and refuses clearly."""

from __future__ import annotations

import pytest

from lethe.errors import SettingsError
from lethe.settings import load_settings
from tasks.secrets import load_secret_environment, parse_spec

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

MASTER = "ef" * 32


def test_parse_spec_reads_pairs_and_refuses_malformed_ones() -> None:
    spec = " LETHE_MASTER_KEY=lethe-master , LETHE_DEMO_URL=shop-db-url,"
    assert parse_spec(spec) == {"LETHE_MASTER_KEY": "lethe-master", "LETHE_DEMO_URL": "shop-db-url"}
    assert parse_spec("") == {}
    for bad in ("LETHE_MASTER_KEY", "lethe_master_key=x", "LETHE_MASTER_KEY=Not_A_Block", "=x"):
        with pytest.raises(SettingsError, match="LETHE_SECRET_BLOCKS"):
            parse_spec(bad)


@pytest.fixture
def secret_block(prefect_server: str) -> str:
    from prefect.blocks.system import Secret

    Secret(value=MASTER).save("lethe-test-master", overwrite=True)
    return "lethe-test-master"


def test_keys_come_from_their_blocks_unless_set(secret_block: str) -> None:
    environ = {"LETHE_SECRET_BLOCKS": f"LETHE_MASTER_KEY={secret_block}", "LETHE_LEDGER_KEY": "cd" * 32}
    assert load_secret_environment(environ) == ["LETHE_MASTER_KEY"]
    assert load_settings(environ).master_key == bytes.fromhex(MASTER)
    # Set in the environment: the environment wins, the block is not read.
    environ = {"LETHE_SECRET_BLOCKS": f"LETHE_MASTER_KEY={secret_block}", "LETHE_MASTER_KEY": "ab" * 32}
    assert load_secret_environment(environ) == []
    assert environ["LETHE_MASTER_KEY"] == "ab" * 32


def test_a_missing_block_is_named_and_nothing_is_set(secret_block: str) -> None:
    environ = {"LETHE_SECRET_BLOCKS": "LETHE_LEDGER_KEY=no-such-block"}
    with pytest.raises(SettingsError, match="no Secret block 'no-such-block' for LETHE_LEDGER_KEY"):
        load_secret_environment(environ)
    assert "LETHE_LEDGER_KEY" not in environ
