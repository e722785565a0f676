"""The officers' queue as a CSV download (``/console/queue?format=csv``, same filters),
riskiest first like the page; headers and values in the page's language
(``api/_console_csv.py``)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ecowarn.api._console_csv import csv_response, yes_no
from ecowarn.api._console_lang import local_minute
from ecowarn.config.registry import Registry
from ecowarn.i18n import Lang, label, rule_name

__all__ = ["QUEUE_CSV_COLUMNS", "queue_csv"]

QUEUE_CSV_COLUMNS = ("col_id", "col_score", "col_rule", "col_enterprise", "col_credit_code", "col_region",
                     "col_start", "col_severity", "col_status", "col_assignee", "col_due", "col_overdue",
                     "col_answers")


def queue_csv(rows: list[dict[str, Any]], registry: Registry, lang: Lang) -> Response:
    """The queue's ``rows`` (as :func:`alerts.queue_page` returns them) as CSV."""

    def line(r: dict[str, Any]) -> list[Any]:
        enterprise = registry.enterprises.get(r["enterprise_id"] or "")
        assignee = ("" if r["assignee_token"] is None
                    else f"#{r['assignee_token']} {r['assignee_label'] or ''}".strip())
        return [r["id"], f"{r['score'].total:.1f}", rule_name(r["rule"], lang),
                enterprise.name if enterprise else "", r["enterprise_id"] or "",
                enterprise.region if enterprise else "", local_minute(r["start_ts"]), label(r["severity"], lang),
                label(r["status"], lang), assignee, local_minute(r["due_at"]), yes_no(bool(r["overdue"]), lang),
                len(r["answers"])]

    return csv_response(QUEUE_CSV_COLUMNS, (line(r) for r in rows), lang, "queue")
