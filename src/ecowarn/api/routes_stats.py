"""Statistics of the enforcement workflow (CONTRACT section 9; the measures are defined in
:mod:`alerts.stats` and docs/enforcement.md, "Statistics").

- ``GET /api/v1/stats?group_by=region|rule|month|enterprise&since=&until=&period=&region=``
  ``&region_digits=&rule=&format=``: officer. Per group: ``alerts``, ``warned``, ``answered``, ``answer_rate``,
  ``median_hours_to_answer``, ``confirmed``, ``dismissed``, ``decided``, ``confirmation_rate``,
  ``false_alarms``, ``false_alarm_rate``, ``first_offences``, ``rectifications``,
  ``rectifications_overdue``; and the same over all groups in ``total``. JSON, or CSV (one row
  per group, UTF-8 with a byte order mark for Excel) with ``Accept: text/csv`` or
  ``format=csv``.

The cohort is the alerts that started in ``[since, until)``: times with an offset, or days
(``2026-11-01``: 00:00 China time); or ``period`` (``2026-11``, ``2026-Q4``, ``2026``), not
together with ``since``/``until``. ``group_by`` defaults to ``rule``; ``region_digits`` (2, 4 or
6, default 6) cuts the region key to a province, city or county code. ``region`` (a division
code or prefix) and ``rule`` narrow the cohort. ``admin`` may use it too. A region-limited
officer counts only its region's enterprises' alerts (a ``region`` outside it gives empty
groups); alerts of no enterprise (air hotspots) count only for officers without a region and
without a ``region`` filter.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

import json
import re
from datetime import datetime, time, timedelta
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BeforeValidator
from starlette.responses import Response

from ecowarn.alerts.stats import MEASURES, REGION_DIGITS, GroupBy, GroupStats, StatsQuery, StatsResult, stats_csv
from ecowarn.alerts.stats import alert_stats as compute_stats
from ecowarn.api._db import connect
from ecowarn.api._paths import API_PREFIX
from ecowarn.api._time import CST, AwareDatetime, iso, iso_or_none
from ecowarn.api.auth import Auth, Visibility, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import FieldError, InvalidRequest
from ecowarn.config.registry import Registry
from ecowarn.credit.supervision.errors import PeriodError
from ecowarn.credit.supervision.period import parse_period
from ecowarn.i18n import rule_name
from ecowarn.store.tokens import Principal

__all__ = ["CSV_COLUMNS", "StatsFilter", "build_stats_router", "resolve_filter", "run_stats", "stats_json"]

CSV_COLUMNS: Final = ("group_by", "group", "name", "name_en", *MEASURES)
# The key member each group carries besides "group", by group_by.
_KEY_MEMBER: Final = {"region": "region", "rule": "rule", "month": "month", "enterprise": "enterprise_id"}
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day_start(value: Any) -> Any:
    """A day (``YYYY-MM-DD``) is its 00:00 in China Standard Time; a time stays as sent."""
    if isinstance(value, str) and _DAY.match(value.strip()):
        try:
            return datetime.combine(datetime.fromisoformat(value.strip()).date(), time(0), CST)
        except ValueError:
            return value
    return value


DayOrTime = Annotated[AwareDatetime, BeforeValidator(_day_start)]


class StatsFilter:
    """A request's filters resolved against what the reader may see: the query for
    :func:`alerts.stats.alert_stats`, and what the response echoes."""

    def __init__(self, query: StatsQuery, *, region: str | None, period: str | None) -> None:
        self.query = query
        self.region = region
        self.period = period


def _invalid(path: str, msg: str) -> InvalidRequest:
    return InvalidRequest(f"{path}: {msg}", fields=(FieldError(path, msg),))


def resolve_filter(registry: Registry, seen: Visibility, *, group_by: GroupBy, since: datetime | None,
                   until: datetime | None, period: str | None, region: str | None, region_digits: int,
                   rule: str | None) -> StatsFilter:
    """Check the filters (422 naming the field) and scope them to ``seen``."""
    if period is not None:
        if since is not None or until is not None:
            raise _invalid("query.period", "give period, or since and until, not both")
        try:
            p = parse_period(period)
        except PeriodError as exc:
            raise _invalid("query.period", "a month 2026-11, a quarter 2026-Q4 or a year 2026") from exc
        since = datetime.combine(p.start, time(0), CST)
        until = datetime.combine(p.end + timedelta(days=1), time(0), CST)
        period = p.label
    if since is not None and until is not None and until <= since:
        raise _invalid("query.until", "until must be after since")
    if region_digits not in REGION_DIGITS:
        raise _invalid("query.region_digits", "2 (province), 4 (city) or 6 (county)")
    ids: list[str] | None = seen.ids()
    if region is not None:
        ids = seen.narrow(e.id for e in registry.enterprises.values() if e.region.startswith(region))
    query = StatsQuery(group_by=group_by, since=since, until=until, enterprise_ids=ids, rule=rule,
                       region_digits=region_digits)
    return StatsFilter(query, region=region, period=period)


async def run_stats(ctx: ApiContext, f: StatsFilter) -> StatsResult:
    regions = {e.id: e.region for e in ctx.registry.enterprises.values()}
    async with connect(ctx) as conn:
        return await compute_stats(conn, f.query, regions)


def _names(registry: Registry, group_by: str, key: str | None) -> tuple[str, str]:
    """(Chinese, English) display name of a group."""
    if key is None:
        return {"enterprise": ("无企业", "no enterprise"), "region": ("未登记区域", "region not registered")
                }.get(group_by, ("未知", "unknown"))
    if group_by == "rule":
        return rule_name(key, "zh"), rule_name(key, "en")
    if group_by == "enterprise":
        ent = registry.enterprises.get(key)
        return (ent.name, ent.name) if ent else (key, key)
    return key, key


def group_json(registry: Registry, group_by: str, g: GroupStats) -> dict[str, Any]:
    name, name_en = _names(registry, group_by, g.key)
    return {"group": g.key, _KEY_MEMBER[group_by]: g.key, "name": name, "name_en": name_en, **g.measures()}


def stats_json(registry: Registry, f: StatsFilter, result: StatsResult) -> dict[str, Any]:
    """The statistics as the API returns them (the console renders the same object)."""
    q = f.query
    return {
        "group_by": q.group_by, "since": iso_or_none(q.since), "until": iso_or_none(q.until),
        "period": f.period, "region": f.region, "region_digits": q.region_digits, "rule": q.rule,
        "items": [group_json(registry, q.group_by, g) for g in result.groups],
        "total": {"group": None, "name": "合计", "name_en": "total", **result.total.measures()},
        "measures": list(MEASURES), "generated_at": iso(result.now),
    }


def stats_csv_text(body: dict[str, Any]) -> str:
    """The groups of :func:`stats_json` as CSV, one row each (the total is left to the reader)."""
    return stats_csv([{**i, "group_by": body["group_by"]} for i in body["items"]], CSV_COLUMNS)


def csv_response(body: dict[str, Any]) -> Response:
    name = f"ecowarn-stats-{body['group_by']}.csv"
    return Response(stats_csv_text(body).encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("accept", "")


def build_stats_router(ctx: ApiContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["statistics"])
    officers = auth.require("officer")

    @router.get("/stats")
    async def stats(
        request: Request, principal: Annotated[Principal, Depends(officers)],
        group_by: GroupBy = "rule",
        since: Annotated[DayOrTime | None, Query(
            description="alerts that started at or after this time (a day: its 00:00 China time)")] = None,
        until: Annotated[DayOrTime | None, Query(
            description="alerts that started before this time (a day: its 00:00 China time)")] = None,
        period: Annotated[str | None, Query(max_length=20, description=(
            "instead of since/until: a month 2026-11, a quarter 2026-Q4 or a year 2026"))] = None,
        region: Annotated[str | None, Query(pattern=r"^\d{2,6}$", description=(
            "only enterprises whose division code starts with this"))] = None,
        region_digits: Annotated[int, Query(description=(
            "group_by=region: 2 province, 4 city, 6 county codes"))] = 6,
        rule: Annotated[str | None, Query(max_length=64)] = None,
        format: Annotated[Literal["json", "csv"] | None, Query(
            description="csv or json; default from the Accept header, else json")] = None,
    ) -> Response:
        """Alerts, warnings, answers, decisions, first offences and overdue rectifications per
        region, rule, month or enterprise, for the alerts that started in the period."""
        f = resolve_filter(ctx.registry, visibility(ctx, principal), group_by=group_by, since=since, until=until,
                           period=period, region=region, region_digits=region_digits, rule=rule)
        body = stats_json(ctx.registry, f, await run_stats(ctx, f))
        if _wants_csv(request, format):
            return csv_response(body)
        return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")

    return router
