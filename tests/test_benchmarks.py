"""The benchmark harness on tiny SQLite datasets: correctness, never timing.

Lethe and every baseline must leave exactly the same data (same tokens, NULLs and years in B1; same remaining
rows in B2; the same shop after a queue of erasures in B4) or hand over the same rows (B3), the JSON must
have exactly the agreed keys, and the medians/ratios must be computed as documented. Sizes are tiny (2,000
rows, a few hundred customers, one round), so this runs in seconds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `benchmarks` is not an installed package: import it from the checkout
    sys.path.insert(0, str(ROOT))

from support.databases import require_server  # noqa: E402

from benchmarks import b1_anonymise, b2_delete, b3_export, b4_erase, b6_memory, b7_flow, b8_partitions  # noqa: E402
from benchmarks.__main__ import TARGETS, main  # noqa: E402
from benchmarks.common import expired_count  # noqa: E402
from benchmarks.harness import (  # noqa: E402
    LETHE,
    Run,
    TemplateOnly,
    measure,
    pair_results,
    run_rounds,
    warm_up,
)
from benchmarks.report import JSON_KEYS, Result, Target, format_table, write_json  # noqa: E402
from benchmarks.seeding import dataset  # noqa: E402
from benchmarks.shop import DEMO_SHOP, shop_digest  # noqa: E402
from benchmarks.tables import CHILDREN, PEOPLE, SESSIONS  # noqa: E402

ROWS = 2_000


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(sa.text(sql))]
    finally:
        engine.dispose()


def test_b1_lethe_and_every_baseline_leave_the_same_data(tmp_path: Path) -> None:
    with dataset("sqlite", PEOPLE, ROWS, tmp_path / "b1") as data:
        digests = {}
        for name, work in b1_anonymise.methods(Run("B1", "sqlite", ROWS, data.workdir)):
            url = data.fresh()
            work(url)
            digests[name] = b1_anonymise.table_digest(url)
            if name == LETHE:
                tokens, phones, january = _query(
                    url,
                    "SELECT sum(email LIKE '~h1:%'), sum(phone IS NULL), sum(substr(birth_date, 6) = '01-01')"
                    " FROM people",
                )[0]
                untouched = _query(url, "SELECT email, phone FROM people WHERE id = 3")[0]
            data.discard(url)
    expired = expired_count(ROWS)
    assert set(digests) == {LETHE, "one UPDATE", "pandas", "row-by-row"}
    assert all(d == digests[LETHE] for d in digests.values()), "a baseline wrote different values"
    assert tokens == phones == expired  # every expired row rewritten, no other
    assert january >= expired  # generalised to 1 January (a few fresh rows are born on 1 January too)
    assert untouched == ("user3@example.com", "+44 7700 3")  # row 3 is not expired


def test_b2_lethe_and_the_hand_written_delete_leave_the_same_rows(tmp_path: Path) -> None:
    with dataset("sqlite", SESSIONS, ROWS, tmp_path / "b2") as data:
        digests = {}
        for name, work in b2_delete.methods(Run("B2", "sqlite", ROWS, data.workdir)):
            url = data.fresh()
            work(url)
            digests[name] = b2_delete.tables_digest(url)
            data.discard(url)
    kept = ROWS - expired_count(ROWS)
    assert digests[LETHE] == digests[b2_delete.BASELINE]
    assert digests[LETHE]["sessions"][0] == kept
    assert digests[LETHE]["session_events"][0] == kept * CHILDREN


def test_the_command_writes_json_with_exactly_the_agreed_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "out.json"
    argv = [
        "--only",
        "B1,B2",
        "--engines",
        "sqlite",
        "--rows",
        str(ROWS),
        "--pairs",
        "1",
        "--json",
        str(path),
    ]
    assert main(argv) == 0
    data = json.loads(path.read_text())
    assert [tuple(item) for item in data] == [JSON_KEYS] * 4
    assert [(d["id"], d["baseline"]) for d in data] == [
        ("B1", "one UPDATE"),
        ("B1", "pandas"),
        ("B1", "row-by-row"),
        ("B2", "hand DELETE"),
    ]
    assert all(d["engine"] == "sqlite" and d["rows"] == ROWS and d["ratio"] > 0 for d in data)
    table = capsys.readouterr().out
    assert "one UPDATE" in table and "<= 1.30" in table
    results = [Result(**item) for item in data]
    write_json(results, tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text()) == data
    assert format_table(results, TARGETS) in table  # the printed table shows the same figures


def test_b3_the_export_and_every_hand_written_form_hand_over_the_same_rows(tmp_path: Path) -> None:
    lines: list[str] = []
    results = measure(b3_export.BENCH, "sqlite", 100, 1, tmp_path, log=lines.append)  # 25 rounds: the minimum
    assert [(r.id, r.baseline) for r in results] == [
        ("B3", b3_export.HAND_FILE),
        ("B3-collect", b3_export.HAND),
        ("B3-rows", b3_export.HAND_ROWS),
    ]
    assert any("an untimed run of each method agrees" in line for line in lines)  # the rows were compared
    assert sum("round 25/25" in line for line in lines) == 6  # every method, every round
    exports = tmp_path / "b3-sqlite" / "exports"
    hand = json.loads((exports / "hand-1.json").read_text())  # the warm-up's customer
    assert len(hand["shop.customers"]) == 1 and set(hand) == set(b3_export.HAND_SQL)
    assert len(list(exports.glob("export-customer-*.zip"))) == 26  # the warm-up, then one per round
    target = b3_export.TARGETS[("B3", b3_export.HAND_FILE)]
    assert target.met(1.4, 0.049) and not target.met(1.4, 0.051) and not target.met(1.6, 0.01)


def test_b4_a_queue_of_erasures_leaves_the_same_shop_on_both_sides(tmp_path: Path) -> None:
    assert b4_erase.queue_size(100_000) == b4_erase.QUEUE == 1_000 and b4_erase.queue_size(2_000) == 200
    emails = b4_erase.subjects(300, b4_erase.queue_size(300))
    assert len(set(emails)) == 30 and all(int(e[1:].split("@")[0]) % 100 for e in emails)  # none held
    lines: list[str] = []
    results = measure(b4_erase.BENCH, "sqlite", 300, 1, tmp_path, log=lines.append)  # raises unless equal
    assert [(r.id, r.baseline) for r in results] == [
        ("B4", b4_erase.BASELINE),
        ("B4-subject", b4_erase.BASELINE),
    ]
    assert results[1].lethe_s < results[0].lethe_s  # one subject's p50 against the whole queue of 30
    assert any("a queue of 30 subjects" in line for line in lines)


@pytest.mark.postgres
def test_b8_partitions_and_one_partition_leave_the_same_data(tmp_path: Path) -> None:
    require_server("postgresql")
    lines: list[str] = []
    # Raises unless 4 partitions and one leave identical tables (the check in the first round).
    (result,) = measure(b8_partitions.BENCH, "postgresql", ROWS, 1, tmp_path, log=lines.append)
    assert (result.id, result.baseline, result.rows) == ("B8", b8_partitions.BASELINE, ROWS)
    assert TARGETS[("B8", b8_partitions.BASELINE)].at_most == 1.0


def test_b4_erases_every_subject_of_the_queue(tmp_path: Path) -> None:
    with dataset("sqlite", b4_erase.SQL_SHOP, 300, tmp_path / "b4") as data:
        before = shop_digest(data.template_url)
        emails = b4_erase.subjects(300, 30)
        laps = b4_erase.lethe_queue(data.template_url, data.workdir, emails)
        erased = _query(data.template_url, "SELECT count(*) FROM customers WHERE full_name = 'erased'")
    assert len(laps) == 30 and erased == [(30,)]
    assert before["addresses"][0] == 600 and before["web_sessions"][0] == 1_200


def test_b6_child_process_enforces_the_rule_and_reports_its_peak_rss(tmp_path: Path) -> None:
    report = b6_memory.measure(1_000, tmp_path)  # one fresh process (run() starts two: N and 10N)
    assert report["applied"] == expired_count(1_000) and report["batches"] == 1
    assert 10 < report["imports_mb"] <= report["peak_mb"] < 1_000
    assert b6_memory.human(1_000_000) == "1M" and b6_memory.human(20_000) == "20k"


@pytest.mark.prefect
@pytest.mark.slow
def test_b7_flow_and_core_functions_do_the_same_work(tmp_path: Path, prefect_server: str) -> None:
    # The session's Prefect test server, not an ephemeral one per test: B7's ephemeral set-up must refuse.
    with (
        pytest.raises(RuntimeError, match="already imported"),
        b7_flow.ephemeral_prefect(tmp_path / "prefect"),
    ):
        pass
    with dataset("sqlite", DEMO_SHOP, 50, tmp_path / "b7") as data:
        before = shop_digest(data.template_url)
        counts, after = warm_up(data, b7_flow.sides(), b7_flow.same_work)  # type: ignore[misc]
        assert not list(data.workdir.glob("copy-*"))  # copies and their ledgers discarded
    assert counts["applied"] == counts["pending"] > 0
    assert after != before  # both sides changed the shop, and identically


class _Copies:
    def __init__(self) -> None:
        self.made: list[str] = []
        self.removed: list[str] = []

    def fresh(self) -> str:
        self.made.append(f"copy-{len(self.made)}")
        return self.made[-1]

    def discard(self, url: str) -> None:
        self.removed.append(url)


def test_rounds_alternate_use_a_fresh_copy_each_and_compare_the_final_data() -> None:
    calls: list[tuple[str, str]] = []
    copies = _Copies()
    methods = [(name, lambda url, n=name: calls.append((n, url))) for name in (LETHE, "a", "b")]
    rounds = run_rounds(copies, methods, 2, check=lambda url, output: "same")
    assert [n for n, _ in calls] == [LETHE, "a", "b", "b", "a", LETHE]
    assert len({url for _, url in calls}) == 6 and sorted(copies.removed) == sorted(copies.made)
    assert {name: len(t) for name, t in rounds.times.items()} == {LETHE: 2, "a": 2, "b": 2}

    left = iter(["x", "y"])
    with pytest.raises(AssertionError, match="left different data"):
        run_rounds(_Copies(), methods[:2], 1, check=lambda url, output: next(left))


def test_the_warm_up_compares_what_each_method_returned_on_its_own_copy() -> None:
    copies = _Copies()
    methods = [(LETHE, lambda url: 1), ("a", lambda url: 1)]
    assert warm_up(copies, methods, lambda url, output: output) == 1
    assert copies.removed == copies.made == ["copy-0", "copy-1"]
    with pytest.raises(AssertionError, match="a left different data than lethe"):
        warm_up(TemplateOnly("db"), [(LETHE, lambda url: 1), ("a", lambda url: 2)], lambda u, o: o)


def test_ratio_is_the_median_of_the_per_round_ratios() -> None:
    times = {LETHE: [1.0, 2.0, 4.0], "base": [1.0, 1.0, 1.0]}
    (result,) = pair_results("B1", "sqlite", 10, times)
    assert (result.lethe_s, result.baseline_s, result.ratio) == (2.0, 1.0, 2.0)
    assert Target("<= 1.30", at_most=1.3).met(1.2) and not Target("<= 1.30", at_most=1.3).met(1.31)
    assert Target("report").met(5.0) is None
    assert Target("p50", p50_under=0.05).met(9.0, 0.04) and not Target("p50", p50_under=0.05).met(0.1, 0.06)
    assert isinstance(result, Result)
