"""The Chinook sample database kept with the tests: its files, the handle of a loaded copy, its scripts.

Nothing here connects to a database: :mod:`support.databases` loads these scripts into scratch databases
(``load_chinook_*``) and the ``chinook_url`` fixture of ``tests/conftest.py`` yields the :class:`ChinookDb`.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# The Chinook sample database 1.4.5 (MIT, https://github.com/lerocha/chinook-database), kept in the repository
# gzip-compressed with its LICENSE.md beside it, so that a clone anywhere runs every test (decision D-3).
CHINOOK_DIR = Path(__file__).resolve().parents[1] / "data" / "chinook"
CHINOOK_FILES: dict[str, str] = {
    "sqlite": "Chinook_Sqlite.sqlite.gz",
    "postgresql": "Chinook_PostgreSql.sql.gz",
    "mariadb": "Chinook_MySql.sql.gz",
}

# the script's own database handling: the fixtures load into a scratch database instead
_PG_SKIP_LINE = re.compile(r"^(DROP\s+DATABASE|CREATE\s+DATABASE|\\c\b)", re.IGNORECASE)
_MY_SKIP_LINE = re.compile(r"^(DROP\s+DATABASE|CREATE\s+DATABASE|USE\s)", re.IGNORECASE)


@dataclass(frozen=True)
class ChinookDb:
    """A loaded Chinook sample database (59 customers, 412 invoices, 2240 invoice lines, 3503 tracks).

    Shared by the whole test session: tests must only read it. A test that changes data copies it first (or
    uses ``db_url``/``db_engine`` and creates its own tables).

    ``naming`` says how its identifiers are spelled: the SQLite and MySQL scripts use PascalCase
    (``Customer``, ``InvoiceLine``, ``CustomerId``), the PostgreSQL script snake_case (``customer``,
    ``invoice_line``, ``customer_id``). Write tests with the PascalCase names and pass them through
    :meth:`name`.
    """

    url: str
    engine_name: Literal["sqlite", "postgresql", "mariadb"]  # support.databases.EngineName
    naming: Literal["pascal", "snake"]

    def name(self, pascal: str) -> str:
        """A table or column name as this database spells it: ``name("InvoiceLine")`` -> ``invoice_line``."""
        if self.naming == "pascal":
            return pascal
        return re.sub(r"(?<!^)(?=[A-Z])", "_", pascal).lower()


def chinook_dir() -> Path:
    """The folder of the Chinook files: ``tests/data/chinook`` in this repository, never outside it."""
    return CHINOOK_DIR


def read_chinook(engine_name: str) -> bytes:
    """The uncompressed bytes of the Chinook file for this engine."""
    return gzip.decompress((CHINOOK_DIR / CHINOOK_FILES[engine_name]).read_bytes())


def postgresql_script() -> str:
    """The PostgreSQL script without its own database handling, to run in a scratch database."""
    text = read_chinook("postgresql").decode("utf-8")
    return "\n".join(line for line in text.splitlines() if not _PG_SKIP_LINE.match(line))


def mariadb_script() -> str:
    """The MySQL script without its own database handling, and with ``VARCHAR`` for ``NVARCHAR``.

    MariaDB maps NVARCHAR to the 3-byte ``utf8mb3`` with a case-insensitive collation, whereas plain VARCHAR
    takes the scratch database's ``utf8mb4`` and binary collation, like the other engines. Only the table
    definitions change: the data after the first ``INSERT INTO`` is left as it is.
    """
    text = read_chinook("mariadb").decode("utf-8")
    script = "\n".join(line for line in text.splitlines() if not _MY_SKIP_LINE.match(line))
    first_insert = script.index("INSERT INTO")
    return re.sub(r"\bNVARCHAR\(", "VARCHAR(", script[:first_insert]) + script[first_insert:]
