"""``lethe erase --subjects-file``: a queue from a file, on a SQLite demo shop (the core's behaviour on every
engine is tests/requests/test_erasure_queue.py's).

A good queue runs with one line per subject and the counts, never an identifier, and its exit code says that
some were refused; a malformed file is refused whole before anything changes; the options that do not go
together are refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support.retention import journal_rows
from support.shop import DEMO, Shop, open_shop, settings_env

from lethe.cli.main import main


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    with open_shop(f"sqlite:///{tmp_path}/shop.db", tmp_path) as opened:
        yield opened


def customers(shop: Shop, n: int, *, held: bool = False) -> list[tuple[int, str]]:
    """``n`` customers (id, email) with addresses, on hold or not."""
    hold = "c.legal_hold" if held else "NOT c.legal_hold"
    has = "EXISTS (SELECT 1 FROM addresses a WHERE a.customer_id = c.id)"
    rows = shop.rows(f"SELECT c.id, c.email FROM customers c WHERE {hold} AND {has} ORDER BY c.id")
    return [(int(r[0]), str(r[1])) for r in rows[:n]]


def erase(shop: Shop, tmp_path: Path, *args: str) -> Result:
    env = {**settings_env(tmp_path), "LETHE_DEMO_URL": shop.url}
    return CliRunner().invoke(main, ["erase", "--policy", str(DEMO), *args], env=env)


def queue_file(tmp_path: Path, content: str | bytes) -> str:
    file = tmp_path / "queue.txt"
    file.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return str(file)


def test_the_command_runs_a_queue_file_and_says_so_in_its_exit_code(shop: Shop, tmp_path: Path) -> None:
    good = customers(shop, 2)
    (held,) = customers(shop, 1, held=True)
    file = queue_file(tmp_path, f"{good[0][1]}\n\n  {held[1]}  \n{good[1][1]}\n")

    result = erase(shop, tmp_path, "--subjects-file", file, "--yes")

    assert result.exit_code == 2, result.output
    assert "2 completed" in result.output and "1 blocked" in result.output
    assert "line      3: blocked" in result.output
    assert not any(email in result.output for _, email in [*good, held])
    assert shop.one(f"SELECT count(*) FROM addresses WHERE customer_id = {good[1][0]}") == 0
    # Run again, as JSON: the erased are answered as completed earlier, the held one is still refused.
    again = erase(shop, tmp_path, "--subjects-file", file, "--yes", "--json")
    assert again.exit_code == 2, again.output
    assert json.loads(again.output)["counts"] == {"blocked": 1, "completed-earlier": 2}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"a@example.com\nb@example.com,Jane\n", "line 2 hold(s) a comma or tab"),
        (b"a@example.com\na@example.com\n", "line 2 hold(s) an identifier given on an earlier line"),
        (b"a@example.com\nb\x07@example.com\n", "line 2 hold(s) a control character"),
        (b"\n  \n", "holds no identifier"),
        (b"a@example.com\n\xff\xfe@example.com\n", "not UTF-8 text (line 2)"),
        (b"x" * 321 + b"\n", "line 1 hold(s) more than 320 characters"),
    ],
)
def test_a_malformed_queue_is_refused_before_anything_changes(
    shop: Shop, tmp_path: Path, content: bytes, message: str
) -> None:
    before = shop.snapshot()

    result = erase(shop, tmp_path, "--subjects-file", queue_file(tmp_path, content), "--yes")

    assert result.exit_code == 2 and message in result.output, result.output
    assert "example.com" not in result.output
    assert shop.snapshot() == before and journal_rows(shop.engine) == [] and shop.entries() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--subject", "1", "--subjects-file", "FILE"], "either --subject or --subjects-file"),
        ([], "either --subject or --subjects-file"),
        (["--subjects-file", "FILE", "--request", "0" * 32], "does not go with --subjects-file"),
    ],
)
def test_options_that_do_not_go_together_are_refused(
    shop: Shop, tmp_path: Path, args: list[str], message: str
) -> None:
    file = queue_file(tmp_path, "1\n")
    result = erase(shop, tmp_path, *[file if a == "FILE" else a for a in args], "--yes")
    assert result.exit_code == 2 and message in result.output, result.output
    assert shop.entries() == []


def test_without_a_terminal_and_without_yes_a_queue_changes_nothing(shop: Shop, tmp_path: Path) -> None:
    before = shop.snapshot()
    result = erase(shop, tmp_path, "--subjects-file", queue_file(tmp_path, "1\n2\n"))
    assert result.exit_code == 1 and "--yes" in result.output, result.output
    assert shop.snapshot() == before and shop.entries() == []


def test_a_subject_that_fails_does_not_stop_the_queue(
    shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lethe.errors import StoreError
    from lethe.requests.erasure import queue as queue_module

    good = customers(shop, 3)
    real = queue_module.erase_subject

    def flaky(*args: object, **kwargs: object) -> object:
        if args[4] == good[1][1]:  # the identifier: a store error for this subject only
            raise StoreError("erasure of a customer failed and was rolled back (OperationalError)")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(queue_module, "erase_subject", flaky)
    file = queue_file(tmp_path, "\n".join(email for _, email in good))

    result = erase(shop, tmp_path, "--subjects-file", file, "--yes", "--json")

    assert result.exit_code == 3, result.output
    summary = json.loads(result.output)
    assert [i["outcome"] for i in summary["items"]] == ["completed", "failed", "completed"]
    assert summary["items"][1]["exit_code"] == 3 and summary["failed"] == 1
    assert shop.one(f"SELECT count(*) FROM addresses WHERE customer_id = {good[2][0]}") == 0
    assert shop.one(f"SELECT count(*) FROM addresses WHERE customer_id = {good[1][0]}") > 0
