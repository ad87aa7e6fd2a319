"""``lethe replay``: a dry run counts and changes nothing, a real one restores the state before the restore,
and a --since in the future is refused (exit 2). The engines are covered by tests/replay/."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner, Result
from support.restore import backup, data_hash, restore
from support.shop import DEMO, open_shop, settings_env

from lethe.cli.main import main
from lethe.demo.spec import DemoSpec
from lethe.retention.enforce import enforce_rule
from lethe.retention.run import RetentionRun


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, ["replay", str(DEMO), *args], env=env)


def test_lethe_replay_dry_run_then_real(tmp_path: Path) -> None:
    (tmp_path / "shop.db").touch()
    url = f"sqlite:///{tmp_path}/shop.db"
    env = {**settings_env(tmp_path), "LETHE_DEMO_URL": url}
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    with open_shop(url, tmp_path) as shop:
        snapshot = backup(shop.engine)
        run = RetentionRun(shop.policy, shop.stores, shop.settings, DemoSpec().as_of, ledger=shop.ledger)
        for rule in run.rules():
            enforce_rule(run, rule)
        before = data_hash(shop.engine)
        restore(shop.engine, snapshot)
        restored = data_hash(shop.engine)

        future = invoke(env, "--since", (datetime.now(UTC) + timedelta(days=1)).isoformat(), "--yes")
        assert future.exit_code == 2 and "future" in future.output

        dry = invoke(env, "--since", since, "--dry-run", "--json")
        assert dry.exit_code == 0, dry.output
        counts = json.loads(dry.output)
        assert counts["dry_run"] is True and counts["records"] > 0
        applied = sum(t["applied"] for t in counts["tables"])
        assert applied > 0
        assert data_hash(shop.engine) == restored

        real = invoke(env, "--since", since, "--yes")
        assert real.exit_code == 0, real.output
        assert f"{applied:,} row(s) changed again" in real.output
        assert data_hash(shop.engine) == before
        assert shop.entries()[-1].entry.action == "replay"
