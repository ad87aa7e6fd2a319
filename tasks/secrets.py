"""Lethe's keys and store URLs from Prefect Secret blocks, for flow runs whose environment only names them.

``LETHE_SECRET_BLOCKS`` maps environment variables to Secret blocks, e.g.
``LETHE_MASTER_KEY=lethe-master-key,LETHE_LEDGER_KEY=lethe-ledger-key,LETHE_DEMO_URL=shop-db-url``. Before
a task reads its settings and policy, every variable named there that is not set already is set from its
block (once per process): the work pool's job variables then carry block names, never values. A variable
set in the environment wins over its block. Messages name variables and blocks, never values.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

from lethe.errors import SettingsError

SPEC_VAR = "LETHE_SECRET_BLOCKS"
_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_BLOCK = re.compile(r"^[a-z0-9][a-z0-9-]*$")  # Prefect's block document names
_lock = threading.Lock()


def parse_spec(spec: str) -> dict[str, str]:
    """``VAR=block,VAR=block`` as ``{VAR: block}``; a malformed entry is refused with what is wrong."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, sep, block = (piece.strip() for piece in item.partition("="))
        if not sep or not _NAME.match(name) or not _BLOCK.match(block):
            raise SettingsError(
                f"{SPEC_VAR}: {item!r} is not VARIABLE=block-name (upper-case variable, lower-case block name)"
            )
        mapping[name] = block
    return mapping


def load_secret_environment(environ: Any = os.environ) -> list[str]:
    """Set the variables ``LETHE_SECRET_BLOCKS`` names from their Secret blocks; return the names set."""
    mapping = parse_spec(environ.get(SPEC_VAR, ""))
    missing = {name: block for name, block in mapping.items() if not environ.get(name)}
    if not missing:
        return []
    from prefect.blocks.system import Secret

    done = []
    with _lock:
        for name, block in missing.items():
            if environ.get(name):  # set by another thread meanwhile
                continue
            try:
                # Called from a synchronous task, Block.load returns the block (its type says "maybe a coroutine").
                secret: Any = Secret.load(block)
            except ValueError:
                raise SettingsError(f"{SPEC_VAR}: no Secret block {block!r} for {name}") from None
            environ[name] = str(secret.get())
            done.append(name)
    return done
