"""One policy, one set of stores and one ledger per flow run, shared by its tasks in a process.

A flow run's tasks used to open their own: the demo retention run loaded the policy 27 times, opened 14
``Stores`` (13 schema reflections) and 8 ledgers. :func:`shared_resources` hands every task of the same
flow run the same objects, cached by flow run id, policy file and settings; the flow closes them when it
ends (:data:`CLOSE_SHARED`, hooks on every final state). A task run outside a flow run (``task.fn(...)``
in a test) opens its own and closes them when it returns, as before.

Settings come from the environment, after ``LETHE_SECRET_BLOCKS`` has filled it from Secret blocks
(secrets.py). A task that fails disposes of the shared connection pools (engines are made again on the next use, the
reflected schemas stay): a retry after a lost connection starts on fresh connections.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lethe.ledger.chain import Ledger
from lethe.policy.loading import load_policy
from lethe.policy.model import Policy
from lethe.settings import Settings, load_settings
from lethe.stores.engines import Stores
from tasks.secrets import load_secret_environment

_RunKey = tuple[str, Settings]
_LEDGERS: dict[_RunKey, Ledger] = {}
_STORES: dict[tuple[str, str, Settings], SharedResources] = {}
_LOCK = threading.RLock()


@dataclass
class SharedResources:
    """What a flow run's tasks share: the policy, its stores, the settings and (opened on first use) the ledger."""

    policy: Policy
    stores: Stores
    settings: Settings
    run_id: str | None = None  # None: a task outside a flow run, which owns its ledger too
    _own_ledger: Ledger | None = field(default=None, repr=False)

    @property
    def ledger(self) -> Ledger:
        """The ledger LETHE_LEDGER_URL names, opened once per flow run (its key is required)."""
        if self.run_id is None:
            if self._own_ledger is None:
                self._own_ledger = Ledger.from_settings(self.settings)
            return self._own_ledger
        return _run_ledger(self.run_id, self.settings)

    def release(self) -> None:
        """Close the stores' connections (and the ledger's, if owned); reflected schemas stay, engines reopen."""
        self.stores.close()
        if self._own_ledger is not None:
            _dispose(self._own_ledger)


def _dispose(ledger: Ledger) -> None:
    # The ledger has no close() of its own; its engine is the one thing it holds open.
    engine: Any = getattr(ledger, "_engine", None)
    if engine is not None:
        engine.dispose()


def _flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    return str(run_id) if run_id else None


def _run_ledger(run_id: str, settings: Settings) -> Ledger:
    with _LOCK:
        ledger = _LEDGERS.get((run_id, settings))
        if ledger is None:
            ledger = _LEDGERS[(run_id, settings)] = Ledger.from_settings(settings)
        return ledger


@contextmanager
def shared_resources(policy_path: str) -> Iterator[SharedResources]:
    """The flow run's shared policy, stores, settings and ledger; a task outside a flow run gets its own."""
    load_secret_environment()
    settings = load_settings()
    run_id = _flow_run_id()
    if run_id is None:
        policy = load_policy(policy_path)
        own = SharedResources(policy, Stores(policy), settings)
        try:
            yield own
        finally:
            own.release()
        return
    key = (run_id, str(Path(policy_path).resolve()), settings)
    with _LOCK:
        resources = _STORES.get(key)
        if resources is None:
            policy = load_policy(policy_path)
            resources = _STORES[key] = SharedResources(policy, Stores(policy), settings, run_id)
    try:
        yield resources
    except BaseException:
        # A retry after a lost connection must not get the same broken pool back.
        resources.release()
        ledger = _LEDGERS.get((run_id, settings))
        if ledger is not None:
            _dispose(ledger)
        raise


@contextmanager
def shared_ledger() -> Iterator[Ledger]:
    """The flow run's shared ledger (a task outside a flow run opens and closes its own)."""
    load_secret_environment()
    settings = load_settings()
    run_id = _flow_run_id()
    if run_id is None:
        ledger = Ledger.from_settings(settings)
        try:
            yield ledger
        finally:
            _dispose(ledger)
        return
    yield _run_ledger(run_id, settings)


def close_shared(flow_run_id: str) -> int:
    """Close and forget everything cached for ``flow_run_id``; return how many sets were closed."""
    with _LOCK:
        stores = [_STORES.pop(key) for key in list(_STORES) if key[0] == flow_run_id]
        ledgers = [_LEDGERS.pop(key) for key in list(_LEDGERS) if key[0] == flow_run_id]
    for resources in stores:
        resources.release()
    for ledger in ledgers:
        _dispose(ledger)
    return len(stores) + len(ledgers)


def release_shared(flow_run_id: str) -> None:
    """Close the connections of what ``flow_run_id`` shares, keeping it for later tasks (before a long pause)."""
    with _LOCK:
        stores = [r for key, r in _STORES.items() if key[0] == flow_run_id]
        ledgers = [ledger for key, ledger in _LEDGERS.items() if key[0] == flow_run_id]
    for resources in stores:
        resources.release()
    for ledger in ledgers:
        _dispose(ledger)


def open_flow_runs() -> set[str]:
    """Ids of the flow runs that hold shared resources in this process (for tests and checks)."""
    with _LOCK:
        return {key[0] for key in _STORES} | {key[0] for key in _LEDGERS}


def close_shared_resources(_flow: Any, flow_run: Any, _state: Any) -> None:
    """Flow hook: close what the run's tasks shared (its log line names this function)."""
    close_shared(str(flow_run.id))


# `@flow(..., **CLOSE_SHARED)`: every final state closes what the run's tasks shared (hooks run in the
# flow's process; a crash of the process itself leaves nothing open to close).
CLOSE_SHARED: dict[str, Any] = {
    "on_completion": [close_shared_resources],
    "on_failure": [close_shared_resources],
    "on_cancellation": [close_shared_resources],
    "on_crashed": [close_shared_resources],
}
