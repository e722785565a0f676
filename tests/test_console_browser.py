"""The console in a real browser: headless Chromium against the app served on 127.0.0.1.

Screenshots are kept under test-artifacts/ (git-ignored) for a human to look at.
Without a ``chromium`` binary the test is skipped (``./dev test`` installs it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import uvicorn
from prometheus_client import CollectorRegistry
from test_api_support import CEMENT, T0, ApiEnv

from ecowarn.api import create_app
from ecowarn.credit import CreditService, load_credit_params

pytest_plugins = ("test_api_support",)

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_TIMEOUT_S = 60.0

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary; install it with 'apt-get install chromium' (./dev test does)")


class Officer:
    token_id = 1
    role = "officer"
    label = "Officer Sun"


@pytest.fixture
async def base_url(api: ApiEnv) -> AsyncIterator[str]:
    """The app of ``api`` served by uvicorn on a free loopback port."""
    ctx = dataclasses.replace(api.ctx, metrics_registry=CollectorRegistry())  # api's app has its own
    server = uvicorn.Server(uvicorn.Config(create_app(ctx), host="127.0.0.1", port=0, log_config=None,
                                           lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve(), name="browser-test-http")
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started and server.servers
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def chromium(profile: Path, *args: str, window: str = "1280,900") -> str:
    """Run headless Chromium with a fresh profile; return its stdout (the DOM for --dump-dom)."""
    assert CHROMIUM is not None
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={window}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), BROWSER_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode("utf-8", errors="replace")


def login_url(base: str, token: str, page: str) -> str:
    """Log in and land on ``page`` (the console sets the cookie and redirects)."""
    return f"{base}/console/login?token={quote(token)}&next={quote(page)}"


async def test_console_in_headless_chromium(api: ApiEnv, base_url: str, tmp_path: Path) -> None:
    """The browser lists a seeded alert, its page draws the chart as <svg>, the enterprise
    page shows the credit level after confirmation and the printable evidence page its
    SHA-256; screenshots are kept."""
    alert = await api.insert_alert(start=T0, end=T0 + timedelta(minutes=25))
    await api.insert_readings("PWR-KILN-1", "p", T0 - timedelta(minutes=20), [480.0 + (i % 7) for i in range(70)])
    await api.insert_readings("PWR-BAG-1", "p", T0 - timedelta(minutes=20), [120.0] * 20 + [0.0] * 25 + [118.0] * 25)
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        await CreditService(api.ctx.registry, load_credit_params()).on_alert_confirmed(conn, alert, Officer())
    officer = await api.token("officer")
    ARTIFACTS.mkdir(exist_ok=True)

    listing = await chromium(tmp_path / "p1", "--dump-dom", login_url(base_url, officer, "/console"))
    assert "1号窑运行期间治污设施未运行" in listing and f"/console/alerts/{alert}" in listing

    page = f"/console/alerts/{alert}"
    dom = await chromium(tmp_path / "p2", "--dump-dom", login_url(base_url, officer, page))
    assert "<svg" in dom and "<path d=\"M" in dom and "治污设施未运行" in dom
    shot = ARTIFACTS / "console-alert.png"
    shot.unlink(missing_ok=True)
    await chromium(tmp_path / "p3", f"--screenshot={shot}", login_url(base_url, officer, page))
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The whole page, chart included, for a human to look at.
    await chromium(tmp_path / "p3b", f"--screenshot={ARTIFACTS / 'console-alert-full.png'}",
                   login_url(base_url, officer, page), window="1280,2600")

    # The same page in English, from the one catalog per language.
    en_page = f"/console/alerts/{alert}?lang=en"
    dom = await chromium(tmp_path / "p3e", "--dump-dom", login_url(base_url, officer, en_page))
    assert "Treatment off while production runs" in dom and "Back to the list" in dom
    await chromium(tmp_path / "p3f", f"--screenshot={ARTIFACTS / 'console-alert-en.png'}",
                   login_url(base_url, officer, en_page))

    enterprise = await api.token("enterprise", CEMENT)
    credit_page = f"/console/enterprises/{CEMENT}"
    dom = await chromium(tmp_path / "p4", "--dump-dom", login_url(base_url, enterprise, credit_page))
    assert 'id="credit-level"><strong>A</strong>' in dom and "<strong>90</strong>" in dom
    await chromium(tmp_path / "p5", f"--screenshot={ARTIFACTS / 'console-enterprise.png'}",
                   login_url(base_url, enterprise, credit_page))
    assert (ARTIFACTS / "console-enterprise.png").stat().st_size > 10_000
    dom = await chromium(tmp_path / "p5e", "--dump-dom", login_url(base_url, enterprise, credit_page + "?lang=en"))
    assert "Credit score" in dom and 'id="credit-level"><strong>A</strong>' in dom
    await chromium(tmp_path / "p5f", f"--screenshot={ARTIFACTS / 'console-enterprise-en.png'}",
                   login_url(base_url, enterprise, credit_page + "?lang=en"))

    (evidence_id, sha256), = await api.execute("SELECT id, sha256 FROM evidence_packages")
    printable = f"/console/evidence/{evidence_id}"
    dom = await chromium(tmp_path / "p6", "--dump-dom", login_url(base_url, enterprise, printable))
    assert f'id="sha256">{sha256}<' in dom and "<svg" in dom
    await chromium(tmp_path / "p7", f"--screenshot={ARTIFACTS / 'evidence.png'}",
                   login_url(base_url, enterprise, printable), window="1280,2600")


async def test_queue_page_with_pending_maintenance_in_headless_chromium(
        api: ApiEnv, base_url: str, tmp_path: Path) -> None:
    """The officer's queue page lists an enterprise's after-the-fact maintenance declaration
    awaiting approval, with its reason and approve/reject buttons, in Chinese and English;
    screenshots are kept."""
    await api.insert_alert(start=T0, end=T0 + timedelta(minutes=25))
    await api.execute(
        "INSERT INTO maintenance (device_id, enterprise_id, start_ts, end_ts, reason, declared_by_role,"
        " status, pending_reason) VALUES ('PWR-BAG-1', %s, %s, %s, '布袋除尘器更换滤袋', 'enterprise',"
        " 'pending', 'retroactive')", (CEMENT, T0, T0 + timedelta(hours=2)))
    officer = await api.token("officer")
    ARTIFACTS.mkdir(exist_ok=True)
    dom = await chromium(tmp_path / "q1", "--dump-dom", login_url(base_url, officer, "/console/queue"))
    assert "待审批的维护申报" in dom and "事后补报" in dom and "布袋除尘器更换滤袋" in dom and "批准" in dom
    await chromium(tmp_path / "q2", f"--screenshot={ARTIFACTS / 'console-queue.png'}",
                   login_url(base_url, officer, "/console/queue"))
    dom = await chromium(tmp_path / "q3", "--dump-dom", login_url(base_url, officer, "/console/queue?lang=en"))
    assert "Maintenance declarations awaiting approval" in dom and "retroactive" in dom and "Approve" in dom
    await chromium(tmp_path / "q4", f"--screenshot={ARTIFACTS / 'console-queue-en.png'}",
                   login_url(base_url, officer, "/console/queue?lang=en"))
    assert (ARTIFACTS / "console-queue.png").stat().st_size > 10_000
