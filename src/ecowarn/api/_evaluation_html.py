"""The printable evaluation report: one credit evaluation, Chinese first with English, or in
one language (the console's page in the page's language).

Rendered from the evaluation's stored document (the catalog's wording as it was when the
evaluation was recorded, not today's configuration): every problem found, grouped by
category, with its points, note and evidence, then the bonus items and the full
checklist, the score and level, the ledger entry and the document's SHA-256, and lines
to sign. Inline styles only; nothing is loaded from elsewhere.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from jinja2 import Environment

from ecowarn.api._time import CST
from ecowarn.config.registry import Enterprise
from ecowarn.credit.evaluation import CreditModel
from ecowarn.i18n import Lang, catalog

__all__ = ["render_evaluation_report"]

_ZH = catalog("zh", "EVALUATION_REPORT")
_EN = catalog("en", "EVALUATION_REPORT")
LABELS = {k: {"zh": v, "en": _EN[k]} for k, v in _ZH.items()}


def _local(value: str | datetime | None) -> str:
    if not value:
        return ""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.astimezone(CST).strftime("%Y-%m-%d %H:%M")


def _both(key: str, **values: Any) -> dict[str, str]:
    return {"zh": _ZH[key].format(**values), "en": _EN[key].format(**values)}


def render_evaluation_report(env: Environment, row: dict[str, Any], model: CreditModel,
                             enterprise: Enterprise | None, today: tuple[int, str], *,
                             lang: Lang | None = None) -> str:
    """HTML of the evaluation in ``row`` (an ``evaluations`` row); ``today``: the enterprise's
    score and level now. In ``lang`` alone (the console's pages), or Chinese with English."""
    doc = json.loads(row["document"])
    results = {i["item"]: i for i in doc["items"]}
    categories: list[dict[str, Any]] = []
    for entry in doc["checklist"]:  # every item of the catalog, in its order
        if not categories or categories[-1]["id"] != entry["category"]:
            categories.append({"id": entry["category"], "name": entry["category_name"], "items": []})
        categories[-1]["items"].append({**entry, "result": results.get(entry["item"])})
    problems = [c | {"items": [i for i in c["items"] if i["result"] and i["result"]["points"] < 0]}
                for c in categories]
    problems = [c for c in problems if c["items"]]
    merits = [i for c in categories for i in c["items"] if i["result"] and i["result"]["points"] > 0]
    scheme = model.schemes.get(doc["scheme"])
    level = scheme.level(doc["level"]) if scheme else None
    actor = doc.get("actor") or {}
    return env.get_template("evaluation_report.html").render(
        L=LABELS, only=lang, doc=doc, row=row, enterprise=enterprise,
        title=LABELS[f"title_{doc['kind']}"], kind=LABELS[f"kind_{doc['kind']}"],
        evaluated_at=_local(doc["evaluated_at"]), recorded_at=_local(doc["recorded_at"]),
        officer=actor.get("label") or "",
        level_name=level.name if level else None, scheme_name=scheme.name if scheme else None,
        other_levels=[(s.name, s.level(s.level_for(doc["score"]))) for sid, s in model.schemes.items()
                      if sid != doc["scheme"]],
        categories=categories, problems=problems,
        problem_count=sum(len(c["items"]) for c in problems), merits=merits,
        problems_summary=_both("problems_summary", n=sum(len(c["items"]) for c in problems),
                               points=-doc["deductions"]),
        ledger_note=_both("ledger_note", entry=row["entry_id"]),
        current_note=_both("current_note", score=today[0], level=today[1]),
        reversed=_both("reversed", entry=row["reversed_by"]) if row.get("reversed_by") else None,
    )
