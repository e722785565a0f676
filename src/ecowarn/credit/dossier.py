"""The enterprise file (一企一档): everything the bureau keeps on one enterprise, gathered in one
read (CONTRACT section 9, ``GET /enterprises/{id}``).

Sources: the registry (identity, permit, contacts, devices with their links and limits), the
learned baselines (table ``baselines``), emergency orders naming the enterprise, its positive-list
entries (:mod:`credit.supervision.positive_list`), its credit standing and level history
(:mod:`credit.ledger`, :mod:`credit.evaluation`), its evaluations, its alerts with their
dispositions and answers, its rectifications (:mod:`alerts.rectification`) and its ledger
entries. Each list section holds its newest ``rows`` items with the section's total ``count``;
the full lists are paged by their own endpoints.

This module reads; it never writes, and it does not decide who may read: the caller checks
that the reader may see the enterprise (``api.auth.visibility``) before calling
:func:`load_dossier`, and shapes what each role sees.

**Learned baselines.** Per device, each series the detector runner learned for it
(``load:`` a treatment meter's typical running load, ``prod:`` a production meter's baseline
for curtailment orders, ``flow:`` an outlet's typical flue gas flow) is merged from its stored
day summaries exactly as the runner merges them (:func:`detectors.baseline.merge_summaries`),
as of the day after the newest summary, with the default window and minimum count; the rated
value (``rated_kw``, ``design_flow``) stands in below that minimum, and says so in ``source``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import psycopg
from psycopg.rows import dict_row

from ecowarn.alerts.rectification import RectificationFilter, list_rectifications
from ecowarn.config.registry import Device, Enterprise, Registry
from ecowarn.credit import evaluation, ledger
from ecowarn.credit._canonical import CST
from ecowarn.credit.supervision.positive_list import ListingFilter, active_listings, list_entries
from ecowarn.detectors.baseline import BaselineParams, DaySummary, merge_summaries

__all__ = [
    "BASELINE_KINDS",
    "DEFAULT_ROWS",
    "MAX_ROWS",
    "BaselineView",
    "Dossier",
    "Section",
    "device_links",
    "load_dossier",
]

DEFAULT_ROWS: Final = 20
MAX_ROWS: Final = 200
# Series prefixes of the runner's learned baselines -> the device kind they belong to.
BASELINE_KINDS: Final[Mapping[str, str]] = {"load": "power", "prod": "power", "flow": "cems"}
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Section:
    """The newest ``rows`` of a list and how many there are in all."""

    count: int
    rows: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class BaselineView:
    """One learned series of a device as of ``as_of`` (the day after its newest summary)."""

    series: str
    kind: str
    value: float | None
    mad: float | None
    n: int
    source: str | None  # "learned", "rated" (too few running minutes yet) or None (no fallback)
    days: int
    first_day: date
    last_day: date
    as_of: date
    computed_at: datetime


@dataclass(frozen=True)
class Dossier:
    """What :func:`load_dossier` gathered; rows as the modules that own them return them."""

    enterprise: Enterprise
    devices: list[Device]
    baselines: dict[str, list[BaselineView]]
    score: int
    ledger_entries: int
    standing: dict[str, Any]  # evaluation.standing: level, level_scheme, level_history, evaluation
    evaluations: Section
    listings: Section  # every positive-list entry, removed ones too, newest first
    active_lists: list[dict[str, Any]]  # entries listing it today (China time)
    alerts: Section
    alert_statuses: dict[str, int]
    answers: dict[int, dict[str, Any]]  # alert id -> {"count", "first_at"}
    rectifications: Section
    rectifications_overdue: int
    ledger: Section
    orders: Section
    generated_at: datetime
    today: date


def device_links(registry: Registry, enterprise: Enterprise) -> dict[str, dict[str, list[str]]]:
    """Per device of the enterprise, the links the registry holds in the other direction:
    ``treats`` (the production units a treatment meter serves), ``served_by`` (the outlets
    that serve a production unit)."""
    out: dict[str, dict[str, list[str]]] = {}
    for device_id in enterprise.device_ids:
        out[device_id] = {
            "treats": [d.id for d in registry.producers_treated_by(device_id)],
            "served_by": [d.id for d in registry.outlets_serving(device_id)],
        }
    return out


async def _count(conn: psycopg.AsyncConnection[Any], query: str, params: Any) -> int:
    cur = await conn.execute(query, params)
    row = await cur.fetchone()
    return 0 if row is None else int(row[0])


async def _rows(conn: psycopg.AsyncConnection[Any], query: str, params: Any) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


def _rated(device: Device, kind: str) -> float | None:
    if kind == "flow":
        return device.design_flow
    return device.rated_kw


async def _baselines(conn: psycopg.AsyncConnection[Any], devices: list[Device],
                     params: BaselineParams) -> dict[str, list[BaselineView]]:
    wanted = {f"{kind}:{d.id}": (d, kind) for d in devices for kind, dev_kind in BASELINE_KINDS.items()
              if d.kind == dev_kind}
    if not wanted:
        return {}
    rows = await _rows(
        conn,
        "WITH newest AS (SELECT series, max(day_start) AS last FROM baselines WHERE series = ANY(%(s)s)"
        " GROUP BY series)"
        " SELECT b.series, b.day_start, b.n, b.quantiles, b.computed_at, n.last FROM baselines b"
        " JOIN newest n ON n.series = b.series"
        " WHERE b.day_start > n.last - make_interval(secs => %(window)s) ORDER BY b.series, b.day_start",
        {"s": sorted(wanted), "window": params.window_s})
    by_series: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_series.setdefault(str(r["series"]), []).append(r)
    out: dict[str, list[BaselineView]] = {}
    for series, days in sorted(by_series.items()):
        device, kind = wanted[series]
        as_of = days[-1]["day_start"] + _DAY
        summaries = [DaySummary(int(d["day_start"].timestamp()), int(d["n"]),
                                tuple(float(q) for q in d["quantiles"])) for d in days]
        merged = merge_summaries(summaries, int(as_of.timestamp()), _rated(device, kind), params)
        out.setdefault(device.id, []).append(BaselineView(
            series=series, kind=kind, value=None if merged is None else merged.value,
            mad=None if merged is None else merged.mad,
            n=sum(int(d["n"]) for d in days) if merged is None else merged.n,
            source=None if merged is None else merged.source, days=len(days),
            first_day=days[0]["day_start"].astimezone(CST).date(),
            last_day=days[-1]["day_start"].astimezone(CST).date(),
            as_of=as_of.astimezone(CST).date(),
            computed_at=max(d["computed_at"] for d in days)))
    return out


async def load_dossier(conn: psycopg.AsyncConnection[Any], registry: Registry, model: evaluation.CreditModel,
                       enterprise: Enterprise, *, rows: int = DEFAULT_ROWS, now: datetime | None = None,
                       baseline_params: BaselineParams | None = None) -> Dossier:
    """Gather the file of ``enterprise`` (a registered enterprise the reader may see): the
    newest ``rows`` (1..:data:`MAX_ROWS`) of every list with its count; ``now`` (default: the
    clock) decides overdue rectifications, active orders and today's positive lists."""
    if not 1 <= rows <= MAX_ROWS:
        raise ValueError(f"rows must be 1..{MAX_ROWS}")
    at = now or datetime.now(UTC)
    today = at.astimezone(CST).date()
    eid = enterprise.id
    devices = [registry.devices[d] for d in enterprise.device_ids if d in registry.devices]

    score, _, entries = await ledger.enterprise_standing(conn, eid)
    standing = await evaluation.standing(conn, model, eid, score)
    evaluations = Section(
        await _count(conn, "SELECT count(*) FROM evaluations WHERE enterprise_id = %s", (eid,)),
        (await evaluation.list_evaluations(conn, limit=rows, enterprise_id=eid))[:rows])

    listing_rows, _ = await list_entries(conn, ListingFilter(enterprise_ids=[eid], include_deleted=True),
                                         limit=rows)
    listings = Section(await _count(conn, "SELECT count(*) FROM positive_list WHERE enterprise_id = %s", (eid,)),
                       listing_rows)
    active = (await active_listings(conn, [eid], today)).get(eid, [])

    alert_rows = await _rows(
        conn,
        "SELECT a.id, a.rule, a.subject, a.device_ids, a.start_ts, a.end_ts, a.severity, a.status,"
        " a.summary, a.summary_zh, a.created_at, a.acknowledged_at, a.dispatched_at, a.due_at,"
        " a.decided_at, a.closed_at, a.disposition, a.disposition_reason, a.escalation_level,"
        " a.repeat_count, a.rectifying_from"
        " FROM alerts a WHERE a.enterprise_id = %s ORDER BY a.start_ts DESC, a.id DESC LIMIT %s", (eid, rows))
    statuses = {str(r["status"]): int(r["n"]) for r in await _rows(
        conn, "SELECT status, count(*) AS n FROM alerts WHERE enterprise_id = %s GROUP BY status", (eid,))}
    ids = [int(r["id"]) for r in alert_rows]
    answers = {int(r["alert_id"]): {"count": int(r["n"]), "first_at": r["first_at"]} for r in await _rows(
        conn, "SELECT alert_id, count(*) AS n, min(created_at) AS first_at FROM alert_answers"
              " WHERE alert_id = ANY(%s) GROUP BY alert_id", (ids,))}

    rect_rows, _ = await list_rectifications(conn, RectificationFilter(enterprise_ids=[eid]), limit=rows, now=at)
    rect_count = await _count(conn, "SELECT count(*) FROM rectifications WHERE enterprise_id = %s", (eid,))
    rect_overdue = await _count(
        conn, "SELECT count(*) FROM rectifications WHERE enterprise_id = %s AND status IN ('ordered', 'submitted')"
              " AND (due_at <= %s OR overdue_at IS NOT NULL)", (eid, at))

    ledger_rows = (await ledger.history(conn, eid, limit=rows))[:rows]

    order_rows = await _rows(
        conn, "SELECT id, enterprise_ids, start_ts, end_ts, measure, limit_pct, created_at"
              " FROM emergency_orders WHERE enterprise_ids @> ARRAY[%s]::text[]"
              " ORDER BY start_ts DESC, id DESC LIMIT %s", (eid, rows))
    orders = Section(await _count(conn, "SELECT count(*) FROM emergency_orders"
                                        " WHERE enterprise_ids @> ARRAY[%s]::text[]", (eid,)), order_rows)

    return Dossier(
        enterprise=enterprise, devices=devices,
        baselines=await _baselines(conn, devices, baseline_params or BaselineParams()),
        score=score, ledger_entries=entries, standing=standing, evaluations=evaluations,
        listings=listings, active_lists=active,
        alerts=Section(sum(statuses.values()), alert_rows), alert_statuses=statuses, answers=answers,
        rectifications=Section(rect_count, rect_rows), rectifications_overdue=rect_overdue,
        ledger=Section(entries, ledger_rows), orders=orders, generated_at=at, today=today)
