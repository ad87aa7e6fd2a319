"""Reading the test Prefect server's database, to prove nothing personal reached it."""

from __future__ import annotations

import sqlite3


def dump_without_parameters(path: str) -> str:
    """Every table of Prefect's database as SQL text, with flow runs' parameters blanked out.

    Parameters are where a privacy officer types a subject's identifier (and, for a rectification, the
    correct value): Prefect keeps them by design, and the docs say how long. Everything else must be clean.
    """
    connection = sqlite3.connect(path)
    try:
        connection.execute("UPDATE flow_run SET parameters = '{}'")
        return "\n".join(connection.iterdump())
    finally:
        connection.rollback()
        connection.close()
