"""A credit-ledger entry worded in the page's language.

The ledger keeps a reason per entry as the credit module wrote it (English machine text such
as ``credit repair application 3 for deduction 7 filed ...`` or ``initial evaluation 1 against
catalog ...``), or as an officer typed it. A page words the entry from its type and the
numbers in that text; what an officer typed is shown as typed.
"""

from __future__ import annotations

import re
from typing import Any, Final

from ecowarn.credit.ledger import AUTO_REPAIR_REASON
from ecowarn.i18n import Lang, catalog

__all__ = ["describe_entry", "entry_text"]

_APPLICATION: Final = re.compile(r"credit repair application (\d+) for deduction (\d+) filed")
_DECIDED: Final = re.compile(r"credit repair application (\d+) (approved|rejected): (.*)", re.S)
_EVALUATION: Final = re.compile(r"(\w+) evaluation (\d+) against catalog \S+: score (-?\d+) \(\S+ (\S+)\)")
_CONFIRMED: Final = "confirmed violation "


def describe_entry(entry_type: str, points: int, reason: str, lang: Lang, *, repeat_count: int = 0) -> str:
    """What an entry of ``entry_type`` with ``points`` and ``reason`` records, in ``lang``."""
    c = catalog(lang, "CREDIT")
    if entry_type == "deduction" and reason.startswith(_CONFIRMED):
        if repeat_count:
            return c["desc_deduction_repeats"].format(points=-points, n=repeat_count)
        return c["desc_deduction"].format(points=-points)
    if entry_type == "first_offence" and reason.startswith(_CONFIRMED):
        return c["desc_first_offence"]
    if entry_type == "repair_application" and (m := _APPLICATION.match(reason)):
        return c["desc_application_of"].format(id=m.group(1), entry=m.group(2))
    if entry_type in ("repair", "repair_rejection") and (m := _DECIDED.match(reason)):
        key = "desc_approved" if m.group(2) == "approved" else "desc_rejected"
        return c[key].format(id=m.group(1), points=points, reason=m.group(3))
    if entry_type == "repair" and reason == AUTO_REPAIR_REASON:
        return c["desc_auto_repair"].format(points=points)
    if entry_type == "evaluation" and (m := _EVALUATION.match(reason)):
        kinds = catalog(lang, "DOSSIER")
        return c["desc_evaluation"].format(kind=kinds.get(f"evaluation_kind_{m.group(1)}", m.group(1)),
                                           id=m.group(2), score=m.group(3), level=m.group(4))
    return reason


def entry_text(e: dict[str, Any], lang: Lang) -> str:
    """:func:`describe_entry` of a ledger row (``entry_type`` or ``type``, ``points``, ``reason``)."""
    return describe_entry(str(e.get("entry_type") or e.get("type")), int(e.get("points") or 0),
                          str(e.get("reason") or ""), lang, repeat_count=int(e.get("repeat_count") or 0))
