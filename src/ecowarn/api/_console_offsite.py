"""The alert page's part on off-site handling first (非现场优先): whether the alert's enterprise
was on a positive list when the alert started, its remote verifications (远程核查) and the form
to record one (officers). While a listed firm's alert waits for a verification, the dispatch
button is disabled with the reason (``offsite_section.html``, included by ``alert.html``).
"""

from __future__ import annotations

from typing import Any

import psycopg

from ecowarn.alerts import AlertState
from ecowarn.alerts.offsite import METHODS, RESULTS
from ecowarn.alerts.remote_verification import MAX_NOTE, verifications_of
from ecowarn.api._console_errors import FormFailure
from ecowarn.api._console_lang import local_minute, with_lang
from ecowarn.api._paths import CONSOLE_PREFIX
from ecowarn.i18n import WORKFLOW_TEXTS, Lang, label

__all__ = ["FORM", "off_site_section"]

# The refused form's name (FormFailure.form).
FORM = "remote_verification"


def _status_text(state: AlertState, lang: Lang) -> str:
    w = WORKFLOW_TEXTS[lang]
    off = state.off_site
    if off.required:
        return w["rv_required"]
    if off.latest is not None:
        return w[f"rv_done_{off.latest}"]
    return ""


async def off_site_section(conn: psycopg.AsyncConnection[Any], state: AlertState, lang: Lang,
                           failed: FormFailure | None, *, officer: bool) -> dict[str, Any]:
    """What ``offsite_section.html`` shows: ``off_site`` (None for an enterprise, which does
    not see the internal step)."""
    if not officer:
        return {"off_site": None}
    w = WORKFLOW_TEXTS[lang]
    off = state.off_site
    joiner = "、" if lang == "zh" else ", "
    rows = await verifications_of(conn, state.id)
    open_alert = state.status not in ("closed", "superseded")
    return {"off_site": {
        "listed": off.listed, "required": off.required,
        "intro": (w["rv_listed"].format(lists=joiner.join(off.lists)) if off.listed else w["rv_not_listed"]),
        "status": _status_text(state, lang),
        "why": w["rv_refused"].format(id=state.id, action=label("dispatch", lang), lists=joiner.join(off.lists)),
        "verifications": [{
            "at": local_minute(r["verified_at"]), "method": w[f"rv_m_{r['method']}"],
            "result": w[f"rv_r_{r['result']}"], "result_id": r["result"], "note": r["note"],
            "by": f"#{r['author_token']} {r['author_label']}".strip() if r["author_token"] else r["author_role"],
        } for r in rows],
        "can_record": open_alert,
        "action": with_lang(f"{CONSOLE_PREFIX}/alerts/{state.id}/remote-verification", lang),
        "methods": [(m, w[f"rv_m_{m}"]) for m in METHODS],
        "results": [(r, w[f"rv_r_{r}"]) for r in RESULTS],
        "max_note": MAX_NOTE,
        "form": FORM,
        "kept": {k: (failed.value(FORM, k) if failed else "") for k in ("method", "result", "note")},
    }}
