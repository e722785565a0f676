"""Credit repair by application in a real browser: headless Chromium, driven over the DevTools
protocol on a pipe (``--remote-debugging-pipe``: no driver to install), against the app served
on 127.0.0.1 as in ``test_console_browser.py``.

The enterprise's browser types its commitment, chooses a file and files the form (Chromium
encodes the multipart body, sends the session cookie and the form token); the officer's browser
approves with a reason; the enterprise's page then shows the points restored. Screenshots of each
step, in Chinese and in English, are kept under test-artifacts/ (git-ignored) for a human to look
at. Without a ``chromium`` binary the test is skipped (``./dev test`` installs it).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
import uvicorn
from prometheus_client import CollectorRegistry
from test_api_support import CEMENT, T0, ApiEnv

from ecowarn.api import create_app
from ecowarn.credit import CreditService, install, load_credit_params
from ecowarn.credit.params import CreditParams

pytest_plugins = ("test_api_support",)

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
STEP_TIMEOUT_S = 30.0
WIDTH = 1280
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
COMMITMENT = ("本企业承诺：1号窑布袋除尘器已更换滤袋并加装运行监控，治污设施与生产设施同步运行，"
              "今后严格遵守环保法律法规。")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary; install it with 'apt-get install chromium' (./dev test does)")


class Officer:
    token_id = None
    role = "officer"
    label = "Officer Zhao"


@pytest.fixture
def instant() -> Iterator[CreditParams]:
    """No minimum publication period, so the deduction can be applied for today."""
    params = dataclasses.replace(load_credit_params(),
                                 publication_months=MappingProxyType({"ordinary": 0, "serious": 0}))
    install(CreditService(None, params))
    try:
        yield params
    finally:
        install(None)


@pytest.fixture
async def base_url(api: ApiEnv) -> AsyncIterator[str]:
    """The app of ``api`` served by uvicorn on a free loopback port."""
    ctx = dataclasses.replace(api.ctx, metrics_registry=CollectorRegistry())  # api's app has its own
    server = uvicorn.Server(uvicorn.Config(create_app(ctx), host="127.0.0.1", port=0, log_config=None,
                                           lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve(), name="credit-browser-test-http")
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


_EXEC_ON_FDS_3_4 = """
import os, sys
src_in, src_out = int(sys.argv[1]), int(sys.argv[2])
if src_out == 3:
    src_out = os.dup(src_out)
os.dup2(src_in, 3)
os.dup2(src_out, 4)
for fd in (src_in, src_out):
    if fd not in (3, 4):
        os.close(fd)
os.execv(sys.argv[3], sys.argv[3:])
"""


class Browser:
    """One headless Chromium (its own profile: one session) and one page, driven over the
    DevTools protocol: JSON messages ending in a NUL byte, written to the browser's fd 3 and
    read from its fd 4."""

    def __init__(self, profile: Path, base: str) -> None:
        self._profile = profile
        self._base = base
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._write_fd = -1
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self._session = ""

    async def __aenter__(self) -> Browser:
        assert CHROMIUM is not None
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--remote-debugging-pipe", f"--user-data-dir={self._profile}",
                f"--window-size={WIDTH},900", "--lang=zh-CN"]
        # A small Python puts the pipes on fds 3 and 4, where Chromium expects them, and execs it.
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _EXEC_ON_FDS_3_4, str(to_browser_r), str(from_browser_w), *args,
            pass_fds=(to_browser_r, from_browser_w),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._write_fd = to_browser_w
        loop = asyncio.get_running_loop()
        self._reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(self._reader),
                                     os.fdopen(from_browser_r, "rb", buffering=0))
        target = await self.send("Target.createTarget", {"url": "about:blank"}, page=False)
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
                                   page=False)
        self._session = attached["sessionId"]
        await self.send("Page.enable")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._proc is not None
        try:
            await asyncio.wait_for(self.send("Browser.close", page=False), 5)
        except (TimeoutError, EOFError, AssertionError, asyncio.IncompleteReadError):
            pass
        os.close(self._write_fd)
        try:
            await asyncio.wait_for(self._proc.wait(), 10)
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()

    async def _read(self) -> dict[str, Any]:
        assert self._reader is not None
        raw = await asyncio.wait_for(self._reader.readuntil(b"\0"), STEP_TIMEOUT_S)
        message: dict[str, Any] = json.loads(raw[:-1])
        return message

    async def send(self, method: str, params: dict[str, Any] | None = None, *, page: bool = True) -> Any:
        """Send one command (to the page's session unless ``page`` is False); its result."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if page:
            message["sessionId"] = self._session
        os.write(self._write_fd, json.dumps(message).encode() + b"\0")
        while True:
            reply = await self._read()
            if reply.get("id") == self._next_id:
                assert "error" not in reply, (method, reply["error"])
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    async def _wait_event(self, name: str) -> None:
        while True:
            for i, event in enumerate(self._events):
                if event["method"] == name and event.get("sessionId") == self._session:
                    del self._events[: i + 1]
                    return
            self._events.append(await self._read())

    async def _loaded(self, action: Any) -> None:
        self._events.clear()
        await action
        await self._wait_event("Page.loadEventFired")

    async def open(self, path: str) -> None:
        await self._loaded(self.send("Page.navigate", {"url": self._base + path}))

    async def login(self, token: str, path: str) -> None:
        """Log in with ``token`` and land on ``path`` (the console sets the cookie and redirects)."""
        await self.open(f"/console/login?token={quote(token)}&next={quote(path)}")

    async def js(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    async def dom(self) -> str:
        return str(await self.js("document.documentElement.outerHTML"))

    async def type(self, selector: str, text: str) -> None:
        await self.js(f"document.querySelector({json.dumps(selector)}).value = {json.dumps(text)}")

    async def choose_files(self, selector: str, paths: list[Path]) -> None:
        root = await self.send("DOM.getDocument", {"depth": 0})
        node = await self.send("DOM.querySelector", {"nodeId": root["root"]["nodeId"], "selector": selector})
        assert node["nodeId"], selector
        await self.send("DOM.setFileInputFiles", {"nodeId": node["nodeId"], "files": [str(p) for p in paths]})

    async def click(self, selector: str) -> None:
        """Click a submit button and wait for the page the form leads to."""
        await self._loaded(self.js(f"document.querySelector({json.dumps(selector)}).click()"))

    async def screenshot(self, name: str) -> Path:
        """The whole page as a PNG under test-artifacts/."""
        metrics = await self.send("Page.getLayoutMetrics")
        height = int(metrics["cssContentSize"]["height"]) + 1
        shot = await self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1}})
        path = ARTIFACTS / name
        path.write_bytes(base64.b64decode(shot["data"]))
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
        return path


async def deduction_of(api: ApiEnv) -> int:
    """A confirmed, ended treatment-off alert of the cement plant: its deduction's id. An earlier
    one was confirmed as a first offence without penalty (a zero-point entry)."""
    first = await api.insert_alert(start=T0 - timedelta(days=40), end=T0 - timedelta(days=40, minutes=-30),
                                   summary_zh="首次违法：治污设施未运行")
    alert = await api.insert_alert(start=T0, end=T0 + timedelta(minutes=40))
    service = CreditService(api.ctx.registry, load_credit_params())
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        await service.on_alert_confirmed(conn, first, Officer(), disposition="first_offence_no_penalty")
        await service.on_alert_confirmed(conn, alert, Officer())
    (entry,), = await api.execute("SELECT id FROM credit_ledger WHERE entry_type = 'deduction'")
    return int(entry)


async def both_languages(browser: Browser, path: str, name: str) -> tuple[str, str]:
    """Screenshots of ``path`` in Chinese and English (``name``-zh.png, ``name``-en.png); the DOMs."""
    sep = "&" if "?" in path else "?"
    await browser.open(path)
    await browser.screenshot(f"{name}-zh.png")
    zh = await browser.dom()
    await browser.open(f"{path}{sep}lang=en")
    await browser.screenshot(f"{name}-en.png")
    return zh, await browser.dom()


async def test_enterprise_applies_with_a_file_officer_approves_score_restored(
        api: ApiEnv, base_url: str, tmp_path: Path, instant: CreditParams) -> None:
    """In Chromium: the enterprise's credit page offers the repair form for its deduction; a blank
    commitment comes back refused beside the form; with a commitment and a PDF chosen the
    application is filed (pending, the file with its SHA-256); the officer's review page shows it
    and approving with a reason restores the points on the enterprise's page. Screenshots of each
    step in Chinese and English; the officer notification log too."""
    ARTIFACTS.mkdir(exist_ok=True)
    deduction = await deduction_of(api)
    (points,), = await api.execute("SELECT points FROM credit_ledger WHERE id = %s", (deduction,))
    proof = tmp_path / "整改报告.pdf"
    proof.write_bytes(PDF)
    enterprise = await api.token("enterprise", CEMENT)
    officer = await api.token("officer")
    page = f"/console/enterprises/{CEMENT}"

    async with Browser(tmp_path / "enterprise", base_url) as browser:
        await browser.login(enterprise, page)
        zh, en = await both_languages(browser, page, "credit-repair-1-deduction")
        assert f'id="repair-{deduction}"' in zh and "申请信用修复" in zh and "信用修复承诺书" in zh
        assert zh.count('class="repair"') == 1 and "不予处罚，不扣分" in zh
        assert "no penalty, no points deducted" in en
        assert f"<strong>{100 + points}</strong>" in zh
        assert "Apply for credit repair" in en and "Commitment letter" in en and "Proof" in en

        # a blank commitment (spaces pass the browser's own check): refused beside the form
        await browser.open(page)
        await browser.type(f"#commitment-{deduction}", "   ")
        await browser.click(f"#repair-{deduction} button[type=submit]")
        dom = await browser.dom()
        assert f'id="repair-error-{deduction}"' in dom and "需提交 1 至 5000 个字符的信用修复承诺书" in dom
        await browser.screenshot("credit-repair-2-refused-zh.png")
        await browser.open(f"{page}?lang=en")
        await browser.type(f"#commitment-{deduction}", "   ")
        await browser.click(f"#repair-{deduction} button[type=submit]")
        dom = await browser.dom()
        assert "A commitment of 1 to 5000 characters is needed" in dom
        await browser.screenshot("credit-repair-2-refused-en.png")

        # the real filing: commitment typed, a PDF chosen
        await browser.open(page)
        await browser.type(f"#commitment-{deduction}", COMMITMENT)
        await browser.choose_files(f"#files-{deduction}", [proof])
        await browser.click(f"#repair-{deduction} button[type=submit]")
        dom = await browser.dom()
        assert "待审批" in dom and "整改报告.pdf" in dom
        (app_id, status, attachments), = await api.execute(
            "SELECT id, status, attachments FROM repair_applications")
        assert status == "pending" and attachments[0]["filename"] == "整改报告.pdf"
        assert attachments[0]["size"] == len(PDF) and attachments[0]["sha256"] in dom
        await both_languages(browser, page, "credit-repair-3-pending")

    async with Browser(tmp_path / "officer", base_url) as browser:
        listing = "/console/credit/repair-applications"
        await browser.login(officer, listing)
        zh, en = await both_languages(browser, listing, "credit-repair-4-review")
        assert f'id="application-{app_id}"' in zh and COMMITMENT in zh and attachments[0]["sha256"] in zh
        assert "Approve repair" in en and "Reason (required)" in en
        await browser.open(listing)
        await browser.type(f"#reason-{app_id}", "现场核查：滤袋已更换，治污设施运行正常")
        await browser.click(f"#application-{app_id} button[value=approve]")
        dom = await browser.dom()
        assert "已批准" in dom and "现场核查：滤袋已更换" in dom
        await both_languages(browser, listing, "credit-repair-5-approved")
        (evidence,), = await api.execute("SELECT evidence_id FROM repair_applications")
        zh, en = await both_languages(browser, f"/console/evidence/{evidence}", "credit-repair-5b-document")
        assert "信用修复申请材料" in zh and COMMITMENT in zh and attachments[0]["sha256"] in zh
        assert "Credit repair application" in en and "Commitment letter" in en

        # the officer notification log, with one delivered and one failed notification
        for status, error in (("delivered", None), ("failed", "HTTP 502 from the robot")):
            await api.execute(
                "INSERT INTO officer_notifications (delivery_id, event, subject_id, channel, alert_id,"
                " enterprise_id, region, body, status, attempts, next_attempt_at, last_status_code,"
                " last_error, delivered_at) SELECT %s, 'high_alert', a.id, %s, a.id, a.enterprise_id, '130105',"
                " '{\"msgtype\":\"text\",\"text\":{\"content\":\"【高级别预警】\"}}', %s, %s, now(),"
                " %s, %s, CASE WHEN %s = 'delivered' THEN now() END FROM alerts a LIMIT 1",
                (uuid.uuid4(), f"robot-{status}", status, 1 if status == "delivered" else 10,
                 None if error is None else 502, error, status))
        zh, en = await both_languages(browser, "/console/notifications", "credit-repair-7-notifications")
        assert "高级别预警" in zh and "HTTP 状态码 502" in zh and "robot-failed" in zh
        assert "High-severity alert" in en and "failed (no more attempts)" in en

    async with Browser(tmp_path / "enterprise-after", base_url) as browser:
        await browser.login(enterprise, page)
        zh, en = await both_languages(browser, page, "credit-repair-6-restored")
        assert '<dd id="credit-score"><strong>100</strong>' in zh
        assert f"信用修复申请 #{app_id} 获批准，恢复 {-points} 分" in zh
        assert f"credit repair application #{app_id} approved, {-points} points restored" in en
        assert f'id="repair-{deduction}"' not in zh
