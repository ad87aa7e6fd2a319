"""What a newcomer sees from ``lethe demo`` and ``make demo`` (``python -m flows.demo``).

Each test runs the demo in a fresh folder holding only ``config/demo.yaml``, as a fresh clone would.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lethe.cli.main import main

REPO = Path(__file__).resolve().parents[2]
# Settings of the test session that must not reach a demo run in its own folder.
SESSION_VARS = ("LETHE_DEMO_URL", "LETHE_HOME", "LETHE_LEDGER_URL", "PREFECT_API_URL")


@pytest.fixture
def clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the demo policy, as the working directory, with the session's settings unset."""
    (tmp_path / "config").mkdir()
    shutil.copyfile(REPO / "config" / "demo.yaml", tmp_path / "config" / "demo.yaml")
    monkeypatch.chdir(tmp_path)
    for name in SESSION_VARS:
        monkeypatch.delenv(name, raising=False)
    # set here so that the demo (which only fills unset keys) leaves the session's environment as it was
    monkeypatch.setenv("LETHE_MASTER_KEY", "ab" * 32)
    monkeypatch.setenv("LETHE_LEDGER_KEY", "cd" * 32)
    monkeypatch.setenv("LETHE_DEMO_URL", f"sqlite:///{tmp_path}/var/demo/shop.db")
    return tmp_path


def _plan_table(output: str) -> str:
    """The lines of a printed retention plan, from its header to its total."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("rule "))
    end = next(i for i, line in enumerate(lines) if "row(s) to handle" in line and i > start)
    return "\n".join(lines[start : end + 1])


def test_the_demo_prints_the_command_that_repeats_its_plan(clone: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(main, ["demo", "--customers", "150"])
    assert shown.exit_code == 0, shown.output
    repeat = [line for line in shown.output.splitlines() if "the same plan: " in line]
    assert len(repeat) == 1
    command = shlex.split(repeat[0].split("the same plan: ", 1)[1])
    assert command[:3] == ["lethe", "retention", "plan"] and "--as-of" in command

    again = runner.invoke(main, command[1:])
    assert again.exit_code == 0, again.output
    assert _plan_table(again.output) == _plan_table(shown.output)
    assert " 0 row(s) to handle" not in _plan_table(again.output)  # the demo data has expired rows


TIMEOUT_VAR = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
NO_PREFECT = {
    # a start-up timeout of 0 s: Prefect's local server cannot answer in time, as on a machine far too busy
    "local-server-too-slow": (
        {TIMEOUT_VAR: "0"},
        "error: Prefect's local server did not start within 0 s (is the machine busy?): run `make demo` "
        f"again, or give it longer, e.g. `{TIMEOUT_VAR}=900 make demo`",
    ),
    # the user's own server, down (nothing listens on port 1)
    "api-url-down": (
        {"PREFECT_API_URL": "http://127.0.0.1:1/api"},
        "error: the Prefect server named by PREFECT_API_URL does not answer (ConnectError): start it, or "
        "unset PREFECT_API_URL to let the demo start its own",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize(("settings", "expected"), NO_PREFECT.values(), ids=NO_PREFECT.keys())
def test_make_demo_says_in_one_line_when_prefect_cannot_start(
    clone: Path, settings: dict[str, str], expected: str
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PREFECT_HOME": str(clone / "prefect-home"), **settings}
    done = subprocess.run(
        [sys.executable, "-m", "flows.demo", "--customers", "40"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "3. retention plan" in done.stdout  # the steps before Prefect ran
    assert "Traceback" not in done.stdout + done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == [expected]
