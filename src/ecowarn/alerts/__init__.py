"""Alerts: reconciliation of findings (one alert per episode) and the enforcement workflow.

- :mod:`alerts.store`: ``reconcile`` (detector runner), repeat episodes;
- :mod:`alerts.model`: statuses, actions, dispositions, :class:`Actor`, parameters;
- :mod:`alerts.lifecycle`: transitions, claims, assignment, comments;
- :mod:`alerts.answers`: the enterprise's answers, and officers reading them;
- :mod:`alerts.hearing`: the right to be heard before confirmation (:func:`assess`);
- :mod:`alerts.first_offence`: 首违不罚, confirmation without penalty;
- :mod:`alerts.queue`: the officers' queue, its risk score, credit levels, labels;
- :mod:`alerts.escalation`: :class:`Escalator`;
- :mod:`alerts.audit`: the append-only trail; :mod:`alerts.errors`: the errors.
"""

from ecowarn.alerts.answers import MaintenanceWindow, answers_of, record_answers_read, submit_answer
from ecowarn.alerts.audit import audit_trail, load_actor, record_event
from ecowarn.alerts.errors import (
    AlertNotFound,
    AlreadyClaimed,
    FirstOffenceRefused,
    HearingPending,
    IllegalTransition,
    InvalidWorkflowInput,
    WorkflowConflict,
    WorkflowError,
)
from ecowarn.alerts.escalation import EscalationParams, Escalator
from ecowarn.alerts.first_offence import FirstOffenceCheck, check_first_offence
from ecowarn.alerts.hearing import Hearing, assess
from ecowarn.alerts.lifecycle import AlertState, add_comment, assign, claim, fetch_state, transition
from ecowarn.alerts.model import (
    ACTIONS,
    ACTIVE_STATUSES,
    ANSWER_KINDS,
    DISPOSITIONS,
    FIRST_OFFENCE,
    STATUSES,
    Actor,
    ConfirmHook,
    WorkflowParams,
    allowed_actions,
    no_confirm_hook,
)
from ecowarn.alerts.queue import (
    QueueFilter,
    RiskScore,
    RiskWeights,
    credit_level_of,
    credit_levels_of,
    list_labels,
    queue_page,
    risk_score,
)
from ecowarn.alerts.store import AlertDraft, ReconcileResult, reconcile

__all__ = [
    "ACTIONS",
    "ACTIVE_STATUSES",
    "ANSWER_KINDS",
    "DISPOSITIONS",
    "FIRST_OFFENCE",
    "STATUSES",
    "Actor",
    "AlertDraft",
    "AlertNotFound",
    "AlertState",
    "AlreadyClaimed",
    "ConfirmHook",
    "EscalationParams",
    "Escalator",
    "FirstOffenceCheck",
    "FirstOffenceRefused",
    "Hearing",
    "HearingPending",
    "IllegalTransition",
    "InvalidWorkflowInput",
    "MaintenanceWindow",
    "QueueFilter",
    "ReconcileResult",
    "RiskScore",
    "RiskWeights",
    "WorkflowConflict",
    "WorkflowError",
    "WorkflowParams",
    "add_comment",
    "allowed_actions",
    "answers_of",
    "assess",
    "assign",
    "audit_trail",
    "check_first_offence",
    "claim",
    "credit_level_of",
    "credit_levels_of",
    "fetch_state",
    "list_labels",
    "load_actor",
    "no_confirm_hook",
    "queue_page",
    "reconcile",
    "record_answers_read",
    "record_event",
    "risk_score",
    "submit_answer",
    "transition",
]
