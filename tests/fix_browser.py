"""One headless Chromium for the whole test session, and the console app served on 127.0.0.1.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: commands
on its fd 3, answers on its fd 4, each a JSON message ended by NUL; no driver package). It is
started once, on first use, on an event loop of its own in a background thread, so that tests
running on their own loops share the process; each page a test opens lives in a browser
context of its own (its own cookies, as a fresh profile had) that is disposed of when the test
ends. Starting Chromium costs seconds on two cores; a browser context costs milliseconds.

Each page is drawn in its user's language, so that screenshots show what the user sees. A
browser's language is its process's (on Linux Chromium reads it from the environment, and its
own widgets, the date-time pickers and form validation bubbles, speak it), so there is one
Chromium per language: ``zh-CN`` started at once, ``en-US`` when a test first asks for it. A tab
lives in the browser of the language it was opened for (``Browser.tab(lang=...)``; the one-shot
``dump_dom``/``screenshot``/``dom_and_screenshot`` take the language of the page,
:func:`browser_lang`: ``en-US`` for a ``lang=en`` page). A tab that goes to a page of the other
language keeps its cookies and its browser; it switches its locale and ``Accept-Language``
(``navigator.language``, ``Intl``), but its pickers stay drawn in its browser's language: open a
context of that language to see them as that user does.

``conftest.py`` provides the ``browser`` fixture (a :class:`Browser`); ``serve`` runs an app
under uvicorn for the browser to reach. Screenshots go to ``test-artifacts/`` (git-ignored)
for a human to look at. Without a ``chromium`` binary the browser tests are skipped.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, unquote

import uvicorn
from fastapi import FastAPI

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_TIMEOUT_S = 60.0
NO_CHROMIUM = "no chromium binary; install it with 'apt-get install chromium' (./dev test does)"
DEFAULT_LANG = "zh-CN"  # the users' language: a Chinese officer's or enterprise's browser
PNG = b"\x89PNG\r\n\x1a\n"

T = TypeVar("T")


def browser_lang(url: str) -> str:
    """The language of the browser of a user who opens ``url``: English pages (``lang=en``)
    for an English-speaking user, every other console page for a Chinese one."""
    return "en-US" if re.search(r"[?&]lang=en(&|$)", unquote(url)) else "zh-CN"


def login_url(base: str, token: str, page: str) -> str:
    """Log in and land on ``page`` (the console sets the cookie and redirects)."""
    return f"{base}/console/login?token={quote(token)}&next={quote(page)}"


@asynccontextmanager
async def serve(app: FastAPI, name: str = "browser-test-http") -> AsyncIterator[str]:
    """``app`` served by uvicorn on a free loopback port; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None,
                                           lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve(), name=name)
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started and server.servers
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def _save_png(shot: dict[str, Any], path: Path) -> Path:
    """A ``Page.captureScreenshot`` answer written to ``path``; checked to be a real picture."""
    path.unlink(missing_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.stat().st_size > 10_000 and path.read_bytes()[:8] == PNG
    return path


class _Cdp:
    """The DevTools connection; lives on the browser thread's loop."""

    def __init__(self, profile: Path, lang: str) -> None:
        self.profile = profile
        self.lang = lang
        self._ids = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._events: dict[str, asyncio.Queue[tuple[str, dict[str, Any]]]] = {}
        self._proc: asyncio.subprocess.Process | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._out = -1

    def events(self, session: str) -> asyncio.Queue[tuple[str, dict[str, Any]]]:
        return self._events.setdefault(session, asyncio.Queue())

    async def start(self) -> None:
        assert CHROMIUM is not None, NO_CHROMIUM
        to_browser_r, self._out = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        log = (self.profile.parent / f"{self.profile.name}.log").open("wb")
        # On Linux Chromium takes its language (the one its date-time pickers are drawn in) from
        # LANGUAGE; --lang alone leaves them in English. The character set stays the machine's
        # UTF-8 one (a zh_CN locale that is not installed would make file names with Chinese in
        # them unreadable to the file chooser).
        env = {**os.environ, "LANGUAGE": f"{self.lang.replace('-', '_')}:{self.lang.split('-')[0]}"}
        if env.get("LANG", "C") in ("C", "POSIX"):
            env["LANG"] = "C.UTF-8"  # glibc ignores LANGUAGE under the C locale
        self._proc = await asyncio.create_subprocess_exec(
            "bash", "-c", f'exec "$@" 3<&{to_browser_r} 4>&{from_browser_w}', "chromium", CHROMIUM,
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
            "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage",
            "--disable-quic", "--remote-debugging-pipe", f"--lang={self.lang}", f"--user-data-dir={self.profile}",
            "about:blank", pass_fds=(to_browser_r, from_browser_w), stdin=asyncio.subprocess.DEVNULL,
            stdout=log, stderr=log, env=env)
        log.close()
        os.close(to_browser_r)
        os.close(from_browser_w)
        reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                     os.fdopen(from_browser_r, "rb", 0))
        self._reader_task = asyncio.create_task(self._read(reader), name="cdp-reader")

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

    async def close(self) -> None:
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


class Chromium:
    """The session's Chromium, on a loop of its own in a background thread: one process per
    user language, the Chinese one started at once, the English one when a test first opens an
    English page (a browser's language is its process's)."""

    def __init__(self, profile: Path) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="chromium-loop", daemon=True)
        self._thread.start()
        self._profile = profile
        self._by_lang: dict[str, _Cdp] = {}
        self._starting: dict[str, asyncio.Task[_Cdp]] = {}  # on the browser's loop: one start per language
        self.cdp = self.call_sync(self._start(DEFAULT_LANG))

    async def _launch(self, lang: str) -> _Cdp:
        profile = self._profile if lang == DEFAULT_LANG else self._profile.with_name(f"{self._profile.name}-{lang}")
        cdp = _Cdp(profile, lang)
        await cdp.start()
        self._by_lang[lang] = cdp
        return cdp

    async def _start(self, lang: str) -> _Cdp:
        if lang not in self._starting:
            self._starting[lang] = asyncio.create_task(self._launch(lang), name=f"chromium-start-{lang}")
        return await asyncio.shield(self._starting[lang])

    async def cdp_for(self, lang: str) -> _Cdp:
        """The DevTools connection of the browser whose language is ``lang`` (started on first use)."""
        return self._by_lang.get(lang) or await self.call(self._start(lang))

    def call_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the browser's loop from synchronous code (fixtures)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(BROWSER_TIMEOUT_S * 2)

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the browser's loop and await it from the caller's loop."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    def close(self) -> None:
        try:
            for cdp in self._by_lang.values():
                self.call_sync(cdp.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._loop.close()


class Tab:
    """One page in a browser context of its own (its own cookies)."""

    def __init__(self, chromium: Chromium, cdp: _Cdp, context: str, session: str, width: int, agent: str) -> None:
        self._chromium = chromium
        self.cdp = cdp
        self.context = context
        self.session = session
        self.width = width
        self._agent = agent
        self.lang = ""  # the locale in effect (set by speak())

    async def speak(self, lang: str) -> None:
        """Be the browser of a user whose language is ``lang`` (``zh-CN``, ``en-US``): its
        locale (date-time pickers, number formats) and ``Accept-Language``."""
        if lang == self.lang:
            return
        if self.lang:
            await self.send("Emulation.setLocaleOverride", {})  # one override at a time
        await self.send("Emulation.setLocaleOverride", {"locale": lang})
        await self.send("Emulation.setUserAgentOverride", {"userAgent": self._agent, "acceptLanguage": lang})
        self.lang = lang

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._chromium.call(self.cdp.send(method, params, session=self.session))

    async def _load_on_loop(self, method: str, params: dict[str, Any]) -> None:
        cdp = self.cdp
        events = cdp.events(self.session)
        while not events.empty():
            events.get_nowait()
        out = await cdp.send(method, params, session=self.session)
        assert "exceptionDetails" not in out, out["exceptionDetails"]
        while True:
            event, _ = await asyncio.wait_for(events.get(), BROWSER_TIMEOUT_S)
            if event == "Page.loadEventFired":
                return

    async def _load(self, method: str, params: dict[str, Any]) -> None:
        """Send ``method`` (which starts a navigation) and wait for the page's load event."""
        await self._chromium.call(self._load_on_loop(method, params))

    async def goto(self, url: str) -> None:
        """Open ``url`` as its user would: in the page's language (:func:`browser_lang`)."""
        await self.speak(browser_lang(url))
        await self._load("Page.navigate", {"url": url})

    async def js(self, expression: str) -> Any:
        out = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        assert "exceptionDetails" not in out, out["exceptionDetails"]
        return out["result"].get("value")

    async def dom(self) -> str:
        """The DOM as the browser built it (what ``chromium --dump-dom`` prints)."""
        return str(await self.js("document.documentElement.outerHTML"))

    async def fill(self, selector: str, value: str) -> None:
        assert await self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                             f" if (!e) return false; e.value = {json.dumps(value)}; return true; }})()"), selector

    async def click(self, selector: str) -> None:
        """Click a submit button and wait for the page the form leads to."""
        found = f"document.querySelector({json.dumps(selector)})"
        assert await self.js(f"!!{found} && !{found}.disabled"), f"no enabled {selector}"
        await self._load("Runtime.evaluate", {"expression": f"{found}.click()", "returnByValue": True})

    async def files(self, selector: str, paths: list[Path]) -> None:
        root = (await self.send("DOM.getDocument"))["root"]["nodeId"]
        node = (await self.send("DOM.querySelector", {"nodeId": root, "selector": selector}))["nodeId"]
        assert node, selector
        await self.send("DOM.setFileInputFiles", {"nodeId": node, "files": [str(p) for p in paths]})

    async def text(self, selector: str = "body") -> str:
        value = await self.js(f"document.querySelector({json.dumps(selector)})?.innerText ?? ''")
        return str(value)

    async def shot(self, name: str, selector: str | None = None) -> Path:
        """A PNG of the viewport (scrolled to ``selector``) into test-artifacts/ (what
        ``chromium --screenshot`` saves at the tab's size when no selector is given)."""
        if selector is not None:
            assert await self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                                 " if (!e) return false; e.scrollIntoView(); return true; })()"), selector
        return _save_png(await self.send("Page.captureScreenshot", {"format": "png"}), ARTIFACTS / name)

    async def full_shot(self, name: str) -> Path:
        """The whole page, however tall, as a PNG under test-artifacts/."""
        metrics = await self.send("Page.getLayoutMetrics")
        height = int(metrics["cssContentSize"]["height"]) + 1
        return _save_png(await self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": self.width, "height": height, "scale": 1}}), ARTIFACTS / name)


class Browser:
    """A test's view of the session's Chromium: the tabs it opens are closed when it ends."""

    def __init__(self, chromium: Chromium) -> None:
        self._chromium = chromium
        self._contexts: list[tuple[_Cdp, str]] = []

    async def tab(self, width: int = 1280, height: int = 900, lang: str = "zh-CN") -> Tab:
        """A new page, ``width`` x ``height`` CSS pixels, in a browser context of its own, its
        locale and ``Accept-Language`` ``lang`` until :meth:`Tab.goto` opens a page of the other
        language (a Chinese user's browser unless told)."""
        cdp = await self._chromium.cdp_for(lang)
        context = (await self._chromium.call(cdp.send("Target.createBrowserContext")))["browserContextId"]
        self._contexts.append((cdp, context))
        target = (await self._chromium.call(cdp.send(
            "Target.createTarget", {"url": "about:blank", "browserContextId": context})))["targetId"]
        session = (await self._chromium.call(cdp.send(
            "Target.attachToTarget", {"targetId": target, "flatten": True})))["sessionId"]
        agent = (await self._chromium.call(cdp.send("Browser.getVersion")))["userAgent"]
        tab = Tab(self._chromium, cdp, context, session, width, agent)
        await tab.send("Page.enable")
        await tab.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                               "deviceScaleFactor": 1, "mobile": False})
        await tab.speak(lang)
        return tab

    async def close_tab(self, tab: Tab) -> None:
        self._contexts.remove((tab.cdp, tab.context))
        await self._chromium.call(tab.cdp.send("Target.disposeBrowserContext", {"browserContextId": tab.context}))

    @asynccontextmanager
    async def context(self, width: int = 1280, height: int = 900, lang: str = "zh-CN") -> AsyncIterator[Tab]:
        """A tab in a browser context of its own for the block (its own cookies, as a browser
        with a profile of its own had), in ``lang``; closed at the block's end."""
        tab = await self.tab(width, height, lang)
        try:
            yield tab
        finally:
            await self.close_tab(tab)

    async def dump_dom(self, url: str) -> str:
        """``url``'s DOM once loaded, from a fresh context in the page's language (what
        ``chromium --dump-dom`` printed)."""
        tab = await self.tab(lang=browser_lang(url))
        try:
            await tab.goto(url)
            return await tab.dom()
        finally:
            await self.close_tab(tab)

    async def screenshot(self, url: str, path: Path, window: str = "1280,900") -> Path:
        """``url`` loaded in a fresh context of ``window`` ("width,height") size; its viewport
        saved as a PNG at ``path`` (what ``chromium --screenshot`` saved), in the page's language."""
        width, height = (int(n) for n in window.split(","))
        tab = await self.tab(width, height, browser_lang(url))
        try:
            await tab.goto(url)
            return _save_png(await tab.send("Page.captureScreenshot", {"format": "png"}), path)
        finally:
            await self.close_tab(tab)

    async def dom_and_screenshot(self, url: str, path: Path, window: str = "1280,900") -> str:
        """``url`` loaded once in a fresh context of ``window`` size: its viewport saved as a PNG
        at ``path``, and its DOM (the page's HTML does not depend on the window's size); in the
        page's language."""
        width, height = (int(n) for n in window.split(","))
        tab = await self.tab(width, height, browser_lang(url))
        try:
            await tab.goto(url)
            dom = await tab.dom()
            _save_png(await tab.send("Page.captureScreenshot", {"format": "png"}), path)
            return dom
        finally:
            await self.close_tab(tab)

    def close(self) -> None:
        """Dispose of the contexts still open (the test's cookies and pages)."""
        for cdp, context in self._contexts:
            self._chromium.call_sync(cdp.send("Target.disposeBrowserContext", {"browserContextId": context}))
        self._contexts.clear()
