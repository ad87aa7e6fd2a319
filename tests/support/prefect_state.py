"""Reading a test Prefect server's database, to prove nothing personal reached it."""

from __future__ import annotations

import sqlite3


def dump_database(path: str) -> str:
    """Every table of Prefect's SQLite database as SQL text: runs and their parameters (D-2: the identifier
    typed into a form is replaced by the request's reference), states, task runs, artifacts, logs, events."""
    connection = sqlite3.connect(path)
    try:
        return "\n".join(connection.iterdump())
    finally:
        connection.close()
