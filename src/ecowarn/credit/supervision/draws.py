"""Supervision plans and random draws over the database (双随机, 远程执法抽查).

An enterprise's level is its current one in the active level scheme, like ``GET
/credit/enterprises/{id}``: the score of the ``credit_scores`` view (100 without ledger
entries) read by ``level_of`` (the API passes the active scheme's, e.g. stars; without it
the view's Hebei A-E). Whether it is listed is read on the period's reference day
(:meth:`Period.reference_date`); the complaints about it received in the period bring a
listed firm back on the on-site plan and draws (:mod:`.plan`, :mod:`.complaints`).

A draw picks ``count`` enterprises of a region for remote spot checks (``kind`` remote) or
on-site checks (``onsite``), weighted by level and positive list (``SupervisionConfig.weight``),
with :func:`credit.supervision.sampling.select`. It is stored append-only with everything needed
to re-run it: inputs, seed (generated when none is given), algorithm, every candidate with
its level, list status and weight, the selection in the order drawn, who drew and when.
:func:`rerun` repeats the selection from the stored row alone.

Scope: a draw of a region is visible to officers whose jurisdiction contains that region;
a draw over every region (``region`` NULL) only to officers without a jurisdiction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ecowarn.alerts.model import Actor
from ecowarn.config.registry import Enterprise
from ecowarn.credit.ledger import FULL_SCORE, level_for
from ecowarn.credit.supervision.complaints import complaints_in
from ecowarn.credit.supervision.config import Kind, SupervisionConfig
from ecowarn.credit.supervision.errors import SupervisionNotFound
from ecowarn.credit.supervision.period import Period
from ecowarn.credit.supervision.plan import PlanItem, Standing, draw_basis, plan_item
from ecowarn.credit.supervision.positive_list import active_listings
from ecowarn.credit.supervision.sampling import ALGORITHM, Candidate, new_seed, select

__all__ = ["MAX_COUNT", "DrawFilter", "DrawRequest", "LevelOf", "fetch_draw", "list_draws", "make_draw", "rerun",
           "standings", "supervision_plan"]

log = logging.getLogger(__name__)

# The most enterprises one draw may select.
MAX_COUNT: Final = 10_000
_COLUMNS: Final = ("id, region, period, period_start, period_end, kind, count, seed, seed_given, algorithm,"
                   " reference_date, candidates, selected, created_at, created_by_token, created_by_role,"
                   " created_by_label")


LevelOf = Callable[[int], str]


async def standings(conn: psycopg.AsyncConnection[Any], enterprise_ids: Sequence[str], *,
                    level_of: LevelOf | None = None) -> dict[str, Standing]:
    """Enterprise id -> current score and level (100 for those without ledger entries). The
    level is the ``credit_scores`` view's (Hebei A-E), or ``level_of(score)`` when given (the
    level scheme the credit API reports, e.g. stars)."""
    cur = await conn.execute("SELECT enterprise_id, score, level FROM credit_scores"
                             " WHERE enterprise_id = ANY(%s)", (list(enterprise_ids),))
    found = {str(r[0]): (int(r[1]), str(r[2])) for r in await cur.fetchall()}
    out = {}
    for eid in enterprise_ids:
        score, level = found.get(eid, (FULL_SCORE, level_for(FULL_SCORE)))
        out[eid] = Standing(score, level if level_of is None else level_of(score))
    return out


async def supervision_plan(conn: psycopg.AsyncConnection[Any], config: SupervisionConfig,
                           enterprises: Sequence[Enterprise], period: Period, today: date, *,
                           level_of: LevelOf | None = None) -> tuple[date, list[PlanItem]]:
    """The plan of ``period`` for ``enterprises`` (by id) and its reference day."""
    on = period.reference_date(today)
    ids = sorted({e.id for e in enterprises})
    levels = await standings(conn, ids, level_of=level_of)
    listed = await active_listings(conn, ids, on)
    complaints = await complaints_in(conn, ids, period.start, period.end)
    return on, [plan_item(eid, levels[eid], [str(r["list"]) for r in listed.get(eid, ())], period, config,
                          complaints.get(eid, 0))
                for eid in ids]


@dataclass(frozen=True, slots=True)
class DrawRequest:
    """The inputs of a draw. ``region`` None: every region of the registry."""

    region: str | None
    period: Period
    kind: Kind
    count: int
    seed: int | None = None


async def make_draw(conn: psycopg.AsyncConnection[Any], config: SupervisionConfig,
                    enterprises: Sequence[Enterprise], request: DrawRequest, *, actor: Actor,
                    today: date, level_of: LevelOf | None = None) -> dict[str, Any]:
    """Draw among ``enterprises`` (those of the region), store the draw and return its row."""
    reference, items = await supervision_plan(conn, config, enterprises, request.period, today,
                                              level_of=level_of)
    named = {e.id: e for e in enterprises}
    candidates: list[dict[str, Any]] = [{
        "enterprise_id": item.enterprise_id, "name": named[item.enterprise_id].name,
        "region": named[item.enterprise_id].region, "score": item.score, "level": item.level,
        "listed": item.listed, "lists": list(item.lists),
        "weight": item.remote_weight if request.kind == "remote" else item.onsite_weight,
        "basis": draw_basis(item, request.kind), "complaints": item.complaints,
    } for item in items]
    seed = request.seed if request.seed is not None else new_seed()
    selected = select([Candidate(c["enterprise_id"], c["weight"]) for c in candidates], request.count, seed)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "INSERT INTO supervision_draws (region, period, period_start, period_end, kind, count, seed,"
            " seed_given, algorithm, reference_date, candidates, selected, created_by_token,"
            " created_by_role, created_by_label)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            f" RETURNING {_COLUMNS}",
            (request.region, request.period.label, request.period.start, request.period.end, request.kind,
             request.count, seed, request.seed is not None, ALGORITHM, reference, Jsonb(candidates),
             selected, actor.token_id, actor.role, actor.label))
        row = await cur.fetchone()
    assert row is not None
    log.info("supervision draw %d: %s %s in %s, %d of %d candidates (seed %d, token %s)", row["id"],
             request.kind, request.period.label, request.region or "every region", len(selected),
             len(candidates), seed, actor.token_id)
    return row


def rerun(row: dict[str, Any]) -> list[str]:
    """The selection re-computed from a stored draw's candidates, weights, count and seed."""
    if row["algorithm"] != ALGORITHM:
        raise ValueError(f"draw {row['id']} used algorithm {row['algorithm']!r}; this version runs {ALGORITHM!r}")
    return select([Candidate(str(c["enterprise_id"]), float(c["weight"])) for c in row["candidates"]],
                  int(row["count"]), int(row["seed"]))


async def fetch_draw(conn: psycopg.AsyncConnection[Any], draw_id: int, *,
                     jurisdiction: str | None) -> dict[str, Any]:
    """One draw; absent when its region is outside ``jurisdiction`` (None: every region)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM supervision_draws WHERE id = %s"
            " AND (%s::text IS NULL OR starts_with(region, %s))", (draw_id, jurisdiction, jurisdiction))
        row = await cur.fetchone()
    if row is None:
        raise SupervisionNotFound("draw_not_found", id=draw_id)
    return row


@dataclass(frozen=True, slots=True)
class DrawFilter:
    """Draws of regions starting with ``region``, of one ``period`` (label) and ``kind``."""

    region: str | None = None
    period: str | None = None
    kind: Kind | None = None


async def list_draws(conn: psycopg.AsyncConnection[Any], f: DrawFilter, *, jurisdiction: str | None,
                     limit: int, before_id: int | None = None) -> tuple[list[dict[str, Any]], int | None]:
    """Draws matching ``f`` within ``jurisdiction``, newest first; and the id to continue
    before when more follow."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM supervision_draws WHERE"
            " (%(within)s::text IS NULL OR starts_with(region, %(within)s))"
            " AND (%(region)s::text IS NULL OR starts_with(region, %(region)s))"
            " AND (%(period)s::text IS NULL OR period = %(period)s)"
            " AND (%(kind)s::text IS NULL OR kind = %(kind)s)"
            " AND (%(before)s::bigint IS NULL OR id < %(before)s)"
            " ORDER BY id DESC LIMIT %(limit)s",
            {"within": jurisdiction, "region": f.region, "period": f.period, "kind": f.kind,
             "before": before_id, "limit": limit + 1})
        rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (int(rows[-1]["id"]) if more and rows else None)
