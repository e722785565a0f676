"""Every HTTP operation fuzzed from the OpenAPI schema (schemathesis) against a running
`ecowarn serve` on a real database: no answer is a server error, whatever the input."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from conftest import CONFIG_DIR
from test_credit_verify import _seed

from ecowarn.store import migrate
from ecowarn.store.tokens import create_token

ST = Path(sys.executable).parent / "st"
ENTERPRISE = "91130105MA0CXXXX1X"

pytestmark = pytest.mark.skipif(not ST.exists(), reason="needs schemathesis (dev dependency)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fuzz(base: str, token: str, examples: int, tmp_path: Path) -> tuple[int, str]:
    """Run schemathesis with the server-error check only; (exit status, its output)."""
    res = subprocess.run(
        [str(ST), "run", f"{base}/api/v1/openapi.json", "-H", f"Authorization: Bearer {token}",
         "--checks", "not_a_server_error", "-n", str(examples), "--generation-deterministic",
         # One worker: schemathesis 4.32 with two crashed inside hypothesis (an AST recursion
         # SystemError from its lambda descriptions under threads).
         "--workers", "1", "--request-timeout", "30", "--no-color"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""})
    return res.returncode, res.stdout + res.stderr


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_no_input_makes_the_api_fail_with_a_server_error(
        empty_database: str, mqtt_url: str, tmp_path: Path) -> None:
    """An admin (every route) and an enterprise (its own view) send schema-generated requests,
    valid and invalid, to every operation: not one 5xx, and the service stays up."""
    database = empty_database

    async def prepare() -> tuple[str, str]:
        await migrate(database)
        await _seed(database)  # alerts, evidence packages, ledger entries to find
        async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
            return (await create_token(conn, role="admin"),
                    await create_token(conn, role="enterprise", enterprise_id=ENTERPRISE))

    admin, firm = asyncio.run(prepare())
    port = _free_port()
    prefix = f"z{uuid.uuid4().hex[:8]}/"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECOWARN_")}
    env.update(ECOWARN_DATABASE_URL=database, ECOWARN_MQTT_URL=mqtt_url,
               ECOWARN_REGISTRY=str(CONFIG_DIR / "registry.example.yaml"),
               ECOWARN_HTTP_PORT=str(port), ECOWARN_HJ212_PORT="0",
               ECOWARN_DATA_DIR=str(tmp_path / "data"), ECOWARN_RUNNER="off",
               ECOWARN_MQTT_CLIENT_ID=f"fuzz-{prefix[:-1]}", ECOWARN_MQTT_TOPIC_PREFIX=prefix,
               PYTHONUNBUFFERED="1")
    log = tmp_path / "serve.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ecowarn", "serve"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        results = []
        for token, examples in ((admin, 3), (firm, 1)):
            rc, output = _fuzz(base, token, examples, tmp_path)
            assert rc == 0, output[-6000:]
            m = re.search(r"(\d+) generated, (\d+) passed", output)
            assert m is not None, output[-3000:]
            results.append((int(m.group(1)), int(m.group(2))))
        assert all(generated == passed and generated > 200 for generated, passed in results), results
        assert proc.poll() is None, "the service died under fuzzing"
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        assert "Traceback" not in log.read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
