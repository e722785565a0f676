"""Scoring alerts against labels: matching, precision, recall, F1, delays, clean false-alert rate.

Pure functions, no I/O. Definitions (also in ``docs/detection.md``):

- An alert *matches* a positive label when it has the label's rule, shares at least
  one device with it, and its span ``[start, end]`` (``end`` null = still open, taken
  as the end of the data) overlaps the label's ``[start - slack, end + slack]``
  (slack: 60 min for the hourly rules, whose alerts start on the clock hour; 10 min
  otherwise). Each alert is assigned to the matching label it overlaps most.
- The first alert per (label, subject) is a true positive; further alerts of the
  same subject on the same label are *duplicates* (the contract wants one alert per
  episode) and count as false. Alerts of distinct subjects on one label (e.g. pm25
  and pm10 of one station) are all true, except on a label marked ``single`` (a site
  outage: CONTRACT section 8 wants one ``data_gap`` alert naming every silent device),
  where the first alert is true and every other one a duplicate, whatever its subject.
- Precision = true alerts / all alerts of the rule; recall = positive labels with a
  true alert / positive labels; F1 their harmonic mean.
- Each false alert is attributed, for diagnosis, to the label of any rule it
  overlaps most on a shared device (a hard negative of its own rule, or a side
  effect of another rule's event), else "unexplained".
- Delays, per detected label, from its first true alert. The minimum duration is
  not counted as delay: an alert is dated from the start of its condition.
  Event-time delay = alert start - label start (minutes of event time; negative
  when the alert starts earlier, e.g. on the clock hour for the hourly rules).
  Processing delay = alert creation (wall clock) - the wall-clock time the reading
  at label start + the rule's minimum duration (or at the label's ``due`` time, where
  the condition is reportable only then: a late treatment start once the stage starts,
  a daily water mean once the day ends) was published, i.e. how long after the
  condition became reportable the alert existed.
- Clean rate = alerts on the clean run (no injections) per 1,000 device-days.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ecowarn.evaluation._scenario import EvalLabel

__all__ = [
    "HOURLY_RULES",
    "ObservedAlert",
    "RuleScore",
    "Targets",
    "match_alerts",
    "negative_outcomes",
    "quantile",
    "score_rules",
    "upper_bound_rate",
]

HOURLY_RULES = frozenset({"emission_exceedance", "pinned_below_limit", "emergency_noncompliance"})
SLACK_HOURLY = timedelta(minutes=60)
SLACK_OTHER = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class ObservedAlert:
    """An alert as stored; ``created_at`` is the wall-clock time it was created."""

    id: int
    rule: str
    subject: str
    device_ids: tuple[str, ...]
    start: datetime
    end: datetime | None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Targets:
    precision: float = 0.95
    recall: float = 0.95
    clean_per_1000_device_days: float = 1.0


@dataclass(frozen=True)
class Matching:
    """Outcome of matching one rule's alerts to labels."""

    true_alerts: dict[int, int]  # alert id -> label id
    duplicates: dict[int, int]  # alert id -> label id
    false_causes: dict[int, str]  # alert id -> cause (includes duplicates)
    first_alert: dict[int, ObservedAlert]  # label id -> its first true alert


@dataclass(frozen=True)
class RuleScore:
    rule: str
    wired: bool
    positives: int
    negatives: int
    alerts: int
    true_alerts: int
    duplicates: int
    detected: int
    missed: tuple[int, ...] = ()
    false_causes: Mapping[str, int] = field(default_factory=dict)
    event_delay_min: tuple[float, ...] = ()
    processing_delay_s: tuple[float, ...] = ()
    clean_alerts: int | None = None
    clean_device_days: float | None = None

    @property
    def false_alerts(self) -> int:
        return self.alerts - self.true_alerts

    @property
    def precision(self) -> float | None:
        return self.true_alerts / self.alerts if self.alerts else None

    @property
    def recall(self) -> float | None:
        return self.detected / self.positives if self.positives else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None if p is None or r is None else 0.0
        return 2 * p * r / (p + r)

    @property
    def clean_rate(self) -> float | None:
        """False alerts per 1,000 device-days on the clean run."""
        if self.clean_alerts is None or not self.clean_device_days:
            return None
        return 1000.0 * self.clean_alerts / self.clean_device_days

    def verdict(self, targets: Targets) -> str:
        """``meets targets``, ``not wired``, or what falls short."""
        if not self.wired:
            return "not wired"
        short = []
        if self.positives == 0:
            short.append("no positives placed")
        if self.recall is not None and self.recall < targets.recall:
            short.append(f"recall {self.recall:.2f} < {targets.recall:.2f}")
        if self.alerts == 0 and self.positives:
            short.append("no alerts")
        elif self.precision is not None and self.precision < targets.precision:
            short.append(f"precision {self.precision:.2f} < {targets.precision:.2f}")
        rate = self.clean_rate
        if rate is not None and rate > targets.clean_per_1000_device_days:
            short.append(f"clean {rate:.2f} > {targets.clean_per_1000_device_days:g}/1000 device-days")
        return "meets targets" if not short else "; ".join(short)


def quantile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) with linear interpolation between order statistics; None if empty."""
    if not 0.0 <= q <= 1.0:
        raise ValueError("q must be in [0, 1]")
    xs = sorted(values)
    if not xs:
        return None
    pos = q * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def upper_bound_rate(count: int, exposure: float, per: float = 1000.0) -> float | None:
    """One-sided 95% upper bound of a Poisson rate (``count`` events in ``exposure`` units).

    Exact for 0 (the "rule of three": 3.0 / exposure) and from the chi-square
    quantile via the Wilson-Hilferty approximation otherwise.
    """
    if exposure <= 0:
        return None
    if count == 0:
        return per * -math.log(0.05) / exposure
    k = 2 * (count + 1)
    z = 1.6448536269514722
    chi2 = k * (1 - 2 / (9 * k) + z * math.sqrt(2 / (9 * k))) ** 3
    return per * chi2 / 2 / exposure


def _span(a: ObservedAlert, horizon: datetime) -> tuple[datetime, datetime]:
    return a.start, (a.end if a.end is not None else max(horizon, a.start))


def _overlap(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> timedelta | None:
    """Length of the closed-interval overlap (zero when touching), None when disjoint."""
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return hi - lo if hi >= lo else None


def _slack(rule: str) -> timedelta:
    return SLACK_HOURLY if rule in HOURLY_RULES else SLACK_OTHER


def _best_label(alert: ObservedAlert, labels: Iterable[EvalLabel], horizon: datetime,
                slack: timedelta) -> EvalLabel | None:
    best: tuple[timedelta, timedelta, int] | None = None
    chosen = None
    span = _span(alert, horizon)
    for lb in labels:
        if not set(alert.device_ids) & set(lb.device_ids):
            continue
        ov = _overlap(span, (lb.start - slack, lb.end + slack))
        if ov is None:
            continue
        key = (-ov, abs(alert.start - lb.start), lb.id)
        if best is None or key < best:
            best, chosen = key, lb
    return chosen


def match_alerts(rule: str, labels: Sequence[EvalLabel], alerts: Sequence[ObservedAlert],
                 horizon: datetime) -> Matching:
    """Match ``alerts`` of ``rule`` to the positive labels of ``rule`` (see module docstring).

    ``labels`` may hold labels of every rule: the others explain false alerts.
    """
    slack = _slack(rule)
    positives = [lb for lb in labels if lb.rule == rule and lb.positive]
    ordered = sorted((a for a in alerts if a.rule == rule),
                     key=lambda a: (a.created_at or a.start, a.id))
    true_alerts: dict[int, int] = {}
    duplicates: dict[int, int] = {}
    causes: dict[int, str] = {}
    first: dict[int, ObservedAlert] = {}
    seen_subjects: set[tuple[int, str]] = set()
    for a in ordered:
        lb = _best_label(a, positives, horizon, slack)
        if lb is not None:
            key = (lb.id, "" if lb.single else a.subject)
            if key in seen_subjects:
                duplicates[a.id] = lb.id
                causes[a.id] = "duplicate"
                continue
            seen_subjects.add(key)
            true_alerts[a.id] = lb.id
            first.setdefault(lb.id, a)
            continue
        other = _best_label(a, [x for x in labels if not (x.rule == rule and x.positive)],
                            horizon, slack)
        if other is None:
            causes[a.id] = "unexplained"
        elif other.rule == rule:
            causes[a.id] = f"hard negative {other.kind}"
        else:
            causes[a.id] = f"side effect of {other.kind}"
    return Matching(true_alerts, duplicates, causes, first)


def score_rules(rules: Sequence[str], wired: Iterable[str], labels: Sequence[EvalLabel],
                alerts: Sequence[ObservedAlert], horizon: datetime, *,
                published_at: Mapping[int, datetime] | None = None,
                clean_alerts: Sequence[ObservedAlert] | None = None,
                clean_device_days: float | None = None) -> list[RuleScore]:
    """One :class:`RuleScore` per rule of ``rules`` (and any other rule that raised alerts).

    ``published_at[label_id]``: when the reading at the label's start + minimum
    duration was published (wall clock), for the processing delay.
    """
    wired_set = set(wired)
    names = list(rules) + sorted({a.rule for a in alerts} - set(rules))
    out = []
    for rule in names:
        m = match_alerts(rule, labels, alerts, horizon)
        pos = [lb for lb in labels if lb.rule == rule and lb.positive]
        neg = [lb for lb in labels if lb.rule == rule and not lb.positive]
        n_alerts = sum(1 for a in alerts if a.rule == rule)
        causes: dict[str, int] = {}
        for c in m.false_causes.values():
            causes[c] = causes.get(c, 0) + 1
        event_delay, proc = [], []
        for lb in pos:
            a = m.first_alert.get(lb.id)
            if a is None:
                continue
            event_delay.append((a.start - lb.start).total_seconds() / 60.0)
            sent = (published_at or {}).get(lb.id)
            if sent is not None and a.created_at is not None:
                proc.append((a.created_at - sent).total_seconds())
        clean_n = None if clean_alerts is None else sum(1 for a in clean_alerts if a.rule == rule)
        out.append(RuleScore(
            rule=rule, wired=rule in wired_set or n_alerts > 0, positives=len(pos),
            negatives=len(neg), alerts=n_alerts, true_alerts=len(m.true_alerts),
            duplicates=len(m.duplicates), detected=len(m.first_alert),
            missed=tuple(lb.id for lb in pos if lb.id not in m.first_alert),
            false_causes=dict(sorted(causes.items(), key=lambda kv: (-kv[1], kv[0]))),
            event_delay_min=tuple(event_delay),
            processing_delay_s=tuple(proc), clean_alerts=clean_n,
            clean_device_days=clean_device_days,
        ))
    return out


def negative_outcomes(labels: Sequence[EvalLabel], alerts: Sequence[ObservedAlert],
                      horizon: datetime) -> dict[str, tuple[str, int, int]]:
    """Per hard-negative kind: (rule, labels, labels overlapped by an alert of that rule)."""
    out: dict[str, tuple[str, int, int]] = {}
    for lb in labels:
        if lb.positive:
            continue
        slack = _slack(lb.rule)
        window = (lb.start - slack, lb.end + slack)
        hit = any(a.rule == lb.rule and set(a.device_ids) & set(lb.device_ids)
                  and _overlap(_span(a, horizon), window) is not None for a in alerts)
        rule, n, k = out.get(lb.kind, (lb.rule, 0, 0))
        out[lb.kind] = (rule, n + 1, k + int(hit))
    return out
