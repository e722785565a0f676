"""Refusals shown next to the console form that caused them.

A form post the domain refuses with 409 (the rule does not allow it now: a publication
period still running, an application already pending or decided) or 422 (a field that
cannot be accepted: an empty commitment or reason, a refused file) re-renders its page with
the reason beside the form, in the page's language, and the typed text kept. Other errors
(403, 404, 413, 5xx) keep the console's error page: there is no form to go back to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ecowarn.alerts.errors import InvalidWorkflowInput
from ecowarn.api.errors import classify
from ecowarn.credit.errors import NotEligible
from ecowarn.i18n import Lang
from ecowarn.store.attachments import AttachmentRejected

__all__ = ["Refusal", "refusal_of"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a form was refused: the form it belongs to (``target``: the deduction or the
    application), the HTTP status the page is served with, the reason in the page's
    language and the fields as typed."""

    target: int
    status: int
    message: str
    kept: Mapping[str, str] = field(default_factory=dict)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def refusal_of(exc: Exception, lang: Lang, *, target: int,
               kept: Mapping[str, str] | None = None) -> Refusal | None:
    """The refusal to show beside the form for ``exc``, or None when the error page
    should answer (not a 409 or 422 of the domain)."""
    if isinstance(exc, AttachmentRejected):
        status, english, chinese = 422, exc.message, exc.message_zh
    elif isinstance(exc, InvalidWorkflowInput):
        status, english = 422, exc.message
        chinese = getattr(exc, "detail_zh", None) or english
    elif isinstance(exc, NotEligible):
        status, english = classify(exc).status, str(exc)
        chinese = getattr(exc, "detail_zh", None) or english
    else:
        return None
    if status not in (409, 422):
        return None
    message = chinese if lang == "zh" else _sentence(english)
    return Refusal(target=target, status=status, message=message, kept=dict(kept or {}))
