"""The 72-hour clock's milestones and the Art. 34 decision aid (pure functions, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lethe.breach import assess_communication, milestones
from lethe.breach.clock import deadline
from lethe.errors import ParameterError

AWARE = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def test_milestones_fall_24_48_and_72_hours_after_awareness() -> None:
    got = [(m.event, m.due) for m in milestones(AWARE)]
    assert got == [
        ("lethe.breach.clock.24h", AWARE + timedelta(hours=24)),
        ("lethe.breach.clock.48h", AWARE + timedelta(hours=48)),
        ("lethe.breach.clock.72h", AWARE + timedelta(hours=72)),
    ]
    assert deadline(AWARE) == AWARE + timedelta(hours=72)
    first = milestones(AWARE)[0]
    assert not first.reached(AWARE + timedelta(hours=23, minutes=59)) and first.reached(
        AWARE + timedelta(hours=24)
    )


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ParameterError, match="time zone"):
        milestones(datetime(2026, 12, 1, 9, 30))


@pytest.mark.parametrize(
    ("answers", "special", "recommendation"),
    [
        ({"high_risk": False}, False, "not-required"),
        ({}, False, "not-required"),
        ({}, True, "communicate"),
        ({"high_risk": True}, False, "communicate"),
        ({"high_risk": True, "unintelligible": True}, False, "not-required"),
        ({"high_risk": True, "risk_contained": True}, False, "not-required"),
        ({"high_risk": True, "disproportionate": True}, False, "public-communication"),
        ({"high_risk": False}, True, "not-required"),
    ],
)
def test_article_34_recommendations(answers: dict[str, bool], special: bool, recommendation: str) -> None:
    assert assess_communication(answers, special_categories=special).recommendation == recommendation


def test_unknown_question_refused() -> None:
    with pytest.raises(ParameterError, match="unknown question"):
        assess_communication({"very_bad": True})
