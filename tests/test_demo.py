"""`ecowarn demo` as a user runs it: embedded services, simulator, an alert within a minute."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_demo_shows_treatment_off_alert_within_a_minute(tmp_path: Path) -> None:
    """With no database or broker configured, the demo serves a treatment_off alert in < 60 s."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECOWARN_")}
    env.update(ECOWARN_DATA_DIR=str(tmp_path / "data"), ECOWARN_HTTP_PORT=str(port),
               ECOWARN_HJ212_PORT=str(_free_port()), PYTHONUNBUFFERED="1")
    out = (tmp_path / "demo.out").open("w+")
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "ecowarn", "demo"], stdout=out,
                            stderr=subprocess.STDOUT, env=env)
    try:
        token = None
        alerts: list[dict[str, object]] = []
        while time.monotonic() - started < 60:
            assert proc.poll() is None, Path(out.name).read_text()
            if token is None:
                m = re.search(r"login\?token=(\S+)", Path(out.name).read_text())
                token = m.group(1) if m else None
            if token is not None:
                resp = httpx.get(f"http://127.0.0.1:{port}/api/v1/alerts",
                                 params={"rule": "treatment_off"},
                                 headers={"Authorization": f"Bearer {token}"}, timeout=5)
                assert resp.status_code == 200
                alerts = resp.json()["items"]
                if alerts:
                    break
            time.sleep(1)
        assert alerts, "no treatment_off alert within 60 s:\n" + Path(out.name).read_text()
        assert alerts[0]["rule"] == "treatment_off"
        console = httpx.get(f"http://127.0.0.1:{port}/console/login", params={"token": token},
                            follow_redirects=True, timeout=5)
        assert console.status_code == 200
        assert "治污设施未运行" in console.text or "treatment_off" in console.text
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        out.close()
    assert rc == 0, Path(out.name).read_text()
    first = Path(out.name).read_text()
    assert f"HJ 212 (TCP):       127.0.0.1:{env['ECOWARN_HJ212_PORT']}" in first
    assert re.search(r"Replaying the last 3 h at 120x; injected: treatment_outage on PWR-KILN-1"
                     r" \d\d:\d\d-\d\d:\d\d UTC\+8", first), first

    # A restart on the same data: the earlier token is revoked, the backlog is not published
    # again (it would be dropped as duplicates), and the banner says so.
    second_out = tmp_path / "demo2.out"
    with second_out.open("w") as out2:
        proc = subprocess.Popen([sys.executable, "-m", "ecowarn", "demo"], stdout=out2,
                                stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 60
            while "Press Ctrl+C" not in second_out.read_text():
                assert proc.poll() is None, second_out.read_text()
                assert time.monotonic() < deadline, second_out.read_text()
                time.sleep(0.5)
            banner = second_out.read_text()
            assert "earlier demo token revoked" in banner
            assert "Continuing after the last stored minute" in banner
            m = re.search(r"login\?token=(\S+)", banner)
            assert m is not None and m.group(1) != token
            old = httpx.get(f"http://127.0.0.1:{port}/api/v1/alerts",
                            headers={"Authorization": f"Bearer {token}"}, timeout=5)
            assert old.status_code == 401
            new = httpx.get(f"http://127.0.0.1:{port}/api/v1/alerts",
                            headers={"Authorization": f"Bearer {m.group(1)}"}, timeout=5)
            assert new.status_code == 200
            # The banner's command for more tokens works against the running demo's database.
            dsn = re.search(r"ECOWARN_DATABASE_URL='([^']+)' ecowarn token create", banner)
            assert dsn is not None, banner
            made = subprocess.run([sys.executable, "-m", "ecowarn", "token", "create", "--role",
                                   "officer"], env={**env, "ECOWARN_DATABASE_URL": dsn.group(1)},
                                  capture_output=True, text=True, timeout=60)
            assert made.returncode == 0, made.stderr
            extra = httpx.get(f"http://127.0.0.1:{port}/api/v1/alerts",
                              headers={"Authorization": f"Bearer {made.stdout.strip()}"}, timeout=5)
            assert extra.status_code == 200
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                assert proc.wait(30) == 0, second_out.read_text()
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
