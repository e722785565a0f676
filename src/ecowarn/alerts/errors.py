"""Errors of the alert workflow. The HTTP layer maps them in ``api/errors.py``.

    WorkflowError                  base; never raised itself
     ├── AlertNotFound             no such alert, or one the actor may not see   -> 404
     ├── InvalidWorkflowInput      a value the workflow refuses (names the field) -> 422
     ├── WorkflowConflict          the alert's state forbids the request          -> 409
     │    ├── IllegalTransition    action not allowed from the current status
     │    ├── AlreadyClaimed       another officer holds the alert
     │    ├── HearingPending       confirm before the enterprise was heard (``reason``
     │    │                        awaiting_answer | answer_unread | not_warned, ``allowed_at``)
     │    ├── FirstOffenceRefused  first_offence_no_penalty not allowed (``reason`` not_eligible,
     │    │                        ``failed``: the checks that failed)
     │    └── RemoteVerificationRequired  dispatch of a positive-listed firm's alert before a
     │                             remote verification (``reason`` remote_verification_required)
     ├── DeclarationNotFound       no such maintenance declaration (or not the actor's) -> 404
     └── DeclarationDecided        the declaration was approved or rejected already  -> 409
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ecowarn.alerts.hearing import Hearing, explain
from ecowarn.alerts.offsite import OffSite
from ecowarn.i18n import Lang, catalog, label, rule_name

__all__ = [
    "AlertNotFound",
    "AlreadyClaimed",
    "DeclarationDecided",
    "DeclarationNotFound",
    "FirstOffenceRefused",
    "HearingPending",
    "IllegalTransition",
    "InvalidWorkflowInput",
    "RemoteVerificationRequired",
    "WorkflowConflict",
    "WorkflowError",
]


class WorkflowError(Exception):
    """Base of the alert workflow's errors."""


class AlertNotFound(WorkflowError):
    """No alert with this id, or one outside the actor's enterprise (not disclosed)."""

    def __init__(self, alert_id: int) -> None:
        super().__init__(f"no alert {alert_id}")
        self.alert_id = alert_id


class InvalidWorkflowInput(WorkflowError):
    """A request value the workflow refuses; ``field`` is its path, e.g. ``body.reason``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class WorkflowConflict(WorkflowError):
    """The alert's current state does not allow the request."""

    def __init__(self, message: str, *, alert_id: int, status: str,
                 allowed: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.alert_id = alert_id
        self.status = status
        self.allowed = tuple(allowed)


class IllegalTransition(WorkflowConflict):
    """``action`` cannot be taken from ``status``; ``allowed`` lists the actions that can."""

    def __init__(self, alert_id: int, status: str, action: str, allowed: Sequence[str]) -> None:
        if allowed:
            hint = f"allowed from {status}: {', '.join(allowed)}"
        else:
            hint = f"{status} is final, nothing more can be done"
        super().__init__(f"alert {alert_id} is {status}; cannot {action} ({hint})",
                         alert_id=alert_id, status=status, allowed=allowed)
        self.action = action


class AlreadyClaimed(WorkflowConflict):
    """Another officer's token holds the alert."""

    def __init__(self, alert_id: int, status: str, assignee_token: int, assignee_label: str,
                 ) -> None:
        who = f"token {assignee_token}" + (f" ({assignee_label})" if assignee_label else "")
        super().__init__(f"alert {alert_id} is already claimed by {who}",
                         alert_id=alert_id, status=status)
        self.assignee_token = assignee_token
        self.assignee_label = assignee_label


class HearingPending(WorkflowConflict):
    """``confirm`` refused: the enterprise has not been heard yet (:mod:`alerts.hearing`).

    ``detail_zh`` and ``extra`` (``reason``, ``allowed_at``, ``hearing``) go into the
    JSON error body."""

    def __init__(self, alert_id: int, status: str, hearing: Hearing, allowed: Sequence[str]) -> None:
        def text(lang: Lang) -> str:
            return catalog(lang, "WORKFLOW")["hearing_refused"].format(id=alert_id,
                                                                       why=explain(hearing, lang))

        super().__init__(text("en"), alert_id=alert_id, status=status, allowed=allowed)
        self.hearing = hearing
        self.detail_zh = text("zh")
        shown = hearing.as_json()
        self.extra: dict[str, Any] = {"reason": hearing.reason, "allowed_at": shown["allowed_at"],
                                      "hearing": shown}


class FirstOffenceRefused(WorkflowConflict):
    """``first_offence_no_penalty`` refused; ``failed`` names the checks that failed:
    ``rule_not_allowed``, ``no_verified_rectification``, ``prior_violation`` (with the
    ledger entries in ``prior_entries``)."""

    def __init__(self, alert_id: int, status: str, *, rule: str, failed: Sequence[str],
                 window_months: int, prior_entries: Sequence[int], allowed: Sequence[str]) -> None:
        def text(lang: Lang) -> str:
            texts = catalog(lang, "WORKFLOW")
            why = [texts[f"fo_{code}"].format(rule=rule_name(rule, lang), months=window_months,
                                              n=len(prior_entries),
                                              entries=", ".join(map(str, prior_entries)))
                   for code in failed]
            return texts["fo_refused"].format(id=alert_id, why=("; " if lang == "en" else "；").join(why))

        super().__init__(text("en"), alert_id=alert_id, status=status, allowed=allowed)
        self.failed = tuple(failed)
        self.prior_entries = tuple(prior_entries)
        self.detail_zh = text("zh")
        self.extra: dict[str, Any] = {"reason": "not_eligible", "failed": list(self.failed),
                                      "prior_entries": list(self.prior_entries),
                                      "window_months": window_months}


class RemoteVerificationRequired(WorkflowConflict):
    """``dispatch`` refused: the alert's enterprise was on a positive list when the alert
    started, and no remote verification is recorded yet (:mod:`alerts.offsite`)."""

    def __init__(self, alert_id: int, status: str, action: str, off_site: OffSite,
                 allowed: Sequence[str]) -> None:
        def text(lang: Lang) -> str:
            texts = catalog(lang, "WORKFLOW")
            return texts["rv_refused"].format(id=alert_id, action=label(action, lang),
                                              lists=", ".join(off_site.lists))

        super().__init__(text("en"), alert_id=alert_id, status=status, allowed=allowed)
        self.action = action
        self.detail_zh = text("zh")
        self.extra: dict[str, Any] = {"reason": "remote_verification_required", "action": action,
                                      "off_site": off_site.as_json()}


class DeclarationNotFound(WorkflowError):
    """No maintenance declaration with this id, or one of another enterprise (not disclosed)."""

    def __init__(self, maintenance_id: int) -> None:
        super().__init__(f"no maintenance declaration {maintenance_id}")
        self.maintenance_id = maintenance_id


class DeclarationDecided(WorkflowError):
    """Only a pending declaration can be approved or rejected."""

    def __init__(self, maintenance_id: int, status: str) -> None:
        super().__init__(f"maintenance declaration {maintenance_id} is {status} already; "
                         "only a pending one can be approved or rejected")
        self.maintenance_id = maintenance_id
        self.status = status
