"""Console pages of supervision: the printable enterprise file and the bureau's statistics.

- ``GET /console/enterprises/{id}/file`` (officer, enterprise its own): the enterprise file
  (一企一档) as a printable page, the same data as ``GET /api/v1/enterprises/{id}``; Chinese,
  English with ``?lang=en``.
- ``GET /console/stats`` (officer): the statistics of ``GET /api/v1/stats`` with filters, a table
  and bar charts drawn as inline SVG on the server (alerts, answer rate, time to answer,
  confirmation and false-alarm rates per rule, first offences and overdue rectifications);
  ``GET /console/stats.csv``: the same table as CSV for the session's officer (the download
  link of the page).

``admin`` may use them. An enterprise session sees only its own file, a region-limited
officer's session its region's files and statistics; another enterprise's file is the same
404 as a missing one. Filters the page cannot read are shown on the page (422) next to the form.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Final, cast

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, Response

from ecowarn.alerts.stats import GROUP_BY, MEASURES, RATE_MEASURES, REGION_DIGITS, GroupBy, StatsQuery
from ecowarn.api._console_fields import metric_name, unit_symbol
from ecowarn.api._console_lang import lang_of, local_minute, url_for
from ecowarn.api._console_ledger import entry_text
from ecowarn.api._db import connect
from ecowarn.api._paths import CONSOLE_PREFIX
from ecowarn.api._svg_bars import Series, bar_chart, percent, plain
from ecowarn.api._templates import templates
from ecowarn.api._time import CST
from ecowarn.api.auth import Auth, visibility
from ecowarn.api.console_workflow import nav_links
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import InvalidRequest, NotFound
from ecowarn.api.routes_enterprises import dossier_json
from ecowarn.api.routes_stats import StatsFilter, csv_response, resolve_filter, run_stats, stats_json
from ecowarn.credit.dossier import DEFAULT_ROWS, load_dossier
from ecowarn.i18n import ENTRY_TYPES, RULE_NAMES, TEXTS, Lang, catalog, label, rule_name
from ecowarn.store.tokens import Principal

__all__ = ["build_supervision_console"]

# Pages load nothing from anywhere: inline styles and inline SVG only (as every console page).
_SECURITY_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# Rows of each list section on the printable file; the API pages through all of them.
FILE_ROWS: Final = 50
# Groups drawn in a chart (the table lists them all).
CHART_GROUPS: Final = 40
_REGION = re.compile(r"^\d{2,6}$")
# Columns of the page's table: every measure of the API but ``decided`` (confirmed + dismissed).
_MEASURE_COLUMNS: Final = tuple(m for m in MEASURES if m != "decided")


def _texts(lang: Lang, area: str) -> dict[str, str]:
    return catalog(lang, area)


def _stages(device: dict[str, Any], d: dict[str, str]) -> list[str]:
    sep = d["alternatives_sep"]
    return [d["stage_n"].format(n=i + 1, meters=sep.join(stage)) for i, stage in enumerate(device.get("stages", []))]


def _kw(value: float | None) -> str:
    return "" if value is None else plain(value)


def _baselines(device: dict[str, Any], d: dict[str, str]) -> list[str]:
    out = []
    for b in device["baselines"]:
        line = d.get(f"baseline_{b['kind']}", b["kind"] + ": {what}")
        if b["source"] == "learned":
            what = f"{plain(b['value'])} {b['unit']} · " + d["baseline_learned"].format(n=b["n"], days=b["days"])
        elif b["source"] == "rated":
            what = f"{plain(b['value'])} {b['unit']} · " + d["baseline_rated"].format(n=b["n"])
        else:
            what = d["baseline_none"].format(n=b["n"])
        out.append(line.format(what=what))
    return out


def _local(value: str | None) -> str:
    return "" if value is None else local_minute(datetime.fromisoformat(value))


def _file_view(body: dict[str, Any], lang: Lang, catalogs: dict[str, str]) -> dict[str, Any]:
    """What the template shows of the file, worded in ``lang`` (``catalogs``: catalog id ->
    its name in ``lang``)."""
    d = _texts(lang, "DOSSIER")
    rect = _texts(lang, "RECTIFICATION")
    pick = 0 if lang == "zh" else 1
    devices = body["devices"]
    sep = "、" if lang == "zh" else ", "

    def limits(values: dict[str, float]) -> str:
        return sep.join(f"{metric_name(k, lang)} {plain(v)}" for k, v in values.items())

    limits_of = {dev["id"]: limits(dev.get("limits", {})) for dev in devices}
    production = [{**dev, "stage_text": _stages(dev, d), "baseline_text": _baselines(dev, d),
                   "rated_text": _kw(dev["rated_kw"]), "running_text": _kw(dev["running_threshold_kw"])}
                  for dev in devices if dev["kind"] == "power" and dev["role"] == "production"]
    treatment = [{**dev, "baseline_text": _baselines(dev, d), "rated_text": _kw(dev["rated_kw"]),
                  "running_text": _kw(dev["running_threshold_kw"])}
                 for dev in devices if dev["kind"] == "power" and dev["role"] == "treatment"]
    outlets = [{**dev, "kind_text": d[f"kind_{dev['kind']}"], "limits_text": limits_of[dev["id"]],
                "hourly_text": limits(dev.get("limits_hourly", {})),
                "limits_unit_text": unit_symbol(dev.get("limits_unit", ""), lang),
                "baseline_text": _baselines(dev, d)}
               for dev in devices if dev["kind"] in ("cems", "water")]
    stations = [dev for dev in devices if dev["kind"] == "air"]
    credit = body["credit"]
    return {
        "production": production, "treatment": treatment, "outlets": outlets, "stations": stations,
        "orders": [{**o, "start_text": _local(o["start"]), "end_text": _local(o["end"]),
                    "measure_text": d["shutdown"] if o["measure"] == "shutdown"
                    else d["limit_pct"].format(pct=o["limit_pct"])} for o in body["emergency_orders"]["items"]],
        "listings": [{**e, "name_text": e["list_name"] if lang == "zh" else e["list_name_en"],
                      "state": d["entry_removed"] if e["deleted"] else
                      d["entry_active"] if e["active"] else d["entry_inactive"]}
                     for e in body["positive_list"]["items"]],
        "active_lists": "、".join(e["list_name"] for e in body["positive_list"]["lists"]) if lang == "zh"
        else ", ".join(e["list_name_en"] for e in body["positive_list"]["lists"]),
        "level_history": [{**h, "at_text": _local(h["at"]),
                           "type_text": ENTRY_TYPES.get(h["entry_type"], (h["entry_type"],) * 2)[pick]}
                          for h in reversed(credit["level_history"])],
        "evaluations": [{**e, "at_text": _local(e["evaluated_at"]),
                         "kind_text": d.get(f"evaluation_kind_{e['kind']}", e["kind"]),
                         "catalog_text": catalogs.get(e["catalog"], e["catalog"])}
                        for e in body["evaluations"]["items"]],
        "alerts": [{**a, "rule_text": rule_name(a["rule"], lang), "start_text": _local(a["start"]),
                    "end_text": _local(a["end"]), "status_text": label(a["status"], lang),
                    "disposition_text": label(a["disposition"], lang),
                    "first_answer_text": _local(a["first_answer_at"]),
                    "summary_text": a["summary_zh"] if lang == "zh" else a["summary"],
                    "url": url_for(f"{CONSOLE_PREFIX}/alerts/{a['id']}", lang)}
                   for a in body["alerts"]["items"]],
        "alert_statuses": catalog(lang, "FORMS")["list"].join(f"{label(s, lang)} {n}"
                                             for s, n in sorted(body["alerts"]["by_status"].items())),
        "scheme_text": credit["level_scheme_name"] if lang == "zh" else credit["level_scheme_name_en"],
        "rectifications": [{**r, "rule_text": rule_name(r["rule"], lang), "due_text": _local(r["due"]),
                            "status_text": rect.get(f"st_{r['status']}", r["status"]),
                            "alert_url": url_for(f"{CONSOLE_PREFIX}/alerts/{r['alert_id']}", lang)}
                           for r in body["rectifications"]["items"]],
        "ledger": [{**e, "at_text": _local(e["recorded_at"]),
                    "type_text": ENTRY_TYPES.get(e["type"], (e["type"],) * 2)[pick],
                    "rule_text": rule_name(e["rule"], lang) if e["rule"] else "",
                    "reason_text": entry_text(e, lang)} for e in body["ledger"]["items"]],
        "generated_text": _local(body["generated_at"]),
        "credit_url": url_for(f"{CONSOLE_PREFIX}/enterprises/{body['enterprise_id']}", lang),
    }


class _Form:
    """The statistics page's filters as the officer typed them, read without raising."""

    def __init__(self, request: Request) -> None:
        qp = request.query_params
        self.group_by = qp.get("group_by") or "rule"
        self.period = (qp.get("period") or "").strip()
        self.since = (qp.get("since") or "").strip()
        self.until = (qp.get("until") or "").strip()
        self.region = (qp.get("region") or "").strip()
        self.region_digits = (qp.get("region_digits") or "6").strip()
        self.rule = (qp.get("rule") or "").strip()
        if not (self.period or self.since or self.until):
            self.period = datetime.now(CST).strftime("%Y-%m")  # this month by default

    def params(self) -> dict[str, str | None]:
        return {"group_by": self.group_by, "period": self.period or None, "since": self.since or None,
                "until": self.until or None, "region": self.region or None,
                "region_digits": self.region_digits if self.region_digits != "6" else None,
                "rule": self.rule or None}

    def resolve(self, ctx: ApiContext, principal: Principal) -> StatsFilter:
        """The filter, or :class:`InvalidRequest` naming what is wrong."""
        if self.group_by not in GROUP_BY:
            raise InvalidRequest(f"group_by: one of {', '.join(GROUP_BY)}")
        days: list[datetime | None] = []
        for name, value in (("since", self.since), ("until", self.until)):
            try:
                days.append(datetime.combine(date.fromisoformat(value), time(0), CST) if value else None)
            except ValueError as exc:
                raise InvalidRequest(f"{name}: a day YYYY-MM-DD") from exc
        if self.region and not _REGION.match(self.region):
            raise InvalidRequest("region: 2 to 6 digits of a division code")
        if self.region_digits not in tuple(str(n) for n in REGION_DIGITS):
            raise InvalidRequest("region_digits: 2, 4 or 6")
        until = days[1]
        return resolve_filter(ctx.registry, visibility(ctx, principal), group_by=cast(GroupBy, self.group_by),
                              since=days[0], until=None if until is None else until + timedelta(days=1),
                              period=self.period or None, region=self.region or None,
                              region_digits=int(self.region_digits), rule=self.rule or None)


def _cell(measure: str, value: float | None) -> str:
    if value is None:
        return "—"
    if measure in RATE_MEASURES:
        return percent(value)
    if measure == "median_hours_to_answer":
        return f"{value:.1f}"
    return str(int(value))


def _rows(body: dict[str, Any], lang: Lang) -> list[dict[str, Any]]:
    out = []
    for i in body["items"]:
        name = i["name"] if lang == "zh" else i["name_en"]
        out.append({"name": name, "code": i["group"] if i["group"] not in (None, name) else None,
                    "url": i.get("url"), "cells": [_cell(m, i[m]) for m in _MEASURE_COLUMNS]})
    return out


def _charts(body: dict[str, Any], by_rule: dict[str, Any], lang: Lang) -> list[Any]:
    s = _texts(lang, "STATS")
    items = body["items"][:CHART_GROUPS]
    names = [i["name"] if lang == "zh" else i["name_en"] for i in items]

    def col(key: str, rows: list[dict[str, Any]] = items) -> list[float | None]:
        return [r[key] for r in rows]

    rules = by_rule["items"][:CHART_GROUPS]
    rule_names = [r["name"] if lang == "zh" else r["name_en"] for r in rules]
    empty = s["no_data"]
    return [
        bar_chart(names, [Series(s["m_alerts"], col("alerts")), Series(s["m_warned"], col("warned")),
                          Series(s["m_answered"], col("answered"))], title=s["chart_alerts"], empty_label=empty,
                  integer=True),
        bar_chart(names, [Series(s["m_answer_rate"], col("answer_rate"))], title=s["chart_answer_rate"],
                  empty_label=empty, fmt=percent, top=1.0),
        bar_chart(names, [Series(s["m_median_hours_to_answer"], col("median_hours_to_answer"))],
                  title=s["chart_hours"], empty_label=empty),
        bar_chart(rule_names, [Series(s["m_confirmation_rate"], col("confirmation_rate", rules)),
                               Series(s["m_false_alarm_rate"], col("false_alarm_rate", rules))],
                  title=s["chart_rates_by_rule"], empty_label=empty, fmt=percent, top=1.0),
        bar_chart(names, [Series(s["m_first_offences"], col("first_offences")),
                          Series(s["m_rectifications_overdue"], col("rectifications_overdue"))],
                  title=s["chart_followup"], empty_label=empty, integer=True),
    ]


def build_supervision_console(ctx: ApiContext, auth: Auth) -> APIRouter:
    """The routes above, under ``/console``, with the console's session check."""
    router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False)
    viewers = auth.require_cookie("officer", "enterprise")
    officers = auth.require_cookie("officer")
    env = templates()
    reg = ctx.registry

    def render(request: Request, principal: Principal, name: str, status: int = 200, **kw: Any) -> HTMLResponse:
        lang = lang_of(request)
        other: Lang = "zh" if lang == "en" else "en"
        query = {k: v for k, v in request.query_params.items() if k not in ("lang", "token")}
        html = env.get_template(name).render(
            t=TEXTS[lang], lang=lang, switch_url=url_for(request.url.path, other, **query),
            nav=nav_links(principal, lang), logout=url_for(f"{CONSOLE_PREFIX}/logout", lang), **kw)
        return HTMLResponse(html, status_code=status, headers=_SECURITY_HEADERS)

    @router.get("/enterprises/{enterprise_id}/file")
    async def file_page(request: Request, principal: Annotated[Principal, Depends(viewers)],
                        enterprise_id: str) -> Response:
        lang = lang_of(request)
        ent = reg.enterprises.get(enterprise_id)
        if ent is None or not visibility(ctx, principal).sees(enterprise_id):
            raise NotFound(f"no enterprise {enterprise_id}")
        async with connect(ctx) as conn:
            dossier = await load_dossier(conn, reg, ctx.credit_model, ent, rows=FILE_ROWS)
        body = dossier_json(ctx, dossier, for_enterprise=principal.role == "enterprise")
        catalogs = {c.id: c.name.zh if lang == "zh" else c.name.en for c in ctx.credit_model.catalogs.values()}
        return render(request, principal, "enterprise_file.html", f=body, v=_file_view(body, lang, catalogs),
                      d=_texts(lang, "DOSSIER"), rows=FILE_ROWS, default_rows=DEFAULT_ROWS)

    async def stats_body(f: StatsFilter) -> dict[str, Any]:
        return stats_json(reg, f, await run_stats(ctx, f))

    @router.get("/stats")
    async def stats_page(request: Request, principal: Annotated[Principal, Depends(officers)]) -> Response:
        lang = lang_of(request)
        s = _texts(lang, "STATS")
        form = _Form(request)
        regions = visibility(ctx, principal).regions(reg)
        rules = sorted(((rid, names[0 if lang == "zh" else 1]) for rid, names in RULE_NAMES.items()),
                       key=lambda r: r[0])
        page: dict[str, Any] = {"s": s, "form": form, "regions": regions, "rules": rules,
                                "group_choices": [(g, s[f"by_{g}"]) for g in GROUP_BY],
                                "digit_choices": [(str(n), s[f"digits_{n}"])
                                                  for n in sorted(REGION_DIGITS, reverse=True)],
                                "measures": [(m, s[f"m_{m}"]) for m in _MEASURE_COLUMNS]}
        try:
            f = form.resolve(ctx, principal)
        except InvalidRequest as exc:
            return render(request, principal, "stats.html", status=422, error=s["invalid"].format(detail=exc.detail),
                          body=None, charts=[], csv_url=None, rows=[], total_cells=[], **page)
        body = await stats_body(f)
        by_rule = body if f.query.group_by == "rule" else await stats_body(
            StatsFilter(StatsQuery(group_by="rule", since=f.query.since, until=f.query.until,
                                   enterprise_ids=f.query.enterprise_ids, rule=f.query.rule),
                        region=f.region, period=f.period))
        for item in body["items"]:
            if f.query.group_by == "enterprise" and item["group"] is not None:
                item["url"] = url_for(f"{CONSOLE_PREFIX}/enterprises/{item['group']}/file", lang)
        return render(request, principal, "stats.html", error=None, body=body, charts=_charts(body, by_rule, lang),
                      rows=_rows(body, lang), total_cells=[_cell(m, body["total"][m]) for m in _MEASURE_COLUMNS],
                      csv_url=url_for(f"{CONSOLE_PREFIX}/stats.csv", "zh", **form.params()),
                      since_text=_local(body["since"]), until_text=_local(body["until"]), **page)

    @router.get("/stats.csv")
    async def stats_csv_download(request: Request, principal: Annotated[Principal, Depends(officers)]) -> Response:
        try:
            f = _Form(request).resolve(ctx, principal)
        except InvalidRequest as exc:
            return Response(exc.detail, status_code=422, media_type="text/plain; charset=utf-8")
        return csv_response(await stats_body(f))

    return router
