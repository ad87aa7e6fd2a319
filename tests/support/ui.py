"""Driving the real Prefect UI in headless Chromium: a server, served deployments, and the browser.

A local Prefect server and one process serving Lethe's deployments run in subprocesses; headless Chromium
(Debian's, driven by Playwright) opens the pages. Needs Chromium at ``$LETHE_CHROMIUM`` (default
``/usr/bin/chromium``: Debian's ``chromium`` package; never ``playwright install``, which downloads a
browser) and the ``playwright`` package (a dev dependency). Without them the UI tests skip with the reason,
or fail when ``LETHE_REQUIRE_SERVERS=1`` or ``CI=true``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.databases import servers_required

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHROMIUM = "/usr/bin/chromium"
BROWSER_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
# One process serves every deployment the UI tests start (as `make serve` does).
SERVE = """
import os

from prefect import serve
from prefect.blocks.system import Secret
from flows.erasure import erasure_flow
from flows.export import export_flow
from flows.rectification import rectification_flow
from flows.request_register import request_register_flow
from flows.restriction import restriction_flow
from flows.retention import retention_flow

# The export passphrase's Secret block, as an operator creates it once (exports are encrypted by default).
Secret(value=os.environ["LETHE_TEST_EXPORT_PASSPHRASE"]).save("lethe-export-passphrase", overwrite=True)
policy = {"policy": "config/demo.yaml"}
serve(
    export_flow.to_deployment(name="subject-export", parameters={**policy, "out_dir": %(exports)r}),
    erasure_flow.to_deployment(name="subject-erasure", parameters=policy),
    rectification_flow.to_deployment(name="subject-rectification", parameters=policy),
    restriction_flow.to_deployment(name="subject-restriction", parameters=policy),
    retention_flow.to_deployment(name="retention", parameters={**policy, "as_of": %(as_of)r}),
    request_register_flow.to_deployment(name="request-register"),
)
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


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, seconds: float) -> None:
    """Wait until ``url`` answers; TimeoutError after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds:.0f} s")


@dataclass
class PrefectUi:
    """A running Prefect server (its UI at ``url``, its database at ``database``) serving the deployments."""

    url: str
    database: Path
    env: dict[str, str]


@contextmanager
def prefect_ui(home: Path, lethe_env: dict[str, str], exports: Path, as_of: str) -> Iterator[PrefectUi]:
    """Start a Prefect server with its own home in ``home`` and a process serving the deployments."""
    port = free_port()
    env = {
        **os.environ,
        **lethe_env,
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
    logs = (home / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=logs, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    served = None
    try:
        wait_for(f"http://127.0.0.1:{port}/api/health", 90)
        served = subprocess.Popen(
            [sys.executable, "-c", SERVE % {"exports": str(exports), "as_of": as_of}],
            env=env, stdout=logs, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        yield PrefectUi(f"http://127.0.0.1:{port}", home / "prefect" / "prefect.db", env)
    finally:
        for process in (served, server):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        logs.close()


@contextmanager
def browser_page() -> Iterator[Any]:
    """One headless Chromium page for a whole module (each browser start costs seconds)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=BROWSER_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            yield page
        finally:
            browser.close()


def open_custom_run(page: Any, ui: PrefectUi, deployment: str) -> None:
    """Deployments -> ``deployment`` -> Run -> Custom run: the typed parameter form."""
    deadline = time.monotonic() + 90
    while True:  # the served deployments register a few seconds after the server starts
        page.goto(f"{ui.url}/deployments")
        link = page.get_by_role("link", name=deployment, exact=True)
        if link.count() or time.monotonic() > deadline:
            break
        time.sleep(1)
    link.first.click(timeout=60_000)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Custom run").first.click()


def field(container: Any, label: str) -> Any:
    """The text input of the form property labelled ``label`` (its label, not its description)."""
    # Not followed by a word character: "subject_id" must not also find "subject_ids".
    title = container.locator(
        ".schema-form-property__label", has_text=re.compile(f"^{re.escape(label)}(?!\\w)")
    )
    block = title.last.locator(f"xpath=ancestor::*[{_CLASS % 'schema-form-property'}][1]")
    return block.locator("input, textarea").first


_CLASS = "contains(concat(' ', normalize-space(@class), ' '), ' %s ')"


def submit_and_open_run(page: Any, ui: PrefectUi, deployment: str) -> str:
    """Submit the custom-run form, open the flow run it created (``deployment``: ``flow/deployment``) and
    return its id. The run is found through the API, not the toast: a toast may hide another."""
    before = set(_runs_of(ui, deployment))
    page.get_by_role("button", name="Submit").click()
    deadline = time.monotonic() + 60
    resubmit = time.monotonic() + 15
    while not (new := set(_runs_of(ui, deployment)) - before):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no run of {deployment} was created")
        if time.monotonic() > resubmit and page.get_by_text("Oops. Something went wrong").count():
            # Prefect's SQLite server may answer "database is locked" on a busy machine: submit again.
            page.get_by_role("button", name="Submit").click()
            resubmit = time.monotonic() + 15
        time.sleep(0.5)
    run_id = new.pop()
    page.goto(f"{ui.url}/runs/flow-run/{run_id}")
    return run_id


def expect_state(page: Any, name: str | re.Pattern[str], timeout_s: float = 180) -> None:
    """Wait until the open flow run's state badge reads ``name``."""
    from playwright.sync_api import expect

    badge = page.locator(".page-heading-flow-run .state-badge")
    expect(badge).to_have_text(name, timeout=int(timeout_s * 1000))


def _call(ui: PrefectUi, path: str, body: dict[str, Any] | None = None) -> Any:
    """One call of the server's REST API."""
    request = urllib.request.Request(
        f"{ui.url}/api{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    for attempt in range(4):
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            # 503: Prefect's SQLite server is busy (database locked) on a loaded machine; it asks to retry.
            if exc.code != 503 or attempt == 3:
                raise
            time.sleep(2 * (attempt + 1))
    raise AssertionError("unreachable")


def _deployment_id(ui: PrefectUi, deployment: str) -> str:
    deadline = time.monotonic() + 90
    while True:  # the served deployments register a few seconds after the server starts
        try:
            return str(_call(ui, f"/deployments/name/{deployment}")["id"])
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _runs_of(ui: PrefectUi, deployment: str) -> list[str]:
    found = {"deployments": {"id": {"any_": [_deployment_id(ui, deployment)]}}}
    return [str(run["id"]) for run in _call(ui, "/flow_runs/filter", found)]


def start_run(ui: PrefectUi, deployment: str, parameters: dict[str, Any]) -> str:
    """Create a run of ``deployment`` (``flow/deployment``) through the REST API; return its id."""
    path = f"/deployments/{_deployment_id(ui, deployment)}/create_flow_run"
    return str(_call(ui, path, {"parameters": parameters})["id"])


def choose(page: Any, container: Any, label: str, position: int) -> str:
    """Pick option ``position`` (1-based) of the select labelled ``label``; return what it shows now.

    By keyboard: Prefect's select opens no listbox in headless Chromium on a click.
    """
    block = container.locator(".schema-form-property").filter(has_text=label).first
    button = block.locator("button.p-select-button__control")
    button.focus()
    for _ in range(position):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    deadline = time.monotonic() + 10
    while not (shown := str(button.inner_text()).strip()) and time.monotonic() < deadline:
        time.sleep(0.2)  # the select shows its new value a moment later
    return shown
