"""The console in a real browser: headless Chromium against the app served on 127.0.0.1.

Screenshots are kept under test-artifacts/ (git-ignored) for a human to look at.
Without a ``chromium`` binary the test is skipped (``./dev test`` installs it).

Pages are read with ``--dump-dom`` and ``--screenshot``; the due-process paths (the right
to be heard, rectification with files, 首违不罚) are walked by clicking the console's own
forms in a browser driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
no extra package), an officer and an enterprise each in their own browser context (their
own cookies), with a screenshot in Chinese and English at each step.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import shutil
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
import uvicorn
from prometheus_client import CollectorRegistry
from test_api_support import CEMENT, CST, T0, ApiEnv

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
    # api's app has its own metrics registry; confirmations write the credit ledger as in service.
    ctx = dataclasses.replace(api.ctx, metrics_registry=CollectorRegistry(), on_confirmed=CreditService(
        api.ctx.registry, load_credit_params()).on_alert_confirmed)
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


# --- a browser driven over the DevTools protocol -------------------------------------------

class Tab:
    """One page of :class:`Browser` in its own browser context (its own cookies)."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.browser.send(method, params, session=self.session)

    async def _load(self, start: Any) -> None:
        """Run ``start`` (a coroutine that starts a navigation) and wait for the page's load."""
        events = self.browser.events(self.session)
        while not events.empty():
            events.get_nowait()
        await start
        while True:
            method, _ = await asyncio.wait_for(events.get(), BROWSER_TIMEOUT_S)
            if method == "Page.loadEventFired":
                return

    async def goto(self, url: str) -> None:
        await self._load(self.send("Page.navigate", {"url": url}))

    async def js(self, expression: str) -> Any:
        out = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        assert "exceptionDetails" not in out, out["exceptionDetails"]
        return out["result"].get("value")

    async def fill(self, selector: str, value: str) -> None:
        assert await self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                             f" if (!e) return false; e.value = {json.dumps(value)}; return true; }})()"), selector

    async def click(self, selector: str) -> None:
        """Click a submit button and wait for the page the form leads to."""
        found = f"document.querySelector({json.dumps(selector)})"
        assert await self.js(f"!!{found} && !{found}.disabled"), f"no enabled {selector}"
        await self._load(self.js(f"{found}.click()"))

    async def files(self, selector: str, paths: list[Path]) -> None:
        root = (await self.send("DOM.getDocument"))["root"]["nodeId"]
        node = (await self.send("DOM.querySelector", {"nodeId": root, "selector": selector}))["nodeId"]
        assert node, selector
        await self.send("DOM.setFileInputFiles", {"nodeId": node, "files": [str(p) for p in paths]})

    async def text(self, selector: str = "body") -> str:
        value = await self.js(f"document.querySelector({json.dumps(selector)})?.innerText ?? ''")
        return str(value)

    async def shot(self, name: str, selector: str | None = None) -> Path:
        """A PNG of the viewport (scrolled to ``selector``) into test-artifacts/."""
        if selector is not None:
            assert await self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                                 " if (!e) return false; e.scrollIntoView(); return true; })()"), selector
        data = (await self.send("Page.captureScreenshot", {"format": "png"}))["data"]
        path = ARTIFACTS / name
        path.write_bytes(base64.b64decode(data))
        assert path.stat().st_size > 10_000
        return path


class Browser:
    """Headless Chromium over ``--remote-debugging-pipe``: commands on fd 3, answers on fd 4,
    each a JSON message ended by NUL."""

    def __init__(self, profile: Path) -> None:
        self.profile = profile
        self._ids = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._events: dict[str, asyncio.Queue[tuple[str, dict[str, Any]]]] = {}
        self._proc: asyncio.subprocess.Process | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._out = -1

    def events(self, session: str) -> asyncio.Queue[tuple[str, dict[str, Any]]]:
        return self._events.setdefault(session, asyncio.Queue())

    async def __aenter__(self) -> Browser:
        assert CHROMIUM is not None
        to_browser_r, self._out = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        log = (self.profile.parent / f"{self.profile.name}.log").open("wb")
        self._proc = await asyncio.create_subprocess_exec(
            "bash", "-c", f'exec "$@" 3<&{to_browser_r} 4>&{from_browser_w}', "chromium", CHROMIUM,
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
            "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage",
            "--remote-debugging-pipe", "--lang=zh-CN", f"--user-data-dir={self.profile}", "about:blank",
            pass_fds=(to_browser_r, from_browser_w), stdin=asyncio.subprocess.DEVNULL,
            stdout=log, stderr=log)
        log.close()
        os.close(to_browser_r)
        os.close(from_browser_w)
        reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                     os.fdopen(from_browser_r, "rb", 0))
        self._reader_task = asyncio.create_task(self._read(reader), name="cdp-reader")
        return self

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                raw = await reader.readuntil(b"\0")
            except asyncio.IncompleteReadError:
                break
            msg = json.loads(raw[:-1])
            if "id" in msg:
                future = self._waiting.pop(msg["id"], None)
                if future is not None and not future.done():
                    future.set_result(msg)
            elif "method" in msg:
                self.events(msg.get("sessionId", "")).put_nowait((msg["method"], msg.get("params", {})))
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("chromium closed its pipe"))

    async def send(self, method: str, params: dict[str, Any] | None = None, *,
                   session: str | None = None) -> dict[str, Any]:
        self._ids += 1
        message: dict[str, Any] = {"id": self._ids, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[self._ids] = future
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._out, data):]
        answer = await asyncio.wait_for(future, BROWSER_TIMEOUT_S)
        assert "error" not in answer, (method, answer["error"])
        result: dict[str, Any] = answer["result"]
        return result

    async def tab(self, width: int = 1280, height: int = 900) -> Tab:
        context = (await self.send("Target.createBrowserContext"))["browserContextId"]
        target = (await self.send("Target.createTarget", {"url": "about:blank",
                                                           "browserContextId": context}))["targetId"]
        session = (await self.send("Target.attachToTarget", {"targetId": target, "flatten": True}))["sessionId"]
        tab = Tab(self, session)
        await tab.send("Page.enable")
        await tab.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                               "deviceScaleFactor": 1, "mobile": False})
        return tab

    async def __aexit__(self, *exc: object) -> None:
        assert self._proc is not None
        try:
            await asyncio.wait_for(self.send("Browser.close"), 10)
        except (TimeoutError, ConnectionError, AssertionError):
            pass
        try:
            await asyncio.wait_for(self._proc.wait(), 20)
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()
        os.close(self._out)
        if self._reader_task is not None:
            self._reader_task.cancel()


async def _both(tab: Tab, url: str, name: str, selector: str | None = None) -> None:
    """Screenshots of ``url`` in Chinese (``name``-zh.png) and English (``name``-en.png)."""
    await tab.goto(url)
    await tab.shot(f"{name}-zh.png", selector)
    await tab.goto(url + ("&" if "?" in url else "?") + "lang=en")
    await tab.shot(f"{name}-en.png", selector)


async def test_hearing_then_confirm_in_the_browser(api: ApiEnv, base_url: str, tmp_path: Path) -> None:
    """The officer dispatches and sees confirm disabled with why and from when; the enterprise
    answers in its console and sees its answer unread; the officer opens the alert (reading
    the answer), the button is enabled, and the confirmation goes through; screenshots of each
    step in Chinese and English."""
    ARTIFACTS.mkdir(exist_ok=True)
    alert = await api.insert_alert(start=T0, end=T0 + timedelta(minutes=25))
    await api.insert_readings("PWR-KILN-1", "p", T0 - timedelta(minutes=20), [480.0 + (i % 7) for i in range(70)])
    officer, enterprise = await api.token("officer"), await api.token("enterprise", CEMENT)
    page = f"{base_url}/console/alerts/{alert}"
    async with Browser(tmp_path / "hearing") as browser:
        off, ent = await browser.tab(), await browser.tab()
        await off.goto(login_url(base_url, officer, f"/console/alerts/{alert}"))
        await off.click("#form-acknowledge button")
        await off.click("#form-dispatch button")
        assert await off.js("document.querySelector('#form-confirm button').disabled") is True
        why = await off.text("#confirm-why")
        assert why.startswith("暂不能确认违法：企业可在") and "起可确认违法" in why
        await _both(off, page, "hearing-1-dispatched-officer", "#form-confirm")
        assert "Cannot be confirmed yet: the enterprise may state its case until" in await off.text("#confirm-why")

        await ent.goto(login_url(base_url, enterprise, f"/console/alerts/{alert}"))
        await ent.fill("#form-answer textarea[name=text]", "11月20日8时窑尾除尘器停机检修，附检修工单。")
        await ent.click("#form-answer button")
        assert "未查阅" in await ent.text("#answers")
        await _both(ent, page, "hearing-2-answered-enterprise", "#answers")

        await off.goto(page)  # the officer opens the page: the answer is read
        assert "已查阅" in await off.text("#answers")
        assert await off.js("document.querySelector('#form-confirm button').disabled") is False
        assert "企业已答复（1条），执法人员均已查阅" in await off.text("#hearing")
        await _both(off, page, "hearing-3-read-officer", "#hearing")
        await off.goto(page)
        await off.fill("#form-confirm textarea[name=reason]", "企业答复不能排除违法事实")
        await off.click("#form-confirm button")
        assert await off.text("#workflow-status") == "已确认违法"
        await _both(off, page, "hearing-4-confirmed-officer")
    assert await api.execute("SELECT status FROM alerts WHERE id = %s", (alert,)) == [("confirmed",)]
    assert await api.execute("SELECT entry_type FROM credit_ledger") == [("deduction",)]


async def test_rectification_with_files_and_first_offence_in_the_browser(
        api: ApiEnv, base_url: str, tmp_path: Path) -> None:
    """The officer orders a rectification; the enterprise uploads files (a refused one first:
    the reason beside the form), answers, and sees its files with their SHA-256; the officer
    verifies with a data check (its chart shown) and confirms as a first offence without
    penalty; the ledger pages list it; screenshots of each step in Chinese and English."""
    ARTIFACTS.mkdir(exist_ok=True)
    start = datetime.now(CST) - timedelta(days=3)
    alert = await api.insert_alert(start=start, end=start + timedelta(minutes=40))
    officer, enterprise = await api.token("officer"), await api.token("enterprise", CEMENT)
    report, photo, bad = tmp_path / "验收报告.pdf", tmp_path / "site-photo.png", tmp_path / "tool.exe"
    report.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    bad.write_bytes(b"MZ\x90\x00" + bytes(100))
    page = f"{base_url}/console/alerts/{alert}"
    async with Browser(tmp_path / "rectification") as browser:
        off, ent = await browser.tab(), await browser.tab()
        await off.goto(login_url(base_url, officer, f"/console/alerts/{alert}"))
        await off.click("#form-acknowledge button")
        await off.click("#form-dispatch button")
        due = (datetime.now(CST) + timedelta(days=10)).date().isoformat()
        await off.fill("#form-rectification input[name=due]", due)
        await off.fill("#form-rectification textarea[name=requirements]",
                       "10日内更换窑尾除尘器全部滤袋，提交验收报告和现场照片。")
        await off.click("#form-rectification button")
        [(rid,)] = await api.execute("SELECT id FROM rectifications")
        assert "已责令整改" in await off.text(f"#rectification-{rid}")
        await _both(off, page, "rectification-1-ordered-officer", f"#rectification-{rid}")

        await ent.goto(login_url(base_url, enterprise, f"/console/alerts/{alert}"))
        await ent.fill(f"#form-submit-{rid} textarea[name=text]", "已更换全部滤袋，附验收报告和现场照片。")
        await ent.files(f"#form-submit-{rid} input[type=file]", [bad])
        await ent.click(f"#form-submit-{rid} button")
        error = await ent.text(f"#form-submit-{rid} .error")
        assert "第 1 个文件：tool.exe 的类型不能接受" in error
        assert await ent.js(f"document.querySelector('#form-submit-{rid} textarea[name=text]').value") \
            == "已更换全部滤袋，附验收报告和现场照片。"
        await ent.shot("rectification-2-refused-file-enterprise-zh.png", f"#form-submit-{rid}")
        await ent.goto(f"{page}?lang=en")
        await ent.fill(f"#form-submit-{rid} textarea[name=text]", "All filter bags replaced.")
        await ent.files(f"#form-submit-{rid} input[type=file]", [bad])
        await ent.click(f"#form-submit-{rid} button")
        assert "File 1: tool.exe is of a type that cannot be taken" in await ent.text(f"#form-submit-{rid} .error")
        await ent.shot("rectification-2-refused-file-enterprise-en.png", f"#form-submit-{rid}")
        await ent.goto(page)
        await ent.fill(f"#form-submit-{rid} textarea[name=text]", "已更换全部滤袋，附验收报告和现场照片。")
        await ent.files(f"#form-submit-{rid} input[type=file]", [report, photo])
        await ent.click(f"#form-submit-{rid} button")
        files = await ent.text(f"#rectification-{rid} .submissions")
        assert "验收报告.pdf" in files and "site-photo.png" in files and "SHA-256" in files
        await ent.fill("#form-answer textarea[name=text]", "已按要求整改，系首次发生。")
        await ent.click("#form-answer button")
        await _both(ent, page, "rectification-3-submitted-enterprise", f"#rectification-{rid}")

        await off.goto(page)
        await off.fill(f"#form-verify-{rid} textarea[name=reason]", "材料齐全，现场核查滤袋已更换")
        await off.fill(f"#form-verify-{rid} input[name=data_check_days]", "2")
        await off.click(f"#form-verify-{rid} button")
        check = await off.text(f"#rectification-{rid} .data-check")
        assert "数据核查" in check and "未再发生" in check
        assert await off.js(f"!!document.querySelector('#rectification-{rid} .data-check svg')") is True
        await _both(off, page, "rectification-4-verified-officer", f"#rectification-{rid} .data-check")

        await off.goto(page)
        assert "首违不罚适用条件：全部满足" in await off.text("#first-offence")
        await off.js("document.querySelector('#form-confirm input[value=first_offence_no_penalty]').checked = true")
        await off.fill("#form-confirm textarea[name=reason]", "首次违法，危害轻微并已按期整改")
        await _both(off, page, "rectification-5-first-offence-officer", "#form-confirm")
        await off.goto(page)
        await off.js("document.querySelector('#form-confirm input[value=first_offence_no_penalty]').checked = true")
        await off.fill("#form-confirm textarea[name=reason]", "首次违法，危害轻微并已按期整改")
        await off.click("#form-confirm button")
        assert "首违不罚" in await off.text("#disposition")
        await _both(off, page, "rectification-6-confirmed-officer")
        await _both(off, f"{base_url}/console/rectifications", "rectification-7-ledger-officer")
        await _both(ent, f"{base_url}/console/rectifications", "rectification-8-ledger-enterprise")
        await _both(ent, page, "rectification-9-enterprise-view", f"#rectification-{rid}")
    assert await api.execute("SELECT status, disposition FROM alerts") == [("confirmed", "first_offence_no_penalty")]
    assert await api.execute("SELECT entry_type, points FROM credit_ledger") == [("first_offence", 0)]
