"""The streaming runner: evaluates detectors over event time as readings are committed.

Writers queue the event-time span of every committed batch per device in
``pending_eval``. The runner claims those rows (``FOR UPDATE SKIP LOCKED``, so
several runners can share the work), maps devices to the subjects of each rule
(e.g. a treatment meter to the production units it treats), re-evaluates each
subject over the affected window up to its latest data, and reconciles the
findings into alerts, all in one transaction: if anything fails, the claim rolls
back and the work is retried. Re-evaluation is idempotent, so a restart or late
data never duplicates an alert. After reconciling, alerts that declared maintenance
now covers are retired (see ``detectors._suppress``).

Two memories make a batch cheap (a subject evaluation used to cost several queries):

- a :class:`~ecowarn.detectors.runtime._cache.SeriesCache` of recent readings (passed to
  every evaluation and tail check; see ``contract.py``), kept exact by dropping and
  re-fetching, in one query per batch, every claimed device's readings from the earliest
  event time of its new rows;
- which (rule, subject) pairs the last reconciliation left without any alert from its
  window on: when an evaluation finds nothing again from a window starting no earlier,
  reconciling could change nothing and is skipped. Wall-clock sweeps and a rolled-back
  batch forget what they may have changed.

Besides, an evaluator may remember what the claimed spans show (``contract.SpanGated``:
``data_gap`` keeps each device's newest reading, so devices reporting on time leave a group
without alerts unevaluated).

Both are exact only while this runner sees every ``pending_eval`` row of the subjects it
evaluates. :meth:`DetectorRunner.run` ensures it in one of two ways:

- **partitioned** (``partitions`` given, the service's default): the enterprises are split
  into partitions, the air stations having their own (see ``partition``); each runner, in
  any process on any host, holds a session advisory lock per partition it owns on a
  connection of its own, claims only those partitions' rows, takes a fair share and, every
  ``rebalance_s``, unowned partitions up to it (a dead runner's within seconds). Whenever
  the partitions it owns change, it forgets all its memories, so what it remembers covers
  only what it saw while owning them; losing the lock connection drops every partition.
  Wall-clock sweeps write only the owned partitions' alerts.
- **single leader** (no ``partitions``): one runner per database holds ``LEADER_LOCK_KEY``
  and evaluates everything; another waits as a hot standby until that lock is free (the
  leader stopped or lost its connection). Partitioned runners hold the same key *shared*,
  so the two modes never run side by side.

Besides event-time work, the loop runs a periodic sweep (:meth:`DetectorRunner.sweep_silence`)
for evaluators that watch the wall clock (``data_gap``: devices silent since their last
message arrived).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from psycopg_pool import AsyncConnectionPool

from ecowarn.alerts.store import AlertDraft, end_ongoing, lock_subject, reconcile
from ecowarn.config.registry import Registry
from ecowarn.core.aio import Backoff
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime._suppress import (
    MaintenanceAware,
    SelfCorrecting,
    apply_corrections,
    apply_suppression,
)
from ecowarn.detectors.runtime.contract import (
    BatchAware,
    RuleEvaluator,
    SilenceSweeper,
    Span,
    SpanGated,
    SweepPlan,
    SweepResult,
    Window,
)
from ecowarn.detectors.runtime.partition import (
    LayoutChanged,
    PartitionMap,
    PartitionOwner,
    publish_map,
    wait_no_pending,
)
from ecowarn.store.readings import PENDING_CHANNEL

__all__ = ["LEADER_LOCK_KEY", "DetectorRunner", "RunnerMetrics"]

log = logging.getLogger(__name__)

# Claimed batches get process-wide numbers (evaluators may serve more than one runner).
_BATCH_IDS = itertools.count(1)

# pg_advisory_lock key held by the one active runner ("ecorunnr" as an integer).
LEADER_LOCK_KEY = int.from_bytes(b"ecorunnr", "big") & 0x7FFF_FFFF_FFFF_FFFF


class RunnerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.opened = Counter("ecowarn_alerts_opened_total", "Alerts opened, by rule", ["rule"],
                              registry=registry)
        self.closed = Counter("ecowarn_alerts_closed_total",
                              "Alerts whose condition cleared, by rule", ["rule"],
                              registry=registry)
        self.evaluations = Counter("ecowarn_detector_evaluations_total",
                                   "Subject evaluations, by rule", ["rule"], registry=registry)
        self.batch_seconds = Histogram("ecowarn_detector_batch_seconds",
                                       "Time to evaluate one claimed batch of pending work",
                                       registry=registry)
        self.failures = Counter("ecowarn_detector_failures_total",
                                "Batches that failed and were rolled back", registry=registry)
        self.reconciles_skipped = Counter(
            "ecowarn_detector_reconciles_skipped_total",
            "Evaluations that found nothing where no alert was, so nothing to reconcile",
            registry=registry)
        self.unchanged = Counter(
            "ecowarn_detector_unchanged_total",
            "Evaluations skipped: new readings within the minute already evaluated",
            registry=registry)
        self.tail_quiet = Counter(
            "ecowarn_detector_tail_quiet_total",
            "Evaluations skipped: quiet subject, rule's condition decidedly false in the new"
            " minutes", registry=registry)
        self.gated = Counter(
            "ecowarn_detector_gated_total",
            "Evaluations skipped: the claimed spans alone show in-order data that cannot change"
            " a finding of subjects without alerts (data_gap)", registry=registry)
        self.claimed = Counter("ecowarn_detector_pending_claimed_total",
                               "pending_eval rows claimed and evaluated", registry=registry)
        self.leader = Gauge("ecowarn_detector_leader",
                            "1 while this process runs the detector runner, 0 on standby",
                            registry=registry)
        self.partitions_owned = Gauge("ecowarn_detector_partitions_owned",
                                      "Partitions this runner owns (partitioned runners)",
                                      registry=registry)
        self.partition_owned = Gauge("ecowarn_detector_partition_owned",
                                     "1 for each partition this runner owns", ["partition"],
                                     registry=registry)
        self.partitions_taken = Counter("ecowarn_detector_partitions_taken_total",
                                        "Partitions this runner took (at start or from a"
                                        " runner that stopped)", registry=registry)


class DetectorRunner:
    """Owns the evaluation loop; ``run()`` is a task in the service's TaskGroup."""

    def __init__(self, pool: AsyncConnectionPool[Any], registry: Registry,
                 evaluators: list[RuleEvaluator], metrics: RunnerMetrics, *,
                 poll_ms: int = 1000, claim_limit: int = 100_000, sweep_s: float = 60.0,
                 on_alerts: Callable[[list[int]], None] | None = None,
                 cache: bool = True, partitions: PartitionMap | None = None,
                 rebalance_s: float = 2.0, memories: bool = True) -> None:
        self._pool = pool
        self._registry = registry
        self._evaluators = evaluators
        self._metrics = metrics
        self._poll_s = poll_ms / 1000.0
        # Rows per claim (one transaction). Subject locks are bucketed per rule
        # (``alerts.store.lock_subject``), so a claim's lock count stays bounded.
        self._claim_limit = claim_limit
        self.cache: SeriesCache | None = SeriesCache() if cache else None
        # False: every batch starts from nothing remembered (cache aside), as after a
        # restart: a reference that reads the database for everything (tests, diagnosis).
        self._memories = memories
        # (rule index, subject) -> window start of the last reconciliation that left no
        # alert from that window on (see the module docstring).
        self._quiet: dict[tuple[int, str], datetime] = {}
        # (rule index, subject) -> newest event time claimed so far, the last result (window
        # start, drafts) and the newest event time's minute (epoch minutes), for evaluators
        # whose findings only change on a new grid minute (``held_grid``).
        self._last: dict[tuple[int, str], tuple[datetime, datetime, list[AlertDraft], int]] = {}
        # Per evaluator, looked up once: whether it holds its grid, its tail check, its
        # primary series and look-back (for prefetching).
        self._held = [ev.held_grid for ev in evaluators]
        self._gated = [isinstance(ev, SpanGated) for ev in evaluators]
        # Per device, the keys and subject sets it touches (``_learn_device``).
        self._device_sets: dict[str, tuple[tuple[tuple[int, int], ...],
                                           tuple[tuple[str, ...], ...]]] = {}
        self._interned: dict[tuple[str, ...], tuple[str, ...]] = {}
        # Counts of the batch being evaluated, added to the metrics once per batch.
        self._counts: collections.Counter[str] = collections.Counter()
        self._wake = asyncio.Event()
        self._on_alerts = on_alerts
        self._sweep_s = sweep_s
        self._next_sweep = 0.0  # monotonic time of the next silence sweep
        self.last_run_wall: float | None = None
        # Partitioned: the map, and the partitions owned (None: everything, as the single
        # leader and ``drain`` without ``run`` do). Batches and ownership changes take turns.
        self._pmap = partitions
        self._owned: frozenset[int] | None = None if partitions is None else frozenset()
        self._owner: PartitionOwner | None = None
        self._rebalance_s = rebalance_s
        self._next_rebalance = 0.0
        self._turn = asyncio.Lock()

    def wake(self) -> None:
        """Tell the runner that new data was committed."""
        self._wake.set()

    @property
    def owned_partitions(self) -> frozenset[int] | None:
        """The partitions this runner evaluates now (None: every one, unpartitioned)."""
        return self._owned

    async def run(self) -> None:
        """Run as a partitioned runner, or as the database's one runner (standby while
        another is); see the module docstring."""
        while True:
            leader = await self._become_leader()
            self._forget()  # whatever happened while not leading is not in our memories
            self._metrics.leader.set(1)
            try:
                await self._lead(leader)
            finally:
                self._metrics.leader.set(0)
                await self._set_owned(frozenset())
                self._owner = None
                await leader.close()

    async def _become_leader(self) -> psycopg.AsyncConnection[Any]:
        """The lock connection: holding ``LEADER_LOCK_KEY`` (exclusive for the single leader,
        shared for a partitioned runner, which has also written its partition map)."""
        announced = False
        lock = "pg_try_advisory_lock" if self._pmap is None else "pg_try_advisory_lock_shared"
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(await _conninfo(self._pool),
                                                             autocommit=True)
            except (psycopg.Error, OSError) as exc:
                log.warning("detector runner cannot connect (%s); retrying", exc)
                await asyncio.sleep(5.0)
                continue
            why = "another detector runner is active"
            try:
                cur = await conn.execute(f"SELECT {lock}(%s)", (LEADER_LOCK_KEY,))
                row = await cur.fetchone()
                if row is not None and row[0]:
                    if self._pmap is None:
                        log.info("detector runner active (leader lock held)")
                        return conn
                    if await publish_map(conn, self._pmap):
                        log.info("detector runner active (%d partitions and the stations')",
                                 self._pmap.count)
                        self._owner = PartitionOwner(conn, self._pmap, LEADER_LOCK_KEY)
                        self._next_rebalance = 0.0
                        return conn
                    why = (f"runners with another partition count than {self._pmap.count}"
                           " are active")
                elif self._pmap is not None:
                    why = "a single-leader detector runner is active"
            except (psycopg.Error, OSError) as exc:
                why = f"cannot take the runner lock ({exc})"
            await conn.close()
            if not announced:
                log.info("%s; standing by", why)
                announced = True
            await asyncio.sleep(5.0)

    async def _keep_partitions(self) -> bool:
        """Rebalance when due; False when this runner must stop leading (its lock connection
        is lost, or the database's partition count changed)."""
        try:
            await self._rebalance()
        except LayoutChanged as exc:
            log.warning("detector runner stops evaluating: %s", exc)
            return False
        except (psycopg.Error, OSError) as exc:
            log.warning("detector runner lost its lock connection (%s); its partitions are"
                        " free for others", exc)
            return False
        return True

    async def _rebalance(self) -> None:
        """Partitioned: take and give back partitions (see ``partition``), at most every
        ``rebalance_s``; a lost lock connection raises (the caller drops everything)."""
        if self._owner is None or time.monotonic() < self._next_rebalance:
            return
        self._next_rebalance = time.monotonic() + self._rebalance_s
        async with self._turn:  # no batch claims while the locks change
            gained, lost = await self._owner.rebalance()
            self._apply_owned(frozenset(self._owner.owned))
        if gained:
            self._metrics.partitions_taken.inc(len(gained))
            log.info("detector runner took partition(s) %s", sorted(gained))
        if lost:
            log.info("detector runner gave back partition(s) %s", sorted(lost))

    async def _set_owned(self, owned: frozenset[int]) -> None:
        async with self._turn:
            self._apply_owned(owned)

    def _apply_owned(self, owned: frozenset[int]) -> None:
        """Evaluate ``owned`` from the next batch on, with memories of nothing else."""
        if self._pmap is None or owned == self._owned:
            return
        self._owned = owned
        self._forget()  # a partition taken may have changed while another owned it
        self._metrics.partitions_owned.set(len(owned))
        for p in range(self._pmap.total):
            self._metrics.partition_owned.labels(str(p)).set(1 if p in owned else 0)

    async def _listen(self) -> None:
        """Wake on every ingest commit's NOTIFY (any process, any host); reconnects."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        await _conninfo(self._pool), autocommit=True) as conn:
                    await conn.execute("LISTEN " + PENDING_CHANNEL)
                    self.wake()  # anything committed before LISTEN took effect
                    async for _ in conn.notifies():
                        self.wake()
            except (psycopg.Error, OSError) as exc:
                log.warning("detector runner stopped listening for commits (%s); polling "
                            "every %.1f s until it listens again", exc, self._poll_s)
            await asyncio.sleep(5.0)

    async def _lead(self, leader: psycopg.AsyncConnection[Any]) -> None:
        listener = asyncio.create_task(self._listen(), name="detector-listen")
        try:
            await self._lead_loop(leader)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _lead_loop(self, leader: psycopg.AsyncConnection[Any]) -> None:
        backoff = Backoff(1.0, 30.0, jitter=False)
        while True:
            if leader.closed or leader.broken:
                log.warning("detector runner lost its leader connection; standing by")
                return
            if not await self._keep_partitions():
                return
            try:
                while await self.run_once():
                    # Between batches of a backlog too: a partner may have died.
                    if not await self._keep_partitions():
                        return
                backoff.reset()
            except (psycopg.Error, OSError) as exc:
                self._metrics.failures.inc()
                log.warning("detector batch failed (%s); retrying", exc)
                await asyncio.sleep(backoff.next_s())
                continue
            self.last_run_wall = time.time()
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + self._sweep_s
                try:
                    await self.sweep_silence()
                    # Keeps the leader connection's liveness checked at least this often.
                    await leader.execute("SELECT 1")
                except (psycopg.Error, OSError) as exc:
                    self._metrics.failures.inc()
                    log.warning("silence sweep failed (%s); retrying at the next sweep", exc)
            try:
                due = self._next_sweep if self._owner is None else min(self._next_sweep,
                                                                       self._next_rebalance)
                timeout = max(0.0, min(self._poll_s, due - time.monotonic()))
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that arrives as the event is set, and shutdown would then hang.
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    def _forget(self) -> None:
        if self.cache is not None:
            self.cache.clear()
        self._quiet.clear()
        self._last.clear()
        for ev in self._evaluators:
            ev.forget()

    async def drain(self) -> int:
        """Process pending work until none is left ("burst"); return pending rows handled.

        Partitioned, this runner evaluates its own partitions' rows and then waits until the
        owners of the others (this runner's ``run`` loop included) have evaluated theirs."""
        total = 0
        while True:
            n = await self.run_once()
            if n == 0:
                if self._owned is None:
                    return total
                try:
                    await wait_no_pending(self._pool, 0.5)
                    return total
                except TimeoutError:
                    continue  # rows of ours may have come meanwhile
            total += n

    async def run_once(self) -> int:
        """Claim one batch of pending work and evaluate it in one transaction.

        Returns the number of pending rows claimed (0 when there was nothing to do).
        """
        try:
            async with self._turn:
                return await self._run_once()
        except BaseException:
            self._forget()  # the batch rolled back: the cache may hold what it dropped
            self._counts.clear()
            raise

    async def _run_once(self) -> int:
        t0 = time.perf_counter()
        if not self._memories:
            self._forget()
        opened_all: list[int] = []
        quiet_now: dict[tuple[int, str], datetime | None] = {}
        async with self._pool.connection() as conn, conn.transaction():
            # A batch's queries are thousands of index lookups in one statement (a LATERAL
            # per pair): estimated costly, they would be JIT-compiled, which takes longer
            # (0.16 s a query at 5,000 pairs) than running them (0.15 s).
            await conn.execute("SET LOCAL jit = off")
            # Rows of one device coalesce into one span: a runner that fell behind
            # catches up in passes over the devices, not over every committed batch.
            cur = await self._claim(conn)
            spans = await cur.fetchall()
            if not spans:
                return 0
            claimed = sum(int(r[3]) for r in spans)
            # Devices that share a subject set (e.g. every device of an enterprise for
            # data_gap's outages) first merge their spans per set, so a pass costs the
            # devices plus the distinct sets' subjects, not devices x group size.
            by_set: dict[tuple[int, int], list[Any]] = {}  # [subjects, t_min, t_max]
            touched: dict[str, tuple[tuple[int, int], ...]] = {}
            gated: dict[tuple[int, int], list[Span]] = {}
            gates = self._gated
            for device_id, t_min, t_max, _, declared in spans:
                if self.cache is not None:
                    self.cache.invalidate(device_id, t_min)
                entries = self._device_sets.get(device_id)
                if entries is None:
                    entries = self._learn_device(device_id)
                touched[device_id] = entries[0]
                span: Span | None = None
                for k, subjects in zip(*entries, strict=True):
                    got = by_set.get(k)
                    if got is None:
                        by_set[k] = [subjects, t_min, t_max]
                    else:
                        if t_min < got[1]:
                            got[1] = t_min
                        if t_max > got[2]:
                            got[2] = t_max
                    if gates[k[0]]:
                        if span is None:
                            span = Span(device_id, t_min.timestamp(), t_max.timestamp(),
                                        bool(declared))
                        gated.setdefault(k, []).append(span)
            for k, set_spans in gated.items():
                if self._gate_passes(k[0], by_set[k], set_spans):
                    del by_set[k]  # nothing the rule found can change: no work for it
            spans_of: dict[tuple[int, str], list[datetime]] = {}
            for (i, _), (subjects, lo, hi) in by_set.items():
                for subject in subjects:
                    w = spans_of.get((i, subject))
                    if w is None:
                        spans_of[(i, subject)] = [lo, hi]
                    else:
                        if lo < w[0]:
                            w[0] = lo
                        if hi > w[1]:
                            w[1] = hi
            work = self._answer_unchanged(spans_of)
            if self.cache is not None:
                # Rows committed after our last look but not claimed by this batch: a
                # subject may read such a device (its own rows wait for a later batch).
                self.cache.expect_newer()
                # Work that will be evaluated; a device only other work touches stays
                # stale in the cache (fetched again when something needs it).
                due = {k: w for k, w in work.items() if not self._unchanged(k, w)}
                set_due = {k: any((k[0], s) in due for s in subjects)
                           for k, (subjects, _, _) in by_set.items()}
                await self._prefetch(conn, due, [d for d, sets in touched.items()
                                                 if any(set_due.get(k, False) for k in sets)])
            await self._learn_quiet(conn, work)
            batch = next(_BATCH_IDS)
            for ev in self._evaluators:
                if isinstance(ev, BatchAware):
                    await ev.begin_batch(conn, batch)
            by_rule: dict[int, list[tuple[str, Window]]] = {}
            for (i, subject), window in work.items():
                by_rule.setdefault(i, []).append((subject, window))
            for i in sorted(by_rule):
                opened_all.extend(await self._evaluate_rule(conn, i, sorted(by_rule[i]), quiet_now))
        # Committed: what the batch learnt about quiet subjects now holds.
        for key, ws in quiet_now.items():
            if ws is None:
                self._quiet.pop(key, None)
            else:
                self._quiet[key] = ws
        if self.cache is not None:
            self.cache.end_batch()
        self._flush_counts()
        self._metrics.claimed.inc(claimed)
        self._metrics.batch_seconds.observe(time.perf_counter() - t0)
        if opened_all:
            log.info("opened alerts %s", opened_all)
            if self._on_alerts is not None:
                self._on_alerts(opened_all)
        return claimed

    async def _claim(self, conn: psycopg.AsyncConnection[Any]) -> psycopg.AsyncCursor[Any]:
        """Delete and return (device, span, rows) of up to ``claim_limit`` pending rows of the
        owned partitions (every partition's when unpartitioned)."""
        if self._owned is None:
            return await conn.execute(_CLAIM_ALL, (self._claim_limit,))
        return await conn.execute(_CLAIM_OWNED, (sorted(self._owned), self._claim_limit))

    def _gate_passes(self, i: int, subject_set: list[Any], spans: list[Span]) -> bool:
        """Whether rule ``i`` (:class:`SpanGated`) needs no evaluation of this subject set:
        the spans cannot change a finding (asked first, so the evaluator records them every
        batch) and no subject has had an alert from before the new data on. ``subject_set``
        is [subjects, earliest, latest event time of the set's new data]."""
        ev = self._evaluators[i]
        assert isinstance(ev, SpanGated)
        if not ev.spans_quiet(spans):
            return False
        subjects, t_min, _ = subject_set
        quiet = self._quiet
        for s in subjects:
            since = quiet.get((i, s))
            if since is None or since > t_min:
                return False
        self._counts[_GATED] += len(subjects)
        return True

    def _learn_device(self, device_id: str) -> tuple[tuple[tuple[int, int], ...],
                                                     tuple[tuple[str, ...], ...]]:
        """The subject sets ``device_id`` touches, once: their keys (rule index, set
        identity) and the sets, each one tuple shared by every device with the same subjects
        of the rule (the registry, hence the mapping, is fixed)."""
        keys: list[tuple[int, int]] = []
        sets: list[tuple[str, ...]] = []
        for i, ev in enumerate(self._evaluators):
            found = tuple(ev.subjects_for(device_id))
            subjects = self._interned.setdefault(found, found)
            if subjects:
                keys.append((i, id(subjects)))
                sets.append(subjects)
        got = self._device_sets[device_id] = (tuple(keys), tuple(sets))
        return got

    def _answer_unchanged(self, spans_of: dict[tuple[int, str], list[datetime]],
                          ) -> dict[tuple[int, str], Window]:
        """The batch's work, (rule, subject) -> window, without what needs nothing at all:
        a held-grid subject whose new readings all lie after everything evaluated, within
        the newest minute (``_unchanged``), whose last evaluation found nothing where the
        last reconciliation left no alert. Its memory moves on to the new readings; the
        others are evaluated (or answered from memory and reconciled) by ``_evaluate_rule``."""
        work: dict[tuple[int, str], Window] = {}
        held, last_of, quiet = self._held, self._last, self._quiet
        noop = 0
        for key, (lo, hi) in spans_of.items():
            last = last_of.get(key) if held[key[0]] else None
            if (last is not None and not last[2] and _within_last_minute(last, lo, hi)
                    and (q := quiet.get(key)) is not None and q <= last[1]):
                last_of[key] = (hi, last[1], last[2], last[3])
                noop += 1
                continue
            work[key] = Window(lo, hi)
        if noop:
            self._counts[_UNCHANGED] += noop
            self._counts[_SKIPPED] += noop
        return work

    def _flush_counts(self) -> None:
        counts, self._counts = self._counts, collections.Counter()
        for name, n in counts.items():
            if name == _UNCHANGED:
                self._metrics.unchanged.inc(n)
            elif name == _GATED:
                self._metrics.gated.inc(n)
            elif name == _TAIL_QUIET:
                self._metrics.tail_quiet.inc(n)
            elif name == _SKIPPED:
                self._metrics.reconciles_skipped.inc(n)
            else:
                self._metrics.evaluations.labels(name).inc(n)

    def _unchanged(self, key: tuple[int, str], window: Window) -> bool:
        """Only readings after everything evaluated so far, all within the minute of the
        newest one (evaluators whose findings change only on a new grid minute)."""
        last = self._last.get(key) if self._held[key[0]] else None
        return last is not None and _within_last_minute(last, window.t_min, window.t_max)

    async def _prefetch(self, conn: psycopg.AsyncConnection[Any],
                        work: dict[tuple[int, str], Window], devices: list[str]) -> None:
        """Bring the cache up to date for ``devices`` and load, in one query, the look-back
        windows of the subjects' main series that it does not hold yet (instead of one
        query per subject)."""
        assert self.cache is not None
        await self.cache.refresh(conn, devices)
        wants: dict[tuple[str, str], float] = {}
        for (i, subject), window in work.items():
            ev = self._evaluators[i]
            since = window.t_min.timestamp() - ev.lookback.total_seconds() - _PREFETCH_HOLD_S
            since = math.floor(since / 60.0) * 60.0
            for key in ev.primary_keys(subject):
                if since < wants.get(key, math.inf):
                    wants[key] = since
        await self.cache.ensure_many(conn, wants)
        await self.cache.fill_prior(conn, wants)

    async def _learn_quiet(self, conn: psycopg.AsyncConnection[Any],
                           work: dict[tuple[int, str], Window]) -> None:
        """Subjects of this batch that never had an alert of their rule are quiet from the
        beginning: one query for all, instead of a reconciliation each on first sight."""
        unknown = [(i, s) for (i, s) in work if (i, s) not in self._quiet]
        if not unknown:
            return
        rules = [self._evaluators[i].rule for i, _ in unknown]
        cur = await conn.execute(
            "SELECT DISTINCT a.rule, a.subject FROM alerts a"
            " JOIN unnest(%s::text[], %s::text[]) AS k(rule, subject)"
            " ON a.rule = k.rule AND a.subject = k.subject",
            (rules, [s for _, s in unknown]))
        alerted = {(r[0], r[1]) for r in await cur.fetchall()}
        for (i, s), rule in zip(unknown, rules, strict=True):
            if (rule, s) not in alerted:
                self._quiet[(i, s)] = _BEGINNING

    async def _evaluate_rule(self, conn: psycopg.AsyncConnection[Any], i: int,
                             items: list[tuple[str, Window]],
                             quiet_now: dict[tuple[int, str], datetime | None]) -> list[int]:
        """Evaluate rule ``i`` for ``items`` (subject, window), sorted by subject: the subjects
        whose new readings cannot change a finding are answered from memory, the others in
        one batched evaluation (``evaluate_many``); then each is reconciled in turn."""
        ev = self._evaluators[i]
        held = self._held[i]
        results: list[tuple[str, Window, datetime, list[AlertDraft]] | None] = []
        due: list[tuple[str, Window]] = []
        for subject, window in items:
            key = (i, subject)
            last = self._last.get(key)
            if held and last is not None and _within_last_minute(last, window.t_min, window.t_max):
                # Only readings after everything evaluated so far, all within the minute of
                # the newest one: no grid point up to that minute changes, nor any finding.
                self._last[key] = (window.t_max, last[1], last[2], last[3])
                results.append((subject, window, last[1], last[2]))
                self._counts[_UNCHANGED] += 1
            elif (last is not None and window.t_min > last[0] and not last[2]
                  and _no_later(self._quiet_since(key, quiet_now), last[1])
                  and ev.tail_quiet(subject, self.cache)):
                # Only readings after everything evaluated so far; the last evaluation found
                # nothing and left no alert; the evaluator sees from its cache that the rule's
                # condition cannot hold anywhere in the new minutes: nothing can change.
                self._last[key] = _remember(window.t_max, last[1], [])
                results.append((subject, window, last[1], []))
                self._counts[_TAIL_QUIET] += 1
            else:
                results.append(None)
                due.append((subject, window))
        evaluated = iter(await ev.evaluate_many(conn, due, self.cache) if due else [])
        due_it = iter(due)
        opened: list[int] = []
        for got in results:
            if got is None:
                subject, window = next(due_it)
                window_start, drafts = next(evaluated)
                self._counts[ev.rule] += 1
                # Everything the evaluation may have read: its batch's readings and any
                # newer ones it found committed (their rows not claimed yet). A reading
                # committed later at or before that is not "after everything evaluated".
                last = self._last.get((i, subject))
                newest = window.t_max if last is None else max(last[0], window.t_max)
                read = ev.read_until(subject)
                if read is not None and read > newest.timestamp():
                    newest = datetime.fromtimestamp(read, UTC)
                self._last[(i, subject)] = _remember(newest, window_start, drafts)
            else:
                subject, window, window_start, drafts = got
            opened.extend(await self._reconcile(conn, i, subject, window_start, drafts, quiet_now))
        return opened

    async def _reconcile(self, conn: psycopg.AsyncConnection[Any], i: int, subject: str,
                         window_start: datetime, drafts: list[AlertDraft],
                         quiet_now: dict[tuple[int, str], datetime | None]) -> list[int]:
        """Write one subject's findings of rule ``i`` from ``window_start`` on, unless nothing
        can change (no finding where the last reconciliation left no alert)."""
        ev = self._evaluators[i]
        key = (i, subject)
        if not drafts:
            quiet_since = self._quiet_since(key, quiet_now)
            if quiet_since is not None and quiet_since <= window_start:
                self._counts[_SKIPPED] += 1
                return []
        res = await reconcile(conn, ev.rule, subject, drafts, window_start)
        if isinstance(ev, MaintenanceAware):
            covering = await ev.maintenance_windows(conn, subject, window_start)
            await apply_suppression(conn, ev.rule, subject, window_start, res, covering,
                                    drafts)
        if isinstance(ev, SelfCorrecting):
            await apply_corrections(
                conn, await ev.unconfirmed(conn, subject, window_start, res, drafts))
        quiet_now[key] = window_start if not drafts and res.existing == 0 else None
        if res.opened:
            self._metrics.opened.labels(ev.rule).inc(len(res.opened))
        if res.closed:
            self._metrics.closed.labels(ev.rule).inc(len(res.closed))
        return list(res.opened)

    def _quiet_since(self, key: tuple[int, str],
                     quiet_now: dict[tuple[int, str], datetime | None]) -> datetime | None:
        return quiet_now[key] if key in quiet_now else self._quiet.get(key)

    async def sweep_silence(self, now_s: float | None = None) -> SweepResult:
        """Run every wall-clock sweeper once (``now_s``: wall-clock epoch seconds, default now)."""
        now = time.time() if now_s is None else now_s
        opened: list[int] = []
        closed: list[int] = []
        owned = self._owned
        for ev in self._evaluators:
            if not isinstance(ev, SilenceSweeper) or owned == frozenset():
                continue
            async with self._pool.connection() as conn, conn.transaction():
                plan = await ev.sweep(conn, now)
                if owned is not None and self._pmap is not None:
                    plan = await _scope_plan(conn, plan, self._pmap, owned)
                res = await _apply_sweep(conn, ev.rule, plan)
            if res.opened or res.closed:
                # The sweep wrote alerts of this rule that reconciliation did not see.
                i = self._evaluators.index(ev)
                self._quiet = {k: v for k, v in self._quiet.items() if k[0] != i}
            if res.opened:
                self._metrics.opened.labels(ev.rule).inc(len(res.opened))
            if res.closed:
                self._metrics.closed.labels(ev.rule).inc(len(res.closed))
            opened.extend(res.opened)
            closed.extend(res.closed)
        if opened:
            log.info("opened alerts %s (silence sweep)", opened)
            if self._on_alerts is not None:
                self._on_alerts(opened)
        return SweepResult(opened=opened, closed=closed)


_CLAIM_ALL = (
    "WITH claimed AS (DELETE FROM pending_eval WHERE id IN ("
    " SELECT id FROM pending_eval ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)"
    " RETURNING device_id, t_min, t_max, declared)"
    " SELECT device_id, min(t_min), max(t_max), count(*), bool_or(declared) FROM claimed"
    " GROUP BY device_id"
)
# Only rows whose key maps to an owned partition (a key missing from the map: partition 0).
_CLAIM_OWNED = (
    "WITH claimed AS (DELETE FROM pending_eval WHERE id IN ("
    " SELECT p.id FROM pending_eval p LEFT JOIN runner_partition_keys k ON k.key = p.device_id"
    " WHERE coalesce(k.part, 0) = ANY(%s::int[])"
    " ORDER BY p.id LIMIT %s FOR UPDATE OF p SKIP LOCKED)"
    " RETURNING device_id, t_min, t_max, declared)"
    " SELECT device_id, min(t_min), max(t_max), count(*), bool_or(declared) FROM claimed"
    " GROUP BY device_id"
)


async def _scope_plan(conn: psycopg.AsyncConnection[Any], plan: SweepPlan, pmap: PartitionMap,
                      owned: frozenset[int]) -> SweepPlan:
    """What of a wall-clock sweep's plan concerns the owned partitions (a subject's partition
    is its device's; a correction's, its alert's subject's)."""
    subjects: dict[int, str] = {}
    if plan.corrections:
        cur = await conn.execute("SELECT id, subject FROM alerts WHERE id = ANY(%s)",
                                 ([c.alert_id for c in plan.corrections],))
        subjects = {int(r[0]): r[1] for r in await cur.fetchall()}
    return SweepPlan(
        opens=[d for d in plan.opens if pmap.of(d.subject) in owned],
        resumed=[r for r in plan.resumed if pmap.of(r.subject) in owned],
        corrections=[c for c in plan.corrections
                     if c.alert_id in subjects and pmap.of(subjects[c.alert_id]) in owned])


async def _apply_sweep(conn: psycopg.AsyncConnection[Any], rule: str, plan: SweepPlan) -> SweepResult:
    """Write what a wall-clock sweep found: reconcile its drafts, retire what it merged, end
    the resumed alerts."""
    opened: list[int] = []
    for draft in plan.opens:
        res = await reconcile(conn, rule, draft.subject, [draft], draft.start)
        opened.extend(res.opened)
    await apply_corrections(conn, plan.corrections)
    closed: list[int] = []
    for r in plan.resumed:
        await lock_subject(conn, rule, r.subject)
        if await end_ongoing(conn, r.alert_id, r.end, r.summary, r.summary_zh, r.evidence):
            closed.append(r.alert_id)
    return SweepResult(opened=opened, closed=closed)


_BEGINNING = datetime(1, 1, 1, tzinfo=UTC)
# Keys of the per-batch counts besides rule ids (evaluations per rule).
_UNCHANGED, _TAIL_QUIET, _SKIPPED, _GATED = " unchanged", " tail_quiet", " skipped", " gated"


def _no_later(a: datetime | None, b: datetime) -> bool:
    return a is not None and a <= b

# Readings before a look-back window that still stand for its first minutes.
_PREFETCH_HOLD_S = 600.0


def _within_last_minute(last: tuple[datetime, datetime, list[AlertDraft], int], t_min: datetime,
                        t_max: datetime) -> bool:
    """New readings ``[t_min, t_max]`` all after the newest remembered in ``last`` and within
    its minute."""
    return t_min > last[0] and int(t_max.timestamp() // 60) == last[3]


def _remember(newest: datetime, window_start: datetime,
              drafts: list[AlertDraft]) -> tuple[datetime, datetime, list[AlertDraft], int]:
    return newest, window_start, drafts, int(newest.timestamp() // 60)


async def _conninfo(pool: AsyncConnectionPool[Any]) -> str:
    info = pool.conninfo
    if isinstance(info, str):
        return info
    got = info()
    return got if isinstance(got, str) else await got
