"""``make prod-up`` / ``make prod-down``: a Prefect server on PostgreSQL, the process work pool, the deployments
of ``deployments/prefect.yaml`` and a worker, on this machine.

``up`` creates the server's database if it is missing, starts the server and waits until it answers, creates
(or updates) the work pools the deployments name, deploys every deployment and starts a worker; each step says
what it did, and the first that fails stops ``up`` with the reason and the tail of its log. ``down`` stops the
worker, then the server (their process groups, by the ids in the pid files); the database stays.

Settings (environment variables; defaults in brackets):

``PREFECT_API_DATABASE_CONNECTION_URL``  the server's database, PostgreSQL through asyncpg
                                        [postgresql+asyncpg://postgres@127.0.0.1:5432/lethe_prefect]
``LETHE_PROD_PORT``                     the server's port on 127.0.0.1 [4200]
``LETHE_PROD_DIR``                      pid files, logs and the server's PREFECT_HOME [var/prod]
``LETHE_PROD_TIMEOUT``                  seconds to wait for the server, then for the worker [300]

The worker hands its environment to the flow runs it starts: the store URLs and keys (``LETHE_MASTER_KEY``,
``LETHE_LEDGER_KEY``, ...) must be set when ``up`` runs. Without them ``up`` uses the demo's keys when
``make demo`` has made them (for trying it out), and refuses otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

ROOT = Path(__file__).resolve().parent.parent
PREFECT_FILE = ROOT / "deployments" / "prefect.yaml"
DEFAULT_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/lethe_prefect"
DATABASE_VAR = "PREFECT_API_DATABASE_CONNECTION_URL"
SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class ProdError(Exception):
    """A step of ``up`` or ``down`` failed; the message says which and why."""


@dataclass(frozen=True)
class Config:
    """Where the server listens and keeps its state, and its database."""

    database: URL
    port: int
    state: Path
    timeout: float

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def pid_file(self, name: str) -> Path:
        return self.state / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.state / f"{name}.log"


def load_config(environ: dict[str, str] | None = None) -> Config:
    """The settings from the environment, checked: a PostgreSQL/asyncpg URL, a port, a folder."""
    env = os.environ if environ is None else environ
    raw = env.get(DATABASE_VAR) or DEFAULT_DATABASE
    try:
        database = make_url(raw)
    except ArgumentError:
        raise ProdError(f"{DATABASE_VAR} is not a database URL") from None
    if database.drivername != "postgresql+asyncpg":
        raise ProdError(
            f"{DATABASE_VAR} must name PostgreSQL through asyncpg (postgresql+asyncpg://...), "
            f"not {database.drivername}: the production server keeps its runs in PostgreSQL"
        )
    if not database.database or not SAFE_NAME.match(database.database):
        raise ProdError(f"{DATABASE_VAR} must name a database (letters, digits and _), e.g. lethe_prefect")
    try:
        port = int(env.get("LETHE_PROD_PORT", "4200"))
        timeout = float(env.get("LETHE_PROD_TIMEOUT", "300"))
    except ValueError:
        raise ProdError("LETHE_PROD_PORT and LETHE_PROD_TIMEOUT must be numbers") from None
    state = Path(env.get("LETHE_PROD_DIR") or ROOT / "var" / "prod").resolve()
    return Config(database, port, state, timeout)


def say(message: str) -> None:
    print(f"prod: {message}", flush=True)


# ------------------------------------------------------------------------------------------------ processes


def running_pid(config: Config, name: str) -> int | None:
    """The pid in ``name``.pid if that process still runs a Prefect command (a stale file is removed)."""
    path = config.pid_file(name)
    try:
        pid = int(path.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return None
    if b"prefect" not in cmdline:  # the pid was reused by something else
        path.unlink(missing_ok=True)
        return None
    return pid


def start(config: Config, name: str, argv: list[str], env: dict[str, str]) -> int:
    """Start ``argv`` in its own session (so ``down`` can stop its children too); log and pid in the state dir."""
    with config.log_file(name).open("ab") as log:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    config.pid_file(name).write_text(f"{process.pid}\n")
    return process.pid


def stop(config: Config, name: str, grace: float = 30.0) -> bool:
    """Stop the process group of ``name`` (SIGTERM, then SIGKILL after ``grace`` s); False if none ran."""
    pid = running_pid(config, name)
    if pid is None:
        return False
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if not _alive(pid):
            break
    config.pid_file(name).unlink(missing_ok=True)
    return True


def _alive(pid: int) -> bool:
    # Reap it if it is our child (it is not when `down` runs in another process than `up`).
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(") ", 1)[-1][:1] != "Z"  # a zombie has exited


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ------------------------------------------------------------------------------------------------ steps


def ensure_database(config: Config) -> bool:
    """Create the server's database if it is missing; True when it was created."""
    admin = config.database.set(drivername="postgresql+psycopg", database="postgres")
    name = config.database.database
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if exists:
                return False
            connection.execute(text(f'CREATE DATABASE "{name}"'))  # name checked against SAFE_NAME
            return True
    except SQLAlchemyError as exc:
        where = admin.render_as_string(hide_password=True)
        raise ProdError(f"cannot reach PostgreSQL at {where} ({type(exc).__name__})") from None
    finally:
        engine.dispose()


def api(config: Config, path: str, body: dict[str, Any] | None = None) -> Any:
    """GET (or POST ``body`` to) the server's API; the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        config.api_url + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read() or b"null")


def wait_until(config: Config, name: str, ready: Any, what: str) -> None:
    """Poll ``ready()`` until it is true; fail with the log's tail if ``name`` exits or time runs out."""
    deadline = time.monotonic() + config.timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except (OSError, urllib.error.URLError, ValueError):
            pass
        if running_pid(config, name) is None:
            raise ProdError(
                f"the {name} exited before {what}; {config.log_file(name)} ends:\n{tail(config.log_file(name))}"
            )
        time.sleep(1)
    raise ProdError(
        f"{what} took more than {config.timeout:.0f} s; {config.log_file(name)} ends:\n{tail(config.log_file(name))}"
    )


def prefect_env(config: Config, *, server: bool = False) -> dict[str, str]:
    """The environment of the Prefect commands: this one, pointed at the server, state under the state dir.

    Only the server gets the database URL (and its password); the worker passes its environment on to
    every flow run.
    """
    env = {
        **os.environ,
        "PREFECT_HOME": str(config.state / "home"),
        "PREFECT_API_URL": config.api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop(DATABASE_VAR, None)
    if server:
        env[DATABASE_VAR] = config.database.render_as_string(hide_password=False)
    return env


def start_server(config: Config) -> None:
    """Start the server on the database unless it runs already; wait until its API answers."""
    if running_pid(config, "server") is not None:
        say(f"server already running (pid file {config.pid_file('server')})")
    else:
        try:
            foreign = api(config, "/health") is True
        except (OSError, ValueError):
            foreign = False
        if foreign:  # waiting for "our" server would then deploy to that one
            raise ProdError(
                f"a Prefect server not started from {config.state} already answers on port {config.port}: "
                "stop it, or set LETHE_PROD_PORT (and LETHE_PROD_DIR) for another one"
            )
        argv = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
        pid = start(config, "server", [*argv, "--port", str(config.port)], prefect_env(config, server=True))
        say(f"server starting (pid {pid}, log {config.log_file('server')})")
    wait_until(config, "server", lambda: api(config, "/health") is True, "the server answered")
    say(f"server up: UI http://127.0.0.1:{config.port}, API {config.api_url}")


def work_pools() -> list[str]:
    """The work pools ``prefect.yaml``'s deployments name."""
    spec = yaml.safe_load(PREFECT_FILE.read_text())
    return sorted({entry["work_pool"]["name"] for entry in spec["deployments"] if entry.get("work_pool")})


def prefect_cli(config: Config, name: str, *args: str) -> None:
    """Run ``prefect ARGS`` from the repository root; fail with the tail of its output."""
    log = config.log_file(name)
    with log.open("ab") as out:
        done = subprocess.run(
            [sys.executable, "-m", "prefect", "--no-prompt", *args],
            cwd=ROOT, env=prefect_env(config), stdout=out, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        raise ProdError(
            f"`prefect {' '.join(args)}` failed (exit {done.returncode}); {log} ends:\n{tail(log)}"
        )


def deploy(config: Config) -> None:
    """Create the work pools (process) and deploy every deployment of ``prefect.yaml``."""
    for pool in work_pools():
        prefect_cli(config, "deploy", "work-pool", "create", pool, "--type", "process", "--overwrite")
        say(f"work pool {pool} (process)")
    relative = str(PREFECT_FILE.relative_to(ROOT))
    prefect_cli(config, "deploy", "deploy", "--all", "--prefect-file", relative)
    deployments = api(config, "/deployments/filter", {"limit": 200})
    names = sorted(f"{d['name']}" for d in deployments)
    say(f"deployed {len(names)}: {', '.join(names)} (log {config.log_file('deploy')})")


def start_worker(config: Config) -> None:
    """Start one process worker per pool unless running; wait until the server lists it as online."""
    for pool in work_pools():
        name = f"worker-{pool}"
        if running_pid(config, name) is not None:
            say(f"{name} already running")
            continue
        argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"]
        pid = start(config, name, argv, prefect_env(config))
        say(f"{name} starting (pid {pid}, log {config.log_file(name)})")

        def online(pool: str = pool) -> bool:
            workers = api(config, f"/work_pools/{pool}/workers/filter", {})
            return any(w.get("status") == "ONLINE" for w in workers)

        wait_until(config, name, online, f"a worker of pool {pool} was online")
        say(f"{name} online")


def require_keys() -> None:
    """Keys for the flow runs: from the environment, else the demo's (made by `make demo`), else refuse."""
    if os.environ.get("LETHE_LEDGER_KEY") and os.environ.get("LETHE_MASTER_KEY"):
        return
    from lethe.demo.setup import KEYS_FILE, ensure_demo_keys

    if not (ROOT / KEYS_FILE).exists():
        raise ProdError(
            "set LETHE_LEDGER_KEY and LETHE_MASTER_KEY (from your secret store) before `make prod-up`: the "
            "worker hands them to the flow runs. To try it with the demo's keys, run `make demo` once."
        )
    os.chdir(ROOT)
    ensure_demo_keys()
    say(f"using the demo's keys from {KEYS_FILE}: for trying only, production sets its own")


def up(config: Config) -> None:
    """Database, server, work pools, deployments, worker."""
    require_keys()
    config.state.mkdir(parents=True, exist_ok=True)
    where = config.database.render_as_string(hide_password=True)
    say(f"database {where}: {'created' if ensure_database(config) else 'exists'}")
    start_server(config)
    deploy(config)
    start_worker(config)
    say(f"ready. Runs: `PREFECT_API_URL={config.api_url} prefect deployment run retention/retention-dry-run`")
    say("stop with `make prod-down`")


def down(config: Config) -> None:
    """Stop the workers, then the server; the database and the logs stay."""
    stopped = []
    for pid_file in sorted(config.state.glob("worker-*.pid")) if config.state.exists() else []:
        if stop(config, pid_file.stem):
            stopped.append(pid_file.stem)
    if stop(config, "server"):
        stopped.append("server")
    say(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")


def main(argv: list[str] | None = None) -> int:
    """``python -m deployments.prod up|down``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["up", "down"])
    args = parser.parse_args(argv)
    try:
        config = load_config()
        (up if args.command == "up" else down)(config)
    except ProdError as exc:
        print(f"prod: error: {exc}", file=sys.stderr)
        if args.command == "up":
            print("prod: `make prod-down` stops whatever this started", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
