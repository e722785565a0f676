"""Errors of the HTTP layer and the one place where exceptions become HTTP responses.

    ApiError                 status  code
     ├── Unauthorized         401    unauthorized        (+ WWW-Authenticate: Bearer)
     ├── Forbidden            403    forbidden
     ├── NotFound             404    not_found
     ├── PayloadTooLarge      413    payload_too_large
     └── InvalidRequest       422    invalid_request     (+ "fields")

Mapped here too:

- the alert workflow's errors (``alerts.errors``): ``AlertNotFound`` -> 404
  ``not_found``; ``InvalidWorkflowInput`` -> 422 ``invalid_request`` with its field;
  ``IllegalTransition`` -> 409 ``illegal_transition`` with ``"status"`` and
  ``"allowed"`` (the actions possible from it); ``AlreadyClaimed`` -> 409
  ``already_claimed`` with ``"status"`` and ``"assignee"``;
- ``RequestValidationError`` (FastAPI) -> 422 ``validation_error`` with field paths;
- ``store.StoreUnavailable`` -> 503 ``database_unavailable``;
- ``credit.EntryNotFound`` -> 404 ``not_found``; ``credit.NotEligible`` -> 409 ``not_eligible``;
- Starlette's ``HTTPException`` (unknown route, wrong method) -> its status;
- anything else -> 500 ``internal_error``, logged with its traceback.

JSON bodies are ``{"error": code, "detail": message}`` (the messages this module words come
from the catalogs' ``ERRORS`` area, in English); 422 adds
``"fields": [{"path": "query.since", "message": ...}]``. Route and domain code raise
these exceptions (or let store errors through) and never build error responses.

Console pages (paths under ``/console``) get HTML instead: a 401 redirects to the
console login page; other errors go to the renderer the console registers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from ecowarn.alerts.errors import (
    AlertNotFound,
    AlreadyClaimed,
    DeclarationDecided,
    DeclarationNotFound,
    IllegalTransition,
    InvalidWorkflowInput,
    WorkflowConflict,
    WorkflowError,
)
from ecowarn.api._paths import CONSOLE_LOGIN, CONSOLE_PREFIX
from ecowarn.credit.errors import CreditError, EntryNotFound, NotEligible
from ecowarn.i18n import catalog
from ecowarn.store import StoreUnavailable

__all__ = [
    "ApiError",
    "ErrorInfo",
    "FieldError",
    "Forbidden",
    "HtmlErrorRenderer",
    "InvalidRequest",
    "NotFound",
    "PayloadTooLarge",
    "Unauthorized",
    "classify",
    "install_error_handlers",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str  # e.g. "query.since", "body.enterprise_ids"
    message: str


class ApiError(Exception):
    """Base of the errors that the HTTP layer reports to clients."""

    status = 500
    code = "internal_error"

    def __init__(self, detail: str, *, fields: tuple[FieldError, ...] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class InvalidRequest(ApiError):
    status = 422
    code = "invalid_request"


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What a response for an error says, whatever its format."""

    status: int
    code: str
    detail: str
    fields: tuple[FieldError, ...] = ()
    headers: dict[str, str] | None = None
    # Further members of the JSON body, e.g. {"status": ..., "allowed": [...]} for a 409.
    extra: dict[str, Any] | None = None


HtmlErrorRenderer = Callable[[Request, ErrorInfo], Response]

# The API's own error details: English, as clients and logs have always read them.
_TEXTS = catalog("en", "ERRORS")
_TEXTS_ZH = catalog("zh", "ERRORS")

_STARLETTE_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
}


def _loc(loc: Any) -> str:
    return ".".join(str(p) for p in loc)


def classify(exc: Exception) -> ErrorInfo:
    """The status, code and message for any exception raised while serving a request."""
    if isinstance(exc, ApiError):
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
        return ErrorInfo(exc.status, exc.code, exc.detail, exc.fields, headers)
    if isinstance(exc, WorkflowError):
        return _workflow_info(exc)
    if isinstance(exc, RequestValidationError):
        fields = tuple(FieldError(_loc(e.get("loc", ())), str(e.get("msg", "")))
                       for e in exc.errors())
        listed = "; ".join(f"{f.path}: {f.message}" for f in fields[:5])
        more = _TEXTS["validation_more"].format(n=len(fields) - 5) if len(fields) > 5 else ""
        more_zh = (_TEXTS_ZH["validation_more"].format(n=len(fields) - 5)
                   if len(fields) > 5 else "")
        paths = "、".join(f.path for f in fields[:5])
        return ErrorInfo(422, "validation_error", _TEXTS["validation_error"].format(fields=listed, more=more),
                         fields, extra={"detail_zh": _TEXTS_ZH["validation_error"].format(
                             fields=f"请检查这些字段：{paths}", more=more_zh)})
    if isinstance(exc, StoreUnavailable):
        return ErrorInfo(503, "database_unavailable", _TEXTS["database_unavailable"], (),
                         {"Retry-After": "5"},
                         extra={"detail_zh": _TEXTS_ZH["database_unavailable"]})
    if isinstance(exc, EntryNotFound):
        return ErrorInfo(404, "not_found", str(exc))
    if isinstance(exc, NotEligible):
        return _with_extra(ErrorInfo(409, "not_eligible", str(exc)), exc)
    if isinstance(exc, StarletteHTTPException):
        code = _STARLETTE_CODES.get(exc.status_code, f"http_{exc.status_code}")
        headers = dict(exc.headers) if exc.headers else None
        return ErrorInfo(exc.status_code, code, str(exc.detail), (), headers)
    return ErrorInfo(500, "internal_error", _TEXTS["internal_error"],
                     extra={"detail_zh": _TEXTS_ZH["internal_error"]})


def _workflow_info(exc: WorkflowError) -> ErrorInfo:
    return _with_extra(_workflow_base(exc), exc)


def _with_extra(info: ErrorInfo, exc: Exception) -> ErrorInfo:
    """A domain error may carry its reason in Chinese (``detail_zh``) and further members
    of the body (``extra``, e.g. when a refused step becomes possible)."""
    extra = dict(info.extra or {})
    detail_zh = getattr(exc, "detail_zh", None)
    if isinstance(detail_zh, str):
        extra["detail_zh"] = detail_zh
    more = getattr(exc, "extra", None)
    if isinstance(more, dict):
        extra.update(more)
    if not extra:
        return info
    return ErrorInfo(info.status, info.code, info.detail, info.fields, info.headers, extra)


def _workflow_base(exc: WorkflowError) -> ErrorInfo:
    if isinstance(exc, AlertNotFound | DeclarationNotFound):
        return ErrorInfo(404, "not_found", str(exc))
    if isinstance(exc, DeclarationDecided):
        return ErrorInfo(409, "conflict", str(exc), extra={"status": exc.status})
    if isinstance(exc, InvalidWorkflowInput):
        return ErrorInfo(422, "invalid_request", f"{exc.field}: {exc.message}",
                         (FieldError(exc.field, exc.message),))
    if isinstance(exc, AlreadyClaimed):
        return ErrorInfo(409, "already_claimed", str(exc), extra={
            "status": exc.status,
            "assignee": {"token_id": exc.assignee_token, "label": exc.assignee_label}})
    if isinstance(exc, IllegalTransition):
        return ErrorInfo(409, "illegal_transition", str(exc),
                         extra={"status": exc.status, "allowed": list(exc.allowed)})
    if isinstance(exc, WorkflowConflict):
        return ErrorInfo(409, "conflict", str(exc),
                         extra={"status": exc.status, "allowed": list(exc.allowed)})
    return ErrorInfo(500, "internal_error", _TEXTS["internal_error"])


def _json(info: ErrorInfo) -> JSONResponse:
    body: dict[str, Any] = {"error": info.code, "detail": info.detail}
    if info.fields:
        body["fields"] = [{"path": f.path, "message": f.message} for f in info.fields]
    if info.extra:
        body.update(info.extra)
    if "detail_zh" not in body and f"code_{info.code}" in _TEXTS_ZH:
        body["detail_zh"] = _TEXTS_ZH[f"code_{info.code}"]
    return JSONResponse(body, status_code=info.status, headers=info.headers)


def install_error_handlers(app: FastAPI, *, html: HtmlErrorRenderer | None = None) -> None:
    """Register the mapping on ``app``; ``html`` renders errors of console pages."""

    def handle(request: Request, exc: Exception) -> Response:
        info = classify(exc)
        if info.status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, info.code,
                      exc_info=exc if info.status == 500 else None)
        if request.url.path.startswith(CONSOLE_PREFIX):
            if info.status == 401 and request.url.path != CONSOLE_LOGIN:
                lang = "?lang=en" if request.query_params.get("lang") == "en" else ""
                return RedirectResponse(CONSOLE_LOGIN + lang, status_code=303)
            if html is not None:
                return html(request, info)
        return _json(info)

    for exc_type in (ApiError, WorkflowError, RequestValidationError, StoreUnavailable,
                     CreditError, StarletteHTTPException, Exception):
        app.add_exception_handler(exc_type, handle)
