"""``GET /api/v1/alerts`` and ``GET /api/v1/alerts/{id}`` (roles officer, enterprise, admin).

The single alert carries its ``workflow`` (status, deadlines, answers, repeat
episodes, comments); an enterprise sees the public part (api/_workflow_io.py).
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from ecowarn.alerts import answers_of, fetch_state
from ecowarn.alerts.details import comments_of, episodes_of
from ecowarn.api._alerts_db import (
    READINGS_CAP,
    READINGS_MARGIN,
    AlertFilter,
    alert_detail,
    alert_item,
    fetch_alert,
    list_alerts,
    window_readings,
)
from ecowarn.api._db import connect
from ecowarn.api._paths import API_PREFIX
from ecowarn.api._time import AwareDatetime, iso
from ecowarn.api._workflow_io import answer_out, comment_out, episode_out, state_out
from ecowarn.api.auth import Auth, enterprise_scope, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import NotFound
from ecowarn.api.pagination import BIGINT_MAX, DEFAULT_LIMIT, CursorCodec, Limit
from ecowarn.store.tokens import Principal

__all__ = ["ALERT_CURSOR", "build_alerts_router"]

ALERT_CURSOR = CursorCodec("alerts", datetime, int)


def build_alerts_router(ctx: ApiContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["alerts"])
    readers = auth.require("officer", "enterprise")

    @router.get("/alerts")
    async def get_alerts(
        principal: Annotated[Principal, Depends(readers)],
        rule: str | None = None,
        enterprise_id: str | None = None,
        device_id: str | None = None,
        status: str | None = None,
        since: Annotated[AwareDatetime | None, Query(
            description="alerts still active at or after this time (end null or >= since)")] = None,
        until: Annotated[AwareDatetime | None, Query(
            description="alerts that started before this time")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Alerts, newest start first, keyset-paged.

        ``since``/``until`` keep alerts whose span ``[start, end or ongoing]`` overlaps
        ``[since, until)``. An enterprise token sees its own enterprise only, a
        region-limited officer the enterprises of its region (an ``enterprise_id`` outside
        them gives an empty list).
        """
        f = AlertFilter(rule=rule, enterprise_id=enterprise_id, device_id=device_id,
                        status=status, since=since, until=until)
        async with connect(ctx) as conn:
            rows, last = await list_alerts(conn, f, scope=visibility(ctx, principal).enterprises,
                                           limit=limit, after=ALERT_CURSOR.decode(cursor))
        return {"items": [alert_item(r) for r in rows],
                "next_cursor": None if last is None else ALERT_CURSOR.encode(*last)}

    @router.get("/alerts/{alert_id}")
    async def get_alert(
        principal: Annotated[Principal, Depends(readers)], alert_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)],
    ) -> dict[str, Any]:
        """One alert with its parameters, evidence and the raw readings of its devices
        from 30 min before its start to 30 min after its end (or now), at most 5,000
        rows, earliest first (``readings_truncated`` says when rows were left out)."""
        async with connect(ctx) as conn:
            row = await fetch_alert(conn, alert_id, scope=visibility(ctx, principal).enterprises)
            if row is None:
                raise NotFound(f"no alert {alert_id}")
            t0 = row["start_ts"] - READINGS_MARGIN
            t1 = (row["end_ts"] or datetime.now(UTC)) + READINGS_MARGIN
            readings, truncated = await window_readings(conn, list(row["device_ids"]), t0, t1,
                                                        cap=READINGS_CAP)
            public = enterprise_scope(principal) is not None
            workflow = {
                **state_out(await fetch_state(conn, alert_id), for_enterprise=public),
                "answers": [answer_out(a) for a in
                            (await answers_of(conn, [alert_id])).get(alert_id, [])],
                "episodes": [episode_out(e) for e in await episodes_of(conn, alert_id)],
                "comments": [comment_out(c, for_enterprise=public)
                             for c in await comments_of(conn, alert_id, public_only=public)],
            }
        return {
            **alert_detail(row),
            "workflow": workflow,
            "readings_window": {"since": iso(t0), "until": iso(t1)},
            "readings_truncated": truncated,
            "readings": [
                {"device_id": r["device_id"], "ts": iso(r["ts"]), "metric": r["metric"],
                 "value": r["value"], "flag": r["flag"]}
                for r in readings
            ],
        }

    return router
