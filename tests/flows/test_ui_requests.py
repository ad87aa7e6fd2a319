"""End to end through the real Prefect UI: a privacy officer runs requests and approvals from the forms.

One Prefect server and one process serving the request and retention deployments (support/ui.py), one
headless Chromium page for the whole module: the browser work happens once, in the module fixture
``operated``, which records what the UI showed; the tests below check it.

The officer: exports customer 2 by email; erases customer 3 (a dry run by email, then by the request's
reference alone: the approval dialog shows the plan, the first answer rejects it, the second approves);
rectifies customer 4's name by email; exports customer 5 to an S3-compatible bucket (moto's server) by naming
it in the form. Exports from the UI are encrypted by default (the passphrase from a Secret block). The daily
register flow publishes its artifact, read on its page. Runs started outside the form (an export of nobody, an erasure on a
legal hold, a restriction, a retention run over the approval threshold) show their states in the UI too.
Afterwards Prefect's database, flow-run parameters included, and the served process's output are searched
for every identifier typed and the subjects' values (D-2).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.exports import PASSPHRASE
from support.prefect_state import dump_database
from support.s3 import s3_bucket
from support.ui import (
    PrefectUi,
    browser_page,
    choose,
    expect_state,
    open_custom_run,
    prefect_ui,
    require_browser,
    start_run,
    submit_and_open_run,
)
from support.ui import field as form_field

from lethe.demo.seed import DemoSpec, seed
from lethe.requests.export.crypto import MAGIC, decrypt_file
from lethe.requests.register import open_request, state_engine
from lethe.settings import load_settings
from lethe.stores.engines import create_store_engine

NEW_NAME = "Rectified Name-Qx"
NOBODY = "nobody-at-all@example.invalid"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@dataclass
class Operated:
    """What the officer saw, and where to look afterwards."""

    ui: PrefectUi
    exports: Path
    people: dict[int, tuple[str, str]]  # customer id -> (email, full name)
    states: dict[str, str] = field(default_factory=dict)  # what was done -> the state badge it ended in
    dialogs: dict[str, str] = field(default_factory=dict)  # approval dialog texts
    choices: dict[str, str] = field(default_factory=dict)  # what the decision select showed once chosen
    erasure_reference: str = ""
    log: Path = Path()
    bucket: tuple[str, Any] = ("", None)  # (s3://bucket/prefix, its filesystem)
    delivered: dict[str, Any] = field(default_factory=dict)  # the S3 export: its artifact's text, the object
    register: dict[str, str] = field(default_factory=dict)  # the register artifact's page text, the reference


def _seed(home: Path) -> tuple[str, dict[int, tuple[str, str]]]:
    store = f"sqlite:///{home}/shop.db"
    engine = create_store_engine(store)
    seed(engine, DemoSpec(customers=40))
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE customers SET legal_hold = false WHERE id IN (2, 3, 4, 5)"))
        connection.execute(sa.text("UPDATE customers SET legal_hold = true WHERE id = 7"))
        rows = connection.execute(sa.text("SELECT id, email, full_name FROM customers WHERE id <= 7")).all()
    engine.dispose()
    return store, {int(row.id): (str(row.email), str(row.full_name)) for row in rows}


def _resume(page: Any, position: int, reason: str) -> tuple[str, str]:
    """Open the paused run's Resume dialog, choose, give a reason, submit; return its text and the choice.

    Submitted again when the run stays paused: Prefect's SQLite server can answer "database is locked" on a
    busy machine ("Oops. Something went wrong"), and the officer would simply try again.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        page.reload()
        page.get_by_role("button", name="Resume").first.click()
        dialog = page.locator(".p-modal").first
        dialog.get_by_text("rows").first.wait_for(timeout=30_000)
        text = str(dialog.inner_text())
        chosen = choose(page, dialog, "Decision", position)
        form_field(dialog, "Reason").fill(reason)
        dialog.get_by_role("button", name="Submit").click()
        try:
            dialog.wait_for(state="hidden", timeout=15_000)
            expect_state(page, re.compile(r"^(?!Paused$).+"), timeout_s=30)
            return text, chosen
        except (AssertionError, PlaywrightTimeout):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _operate(page: Any, run: Operated) -> None:
    ui, people = run.ui, run.people
    open_custom_run(page, ui, "subject-export")
    form_field(page, "subject_id").fill(people[2][0])
    submit_and_open_run(page, ui, "subject-export/subject-export")
    expect_state(page, "Exported")
    run.states["export"] = "Exported"

    open_custom_run(page, ui, "subject-erasure")
    form_field(page, "subject_id").fill(people[3][0])
    submit_and_open_run(page, ui, "subject-erasure/subject-erasure")
    expect_state(page, "Dry run")
    run.states["erasure dry run"] = "Dry run"
    heading = page.locator(".page-heading-flow-run")
    heading.get_by_text(re.compile(f"erasure-{UUID}")).wait_for(timeout=30_000)
    run.erasure_reference = re.findall(UUID, str(heading.inner_text()))[0]

    for answer, position, reason, state in (
        ("reject", 2, "waiting for the tax adviser", "Not approved"),
        ("approve", 1, "checked with the DPO", "Erased"),
    ):
        open_custom_run(page, ui, "subject-erasure")
        form_field(page, "request_id").fill(run.erasure_reference)
        page.locator(".schema-form-property").filter(has_text="dry_run").first.get_by_role("switch").click()
        submit_and_open_run(page, ui, "subject-erasure/subject-erasure")
        expect_state(page, "Paused")
        run.dialogs[f"erasure {answer}"], run.choices[answer] = _resume(page, position, reason)
        expect_state(page, state)
        run.states[f"erasure {answer}"] = state

    open_custom_run(page, ui, "subject-rectification")
    form_field(page, "subject_id").fill(people[4][0])
    changes = page.locator(".schema-form-property").filter(has_text="changes").first
    changes.get_by_role("button", name="Add item").click()
    form_field(page, "Column").fill("full_name")
    form_field(page, "Value").fill(NEW_NAME)
    submit_and_open_run(page, ui, "subject-rectification/subject-rectification")
    expect_state(page, "Rectified")
    run.states["rectification"] = "Rectified"

    _deliver_and_register(page, run)

    started = {
        "not found": start_run(ui, "subject-export/subject-export", {"subject_id": NOBODY}),
        "legal hold": start_run(
            ui, "subject-erasure/subject-erasure", {"subject_id": people[7][0], "dry_run": False}
        ),
        "restriction": start_run(ui, "subject-restriction/subject-restriction", {"subject_id": people[5][0]}),
        "retention": start_run(ui, "retention/retention", {"approval_threshold": 0}),
    }
    for what, run_id in started.items():
        page.goto(f"{ui.url}/runs/flow-run/{run_id}")
        if what == "retention":
            expect_state(page, "Paused")
            run.dialogs["retention"], run.choices["retention"] = _resume(page, 1, "nightly backlog")
        final = ", ".join(f".page-heading-flow-run .state--{t}" for t in ("completed", "cancelled", "failed"))
        badge = page.locator(final).first
        badge.wait_for(timeout=180_000)
        run.states[what] = str(badge.inner_text()).strip()


def _open_artifact(page: Any, ui: PrefectUi, key: str) -> None:
    """Artifacts -> ``key`` (a timeline of its versions) -> the latest version's page, which shows it."""
    page.goto(f"{ui.url}/artifacts/key/{key}")
    page.get_by_role("link", name=re.compile(r"^[0-9a-f]{8}$")).first.click(timeout=30_000)


def _deliver_and_register(page: Any, run: Operated) -> None:
    """An export to the bucket from the form; then the register flow's artifact, with an overdue request."""
    ui, target = run.ui, run.bucket[0]
    open_custom_run(page, ui, "subject-export")
    form_field(page, "subject_id").fill(run.people[5][0])
    form_field(page, "out_dir").fill(target)
    submit_and_open_run(page, ui, "subject-export/subject-export")
    expect_state(page, "Exported")
    heading = page.locator(".page-heading-flow-run")
    heading.get_by_text(re.compile(f"export-{UUID}")).wait_for(timeout=30_000)
    reference = re.findall(UUID, str(heading.inner_text()))[0]
    _open_artifact(page, ui, f"export-{reference}")
    page.get_by_text(target).first.wait_for(timeout=30_000)
    run.delivered = {"card": str(page.locator("body").inner_text()), "objects": run.bucket[1].ls(target)}

    settings = load_settings({k: v for k, v in ui.env.items() if k.startswith("LETHE_")})
    overdue = open_request(
        state_engine(settings), "access", "customer", "fp1:" + "7" * 32,
        received_at=datetime.now(UTC) - timedelta(days=40),
    )  # fmt: skip
    page.goto(f"{ui.url}/runs/flow-run/{start_run(ui, 'request-register/request-register', {})}")
    expect_state(page, "Completed")
    _open_artifact(page, ui, "request-register")
    page.get_by_text(overdue.id).first.wait_for(timeout=30_000)
    run.register = {"page": str(page.locator("body").inner_text()), "reference": overdue.id}


@pytest.fixture(scope="module")
def operated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operated]:
    require_browser()
    home = tmp_path_factory.mktemp("ui")
    store, people = _seed(home)
    lethe_env = {
        "LETHE_DEMO_URL": store,
        "LETHE_MASTER_KEY": "ab" * 32,
        "LETHE_LEDGER_KEY": "cd" * 32,
        "LETHE_LEDGER_URL": f"sqlite:///{home}/ledger.db",
        "LETHE_TEST_EXPORT_PASSPHRASE": PASSPHRASE,
    }
    with (
        s3_bucket() as (endpoint, bucket, fs),
        prefect_ui(
            home,
            {**lethe_env, "LETHE_EXPORT_ENDPOINT_URL": endpoint},
            home / "exports",
            "2026-11-01T00:00:00+00:00",
        ) as ui,
    ):
        run = Operated(
            ui, home / "exports", people, log=home / "server.log", bucket=(f"s3://{bucket}/ui", fs)
        )
        with browser_page() as page:
            try:
                _operate(page, run)
            except Exception:
                page.screenshot(path=str(home / "failure.png"), full_page=True)  # kept for a look
                raise
        yield run
    shutil.rmtree(home / "prefect", ignore_errors=True)


def test_a_missing_browser_skips_with_the_reason_or_fails_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LETHE_CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("LETHE_REQUIRE_SERVERS", raising=False)
    with pytest.raises(
        pytest.skip.Exception, match=r"^no Chromium at .*no-chromium \(Debian/Ubuntu: apt-get"
    ):
        require_browser()
    monkeypatch.setenv("LETHE_REQUIRE_SERVERS", "1")
    with pytest.raises(pytest.fail.Exception, match="failing instead of skipping"):
        require_browser()
    monkeypatch.delenv("LETHE_REQUIRE_SERVERS")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="failing instead of skipping"):
        require_browser()


@pytest.mark.slow
@pytest.mark.prefect
@pytest.mark.timeout(900)  # its fixture starts the server and drives the browser through every request
def test_each_outcome_ends_in_its_named_state(operated: Operated) -> None:
    assert operated.states == {
        "export": "Exported",
        "erasure dry run": "Dry run",
        "erasure reject": "Not approved",
        "erasure approve": "Erased",
        "rectification": "Rectified",
        "not found": "Not found",
        "legal hold": "Refused: legal hold",
        "restriction": "Restricted",
        "retention": "Enforced",
    }
    # Encrypted by default from the UI: the folder holds only the sealed file.
    (sealed,) = list(operated.exports.iterdir())
    assert sealed.name.endswith(".zip.enc") and operated.people[2][0] not in sealed.name
    assert sealed.read_bytes().startswith(MAGIC)
    plain = decrypt_file(sealed, PASSPHRASE, operated.exports.parent / "opened")
    with zipfile.ZipFile(plain) as archive:
        assert operated.people[2][0] in archive.read("data.json").decode()


@pytest.mark.slow
@pytest.mark.prefect
def test_an_export_delivered_to_s3_and_the_register_show_in_the_ui(operated: Operated) -> None:
    (key,) = operated.delivered["objects"]
    card = operated.delivered["card"]
    assert key.endswith(".zip.enc") and f"s3://{key}" in card  # the location, as the artifact shows it
    blob = operated.bucket[1].cat(key)
    assert blob.startswith(MAGIC) and hashlib.sha256(blob).hexdigest() in card
    for label in ("bytes", "sha256", "due", "expires"):
        assert label in card
    assert "NOT ENCRYPTED" not in card
    page = operated.register["page"]
    assert operated.register["reference"] in page and "overdue" in page


@pytest.mark.slow
@pytest.mark.prefect
def test_the_approval_dialogs_show_what_they_approve(operated: Operated) -> None:
    assert operated.choices == {"reject": "reject", "approve": "approve", "retention": "approve"}
    erasure = operated.dialogs["erasure approve"]
    assert f"Erase the subject of request {operated.erasure_reference}?" in erasure
    # Rows per table, with the legal ground of what is kept: counts and policy text, never a value.
    for table, action in (
        ("shop.customers", "anonymise"),
        ("shop.orders", "keep"),
        ("shop.addresses", "delete"),
    ):
        assert re.search(rf"{re.escape(table)}\s+{action}\s+\d+", erasure), table
    assert "Art. 17(3)(b)" in erasure
    retention = operated.dialogs["retention"]
    assert "rows would change (approval threshold 0)" in retention
    assert re.search(r"web-sessions-90d\s+delete\s+[\d,]+\s+\d+%", retention)
    for email, name in operated.people.values():
        assert email not in erasure + retention and name not in erasure + retention


@pytest.mark.slow
@pytest.mark.prefect
def test_no_identifier_or_value_stays_in_prefect(operated: Operated) -> None:
    dump = dump_database(str(operated.ui.database))
    output = operated.log.read_text(encoding="utf-8", errors="replace")
    assert (
        f"erasure-{operated.erasure_reference}" in dump
    )  # the run renamed, the artifact keyed: all searched
    values = [NOBODY, NEW_NAME, *(v for person in operated.people.values() for v in person)]
    for value in values:
        assert value not in dump, "a personal value stayed in Prefect's database"
        assert value not in output, "a personal value reached the served process's output"
