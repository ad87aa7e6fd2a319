"""Where the demo lives and how it is set up: its folder, store, policy, instant and keys.

Shared by ``lethe demo`` (seed, validate, plan) and ``make demo`` (``flows/demo.py``, the flows on the same
store). The demo judges expiry at the instant its data was generated for (``DemoSpec.as_of``), so its figures
are the same on every machine and every day.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import click

from lethe.demo.spec import DemoSpec

DEMO_DIR = Path("var/demo")
DEMO_DATABASE = DEMO_DIR / "shop.db"
DEMO_POLICY = Path("config/demo.yaml")
KEYS_FILE = DEMO_DIR / "keys.env"
DEMO_KEYS = ("LETHE_LEDGER_KEY", "LETHE_MASTER_KEY")
DEMO_AS_OF = DemoSpec().as_of


def ensure_demo_keys(path: Path = KEYS_FILE) -> None:
    """Load the demo's keys into the environment, creating random ones in a git-ignored file once.

    Keys never come from code: a real deployment sets them from its secret store. The demo keeps its own
    so that re-runs can verify the ledger written by earlier runs.
    """
    if all(os.environ.get(name) for name in DEMO_KEYS):
        return
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{name}={secrets.token_hex(32)}\n" for name in DEMO_KEYS))
        path.chmod(0o600)
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        if name in DEMO_KEYS:
            os.environ.setdefault(name, value.strip())


def demo_environment() -> None:
    """Keys, and the demo store's URL for config/demo.yaml."""
    ensure_demo_keys()
    os.environ.setdefault("LETHE_DEMO_URL", f"sqlite:///{DEMO_DATABASE}")


def repeat_plan_command(policy_path: Path) -> str:
    """The command that repeats the demo's plan: ``lethe retention plan`` at the demo's instant.

    Without ``--as-of`` a plan is judged now, so rows that expired since the demo's instant would show as
    pending too; the demo prints this so that a newcomer who repeats it sees the same figures.
    """
    return f"lethe retention plan {policy_path} --as-of {DEMO_AS_OF.isoformat()}"


def step(title: str) -> None:
    """Print a step heading."""
    click.echo(click.style(f"\n== {title}", bold=True))
