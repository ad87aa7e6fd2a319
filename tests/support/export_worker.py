"""Child process of the export crash tests: export one subject of the demo shop, dying after a chosen member.

By hand: ``python tests/support/export_worker.py '<json config>'``. The config holds ``db_url`` (the demo shop),
``env`` (the settings' environment), ``identifier``, ``out`` (the output folder), ``passphrase`` (null for a
plain export) and ``kill_after``: the name of the zip member after which the process SIGKILLs itself (null:
finish). Exits 0 when the export finished.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from lethe.ledger.chain import Ledger
from lethe.policy.loading import parse_policy
from lethe.requests.export import archive as export
from lethe.requests.export.archive import export_subject
from lethe.settings import load_settings
from lethe.stores.engines import Stores

DEMO_POLICY = Path(__file__).resolve().parents[2] / "config" / "demo.yaml"


def main(config: dict[str, object]) -> None:
    """Export as configured; die the hard way (no cleanup, no flush) after member ``kill_after``."""
    kill_after = config["kill_after"]
    if kill_after is not None:
        export._after_member = lambda name: (
            os.kill(os.getpid(), signal.SIGKILL) if name == kill_after else None
        )
    policy = parse_policy(
        DEMO_POLICY.read_text(), source=str(DEMO_POLICY), environ={"LETHE_DEMO_URL": str(config["db_url"])}
    )
    env = config["env"]
    assert isinstance(env, dict)
    settings = load_settings({str(k): str(v) for k, v in env.items()})
    passphrase = config["passphrase"]
    with Stores(policy) as stores:
        export_subject(
            policy, stores, "customer", str(config["identifier"]), Path(str(config["out"])),
            settings=settings, ledger=Ledger.from_settings(settings), run_id="crash",
            passphrase=None if passphrase is None else str(passphrase),
        )  # fmt: skip


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
