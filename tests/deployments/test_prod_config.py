"""deployments/prefect.yaml and deployments/prod.py without a server: what they refuse before starting anything."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `deployments` is not an installed package: import it from the checkout
    sys.path.insert(0, str(ROOT))

from deployments.prod import DEFAULT_DATABASE, ProdError, load_config, main, work_pools  # noqa: E402

PREFECT_FILE = ROOT / "deployments" / "prefect.yaml"


def test_prefect_yaml_needs_no_environment_variable_to_deploy() -> None:
    text = PREFECT_FILE.read_text()
    spec = yaml.safe_load(text)
    # `{{ $VAR }}` in a pull step is stored as that literal when VAR is unset at deploy time (issue #13):
    # no such template anywhere, and no top-level pull, so `prefect deploy` records the directory it ran in.
    assert "{{ $" not in text
    assert "pull" not in spec
    for entry in spec["deployments"]:
        assert "pull" not in entry, entry["name"]
        # `prefect deploy --all` stops at the first deployment without a pool (no prompt in CI).
        assert entry.get("work_pool", {}).get("name"), f"{entry['name']} names no work pool"
        path, _, name = entry["entrypoint"].partition(":")
        assert (ROOT / path).is_file() and f"def {name}(" in (ROOT / path).read_text(), entry["entrypoint"]
    assert work_pools() == ["lethe-process"]


def test_config_defaults_to_a_local_postgresql_database() -> None:
    config = load_config({})
    assert config.database.render_as_string() == DEFAULT_DATABASE
    assert config.port == 4200 and config.api_url == "http://127.0.0.1:4200/api"
    assert config.state == (ROOT / "var" / "prod").resolve()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PREFECT_API_DATABASE_CONNECTION_URL": "sqlite+aiosqlite:///x.db"}, "PostgreSQL through asyncpg"),
        ({"PREFECT_API_DATABASE_CONNECTION_URL": "postgresql+psycopg://h/db"}, "PostgreSQL through asyncpg"),
        ({"PREFECT_API_DATABASE_CONNECTION_URL": 'postgresql+asyncpg://h/x";drop'}, "must name a database"),
        ({"PREFECT_API_DATABASE_CONNECTION_URL": "not a url"}, "not a database URL"),
        ({"LETHE_PROD_PORT": "http"}, "must be numbers"),
    ],
)
def test_config_refuses_what_would_not_work(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ProdError, match=message):
        load_config(environ)


def test_down_with_nothing_running_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LETHE_PROD_DIR", str(tmp_path))
    (tmp_path / "server.pid").write_text("999999999\n")  # stale: no such process
    assert main(["down"]) == 0
    assert "nothing was running" in capsys.readouterr().out
    assert not (tmp_path / "server.pid").exists()


def test_up_refuses_a_sqlite_server_database(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "sqlite+aiosqlite:///x.db")
    assert main(["up"]) == 1
    assert "PostgreSQL through asyncpg" in capsys.readouterr().err


def test_up_refuses_a_port_where_another_server_answers(tmp_path: Path) -> None:
    import http.server
    import threading

    from deployments.prod import start_server

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"true")

        def log_message(self, *_args: object) -> None:
            pass

    other = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        config = load_config({"LETHE_PROD_PORT": str(other.server_port), "LETHE_PROD_DIR": str(tmp_path)})
        with pytest.raises(ProdError, match="already answers on port"):
            start_server(config)
    finally:
        other.shutdown()
        other.server_close()
    assert not (tmp_path / "server.pid").exists()  # nothing was started
