"""Reasons the system wrote on an alert's trail, worded in the page's language.

Steps the platform takes on its own carry a reason it wrote in English: a claim that
acknowledges the alert, a rectification order that dispatches it (codes of
:data:`alerts.audit.SYSTEM_REASONS`, kept in the event's ``data``), an escalation, an
alert merged into another (their text, read here by its pattern). A page shows them in its
reader's language; a reason a person typed, or a text this module does not know, is shown
as stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from ecowarn.alerts.audit import reason_code
from ecowarn.i18n import Lang, catalog, label

__all__ = ["trail_reason"]

_ESCALATED: Final = re.compile(r"not acknowledged (\d+) min after it was raised \((\w+): every (\d+) min\)")
_MERGED: Final = re.compile(r"merged into alert (\d+|-)")


def trail_reason(event: Mapping[str, Any], lang: Lang) -> str:
    """The reason of a trail event (a row of ``alert_events`` or ``rectification_events``)
    in ``lang``: a system reason in words, anything else as stored."""
    w = catalog(lang, "WORKFLOW")
    text = str(event.get("reason") or "")
    code = reason_code(event)
    if code is not None:
        return w[f"sys_reason_{code}"]
    if m := _ESCALATED.fullmatch(text):
        return w["sys_reason_escalated"].format(minutes=m.group(1), severity=label(m.group(2), lang),
                                                every=m.group(3))
    if m := _MERGED.fullmatch(text):
        return w["sys_reason_merged"].format(alert=m.group(1))
    return text
