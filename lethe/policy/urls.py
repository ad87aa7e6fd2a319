"""Which database URLs name a store, and how they are shown: never with their password.

Only SQLite, PostgreSQL, MySQL and MariaDB URLs are accepted (``url_problem``, checked when the policy loads),
with the drivers Lethe is tested with.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


def safe_url(url: str | sa.URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


# The databases Lethe runs on, with the URL form it is tested with (the driver after ``+``).
SUPPORTED_URLS = {
    "sqlite": "sqlite:///PATH",
    "postgresql": "postgresql+psycopg://USER:PASSWORD@HOST/DB",
    "mysql": "mysql+pymysql://USER:PASSWORD@HOST/DB",
    "mariadb": "mariadb+pymysql://USER:PASSWORD@HOST/DB",
}


def url_problem(url: str | sa.URL) -> str | None:
    """Why ``url`` cannot name a store (not a URL, or a database Lethe does not support), or None."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        return f"not a database URL; use one of {', '.join(SUPPORTED_URLS.values())}"
    if backend not in SUPPORTED_URLS:
        return f"unsupported database {backend!r}; Lethe supports {', '.join(SUPPORTED_URLS.values())}"
    return None
