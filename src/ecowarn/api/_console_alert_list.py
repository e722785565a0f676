"""The console's alert list: its filters (from the query) and its CSV download.

Filters: ``rule``, ``severity``, ``status`` (a status, or ``active`` for any open one: not
closed, not superseded), ``answer=overdue`` (dispatched, answer deadline passed, no answer:
what the overview's "answers overdue" counts) and ``device_id``. Unknown values are ignored
rather than refused, as on the queue, so a stale link shows the unfiltered list.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import psycopg
from starlette.responses import Response

from ecowarn.alerts.model import ACTIVE_STATUSES, STATUSES
from ecowarn.api._alerts_db import AlertFilter, list_alerts
from ecowarn.api._console_bureau_db import SEVERITY_ORDER
from ecowarn.api._console_csv import CSV_MAX_ROWS, csv_response
from ecowarn.api._console_lang import local_minute
from ecowarn.config.registry import Registry
from ecowarn.i18n import RULE_NAMES, Lang, catalog, label, rule_name

__all__ = ["ALERT_CSV_COLUMNS", "alert_filter_choices", "alert_list_filter", "alerts_csv"]

ALERT_CSV_COLUMNS = ("col_id", "col_rule", "col_enterprise", "col_credit_code", "col_region", "col_devices",
                     "col_start", "col_end", "col_severity", "col_status", "col_summary")


def alert_list_filter(*, rule: str | None, status: str | None, severity: str | None, answer: str | None,
                      device_id: str | None, now: datetime) -> tuple[AlertFilter, dict[str, str | None]]:
    """The list's filter and the query parameters that select it (for links)."""
    rule = rule if rule in RULE_NAMES else None
    severity = severity if severity in SEVERITY_ORDER else None
    status = status if status in STATUSES or status == "active" else None
    answer = "overdue" if answer == "overdue" else None
    device_id = device_id or None
    f = AlertFilter(rule=rule, severity=severity, device_id=device_id,
                    status=status if status in STATUSES else None,
                    statuses=ACTIVE_STATUSES if status == "active" else None,
                    answer_overdue_at=now if answer else None)
    return f, {"rule": rule, "severity": severity, "status": status, "answer": answer, "device_id": device_id}


def alert_filter_choices(lang: Lang) -> dict[str, list[tuple[str, str]]]:
    """The options of the list's filter form."""
    b = catalog(lang, "BUREAU")
    return {"rules": [(r, rule_name(r, lang)) for r in RULE_NAMES],
            "severities": [(s, label(s, lang)) for s in SEVERITY_ORDER],
            "statuses": [("active", b["active"]), *((s, label(s, lang)) for s in STATUSES)]}


async def alerts_csv(conn: psycopg.AsyncConnection[Any], f: AlertFilter, scope: Collection[str] | None,
                     registry: Registry, lang: Lang) -> Response:
    """Every alert of the list (newest first, at most ``CSV_MAX_ROWS``) as a CSV download."""
    rows: list[dict[str, Any]] = []
    after = None
    while len(rows) < CSV_MAX_ROWS:
        page, after = await list_alerts(conn, f, scope=scope, limit=500, after=after)
        rows += page
        if after is None:
            break
    sep = "、" if lang == "zh" else ", "

    def line(r: dict[str, Any]) -> list[Any]:
        enterprise = registry.enterprises.get(r["enterprise_id"] or "")
        return [r["id"], rule_name(r["rule"], lang), enterprise.name if enterprise else "",
                r["enterprise_id"] or "", enterprise.region if enterprise else "", sep.join(r["device_ids"]),
                local_minute(r["start_ts"]), local_minute(r["end_ts"]), label(r["severity"], lang),
                label(r["status"], lang), r["summary_zh"] if lang == "zh" else r["summary"]]

    return csv_response(ALERT_CSV_COLUMNS, (line(r) for r in rows[:CSV_MAX_ROWS]), lang, "alerts")
