"""Refusals shown next to the console form that caused them, in the page's language.

A console form post that the workflow refuses (a conflict, 409, or a value it cannot take,
422) is answered with the page the form was on, rendered again with the reason next to
that form and the text the user typed still in its fields; the response keeps the
refusal's status (409 or 422), so a client or a test tells a refusal from a success (303)
by the status, and a browser shows the page either way. Everything else keeps the
console's error page: a missing or foreign id (404), a stale form token (403), a body too
large (413).

:func:`form_failure` words the refusal: the domain's Chinese reason (``detail_zh``) or
English one where the error carries them, otherwise a message of the ``WORKFLOW`` catalog
built from the error's attributes (status, action, field). When the refusal is about one
input it names that input (``FormFailure.field``: ``end``, ``files``, ``reason``...), and a
template shows the message beside that input, marked invalid, instead of at the top of the
form (``alert.html``'s ``field_error`` and ``form_error`` macros).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ecowarn.alerts.answers import MAX_ATTACHMENT_LEN, MAX_ATTACHMENTS
from ecowarn.alerts.errors import (
    AlreadyClaimed,
    DeclarationDecided,
    IllegalTransition,
    InvalidWorkflowInput,
    WorkflowConflict,
)
from ecowarn.alerts.lifecycle import MAX_TEXT
from ecowarn.alerts.maintenance import MAX_REASON
from ecowarn.alerts.rectification import RectificationInputError
from ecowarn.api.errors import InvalidRequest
from ecowarn.i18n import WORKFLOW_TEXTS, Lang, catalog, label

__all__ = ["INLINE_ERRORS", "WINDOW_MISSING", "FormFailure", "form_failure", "input_at_fault"]

# Refusals rendered next to their form; anything else goes to the console's error page.
INLINE_ERRORS: Final = (WorkflowConflict, DeclarationDecided, InvalidWorkflowInput, InvalidRequest)

_FILE_FIELD = re.compile(r"files\[(\d+)\]")
# What the answer form's window check says of an input left empty (api/console_workflow.py).
WINDOW_MISSING: Final = "required for a maintenance window"
# The last part of a rectification field's path -> its label (catalog RECTIFICATION).
_RECTIFICATION_FIELDS: Final = {
    "due": "c_due", "requirements": "c_requirements", "text": "c_text", "attachments": "c_references",
    "files": "c_file", "reason": "c_reason", "data_check_days": "c_data_check_days",
}


@dataclass(frozen=True, slots=True)
class FormFailure:
    """A refused form post: which form (``transition:confirm``, ``comment``, ``answer``,
    ``rectification``, ``submit:12``, ``verify:12``, ``reject:12``, ``decide:7``...), the
    message, the response status, the fields as typed, and what else the page may show
    (``data_check`` of a verification the check refused)."""

    form: str
    message: str
    status: int
    kept: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    field: str = ""  # the input at fault (its form name), "" when the refusal is the form's

    def at(self, form: str, name: str) -> bool:
        """Whether the refusal of ``form`` is about its input ``name``."""
        return form == self.form and name == self.field

    def value(self, form: str, name: str, default: str = "") -> str:
        """The typed value of ``name`` when ``form`` is the refused one, else ``default``."""
        return self.kept.get(name, default) if form == self.form else default


def form_failure(exc: Exception, lang: Lang, form: str, kept: Mapping[str, str]) -> FormFailure:
    """The refusal ``exc`` of ``form`` (one of :data:`INLINE_ERRORS`), worded in ``lang``."""
    status = 409 if isinstance(exc, WorkflowConflict | DeclarationDecided) else 422
    extra = getattr(exc, "extra", None)
    text = message(exc, lang, form)
    if lang == "en":  # the domain's English reasons start in lower case, within a sentence
        text = text[:1].upper() + text[1:]
    return FormFailure(form, text, status,
                       {k: v for k, v in kept.items() if k != "csrf"},
                       dict(extra) if isinstance(extra, dict) else {}, field=input_at_fault(exc, form))


# An answer's maintenance window refused by the domain (``body.maintenance...``): the input.
_WINDOW_INPUT: Final = {"device_id": "device_id", "start": "start", "end": "end", "maintenance": "kind"}


def input_at_fault(exc: Exception, form: str) -> str:
    """The form input a refusal is about (``end``, ``files``, ``reason``...), or ""."""
    if isinstance(exc, InvalidWorkflowInput):
        path = exc.field
    elif isinstance(exc, InvalidRequest) and exc.fields:
        path = exc.fields[0].path
    else:
        return ""
    if "maintenance" in path:
        return _WINDOW_INPUT.get(path.rsplit(".", 1)[-1], "")
    name = _field_name(path)
    if form.startswith("submit:") and name == "attachments":  # a submission's references
        return "references"
    return name if re.fullmatch(r"[a-z_]+", name) else ""


def _field_name(path: str) -> str:
    """``body.files[0].filename`` -> ``files``; ``form.due`` -> ``due``."""
    last = path.split(".")[1] if path.count(".") >= 1 else path
    return last.split("[")[0]


def _rectification_label(path: str, lang: Lang) -> str:
    texts = catalog(lang, "RECTIFICATION")
    m = _FILE_FIELD.search(path)
    if m:
        return texts["c_file_n"].format(n=int(m.group(1)) + 1)
    key = _RECTIFICATION_FIELDS.get(_field_name(path))
    return texts[key] if key else path


def _localised(exc: Exception, lang: Lang) -> str | None:
    """The domain's own wording, when it has one in ``lang``."""
    detail_zh = getattr(exc, "detail_zh", None)
    if not isinstance(detail_zh, str):
        return None
    return detail_zh if lang == "zh" else str(exc)


def _action_name(action: str, lang: Lang) -> str:
    if action in ("answer", "claim"):
        return WORKFLOW_TEXTS[lang][action]
    return label(action, lang)


def message(exc: Exception, lang: Lang, form: str) -> str:
    """Why ``form`` was refused, in ``lang``."""
    w = WORKFLOW_TEXTS[lang]
    sep = "：" if lang == "zh" else ": "
    if isinstance(exc, RectificationInputError):
        text = exc.message
        if lang == "zh":
            text = exc.detail_zh.removeprefix(f"{exc.field}：")
        return f"{_rectification_label(exc.field, lang)}{sep}{text}"
    own = _localised(exc, lang)
    if own is not None:
        return own
    if isinstance(exc, IllegalTransition):
        names = {"status": label(exc.status, lang), "action": _action_name(exc.action, lang)}
        if not exc.allowed:
            return w["err_final"].format(**names)
        joiner = "、" if lang == "zh" else ", "
        return w["err_illegal"].format(**names, allowed=joiner.join(label(a, lang) for a in exc.allowed))
    if isinstance(exc, AlreadyClaimed):
        who = f"#{exc.assignee_token}" + (f" {exc.assignee_label}" if exc.assignee_label else "")
        return w["err_claimed"].format(who=who)
    if isinstance(exc, DeclarationDecided):
        return w["err_decided"].format(status=label(exc.status, lang))
    if isinstance(exc, InvalidWorkflowInput):
        return _input_message(exc.field, exc.message, lang, form)
    if isinstance(exc, InvalidRequest):
        path = exc.fields[0].path if exc.fields else ""
        return _input_message(path, exc.fields[0].message if exc.fields else exc.detail, lang, form)
    return str(exc)


def _input_message(path: str, detail: str, lang: Lang, form: str) -> str:
    w = WORKFLOW_TEXTS[lang]
    name = _field_name(path)
    if "maintenance" in path or (form == "answer" and name in ("start", "end", "device_id")):
        return _window_message(path, detail, lang)
    if name == "reason":
        return w["err_reason"].format(max=MAX_REASON if form.startswith("decide") else MAX_TEXT)
    if name == "text":
        return w["err_text"].format(max=MAX_TEXT)
    if name == "disposition":
        return w["err_disposition"]
    if name == "kind":
        return w["err_kind"]
    if name == "attachments":
        return w["err_references"].format(max=MAX_ATTACHMENTS, length=MAX_ATTACHMENT_LEN)
    if name == "action":
        return w["err_action"]
    if name == "note":
        return w["err_note"].format(max=MAX_TEXT)
    if name in ("method", "result"):
        return w[f"err_{name}"]
    return w["err_input"].format(field=path, detail=detail)


def _window_message(path: str, detail: str, lang: Lang) -> str:
    """A refused maintenance window of an answer, naming the input at fault."""
    w = WORKFLOW_TEXTS[lang]
    sep = "：" if lang == "zh" else ": "
    last = path.rsplit(".", 1)[-1]
    if last == "maintenance":  # a window on an answer of another kind
        return f"{w['answer_kind']}{sep}{w['err_window_kind']}"
    if last == "device_id":
        key = "err_window_device_missing" if detail == WINDOW_MISSING else "err_window_device"
    elif last in ("start", "end"):
        key = (f"err_window_{last}_missing" if detail == WINDOW_MISSING
               else "err_window_order" if last == "end" and "after" in detail else "err_window_datetime")
    else:
        return w["err_window"]
    return f"{w[f'win_{last}']}{sep}{w[key]}"
