"""Bounded periods and instants, and parameter errors that exit 2 (README "Exit codes"), with no traceback.

A period longer than 200 years is a policy error naming file, line and field; an instant (``--as-of``,
``--received``, ``--now``) outside 1900..9000 or malformed is a parameter error; ``--received`` later than
now is refused. Inside the bounds every cut-off and due date can be computed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support.retention import ledger_entries, make_settings, policy_text, settings_env, snapshot

from lethe.cli.main import main
from lethe.demo.seed import DemoSpec, seed
from lethe.errors import ParameterError, PolicyError
from lethe.policy.loading import parse_policy
from lethe.policy.periods import CLOCK_SKEW, EARLIEST, LATEST, MAX_PERIOD_YEARS, check_instant, parse_period
from lethe.requests.register import due_date
from lethe.stores.engines import create_store_engine

EAST, WEST = timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))
ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "config" / "demo.yaml"
RULE = """
- name: forever
  table: db.t
  after: {after}
  since: created_at
  action: delete
"""


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """``lethe ARGS``: exceptions become exit codes as in a shell."""
    return CliRunner().invoke(main, list(args), env=env or {})


# ------------------------------------------------------------------------------------------------ periods


@pytest.mark.parametrize("after", ["99999 years", "201 years", "P2401M", "73100 days", "9999999999 hours"])
def test_a_period_beyond_200_years_is_a_policy_error_with_file_line_and_field(
    tmp_path: Path, after: str
) -> None:
    text = policy_text(RULE.format(after=after))
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="p.yaml", environ={"DB_URL": "sqlite://"})
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.strip().startswith("after:"))
    assert f"p.yaml:{line}: retention.0.after:" in str(caught.value)
    assert f"longer than {MAX_PERIOD_YEARS} years" in str(caught.value)
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    for command in (["validate", str(path)], ["retention", "plan", str(path)]):
        result = invoke(*command, env={"DB_URL": f"sqlite:///{tmp_path}/db.sqlite"})
        assert result.exit_code == 2 and "retention.0.after" in result.stderr, result.output
        assert "Traceback" not in result.output


@pytest.mark.parametrize("after", ["200 years", "2400 months", "73050 days", "P199Y11M30D", "1753200 hours"])
def test_every_cutoff_within_the_bounds_can_be_computed(after: str) -> None:
    period = parse_period(after)
    last = LATEST - timedelta(microseconds=1)
    for moment in (EARLIEST, last, EARLIEST.astimezone(EAST), last.astimezone(WEST)):
        assert period.cutoff(moment) < moment
    assert due_date(LATEST - timedelta(microseconds=1)) > LATEST


def test_instants_outside_the_range_or_in_the_future_are_refused() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert check_instant(now + CLOCK_SKEW, "x", allow_future=False, now=now) == now + CLOCK_SKEW
    with pytest.raises(ParameterError, match="is in the future"):
        check_instant(now + CLOCK_SKEW + timedelta(seconds=1), "x", allow_future=False, now=now)
    assert check_instant(datetime(2099, 1, 1, tzinfo=UTC), "x", allow_future=True, now=now).year == 2099
    for outside in (EARLIEST - timedelta(microseconds=1), LATEST):
        with pytest.raises(ParameterError, match="out of range"):
            check_instant(outside, "x", allow_future=True, now=now)
    with pytest.raises(ParameterError, match="time zone"):
        check_instant(datetime(2026, 1, 1), "x", allow_future=True, now=now)


# --------------------------------------------------------------------------------------- --as-of and --now


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0001-01-01", "out of range"),
        ("9999-12-31", "out of range"),
        ("not-a-date", "not an ISO 8601 date"),
        ("2026-11-25T00:00:00", "needs a time zone"),
        ("2099-01-01", "is in the future"),
    ],
)
def test_a_bad_as_of_exits_2_naming_the_option(tmp_path: Path, value: str, message: str) -> None:
    # Refused before the policy is read: the path need not even exist.
    for command in (["plan"], ["enforce", "--yes"]):
        result = invoke("retention", *command, str(tmp_path / "none.yaml"), "--as-of", value)
        assert result.exit_code == 2, result.output
        assert "--as-of" in result.stderr and message in result.stderr and "Traceback" not in result.output
    # The DPIA's --as-of is read by the same parser, after its policy is loaded.
    policy = tmp_path / "p.yaml"
    policy.write_text(policy_text(RULE.format(after="1 year")), encoding="utf-8")
    env = {"DB_URL": f"sqlite:///{tmp_path}/db.sqlite"}
    dpia = invoke("dpia", str(policy), "--out", str(tmp_path / "d"), "--as-of", value, env=env)
    assert dpia.exit_code == 2 and message in dpia.stderr, dpia.output
    assert not (tmp_path / "d").exists()


def test_far_dates_beyond_the_range_are_refused_even_when_the_future_is_allowed(tmp_path: Path) -> None:
    result = invoke(
        "retention", "plan", str(tmp_path / "none.yaml"), "--as-of", "9999-12-31", "--allow-future"
    )
    assert result.exit_code == 2 and "out of range" in result.stderr


@pytest.mark.parametrize("value", ["yesterday", "0001-01-01", "9999-12-31T23:59:59+00:00"])
def test_a_bad_now_of_the_request_list_exits_2(tmp_path: Path, value: str) -> None:
    result = invoke("requests", "--now", value, env={"LETHE_LEDGER_URL": f"sqlite:///{tmp_path}/l.db"})
    assert result.exit_code == 2 and "--now" in result.stderr, result.output


def test_a_future_now_is_fine_for_listing_requests(tmp_path: Path) -> None:
    result = invoke("requests", "--now", "2099-01-01", env={"LETHE_LEDGER_URL": f"sqlite:///{tmp_path}/l.db"})
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------------------------------------- --received


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2999-01-01", "is in the future"),
        ("not-a-date", "not an ISO 8601 date"),
        ("0001-01-01", "out of range"),
    ],
)
def test_a_bad_received_instant_exits_2_and_changes_nothing(tmp_path: Path, value: str, message: str) -> None:
    url = f"sqlite:///{tmp_path}/shop.db"
    engine = create_store_engine(url)
    seed(engine, DemoSpec(customers=20))
    before = snapshot(engine)
    env = {"LETHE_DEMO_URL": url, **settings_env(tmp_path)}
    result = invoke("erase", "--policy", str(DEMO), "--subject", "2", "--yes", "--received", value, env=env)
    assert result.exit_code == 2, result.output
    assert "--received" in result.stderr and message in result.stderr and "Traceback" not in result.output
    assert snapshot(engine) == before
    assert [e for e in ledger_entries(make_settings(tmp_path)) if e.entry.action.startswith("erasure")] == []
    engine.dispose()
