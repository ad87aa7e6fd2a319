"""End to end through the real Prefect UI: a privacy officer runs the export deployment from its form.

A local Prefect server and a process serving the `subject-export` deployment run in subprocesses;
headless Chromium (Debian's, driven by Playwright) opens Deployments -> subject-export -> Run -> Custom
run, fills the typed form and submits. The first case waits for Completed and opens the zip; the second
submits an empty subject and sees the form refuse it.

Needs Chromium at ``$LETHE_CHROMIUM`` (default ``/usr/bin/chromium``: Debian's ``chromium`` package; never
``playwright install``, which downloads a browser) and the ``playwright`` package (a dev dependency). Without
them the two UI tests skip with the reason, or fail when ``LETHE_REQUIRE_SERVERS=1`` or ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.databases import servers_required

from lethe.demo.seed import DemoSpec, seed
from lethe.stores.engines import create_store_engine

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHROMIUM = "/usr/bin/chromium"
BROWSER_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SERVE = """
from flows.export import export_flow
export_flow.serve(name="subject-export", parameters={"policy": "config/demo.yaml", "out_dir": %r})
"""


def chromium_path() -> str:
    """The Chromium the UI tests drive: ``$LETHE_CHROMIUM``, else Debian's ``/usr/bin/chromium``."""
    return os.environ.get("LETHE_CHROMIUM") or DEFAULT_CHROMIUM


def browser_missing_reason() -> str | None:
    """None when Chromium and the playwright package are there; otherwise why not, ready for a skip."""
    if not Path(chromium_path()).is_file():
        return (
            f"no Chromium at {chromium_path()} (Debian/Ubuntu: apt-get install chromium; "
            "elsewhere set LETHE_CHROMIUM to a Chromium binary)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (make venv installs it with the dev tools)"
    return None


def require_browser() -> None:
    """Skip the UI tests, with the reason, where no browser exists; fail instead under CI."""
    reason = browser_missing_reason()
    if reason is None:
        return
    if servers_required():
        pytest.fail(
            f"{reason} [LETHE_REQUIRE_SERVERS=1 or CI=true: failing instead of skipping]", pytrace=False
        )
    pytest.skip(reason)


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds:.0f} s")


@dataclass
class Ui:
    """The running server, the served deployment and where exports land."""

    url: str
    exports: Path
    email: str


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    require_browser()
    home = tmp_path_factory.mktemp("ui")
    store = f"sqlite:///{home}/shop.db"
    engine = create_store_engine(store)
    seed(engine, DemoSpec(customers=40))
    with engine.connect() as connection:
        email = str(connection.execute(sa.text("SELECT email FROM customers WHERE id = 2")).scalar_one())
    engine.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "LETHE_DEMO_URL": store,
        "LETHE_MASTER_KEY": "ab" * 32,
        "LETHE_LEDGER_KEY": "cd" * 32,
        "LETHE_LEDGER_URL": f"sqlite:///{home}/ledger.db",
    }
    logs = (home / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=logs, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    served = None
    try:
        _wait_for(f"http://127.0.0.1:{port}/api/health", 90)
        served = subprocess.Popen(
            [sys.executable, "-c", SERVE % str(home / "exports")],
            env=env, stdout=logs, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        yield Ui(f"http://127.0.0.1:{port}", home / "exports", email)
    finally:
        for process in (served, server):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        logs.close()
        shutil.rmtree(home / "prefect", ignore_errors=True)


def _open_custom_run(page: object, ui: Ui) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.goto(f"{ui.url}/deployments")
    page.get_by_role("link", name="subject-export").first.click(timeout=60_000)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Custom run").first.click()


def _field(page: object, label: str) -> object:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    block = page.locator(".schema-form-property").filter(has_text=label).first
    return block.locator("input, textarea").first


@pytest.mark.slow
@pytest.mark.prefect
def test_a_privacy_officer_runs_an_export_from_the_form(ui: Ui) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=BROWSER_FLAGS)
        page = browser.new_page()
        deadline = time.monotonic() + 60
        while True:  # the served deployment registers a few seconds after the server starts
            page.goto(f"{ui.url}/deployments")
            if page.get_by_role("link", name="subject-export").count() or time.monotonic() > deadline:
                break
            time.sleep(1)
        _open_custom_run(page, ui)
        expect(page.get_by_text("The subject's key or one of its lookup identifiers").first).to_be_visible()
        _field(page, "subject_id").fill(ui.email)  # type: ignore[attr-defined]
        page.get_by_role("button", name="Submit").click()
        page.get_by_role("button", name="View run").last.click(timeout=30_000)
        badge = page.locator(".page-heading-flow-run .state-badge")
        expect(badge).to_have_text("Completed", timeout=120_000)
        browser.close()
    zips = list(ui.exports.glob("*.zip"))
    assert len(zips) == 1
    assert ui.email not in zips[0].name
    with zipfile.ZipFile(zips[0]) as archive:
        assert {"data.json", "manifest.json", "index.html"} <= set(archive.namelist())
        assert ui.email in archive.read("data.json").decode()


@pytest.mark.slow
@pytest.mark.prefect
def test_an_empty_subject_is_refused_by_the_form(ui: Ui) -> None:
    from playwright.sync_api import expect, sync_playwright

    before = len(list(ui.exports.glob("*.zip"))) if ui.exports.exists() else 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=BROWSER_FLAGS)
        page = browser.new_page()
        _open_custom_run(page, ui)
        page.get_by_role("button", name="Submit").click()
        expect(page.get_by_text("'subject_id' is a required property").first).to_be_visible(timeout=15_000)
        expect(page.get_by_role("button", name="View run")).to_have_count(0)
        browser.close()
    after = len(list(ui.exports.glob("*.zip"))) if ui.exports.exists() else 0
    assert after == before
