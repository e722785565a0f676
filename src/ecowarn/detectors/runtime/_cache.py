"""The runner's memory of recent readings, so a subject's evaluation does not query them again.

Every evaluation reads a look-back window (two hours and more) of its subject's series,
and consecutive evaluations of a subject overlap almost entirely: re-reading the window
from PostgreSQL per subject and per rule was the runner's cost. The cache keeps, per
(device, metric), the readings from some instant ``lo`` on, *complete* from ``lo`` up to
the newest committed reading as of the device's last refresh:

- the runner calls :meth:`SeriesCache.invalidate` for every device of a claimed batch
  with the earliest event time of its new rows; the cached readings from that instant on
  are dropped and fetched again (one query for the whole batch, :meth:`SeriesCache.refresh`),
  so late, out-of-order and re-delivered readings are seen exactly as the database has them;
- a request reaching before ``lo`` widens the entry (fetched once, then kept); pairs never
  seen are fetched on first use;
- the entry is trimmed to what the batch's requests needed (plus a margin), and entries
  unused for a while are dropped.

This is exact only while one runner sees every ``pending_eval`` row of its devices, which
the service guarantees by running a single detector runner per database (a leader lock,
see :mod:`detectors.runner`). Outside a runner batch (tests, tools) nothing is cached: the
loaders in :mod:`detectors._load` query the database directly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg

__all__ = ["SeriesCache"]

FloatArray = npt.NDArray[np.float64]
StrArray = npt.NDArray[np.str_]

# Keep this much before the earliest instant a batch asked for (data_gap looks for the
# reading before its window).
_MARGIN_S = 3600.0
# Drop pairs nobody asked for during this long.
_IDLE_S = 3600.0
# Trim to the earliest instant asked for over the last one or two periods of this length
# (different rules look back differently far; trimming per batch would make them fight).
_PERIOD_S = 600.0

# (device, metric, from inclusive, to exclusive or NULL for "up to now"). The request goes
# as four delimited strings (unit separator; epoch seconds, empty for NULL): a batch asks
# for tens of thousands of pairs, and dumping them as four arrays cost more than the query.
# One index range scan per pair (a LATERAL subquery): a plain join of the request with
# ``readings`` is planned as a hash join over the whole table once the request is a few
# thousand pairs long (0.8 s at 1.2 million readings, growing with the table).
_FETCH_SQL = (
    "SELECT k.d, k.m, x.ts, x.v, x.f"
    " FROM unnest(string_to_array(%s, chr(31)), string_to_array(%s, chr(31)),"
    "  string_to_array(%s, chr(31))::float8[],"
    "  string_to_array(%s, chr(31), '')::float8[]) AS k(d, m, lo, hi)"
    " CROSS JOIN LATERAL (SELECT array_agg(date_part('epoch', r.ts) ORDER BY r.ts) AS ts,"
    "  array_agg(r.value ORDER BY r.ts) AS v, string_agg(rpad(r.flag, 1), '' ORDER BY r.ts) AS f"
    "  FROM readings r WHERE r.device_id = k.d AND r.metric = k.m"
    "  AND r.ts >= to_timestamp(k.lo) AND (k.hi IS NULL OR r.ts < to_timestamp(k.hi))) x"
    " WHERE x.ts IS NOT NULL"
)
_SEP = "\x1f"


_PRIOR_SQL = (
    "SELECT k.d, k.m, date_part('epoch', x.ts)"
    " FROM unnest(%s::text[], %s::text[], %s::timestamptz[]) AS k(d, m, lo)"
    " CROSS JOIN LATERAL (SELECT ts FROM readings r WHERE r.device_id = k.d AND r.metric = k.m"
    "  AND r.ts < k.lo ORDER BY ts DESC LIMIT 1) x"
)


def _dt(ts_s: float) -> datetime:
    return datetime.fromtimestamp(ts_s, UTC)


@dataclass(slots=True)
class _Entry:
    lo: float                 # complete from here (epoch seconds, inclusive)
    te: FloatArray            # exact event times, epoch seconds, sorted
    v: FloatArray
    f: StrArray
    used: float = field(default_factory=time.monotonic)
    need: float = math.inf       # earliest instant asked for in the current period
    need_prev: float = math.inf  # ... and in the period before
    # Newest event time before ``lo`` (None: there is none), once looked up.
    prior: float | None = None
    prior_known: bool = False


def _empty() -> tuple[FloatArray, FloatArray, StrArray]:
    out = np.empty(0, np.float64), np.empty(0, np.float64), np.empty(0, "<U1")
    for a in out:
        a.flags.writeable = False
    return out


# Shared by every pair a fetch found nothing for (read-only: entries replace, never write).
_EMPTY = _empty()


class SeriesCache:
    """Recent readings per (device, metric); see the module docstring for the contract."""

    def __init__(self, max_points: int = 50_000_000) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._by_device: dict[str, set[str]] = {}
        self._stale: dict[str, float] = {}  # device -> earliest instant to fetch again
        # Cached devices :meth:`expect_newer`'s last call has been applied to; the others
        # are stale from their newest cached reading (worked out when next looked at).
        self._settled: set[str] = set()
        self._max_points = max_points
        self._period_end = time.monotonic() + _PERIOD_S
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def points(self) -> int:
        return sum(int(e.te.size) for e in self._entries.values())

    def clear(self) -> None:
        self._entries.clear()
        self._by_device.clear()
        self._stale.clear()
        self._settled.clear()

    # --- keeping it exact ---------------------------------------------------------------

    def invalidate(self, device_id: str, t_min: datetime) -> None:
        """New readings of ``device_id`` were committed from ``t_min`` on."""
        if device_id not in self._by_device:
            return
        t = t_min.timestamp()
        prev = self._stale.get(device_id)
        self._stale[device_id] = t if prev is None else min(prev, t)

    def expect_newer(self) -> None:
        """Readings newer than the newest cached one may have been committed without this
        runner having claimed their ``pending_eval`` rows yet (a batch claims a limited number
        of rows, and a subject reads devices whose rows wait for a later batch): every cached
        device becomes stale from its newest cached reading on, and its tail is fetched again
        when something next reads it (one query per batch for the devices read).

        Lazily: each device's instant is worked out when the device is next looked at
        (:meth:`_settle`), so a batch costs the devices it reads, not every cached one. Until
        then only a refresh changes the device's newest cached reading (settling it first),
        and a trim at :meth:`end_batch` can only make the instant earlier (fetch more)."""
        self._settled = set()

    def _settle(self, dev: str) -> None:
        """Apply the last :meth:`expect_newer` to cached ``dev``: stale from its newest cached
        reading (from its earliest ``lo`` when it holds none)."""
        if dev in self._settled:
            return
        self._settled.add(dev)
        newest = -math.inf
        lo = math.inf
        for m in self._by_device[dev]:
            e = self._entries[(dev, m)]
            n = e.te.size
            if n:
                t = float(e.te[n - 1])
                if t > newest:
                    newest = t
            elif e.lo < lo:
                lo = e.lo
        t = newest if newest != -math.inf else lo
        prev = self._stale.get(dev)
        self._stale[dev] = t if prev is None else min(prev, t)

    def _is_stale(self, dev: str) -> bool:
        return dev in self._stale or dev not in self._settled

    async def refresh(self, conn: psycopg.AsyncConnection[Any],
                      devices: Iterable[str] | None = None) -> None:
        """Fetch again, in one query, what was invalidated since the last refresh: of
        ``devices`` only, when given (the others stay stale: not read until refreshed)."""
        by_device = self._by_device
        if devices is None:
            for d in by_device:
                self._settle(d)
            stale, self._stale = self._stale, {}
        else:
            settled = self._settled
            for d in devices:
                if d not in settled and d in by_device:
                    self._settle(d)
            if not self._stale:
                return
            stale = {d: t for d in devices if (t := self._stale.pop(d, None)) is not None}
        req: list[tuple[str, str, float, float | None]] = []
        for dev, t in stale.items():
            for m in self._by_device.get(dev, ()):
                e = self._entries[(dev, m)]
                start = max(t, e.lo)
                if t < e.lo:
                    e.prior_known = False  # a late reading may now be the newest before lo
                if e.te.size and e.te[-1] >= start:  # else nothing cached from start on
                    keep = int(np.searchsorted(e.te, start, "left"))
                    e.te, e.v, e.f = e.te[:keep], e.v[:keep], e.f[:keep]
                req.append((dev, m, start, None))
        for key, (te, v, f) in (await self._fetch(conn, req)).items():
            e = self._entries[key]
            e.te = np.concatenate((e.te, te))
            e.v = np.concatenate((e.v, v))
            e.f = np.concatenate((e.f, f))

    async def _fetch(self, conn: psycopg.AsyncConnection[Any],
                     req: Sequence[tuple[str, str, float, float | None]],
                     ) -> dict[tuple[str, str], tuple[FloatArray, FloatArray, StrArray]]:
        if not req:
            return {}
        out: dict[tuple[str, str], tuple[FloatArray, FloatArray, StrArray]] = {}
        cur = await conn.execute(_FETCH_SQL, (
            _SEP.join(r[0] for r in req), _SEP.join(r[1] for r in req),
            _SEP.join(repr(r[2]) for r in req),
            _SEP.join("" if r[3] is None else repr(r[3]) for r in req)))
        for dev, metric, ts, values, flags in await cur.fetchall():
            te = np.asarray(ts, dtype=np.float64)
            v = np.asarray(values, dtype=np.float64)
            f = (np.frombuffer(flags.encode("utf-32-le"), dtype="<U1") if flags
                 else np.full(te.size, "N", "<U1"))
            out[(dev, metric)] = (te, v, f)
        for d, m, _, _ in req:
            if (d, m) not in out:
                out[(d, m)] = _EMPTY
        return out

    async def ensure(self, conn: psycopg.AsyncConnection[Any], keys: Iterable[tuple[str, str]],
                     since: float) -> None:
        """Make every pair of ``keys`` complete from ``since`` on (one query for all)."""
        await self.ensure_many(conn, {k: since for k in keys})

    async def ensure_many(self, conn: psycopg.AsyncConnection[Any],
                          wants: dict[tuple[str, str], float]) -> None:
        """Make each pair complete from its own instant on (one query for all)."""
        await self.refresh(conn, {k[0] for k in wants})
        req: list[tuple[str, str, float, float | None]] = []
        now = time.monotonic()
        for key, since in wants.items():
            e = self._entries.get(key)
            if e is None:
                req.append((key[0], key[1], since, None))
            elif since < e.lo:
                req.append((key[0], key[1], since, e.lo))
            else:
                self.hits += 1
                e.used = now
                e.need = min(e.need, since)
        if not req:
            return
        self.misses += len(req)
        for (dev, m), (te, v, f) in (await self._fetch(conn, req)).items():
            since = wants[(dev, m)]
            e = self._entries.get((dev, m))
            if e is None:
                self._entries[(dev, m)] = _Entry(since, te, v, f, now, since)
                if dev not in self._by_device:  # complete up to now: nothing newer to expect
                    self._settled.add(dev)
                self._by_device.setdefault(dev, set()).add(m)
            else:
                e.te = np.concatenate((te, e.te))
                e.v = np.concatenate((v, e.v))
                e.f = np.concatenate((f, e.f))
                e.lo, e.used, e.need = since, now, min(e.need, since)
                e.prior, e.prior_known = None, False

    async def fill_prior(self, conn: psycopg.AsyncConnection[Any],
                         keys: Iterable[tuple[str, str]]) -> None:
        """Look up, once, the newest reading before the cached span of each cached pair."""
        want = [(k, e) for k in keys if (e := self._entries.get(k)) is not None
                and not e.prior_known]
        if not want:
            return
        cur = await conn.execute(_PRIOR_SQL, ([k[0] for k, _ in want], [k[1] for k, _ in want],
                                              [_dt(e.lo) for _, e in want]))
        found = {(r[0], r[1]): float(r[2]) for r in await cur.fetchall()}
        for k, e in want:
            e.prior, e.prior_known = found.get(k), True

    # --- reading from it ----------------------------------------------------------------

    def window(self, key: tuple[str, str], since: float,
               until: float) -> tuple[FloatArray, FloatArray, StrArray]:
        """Readings of a pair with ``since <= ts <= until`` (after :meth:`ensure`)."""
        e = self._entries[key]
        a = int(np.searchsorted(e.te, since, "left"))
        b = int(np.searchsorted(e.te, until, "right"))
        return e.te[a:b], e.v[a:b], e.f[a:b]

    def latest(self, keys: Sequence[tuple[str, str]]) -> tuple[bool, float | None]:
        """(known, newest event time over ``keys``); unknown for a pair not cached, or holding
        nothing in its span before :meth:`fill_prior` looked further back."""
        return self.previous(keys, math.inf)

    def previous(self, keys: Sequence[tuple[str, str]],
                 before: float) -> tuple[bool, float | None]:
        """(known, newest event time strictly before ``before`` over ``keys``)."""
        best: float | None = None
        for key in keys:
            e = self._entries.get(key)
            if e is None or self._is_stale(key[0]):
                return False, None
            i = int(np.searchsorted(e.te, before, "left")) - 1
            if i >= 0:
                t: float | None = float(e.te[i])
            elif e.prior_known and before > e.lo:
                t = e.prior
            else:
                return False, None
            if t is not None and (best is None or t > best):
                best = t
        return True, best

    def since(self, keys: Sequence[tuple[str, str]],
              since: float) -> tuple[float | None, float | None, list[FloatArray]] | None:
        """What :meth:`latest`, :meth:`previous` (before ``since``) and :meth:`window` (from
        ``since`` on) answer for ``keys``, in one walk: (newest event time, newest strictly
        before ``since``, each pair's event times from ``since`` on). None when any of them
        would be unknown, or a pair is not held from ``since`` on."""
        latest: float | None = None
        prev: float | None = None
        parts: list[FloatArray] = []
        stale, settled = self._stale, self._settled
        for key in keys:
            e = self._entries.get(key)
            if e is None or (d := key[0]) in stale or d not in settled or since < e.lo:
                return None
            te = e.te
            n = te.size
            if n:
                t = float(te[n - 1])
            elif e.prior_known:
                t = e.prior  # type: ignore[assignment]
            else:
                return None
            if t is not None and (latest is None or t > latest):
                latest = t
            i = int(te.searchsorted(since, "left"))
            if i > 0:
                p: float | None = float(te[i - 1])
            elif e.prior_known and since > e.lo:
                p = e.prior
            else:
                return None
            if p is not None and (prev is None or p > prev):
                prev = p
            parts.append(te[i:])
        return latest, prev, parts

    def following(self, keys: Sequence[tuple[str, str]],
                  after: float) -> tuple[bool, float | None]:
        """(known, oldest event time strictly after ``after`` over ``keys``)."""
        best: float | None = None
        for key in keys:
            e = self._entries.get(key)
            if e is None or self._is_stale(key[0]) or after < e.lo:
                return False, None
            i = int(np.searchsorted(e.te, after, "right"))
            if i < e.te.size:
                t = float(e.te[i])
                best = t if best is None or t < best else best
        return True, best

    def covers(self, keys: Iterable[tuple[str, str]], since: float) -> bool:
        for key in keys:
            e = self._entries.get(key)
            if e is None or self._is_stale(key[0]) or since < e.lo:
                return False
        return True

    # --- staying small ------------------------------------------------------------------

    def end_batch(self) -> None:
        """Trim to what recent requests needed; drop what nobody used for long.

        Runs the whole pass once per period; cheap otherwise.
        """
        now = time.monotonic()
        if now < self._period_end:
            return
        self._period_end = now + _PERIOD_S
        total = 0
        for key in list(self._entries):
            e = self._entries[key]
            if now - e.used > _IDLE_S:
                self._drop(key)
                continue
            need = min(e.need, e.need_prev)
            if need != math.inf and need - _MARGIN_S > e.lo:
                cut = need - _MARGIN_S
                i = int(np.searchsorted(e.te, cut, "left"))
                if i > 0:
                    e.prior, e.prior_known = float(e.te[i - 1]), True
                e.te, e.v, e.f = e.te[i:], e.v[i:], e.f[i:]
                e.lo = cut
            e.need_prev, e.need = e.need, math.inf
            total += int(e.te.size)
        if total > self._max_points:
            self.clear()

    def _drop(self, key: tuple[str, str]) -> None:
        del self._entries[key]
        metrics = self._by_device.get(key[0])
        if metrics is not None:
            metrics.discard(key[1])
            if not metrics:
                del self._by_device[key[0]]
                self._stale.pop(key[0], None)
                self._settled.discard(key[0])
