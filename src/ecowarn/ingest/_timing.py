"""Time hygiene of arriving readings: delay, lateness, order and device clock skew.

Every input handed to the pipeline is observed once, at submission (its
arrival), with three bounded-cardinality results:

- ``ecowarn_reading_delay_seconds``: a histogram of arrival minus the event
  time of the newest reading of each input, without a device label.
  Negative values mean the sender's clock is ahead of ours.
- ``ecowarn_readings_out_of_order_total{kind}`` and
  ``ecowarn_readings_late_total{kind}``: values whose event time is older than
  the newest one already received from the same device, and values that
  arrived more than ``late_after_s`` after their event time. Both are stored
  like any other; the batch write queues their event-time span in
  ``pending_eval``, so the detectors re-evaluate the windows they fall in.
- ``ecowarn_device_clock_skew_seconds{device_id}``: for the ``worst_n``
  devices with the largest absolute estimate only, the smallest delay seen
  from the device over the last one to two ``window_s``. For a device that
  sends as it measures, that minimum is its clock's lag behind ours plus the
  network time (positive: its clock is behind; negative: ahead). A device
  replaying a backlog raises its delays but not its minimum while it also
  sends live data. HJ 212 minute and hourly data (CN 2051/2061) are stamped
  with the start of their interval, so their minimum includes the interval.
  The label set is at most ``worst_n`` devices at any scrape; the whole table
  stays in memory (one entry per registered device that sent data).
"""

from __future__ import annotations

import bisect
import heapq
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ecowarn.store.model import Row

__all__ = ["DELAY_BUCKETS_S", "ArrivalWatch"]

# Arrival minus event time, seconds: device clocks ahead (< 0) to day-old backlogs.
DELAY_BUCKETS_S = (-300.0, -60.0, -10.0, -1.0, 0.0, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
                   600.0, 1800.0, 3600.0, 3900.0, 4 * 3600.0, 86400.0)


class _Kinded(Protocol):
    @property
    def kind(self) -> str: ...


class _DelayHistogram(Collector):
    """A histogram with an O(log n) lock-free observe (the event loop is the only writer)."""

    def __init__(self, name: str, doc: str, bounds: Sequence[float]) -> None:
        self._name = name
        self._doc = doc
        self._bounds = list(bounds)
        self._counts = [0] * (len(self._bounds) + 1)
        self._sum = 0.0

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self._bounds, value)] += 1
        self._sum += value

    def collect(self) -> Iterable[Metric]:
        cumulative = []
        acc = 0
        for bound, count in zip([*self._bounds, math.inf], self._counts, strict=True):
            acc += count
            cumulative.append((str(bound) if bound != math.inf else "+Inf", acc))
        yield HistogramMetricFamily(self._name, self._doc, buckets=cumulative,
                                    sum_value=self._sum)


class _SkewTable(Collector):
    """Per-device smallest delay over two tumbling windows; exports the worst N only."""

    def __init__(self, window_s: float, worst_n: int, clock: Callable[[], float]) -> None:
        self._window_s = window_s
        self._worst_n = worst_n
        self._clock = clock
        # device -> [window start, min delay in this window, min delay in the previous one]
        self.table: dict[str, list[float]] = {}

    def update(self, device_id: str, arrival: float, delay: float) -> None:
        w = self.table.get(device_id)
        if w is None:
            self.table[device_id] = [arrival, delay, math.inf]
            return
        age = arrival - w[0]
        if age >= self._window_s:
            w[2] = w[1] if age < 2 * self._window_s else math.inf
            w[0] = arrival
            w[1] = delay
        elif delay < w[1]:
            w[1] = delay

    def estimate(self, device_id: str, now: float) -> float | None:
        w = self.table.get(device_id)
        if w is None or now - w[0] >= 2 * self._window_s:
            return None
        return min(w[1], w[2]) if now - w[0] < self._window_s else w[1]

    def worst(self, now: float) -> list[tuple[str, float]]:
        live = []
        for device_id in self.table:
            est = self.estimate(device_id, now)
            if est is not None:
                live.append((device_id, est))
        return heapq.nlargest(self._worst_n, live, key=lambda kv: abs(kv[1]))

    def collect(self) -> Iterable[Metric]:
        fam = GaugeMetricFamily(
            "ecowarn_device_clock_skew_seconds",
            "Estimated device clock lag (smallest arrival minus event time over the last 10-20 min),"
            " for the devices with the largest absolute value only", labels=["device_id"])
        for device_id, est in self.worst(self._clock()):
            fam.add_metric([device_id], est)
        yield fam


class ArrivalWatch:
    """Observes each input at arrival; see the module docstring for what it exports."""

    def __init__(self, registry: CollectorRegistry, devices: Mapping[str, _Kinded], *,
                 late_after_s: float = 3900.0, window_s: float = 600.0, worst_n: int = 10,
                 clock: Callable[[], float] | None = None) -> None:
        self.devices = devices
        self._late_after_s = late_after_s
        self._newest: dict[str, float] = {}
        self.delay = _DelayHistogram(
            "ecowarn_reading_delay_seconds",
            "Arrival minus event time of the newest reading of each input (no device label)",
            DELAY_BUCKETS_S)
        self.skew = _SkewTable(window_s, worst_n, clock or time.time)
        registry.register(self.delay)
        registry.register(self.skew)
        self.out_of_order = Counter(
            "ecowarn_readings_out_of_order_total",
            "Values older than the newest already received from their device (stored; their"
            " window is re-evaluated)", ["kind"], registry=registry)
        self._children: dict[tuple[Counter, str], Counter] = {}
        self.late = Counter(
            "ecowarn_readings_late_total",
            "Values that arrived long after their event time (stored; their window is"
            " re-evaluated)", ["kind"], registry=registry)

    def _kind(self, device_id: str) -> str:
        dev = self.devices.get(device_id)
        return dev.kind if dev is not None else "unknown"

    def observe(self, rows: Sequence[Row], arrival: float) -> None:
        """One input (message, packet, HTTP batch) arrived at ``arrival`` (epoch seconds)."""
        if not rows:
            return
        newest = self._newest
        late_before = arrival - self._late_after_s
        ooo: list[str] | None = None
        late: list[str] | None = None
        seen_ts = -math.inf
        seen_obj: object = None
        for r in rows:
            d, ts = r.device_id, r.ts
            # The values of one reading share one datetime object: convert it once.
            t = seen_ts if ts is seen_obj else ts.timestamp()
            prev = newest.get(d)
            if prev is None or t > prev:
                newest[d] = t
            elif t < prev:
                (ooo := ooo if ooo is not None else []).append(d)
            if t < late_before:
                (late := late if late is not None else []).append(d)
            seen_obj, seen_ts = ts, t
        last = rows[-1]
        delay = arrival - seen_ts
        self.delay.observe(delay)
        self.skew.update(last.device_id, arrival, delay)
        if ooo:
            self._count(self.out_of_order, ooo)
        if late:
            self._count(self.late, late)

    def _count(self, counter: Counter, devices: list[str]) -> None:
        by_kind: dict[str, int] = {}
        for d in devices:
            kind = self._kind(d)
            by_kind[kind] = by_kind.get(kind, 0) + 1
        for kind, n in by_kind.items():
            child = self._children.get((counter, kind))
            if child is None:
                child = self._children[(counter, kind)] = counter.labels(kind)
            child.inc(n)
