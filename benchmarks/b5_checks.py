"""B5: the DPIA checks of a ``people`` table, run by Lethe through Great Expectations vs hand-written COUNTs.

The policy has B1's anonymise rule, a k-anonymity entry and one named expectation, so Lethe generates four
database checks (retention compliance, pseudonymisation effectiveness, k-anonymity, not-null) and its own
coverage scan. Lethe: ``lethe.dpia.checks.run_checks`` as ``lethe dpia`` calls it (policy parsed, schema
reflected, one ephemeral Great Expectations context, one suite per table, queries inside the database).
Baseline: the same four checks as the COUNT queries a person would write for each engine, on one
connection. The first, untimed, call of each side (the harness's warm-up) must give the same counts (and
imports Great Expectations, which is not timed).

The checks only read, so every measurement reads the same seeded template (no copies): the order of the
two sides alternates between rounds, so both meet caches equally warm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.common import settings_for
from benchmarks.harness import LETHE, Benchmark, Method, Run
from benchmarks.report import Target
from benchmarks.seeding import AS_OF
from benchmarks.tables import CUTOFF, PEOPLE, PEOPLE_RULE
from lethe.policy.loading import parse_policy
from lethe.stores.engines import Stores, create_store_engine

BASELINE = "hand COUNT"
TARGETS = {("B5", BASELINE): Target("<= 1.50", at_most=1.5)}
POLICY = """\
version: 1
controller: {name: Benchmark Ltd}
stores:
  db: {url: "${DB_URL}", timezone: UTC}
retention:
__RULE__
checks:
  k_anonymity:
    - {table: db.people, quasi_identifiers: [birth_date], k: 2}
  expectations:
    - {table: db.people, expectation: ExpectColumnValuesToNotBeNull, kwargs: {column: email}}
"""
# What both sides must measure, as (check id, measure) -> name.
MEASURES = {
    ("retention:people-2y", "violations"): "pending",
    ("pseudonymisation:people-2y", "violations"): "leaks",
    ("k_anonymity:db.people", "violations"): "small_classes",
    ("k_anonymity:db.people", "measured_k"): "k",
    ("expectation:1:ExpectColumnValuesToNotBeNull", "unexpected_count"): "null_emails",
    ("expectation:1:ExpectColumnValuesToNotBeNull", "element_count"): "emails",
}
# Regexes as PII_PATTERNS in lethe/dpia/sql.py: the baseline looks for the same shapes.
_EMAIL = "[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}"
_PHONE = "^[+(]?[0-9]([ ()./-]{0,2}[0-9]){8,14}$"


def _rule() -> str:
    return "\n".join("  " + line for line in PEOPLE_RULE.strip("\n").splitlines())


def lethe_counts(url: str) -> dict[str, Any]:
    """Run the checks as ``lethe dpia`` does; return the measures the baseline also computes."""
    policy = parse_policy(POLICY.replace("__RULE__", _rule()), source="b5.yaml", environ={"DB_URL": url})
    from lethe.dpia.checks import run_checks

    with Stores(policy) as stores:
        run = run_checks(policy, stores, settings_for(Path("/nonexistent")), as_of=AS_OF)
    errors = [f"{r.id}: {r.error}" for r in run.results if r.status == "error"]
    if errors or not run.complete:
        raise AssertionError(f"lethe's checks errored: {errors}")
    results = {r.id: r for r in run.results}
    return {name: results[check].observed.get(measure) for (check, measure), name in MEASURES.items()}


def _handled(dialect: str) -> str:
    """The rule's "already anonymised" test, as a person would write it per engine."""
    if dialect == "sqlite":
        token, year = "length(email) = 68", "birth_date = substr(birth_date, 1, 4) || '-01-01'"
    elif dialect == "postgresql":
        token, year = "char_length(email) = 68", "birth_date = date_trunc('year', birth_date)::date"
    else:
        token, year = "CHAR_LENGTH(email) = 68", "birth_date = MAKEDATE(YEAR(birth_date), 1)"
    return f"(email LIKE '~h1:%' AND {token}) AND phone IS NULL AND (birth_date IS NULL OR {year})"


def hand_counts(url: str) -> dict[str, Any]:
    """The same checks as hand-written COUNT queries on one connection."""
    engine = create_store_engine(url)
    dialect = "mariadb" if engine.dialect.name in ("mysql", "mariadb") else engine.dialect.name
    regexp = "~" if dialect == "postgresql" else "REGEXP"
    handled = _handled(dialect)
    cutoff = sa.bindparam("cutoff", CUTOFF, type_=sa.DateTime)
    looks = " OR ".join(f"{c} {regexp} '{p}'" for c in ("email", "phone") for p in (_EMAIL, _PHONE))
    try:
        with engine.connect() as connection:
            pending = connection.execute(
                sa.text(
                    f"SELECT COUNT(*) FROM people WHERE created_at < :cutoff AND NOT ({handled})"
                ).bindparams(cutoff)
            ).scalar_one()
            leaks = connection.execute(
                sa.text(f"SELECT COUNT(*) FROM people WHERE {handled} AND ({looks})")
            ).scalar_one()
            small, k = connection.execute(
                sa.text(
                    "SELECT SUM(CASE WHEN c < 2 THEN 1 ELSE 0 END), MIN(c) "
                    "FROM (SELECT COUNT(*) AS c FROM people GROUP BY birth_date) AS g"
                )
            ).one()
            # The figures the expectation reports (elements and NULLs), in one scan: a bare COUNT ... IS NULL
            # on a NOT NULL column is answered from the schema by MariaDB, which is not the same check.
            elements, nulls = connection.execute(
                sa.text(
                    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN email IS NULL THEN 1 ELSE 0 END), 0) FROM people"
                )
            ).one()
    finally:
        engine.dispose()
    return {
        "pending": pending,
        "leaks": leaks,
        "small_classes": int(small or 0),
        "k": k,
        "null_emails": nulls,
        "emails": elements,
    }


def methods(_run: Run) -> list[Method]:
    """Lethe, then the hand-written COUNTs."""
    return [(LETHE, lethe_counts), (BASELINE, hand_counts)]


def same_counts(_url: str, counts: object) -> dict[str, int]:
    """The measures a side returned, NULL counted as 0 (what both sides must agree on)."""
    assert isinstance(counts, dict)
    return {k: int(v or 0) for k, v in counts.items()}


BENCH = Benchmark(
    id="B5",
    summary="DPIA checks of a table: Lethe through Great Expectations vs hand-written COUNTs",
    data=PEOPLE,
    methods=methods,
    targets=TARGETS,
    size=1_000_000,
    quick=10_000,
    check=same_counts,
    warm_up=True,  # also imports Great Expectations, untimed
    read_only=True,
)
