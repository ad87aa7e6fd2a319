"""Retention cut-offs on SQLite, PostgreSQL and MariaDB: exactly which moment a period ends, in any time zone.

As in ``test_retention.py``: a purpose-made table in a fresh database per test (``db_url``), enforced
through ``lethe.retention.enforce`` against a real SQLite evidence ledger (fixtures in ``conftest.py``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from support.retention import (
    AS_OF,
    NewRun,
    delete_rule,
    ids,
    insert,
    keys_of,
    make_policy,
    make_table,
)

from lethe.errors import LetheError
from lethe.retention.enforce import enforce_rule
from lethe.retention.plan import plan_rule
from lethe.retention.run import RetentionRun
from lethe.settings import Settings
from lethe.stores.engines import Stores


@pytest.mark.parametrize(
    ("as_of", "after", "cutoff", "aware"),
    [
        pytest.param(AS_OF, "30 days", AS_OF - timedelta(days=30), False, id="30-days"),
        pytest.param(AS_OF, "30 days", AS_OF - timedelta(days=30), True, id="30-days-zoned-column"),
        pytest.param(
            datetime(2024, 2, 29, tzinfo=UTC),
            "1 year",
            datetime(2023, 2, 28, tzinfo=UTC),
            False,
            id="leap-day",
        ),
        pytest.param(
            datetime(2026, 3, 31, tzinfo=UTC),
            "1 month",
            datetime(2026, 2, 28, tzinfo=UTC),
            False,
            id="month-end",
        ),
    ],
)
def test_a_row_exactly_at_the_cutoff_is_kept_and_one_second_before_is_expired(
    db_url: str,
    db_engine: sa.Engine,
    new_run: NewRun,
    as_of: datetime,
    after: str,
    cutoff: datetime,
    aware: bool,
) -> None:
    # A zoned column is PostgreSQL timestamptz (compared as an instant); elsewhere it stores UTC wall time.
    events = make_table(db_engine, "events", sa.Column("at", sa.DateTime(timezone=aware), nullable=True))

    def value(moment: datetime) -> datetime:
        return moment if aware else moment.replace(tzinfo=None)

    insert(
        db_engine,
        events,
        [
            {"id": 1, "at": value(cutoff - timedelta(seconds=1))},
            {"id": 2, "at": value(cutoff)},
            {"id": 3, "at": value(cutoff + timedelta(seconds=1))},
            {"id": 4, "at": value(cutoff - timedelta(days=400))},
            {"id": 5, "at": None},  # unknown age is not old age
        ],
    )
    policy = make_policy(db_url, delete_rule("events", "events", "at", after))
    run = new_run(policy, as_of)

    plan = plan_rule(run, policy.rule("events"))
    assert plan.cutoff == cutoff
    assert (plan.pending, keys_of(plan.sample_keys)) == (2, [1, 4])
    result = enforce_rule(run, policy.rule("events"))
    assert (result.applied, result.remaining) == (2, 0)
    assert ids(db_engine, "events") == [2, 3, 5]


ZONE_CASES = {
    "days": (AS_OF, "30 days"),
    # 23:00 UTC on the 30th is already the 31st at +02:00: calendar arithmetic must not depend on that.
    "month": (datetime(2026, 3, 30, 23, 0, tzinfo=UTC), "1 month"),
    # Across the start of summer time in Berlin: 48 hours are 48 hours, not two wall-clock days.
    "hours": (datetime(2026, 3, 30, 12, 0, tzinfo=UTC), "48 hours"),
}


def test_the_same_instant_in_another_zone_gives_the_same_cutoff(
    db_url: str, db_engine: sa.Engine, new_run: NewRun
) -> None:
    for name, (as_of, after) in ZONE_CASES.items():
        events = make_table(db_engine, f"events_{name}", sa.Column("at", sa.DateTime(), nullable=False))
        policy = make_policy(db_url, delete_rule(name, f"events_{name}", "at", after))
        utc_cutoff = plan_rule(new_run(policy, as_of), policy.rule(name)).cutoff
        naive_cutoff = utc_cutoff.astimezone(UTC).replace(tzinfo=None)
        insert(
            db_engine,
            events,
            [{"id": 1, "at": naive_cutoff - timedelta(seconds=1)}, {"id": 2, "at": naive_cutoff}],
        )
        spellings = [
            as_of,
            as_of.astimezone(timezone(timedelta(hours=2))),
            as_of.astimezone(ZoneInfo("Europe/Berlin")),
        ]
        plans = [plan_rule(new_run(policy, moment), policy.rule(name)) for moment in spellings]
        assert [p.cutoff for p in plans] == [utc_cutoff] * 3, name
        assert [(p.pending, p.sample_keys) for p in plans] == [(1, [[1]])] * 3, name
    assert utc_cutoff == datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # the last case: exactly 48 hours


def test_a_store_zone_makes_naive_timestamps_berlin_wall_clock(
    db_url: str, db_engine: sa.Engine, new_run: NewRun
) -> None:
    # The cut-off 2026-05-16 12:00 UTC is 14:00 summer time in Berlin.
    events = make_table(db_engine, "events", sa.Column("at", sa.DateTime(), nullable=False))
    insert(
        db_engine,
        events,
        [
            {"id": 1, "at": datetime(2026, 5, 16, 13, 59, 59)},  # Berlin: before 14:00, expired
            {"id": 2, "at": datetime(2026, 5, 16, 14, 0, 0)},  # exactly the cut-off: kept
            {"id": 3, "at": datetime(2026, 5, 16, 11, 59, 59)},  # expired in either reading
        ],
    )
    rule = delete_rule("events", "events", "at", "30 days")
    berlin = make_policy(db_url, rule, timezone="Europe/Berlin")
    utc = make_policy(db_url, rule)

    utc_plan = plan_rule(new_run(utc), utc.rule("events"))
    assert (utc_plan.pending, keys_of(utc_plan.sample_keys)) == (1, [3])
    run = new_run(berlin)
    plan = plan_rule(run, berlin.rule("events"))
    assert plan.cutoff == AS_OF - timedelta(days=30)
    assert (plan.pending, keys_of(plan.sample_keys)) == (2, [1, 3])
    assert enforce_rule(run, berlin.rule("events")).applied == 2
    assert ids(db_engine, "events") == [2]


def test_a_date_on_the_cutoff_day_is_kept(db_url: str, db_engine: sa.Engine, new_run: NewRun) -> None:
    closed = make_table(db_engine, "contracts", sa.Column("closed_on", sa.Date(), nullable=False))
    insert(
        db_engine,
        closed,
        [
            {"id": 1, "closed_on": date(2026, 5, 15)},
            {"id": 2, "closed_on": date(2026, 5, 16)},
            {"id": 3, "closed_on": date(2026, 5, 17)},
        ],
    )
    rule = delete_rule("contracts", "contracts", "closed_on", "30 days")
    utc, berlin = make_policy(db_url, rule), make_policy(db_url, rule, timezone="Europe/Berlin")
    # Cut-off 2026-05-16 12:00 UTC: the day of the cut-off is the 16th.
    assert keys_of(plan_rule(new_run(utc), utc.rule("contracts")).sample_keys) == [1]
    # 23:30 UTC is already the next day in Berlin, so there the cut-off day is the 17th.
    late = datetime(2026, 6, 15, 23, 30, tzinfo=UTC)
    assert keys_of(plan_rule(new_run(utc, late), utc.rule("contracts")).sample_keys) == [1]
    run = new_run(berlin, late)
    assert keys_of(plan_rule(run, berlin.rule("contracts")).sample_keys) == [1, 2]
    assert enforce_rule(run, berlin.rule("contracts")).applied == 2
    assert ids(db_engine, "contracts") == [3]


def test_as_of_without_a_time_zone_is_rejected(tmp_path: Path, settings: Settings) -> None:
    policy = make_policy(f"sqlite:///{tmp_path}/never-opened.db", delete_rule("r", "t", "at"))
    with pytest.raises(LetheError, match="timezone-aware"):
        RetentionRun(policy, Stores(policy), settings, datetime(2026, 6, 15, 12, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        policy.rule("r").after.cutoff(datetime(2026, 6, 15, 12, 0))
