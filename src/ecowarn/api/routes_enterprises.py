"""The enterprise file (一企一档, CONTRACT section 9) and the list of enterprises.

- ``GET /api/v1/enterprises?q=&region=&level=&listed=&limit=&cursor=``: officer, credit,
  enterprise (its own). The registered enterprises the token may see, by id, with their score,
  level (the active scheme's), positive-list status and open work. ``q``: part of the name or
  id (any case); ``region``: a division code or prefix; ``level``: a level of the active scheme
  (422 for another); ``listed``: on a positive list today or not.
- ``GET /api/v1/enterprises/{id}?limit=``: officer, credit, enterprise (its own). The file:
  ``enterprise`` (identity), ``permit``, ``contacts``, ``devices`` (kind, role, links, limits,
  reference O2, design flow, HJ 212 MN, learned baselines; never a password),
  ``positive_list``, ``credit`` (score, level, level history), ``evaluations``, ``alerts``
  (with dispositions and answers), ``rectifications``, ``ledger``, ``emergency_orders``. Every
  list section is ``{"count", "items", "url"}``: its newest ``limit`` items (default 20, at
  most 200), how many there are in all and the endpoint that pages through all of them.

``admin`` may use both. An enterprise token sees only its own file, a region-limited officer
only its region's: any other enterprise is 404, exactly like one that is not registered. An
enterprise does not see which officer's token acted (evaluations, positive list,
rectifications) nor the internal screening of its alerts (acknowledgement, escalation).
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from ecowarn.api._db import connect
from ecowarn.api._paths import API_PREFIX, CONSOLE_PREFIX
from ecowarn.api._time import iso, iso_or_none
from ecowarn.api.auth import Auth, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import FieldError, InvalidRequest, NotFound
from ecowarn.api.pagination import DEFAULT_LIMIT, CursorCodec, Limit
from ecowarn.api.routes_credit import history_item
from ecowarn.api.routes_evaluations import evaluation_json
from ecowarn.api.routes_rectifications import rectification_out
from ecowarn.api.routes_supervision import entry_out
from ecowarn.config.metrics import UNITS
from ecowarn.config.registry import Device, Enterprise
from ecowarn.credit import ledger
from ecowarn.credit.dossier import DEFAULT_ROWS, MAX_ROWS, BaselineView, Dossier, device_links, load_dossier
from ecowarn.credit.supervision.positive_list import active_listings, today_cst
from ecowarn.i18n import rule_name
from ecowarn.store.tokens import Principal

__all__ = ["build_enterprises_router", "dossier_json", "enterprise_json"]

_ENTERPRISES = CursorCodec("enterprises", str)
# Units of a limit and of a learned baseline, by device kind and series kind.
_LIMIT_UNITS = {"cems": "mg/m3", "water": "mg/L"}
_BASELINE_UNITS = {"load": "kW", "prod": "kW", "flow": "m3/s"}


def enterprise_json(ent: Enterprise) -> dict[str, Any]:
    """Identity as the registry holds it (the webhook's URL is not shown: it may carry a secret)."""
    return {"id": ent.id, "name": ent.name, "region": ent.region, "industry": ent.industry,
            "address": ent.address, "lat": ent.lat, "lon": ent.lon,
            "webhook_configured": ent.webhook is not None, "device_count": len(ent.device_ids)}


def _permit(ent: Enterprise, today: date) -> dict[str, Any] | None:
    if ent.permit is None:
        return None
    until = None if ent.permit.valid_until is None else date.fromisoformat(ent.permit.valid_until)
    return {"number": ent.permit.number, "valid_until": ent.permit.valid_until,
            "expired": until is not None and until < today,
            "days_left": None if until is None else (until - today).days}


def _baseline(b: BaselineView) -> dict[str, Any]:
    return {"series": b.series, "kind": b.kind, "unit": _BASELINE_UNITS.get(b.kind),
            "value": None if b.value is None else round(b.value, 3),
            "mad": None if b.mad is None else round(b.mad, 3), "n": b.n, "source": b.source,
            "days": b.days, "first_day": b.first_day.isoformat(), "last_day": b.last_day.isoformat(),
            "as_of": b.as_of.isoformat(), "computed_at": iso(b.computed_at)}


def device_json(d: Device, links: dict[str, list[str]], baselines: list[BaselineView]) -> dict[str, Any]:
    """A device with its links, limits and learned baselines. The HJ 212 password is never shown."""
    out: dict[str, Any] = {
        "id": d.id, "kind": d.kind, "role": d.role, "equipment": d.equipment, "label": d.label,
        "outlet": d.outlet, "lat": d.lat, "lon": d.lon, "hj212_mn": d.hj212_mn,
        "units": dict(UNITS[d.kind]),
        "baselines": [_baseline(b) for b in baselines],
    }
    if d.kind == "power":
        out.update({
            "rated_kw": d.rated_kw, "running_kw": d.running_kw,
            "running_threshold_kw": d.running_threshold_kw if d.rated_kw or d.running_kw else None,
            "stages": [list(s) for s in d.stages], "treated_by": list(d.treated_by),
            "treats": links.get("treats", []), "served_by": links.get("served_by", []),
            "hj212_codes": dict(d.codes),
        })
    if d.kind in ("cems", "water"):
        out.update({"serves": list(d.serves), "limits": dict(d.limits), "limits_unit": _LIMIT_UNITS[d.kind]})
    if d.kind == "cems":
        out.update({"ref_o2": d.ref_o2, "design_flow": d.design_flow,
                    "limits_basis": "hourly mean at reference O2" if d.ref_o2 is not None else "hourly mean"})
    if d.kind == "water":
        out.update({"limits_hourly": dict(d.limits_hourly), "ph_range": list(d.ph_range),
                    "limits_basis": "daily mean"})
    return out


def _alert(row: dict[str, Any], answers: dict[str, Any] | None, *, for_enterprise: bool) -> dict[str, Any]:
    out = {
        "id": row["id"], "rule": row["rule"], "rule_name": rule_name(row["rule"], "zh"),
        "rule_name_en": rule_name(row["rule"], "en"), "device_ids": list(row["device_ids"]),
        "start": iso(row["start_ts"]), "end": iso_or_none(row["end_ts"]), "severity": row["severity"],
        "status": row["status"], "summary": row["summary"], "summary_zh": row["summary_zh"],
        "dispatched_at": iso_or_none(row["dispatched_at"]), "due_at": iso_or_none(row["due_at"]),
        "decided_at": iso_or_none(row["decided_at"]), "closed_at": iso_or_none(row["closed_at"]),
        "disposition": row["disposition"], "disposition_reason": row["disposition_reason"],
        "repeat_count": row["repeat_count"],
        "answers": 0 if answers is None else answers["count"],
        "first_answer_at": None if answers is None else iso(answers["first_at"]),
        "url": f"{API_PREFIX}/alerts/{row['id']}",
    }
    if not for_enterprise:
        out.update({"acknowledged_at": iso_or_none(row["acknowledged_at"]),
                    "escalation_level": row["escalation_level"]})
    return out


def _order(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {"id": row["id"], "start": iso(row["start_ts"]), "end": iso(row["end_ts"]),
            "measure": row["measure"], "limit_pct": row["limit_pct"],
            "active": row["start_ts"] <= now < row["end_ts"],
            "enterprises": len(row["enterprise_ids"]), "created_at": iso(row["created_at"])}


def dossier_json(ctx: ApiContext, d: Dossier, *, for_enterprise: bool) -> dict[str, Any]:
    """The file as the API returns it (the console page renders the same object)."""
    ent = d.enterprise
    eid = ent.id
    links = device_links(ctx.registry, ent)
    standing = d.standing
    latest = standing["evaluation"]
    cfg = ctx.supervision
    scheme = ctx.credit_model.schemes[standing["level_scheme"]]
    active = [entry_out(r, ctx.registry, cfg, today=d.today, for_enterprise=for_enterprise) for r in d.active_lists]
    return {
        "enterprise_id": eid, "name": ent.name,
        "enterprise": enterprise_json(ent),
        "permit": _permit(ent, d.today),
        "contacts": [{"name": c.name, "role": c.role, "phone": c.phone} for c in ent.contacts],
        "devices": [device_json(dev, links.get(dev.id, {}), d.baselines.get(dev.id, [])) for dev in d.devices],
        "positive_list": {
            "listed": bool(active), "lists": active, "count": d.listings.count,
            "items": [entry_out(r, ctx.registry, cfg, today=d.today, for_enterprise=for_enterprise)
                      for r in d.listings.rows],
            "url": f"{API_PREFIX}/positive-list?enterprise_id={eid}&include_deleted=true",
        },
        "credit": {
            "score": d.score, "level": standing["level"], "level_scheme": standing["level_scheme"],
            "level_scheme_name": scheme.name.zh, "level_scheme_name_en": scheme.name.en,
            "levels": ctx.credit_model.levels_for(d.score), "entries": d.ledger_entries,
            "level_history": [{**h, "at": iso(h["at"])} for h in standing["level_history"]],
            "evaluation": None if latest is None else {
                "id": latest["id"], "kind": latest["kind"], "score": latest["score"], "level": latest["level"],
                "evaluated_at": iso(latest["evaluated_at"]),
                "report_url": f"{API_PREFIX}/credit/evaluations/{latest['id']}.html"},
            "url": f"{API_PREFIX}/credit/enterprises/{eid}",
        },
        "evaluations": {
            "count": d.evaluations.count,
            "items": [evaluation_json(ctx, r, show_token=not for_enterprise) for r in d.evaluations.rows],
            "url": f"{API_PREFIX}/credit/evaluations?enterprise_id={eid}",
        },
        "alerts": {
            "count": d.alerts.count, "by_status": d.alert_statuses,
            "items": [_alert(r, d.answers.get(int(r["id"])), for_enterprise=for_enterprise) for r in d.alerts.rows],
            "url": f"{API_PREFIX}/alerts?enterprise_id={eid}",
        },
        "rectifications": {
            "count": d.rectifications.count, "overdue": d.rectifications_overdue,
            "items": [rectification_out(r, ctx.registry, for_enterprise=for_enterprise) for r in d.rectifications.rows],
            "url": f"{API_PREFIX}/rectifications?enterprise_id={eid}",
        },
        "ledger": {
            "count": d.ledger.count, "items": [history_item(r) for r in d.ledger.rows],
            "url": f"{API_PREFIX}/credit/enterprises/{eid}",
        },
        "emergency_orders": {
            "count": d.orders.count, "items": [_order(r, d.generated_at) for r in d.orders.rows],
            "url": f"{API_PREFIX}/emergency-orders",
        },
        "generated_at": iso(d.generated_at),
        "console_url": f"{CONSOLE_PREFIX}/enterprises/{eid}/file",
    }


def build_enterprises_router(ctx: ApiContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["enterprises"])
    readers = auth.require("officer", "credit", "enterprise")
    reg = ctx.registry

    def visible_enterprise(principal: Principal, enterprise_id: str) -> Enterprise:
        """The registered enterprise the principal may see; the same 404 otherwise."""
        ent = reg.enterprises.get(enterprise_id)
        if ent is None or not visibility(ctx, principal).sees(enterprise_id):
            raise NotFound(f"no enterprise {enterprise_id}")
        return ent

    @router.get("/enterprises")
    async def list_enterprises(
        principal: Annotated[Principal, Depends(readers)],
        q: Annotated[str | None, Query(max_length=100, description="part of the name or id, any case")] = None,
        region: Annotated[str | None, Query(pattern=r"^\d{2,6}$",
                                            description="administrative division code or prefix")] = None,
        level: Annotated[str | None, Query(max_length=20, description="a level of the active scheme")] = None,
        listed: Annotated[bool | None, Query(description="on a positive list today (China time)")] = None,
        limit: Limit = DEFAULT_LIMIT, cursor: str | None = None,
    ) -> dict[str, Any]:
        """Registered enterprises the token may see, by id, with score, level, positive-list
        status, open alerts and overdue rectifications; ``count``: how many match in all."""
        model = ctx.credit_model
        if level is not None and level not in {lv.id for lv in model.scheme.levels}:
            levels = ", ".join(lv.id for lv in model.scheme.levels)
            msg = f"unknown level {level!r}; the {model.active} scheme has {levels}"
            raise InvalidRequest(msg, fields=(FieldError("query.level", msg),))
        after = _ENTERPRISES.decode_one(cursor)
        seen = visibility(ctx, principal)
        needle = (q or "").strip().casefold()
        candidates = [e for e in sorted(reg.enterprises.values(), key=lambda e: e.id)
                      if seen.sees(e.id) and (region is None or e.region.startswith(region))
                      and (not needle or needle in e.name.casefold() or needle in e.id.casefold())]
        ids = [e.id for e in candidates]
        async with connect(ctx) as conn:
            cur = await conn.execute("SELECT enterprise_id, score FROM credit_scores WHERE enterprise_id = ANY(%s)",
                                     (ids,))
            scores = {str(r[0]): int(r[1]) for r in await cur.fetchall()}
            lists = await active_listings(conn, ids, today_cst())
            cur = await conn.execute(
                "SELECT enterprise_id, count(*) FROM alerts WHERE enterprise_id = ANY(%s)"
                " AND status NOT IN ('closed', 'superseded') GROUP BY enterprise_id", (ids,))
            open_alerts = {str(r[0]): int(r[1]) for r in await cur.fetchall()}
            cur = await conn.execute(
                "SELECT enterprise_id, count(*) FROM rectifications WHERE enterprise_id = ANY(%s)"
                " AND status IN ('ordered', 'submitted') AND (due_at <= now() OR overdue_at IS NOT NULL)"
                " GROUP BY enterprise_id", (ids,))
            overdue = {str(r[0]): int(r[1]) for r in await cur.fetchall()}
        matched = []
        for e in candidates:
            score = scores.get(e.id, ledger.FULL_SCORE)
            lvl = model.level_for(score)
            on_list = e.id in lists
            if (level is not None and lvl != level) or (listed is not None and on_list != listed):
                continue
            matched.append({
                "enterprise_id": e.id, "name": e.name, "region": e.region, "industry": e.industry,
                "score": score, "level": lvl, "positive_list": on_list,
                "lists": sorted({str(r["list"]) for r in lists.get(e.id, [])}),
                "alerts_open": open_alerts.get(e.id, 0), "rectifications_overdue": overdue.get(e.id, 0),
                "permit_valid_until": e.permit.valid_until if e.permit else None,
                "url": f"{API_PREFIX}/enterprises/{e.id}",
                "console_url": f"{CONSOLE_PREFIX}/enterprises/{e.id}/file",
            })
        page = [m for m in matched if after is None or m["enterprise_id"] > after]
        more = len(page) > limit
        page = page[:limit]
        return {"items": page, "count": len(matched),
                "next_cursor": _ENTERPRISES.encode(page[-1]["enterprise_id"]) if more else None}

    @router.get("/enterprises/{enterprise_id}")
    async def enterprise_file(
        principal: Annotated[Principal, Depends(readers)], enterprise_id: str,
        limit: Annotated[int, Query(ge=1, le=MAX_ROWS, description=(
            f"items per list section (1..{MAX_ROWS}); each section also gives its count"))] = DEFAULT_ROWS,
    ) -> dict[str, Any]:
        """The enterprise file (一企一档): registry data, devices with their links, limits and
        learned baselines, permit, contacts, positive-list status, credit with level history,
        evaluations, alerts with dispositions, rectifications, ledger entries, emergency orders."""
        ent = visible_enterprise(principal, enterprise_id)
        async with connect(ctx) as conn:
            dossier = await load_dossier(conn, reg, ctx.credit_model, ent, rows=limit)
        return dossier_json(ctx, dossier, for_enterprise=principal.role == "enterprise")

    return router
