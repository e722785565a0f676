"""Shared async helpers: backoff schedule, bounded shutdown that names stragglers, periodic workers."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from ecowarn.core.aio import Backoff, backoff_s, cancel_and_wait, run_periodically

log = logging.getLogger("test.aio")


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    """Delays double from the initial value, stay between half and all of it, and stop at the cap."""
    rng = random.Random(3)
    for attempts, base in ((1, 30), (2, 60), (3, 120), (8, 3600), (20, 3600)):
        for _ in range(50):
            assert base / 2 <= backoff_s(attempts, 30.0, 3600.0, rng) <= base


def test_backoff_object_doubles_caps_and_resets() -> None:
    """Without jitter: 1, 2, 4, 8, then the cap; reset starts again at the initial delay. With
    jitter every delay lies in [base/2, base]."""
    b = Backoff(1.0, 8.0, jitter=False)
    assert [b.next_s() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert b.failures == 6
    b.reset()
    assert (b.next_s(), b.failures) == (1.0, 1)
    j = Backoff(0.5, 30.0, rng=random.Random(1))
    for base in (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0):
        assert base / 2 <= j.next_s() <= base
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)


async def test_cancel_and_wait_names_a_straggler_and_cancels_it_again(
        caplog: pytest.LogCaptureFixture) -> None:
    """A task that swallows its first cancellation is logged by name and cancelled again; it ends."""
    swallowed = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            swallowed.set()
        await asyncio.sleep(3600)  # the second cancellation ends it

    t = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="test.aio"):
        left = await cancel_and_wait([t], log=log, timeout_s=0.05, rounds=3)
    assert left == set()
    assert swallowed.is_set() and t.cancelled()
    assert any("stubborn" in r.getMessage() and "still running" in r.getMessage() for r in caplog.records)


async def test_cancel_and_wait_gives_up_boundedly(caplog: pytest.LogCaptureFixture) -> None:
    """A task that ignores every cancellation does not hang shutdown: it is returned and logged."""
    released = False

    async def immortal() -> None:
        while not released:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    t = asyncio.create_task(immortal(), name="immortal")
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    with caplog.at_level(logging.WARNING, logger="test.aio"):
        left = await cancel_and_wait([t], log=log, timeout_s=0.05, rounds=2)
    assert left == {t}
    assert loop.time() - began < 1.0
    assert any("giving up" in r.getMessage() and "immortal" in r.getMessage() for r in caplog.records)
    released = True  # the test's own cleanup
    t.cancel()
    await asyncio.gather(t, return_exceptions=True)


async def test_cancel_and_wait_lets_a_spared_task_end_itself() -> None:
    """A task excluded by ``cancel`` is waited for, not cancelled, in the first round."""
    stop = asyncio.Event()

    async def server() -> str:
        await stop.wait()
        return "clean"

    t = asyncio.create_task(server(), name="http-server")
    asyncio.get_running_loop().call_later(0.02, stop.set)
    assert await cancel_and_wait([t], log=log, timeout_s=1.0, cancel=lambda _t: False) == set()
    assert t.result() == "clean"


async def test_run_periodically_retries_with_backoff_and_wakes_early() -> None:
    """A step failing with a retry_on error is retried after the backoff, not after the interval;
    a wake event runs the next step at once; another error ends the worker."""
    calls: list[str] = []
    wake = asyncio.Event()
    second = asyncio.Event()

    async def step() -> None:
        calls.append("step")
        if len(calls) == 2:
            second.set()
        if len(calls) == 1:
            raise OSError("database away")
        if len(calls) == 3:
            raise KeyError("a bug")

    task = asyncio.create_task(run_periodically(
        step, interval_s=3600.0, log=log, what="test step", retry_on=(OSError,),
        backoff=Backoff(0.01, 0.01, jitter=False), wake=wake))
    async with asyncio.timeout(2):
        await second.wait()
    await asyncio.sleep(0.05)
    assert not task.done()  # now waiting an hour, or for a wake-up
    wake.set()
    with pytest.raises(KeyError):
        async with asyncio.timeout(2):
            await task
    assert len(calls) == 3
