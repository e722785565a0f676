"""Request bodies and JSON shapes of the alert workflow, shared by the API and the console.

What an enterprise sees of its own alert's workflow: the status, the actions'
public dates (dispatched, due, decided, closed), the disposition and its reason,
repeat episodes, its answers and the public comments. Internal matters stay with
the officers: assignee and claim, acknowledgement, escalation, internal comments, and
the ``hearing`` (whether confirming is possible yet, why not, and from when:
:class:`alerts.hearing.Hearing`, e.g. ``{"satisfied": false, "reason":
"awaiting_answer", "allowed_at": ..., "due_at": ..., "answers": 0, "unread": 0,
"as_of": ...}``) and the ``off_site`` handling (:class:`alerts.offsite.OffSite`: whether
the enterprise was on a positive list when the alert started and whether dispatch still
waits for a remote verification).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from ecowarn.alerts import AlertState
from ecowarn.alerts.answers import MAX_ATTACHMENTS
from ecowarn.alerts.lifecycle import MAX_TEXT
from ecowarn.api._time import AwareDatetime, iso, iso_or_none
from ecowarn.api.pagination import BIGINT_MAX

__all__ = [
    "AnswerIn",
    "AssignIn",
    "CommentIn",
    "MaintenanceWindowIn",
    "TransitionIn",
    "answer_out",
    "comment_out",
    "episode_out",
    "event_out",
    "state_out",
]

Text = Field(min_length=1, max_length=MAX_TEXT)


class TransitionIn(BaseModel):
    """``POST /alerts/{id}/transitions``. ``reason`` is required to dismiss and to close
    as ``false_alarm``; ``disposition`` always with ``close``, and with ``confirm`` only
    ``first_offence_no_penalty`` (首违不罚)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["acknowledge", "dispatch", "confirm", "dismiss", "close"]
    reason: str | None = Field(default=None, max_length=MAX_TEXT)
    disposition: Literal["case_filed", "rectification_ordered", "explanation_accepted",
                         "false_alarm", "first_offence_no_penalty"] | None = None


class CommentIn(BaseModel):
    """``POST /alerts/{id}/comments``: ``public`` comments are shown to the enterprise."""

    model_config = ConfigDict(extra="forbid")

    text: str = Text
    public: bool = False


class AssignIn(BaseModel):
    """``POST /alerts/{id}/assign``: an officer's (or admin's) token id; null releases."""

    model_config = ConfigDict(extra="forbid")

    assignee_token_id: int | None = Field(ge=1, le=BIGINT_MAX)
    reason: str | None = Field(default=None, max_length=MAX_TEXT)


class MaintenanceWindowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(min_length=1, max_length=64)
    start: AwareDatetime
    end: AwareDatetime

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, value: AwareDatetime, info: ValidationInfo) -> AwareDatetime:
        start = info.data.get("start")
        if start is not None and value <= start:
            raise ValueError("end must be after start")
        return value


class AnswerIn(BaseModel):
    """``POST /alerts/{id}/answers``. ``maintenance`` (one of the alert's devices and a
    window) only with ``kind=maintenance_declared``; it also creates a maintenance row."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["explanation", "maintenance_declared", "rectification_done"]
    text: str = Text
    attachments: list[str] = Field(default_factory=list, max_length=MAX_ATTACHMENTS,
                                   description="references (document ids, URLs), not files")
    maintenance: MaintenanceWindowIn | None = None


def _who(token_id: int | None, label: str | None) -> dict[str, Any] | None:
    return None if token_id is None else {"token_id": token_id, "label": label or ""}


def state_out(s: AlertState, *, for_enterprise: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": s.id,
        "status": s.status,
        "dispatched_at": iso_or_none(s.dispatched_at),
        "due_at": iso_or_none(s.due_at),
        "decided_at": iso_or_none(s.decided_at),
        "closed_at": iso_or_none(s.closed_at),
        "disposition": s.disposition,
        "disposition_reason": s.disposition_reason,
        "repeat_count": s.repeat_count,
        "last_repeat_at": iso_or_none(s.last_repeat_at),
    }
    if not for_enterprise:
        out.update({
            "allowed_actions": list(s.allowed_actions),
            "assignee": _who(s.assignee_token, s.assignee_label),
            "claimed_at": iso_or_none(s.claimed_at),
            "acknowledged_at": iso_or_none(s.acknowledged_at),
            "escalation_level": s.escalation_level,
            "escalated_at": iso_or_none(s.escalated_at),
            "hearing": s.hearing.as_json(),
            "off_site": s.off_site.as_json(),
        })
    return out


def answer_out(r: dict[str, Any]) -> dict[str, Any]:
    """An answer as JSON; ``files``: the files filed with it (``{id, filename, content_type, size,
    sha256}``, downloaded from ``GET /attachments/{id}``); ``read_at``: when an officer first read
    it (null while unread)."""
    return {"id": r["id"], "kind": r["kind"], "text": r["body"],
            "attachments": list(r["attachments"]), "files": list(r.get("files") or []),
            "maintenance_id": r["maintenance_id"],
            "by": {"token_id": r["author_token"], "role": r["author_role"],
                   "label": r["author_label"]},
            "created_at": iso(r["created_at"]),
            "read_at": iso_or_none(r.get("first_read_at"))}


def comment_out(r: dict[str, Any], *, for_enterprise: bool = False) -> dict[str, Any]:
    by: dict[str, Any] = {"role": r["author_role"]}
    if not for_enterprise:
        by.update(token_id=r["author_token"], label=r["author_label"])
    return {"id": r["id"], "text": r["body"], "public": r["public"], "by": by,
            "created_at": iso(r["created_at"])}


def episode_out(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": r["id"], "device_ids": list(r["device_ids"]), "start": iso(r["start_ts"]),
            "end": iso_or_none(r["end_ts"]), "severity": r["severity"],
            "summary": r["summary"], "summary_zh": r["summary_zh"],
            "recorded_at": iso(r["created_at"])}


def event_out(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": r["id"], "at": iso(r["at"]), "kind": r["kind"], "action": r["action"],
            "from_status": r["from_status"], "to_status": r["to_status"],
            "actor": {"token_id": r["actor_token"], "role": r["actor_role"],
                      "label": r["actor_label"]},
            "reason": r["reason"], "disposition": r["disposition"], "public": r["public"],
            "data": r["data"]}
