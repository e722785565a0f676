"""Async helpers written once: retry delays, bounded shutdown of tasks, periodic workers.

- :class:`Backoff` is the delay between attempts of a reconnect or retry loop: it starts at
  ``initial_s``, doubles up to ``max_s`` and has "equal jitter" (between half and all of the
  delay), so that many clients that lost the same server do not return in step. Loops own
  one, call :meth:`Backoff.next_s` after a failure and :meth:`Backoff.reset` after a success;
  tests shrink ``initial_s``/``max_s`` through the owners' constants.
- :func:`backoff_s` is the same schedule as a pure function of the attempt number, for
  delays that are stored (the warning dispatcher's next attempt time).
- :func:`cancel_and_wait` cancels tasks and waits a bounded time, naming in the log each task
  that is still running, and where, and cancelling it again; it never hangs shutdown.
- :func:`run_periodically` runs one step forever: after a step, it waits for ``interval_s`` or
  an early wake-up; a step that raises one of the ``retry_on`` errors is logged and retried
  after the backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

__all__ = ["Backoff", "backoff_s", "cancel_and_wait", "run_periodically"]


def backoff_s(attempts: int, initial_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Delay before attempt ``attempts + 1``: ``initial_s`` doubled per earlier attempt after
    the first, capped at ``max_s``, with equal jitter (between half and all of it)."""
    base = min(max_s, initial_s * 2.0 ** max(0, attempts - 1))
    return base / 2 + (rng or random.Random()).uniform(0, base / 2)


class Backoff:
    """Delays of one retry loop (see the module docstring)."""

    def __init__(self, initial_s: float, max_s: float, *, jitter: bool = True,
                 rng: random.Random | None = None) -> None:
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError(f"backoff needs 0 < initial_s <= max_s, got {initial_s}, {max_s}")
        self.initial_s = initial_s
        self.max_s = max_s
        self._jitter = jitter
        self._rng = rng or random.Random()
        self.failures = 0

    def next_s(self) -> float:
        """Count a failure and return how long to wait before the next attempt."""
        self.failures += 1
        if not self._jitter:
            return min(self.max_s, self.initial_s * 2.0 ** (self.failures - 1))
        return backoff_s(self.failures, self.initial_s, self.max_s, self._rng)

    def reset(self) -> None:
        """An attempt succeeded: the next failure waits ``initial_s`` again."""
        self.failures = 0

    async def sleep(self) -> float:
        """Count a failure and sleep its delay; returns the delay slept."""
        delay = self.next_s()
        await asyncio.sleep(delay)
        return delay


def _where(task: asyncio.Task[Any]) -> str:
    return "; ".join(f"{f.f_code.co_filename}:{f.f_lineno}" for f in task.get_stack()) or "?"


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], *, log: logging.Logger,
                          timeout_s: float = 5.0, rounds: int = 1,
                          cancel: Callable[[asyncio.Task[Any]], bool] = lambda _t: True,
                          on_straggler: Callable[[asyncio.Task[Any]], None] | None = None,
                          ) -> set[asyncio.Task[Any]]:
    """Cancel ``tasks`` and wait at most ``rounds`` x ``timeout_s`` for them to end.

    Tasks for which ``cancel`` is false are left to end by themselves in the first round (a
    server told to exit, say). After each round, every task still running is logged with
    its name and where it waits, ``on_straggler`` is called on it, and it is cancelled
    (again): on Python 3.11 a cancellation can be swallowed by an inner ``wait_for``.
    Returns the tasks still running at the end, also logged.
    """
    pending = {t for t in tasks if not t.done()}
    for task in pending:
        if cancel(task):
            task.cancel()
    for attempt in range(1, rounds + 1):
        if not pending:
            break
        _, pending = await asyncio.wait(pending, timeout=timeout_s)
        for task in pending:
            log.warning("task %s still running %.1f s into shutdown (at %s); cancelling%s",
                        task.get_name(), timeout_s * attempt, _where(task),
                        " again" if cancel(task) or attempt > 1 else "")
            if on_straggler is not None:
                on_straggler(task)
            task.cancel()
    if pending:
        log.error("giving up on %d task(s) after %.1f s: %s", len(pending), timeout_s * rounds,
                  ", ".join(sorted(t.get_name() for t in pending)))
    return pending


async def run_periodically(step: Callable[[], Awaitable[object]], *, interval_s: float,
                           log: logging.Logger, what: str,
                           retry_on: tuple[type[BaseException], ...] = (Exception,),
                           backoff: Backoff | None = None,
                           wake: asyncio.Event | None = None) -> None:
    """Run ``step`` forever (until cancelled), ``interval_s`` apart or sooner when ``wake``
    is set; an error in ``retry_on`` is logged (``what`` failed) and the step retried after
    the backoff (default 0.5 s doubling to 30 s)."""
    backoff = backoff or Backoff(0.5, 30.0)
    while True:
        try:
            await step()
            backoff.reset()
        except retry_on as exc:
            delay = backoff.next_s()
            log.warning("%s failed (%s); retrying in %.1f s", what, exc, delay)
            await asyncio.sleep(delay)
            continue
        if wake is None:
            await asyncio.sleep(interval_s)
            continue
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # arrives as the event is set, and the owner could then never stop this loop.
        try:
            async with asyncio.timeout(interval_s):
                await wake.wait()
        except TimeoutError:
            pass
        wake.clear()
