"""``lethe --help`` and every group's ``--help`` list each command with a whole summary.

Click shortens a docstring to its first sentence, and "(Art. 17)" ends one: "Erase a subject (Art." was
all a newcomer saw. Every command sets its own ``short_help``; these tests read the listings themselves.
"""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from lethe.cli.main import main


def _groups(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Group]]:
    """``group`` and every group below it, with the words that invoke it."""
    found = [(path, group)]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _groups(command, (*path, name))
    return found


def _listing(text: str) -> dict[str, str]:
    """The ``Commands:`` section of a help text as {name: summary}, continuation lines joined."""
    section = text.split("\nCommands:\n", 1)[1]
    rows: dict[str, str] = {}
    name = ""
    for line in section.splitlines():
        if match := re.match(r"^  (\S+)(?:\s{2,}(.*))?$", line):
            name = match.group(1)
            rows[name] = (match.group(2) or "").strip()
        elif line.startswith("    ") and name:
            rows[name] = f"{rows[name]} {line.strip()}".strip()
        elif line.strip():
            break
    return rows


GROUPS = _groups(main)


@pytest.mark.parametrize("columns", ["80", "100"])
@pytest.mark.parametrize(("path", "group"), GROUPS, ids=[" ".join(p) or "lethe" for p, _ in GROUPS])
def test_no_command_summary_is_cut(
    path: tuple[str, ...], group: click.Group, columns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    listed = _listing(result.output)
    assert set(listed) == set(group.commands)
    for name, summary in listed.items():
        command = group.commands[name]
        assert command.short_help, f"{name}: no short_help, so click cuts its docstring"
        assert summary == " ".join(command.short_help.split()), name
        assert not summary.endswith(("...", "(Art.", "Art.")), f"{name}: {summary!r}"
        assert summary.count("(") == summary.count(")"), f"{name}: {summary!r}"
        assert len(summary) <= 60, f"{name}: a summary is one short line"
