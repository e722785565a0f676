"""Rectification (整改) to closure, CONTRACT section 9 (docs/enforcement.md, "Rectification").

Roles (``admin`` may use all):

- ``POST /api/v1/alerts/{alert_id}/rectification``: officer. ``{"due", "requirements"}``
  -> 201 the rectification (``status: ordered``); the alert becomes ``rectifying``. ``due``
  is RFC 3339 with an offset, or a date (the end of that day, China time); it must be in the
  future (422). 409 when the alert is not ``dispatched`` or ``confirmed``, or has a
  rectification in progress.
- ``GET /api/v1/rectifications?status=&enterprise_id=&overdue=&region=&alert_id=&limit=&cursor=``:
  officer, enterprise (its own). Newest first, keyset-paged; CSV with ``Accept: text/csv``
  or ``format=csv`` (next cursor in ``X-Next-Cursor`` and ``Link``).
- ``GET /api/v1/rectifications/{id}``: officer, enterprise (own): with its submissions
  (files with SHA-256, size, type and download URL) and its trail.
- ``POST /api/v1/rectifications/{id}/submissions``: enterprise (own). JSON ``{"text",
  "attachments": [reference | {"filename", "content_type", "content_base64"}]}`` or
  ``multipart/form-data`` (``text``, ``attachments`` references, ``files`` parts) -> 201.
  Bodies over 32 MiB are 413; a refused file is 422 naming it.
- ``POST /api/v1/rectifications/{id}/verify`` (``{"reason", "data_check_days"?,
  "force"?}``) and ``/reject`` (``{"reason"}``): officer.
- ``GET /api/v1/attachments/{id}``: officer, enterprise (own): the stored file, as a
  download.

A region-limited officer and an enterprise see only their enterprises: any other id is 404,
exactly like one that does not exist.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

import base64
import csv
import io
import json
import re
from datetime import date, datetime, time
from typing import Annotated, Any, Literal
from urllib.parse import quote

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import Counter
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ecowarn.alerts.audit import load_actor
from ecowarn.alerts.lifecycle import MAX_TEXT
from ecowarn.alerts.model import Actor
from ecowarn.alerts.rectification import (
    DATA_CHECK_MAX_DAYS,
    MAX_REFERENCES,
    REFERENCE_LENGTH,
    STATUSES,
    AttachmentNotFound,
    RectificationFilter,
    RectificationInputError,
    events_of,
    fetch_rectification,
    list_rectifications,
    order_rectification,
    reject,
    submissions_of,
    submit,
    verify,
)
from ecowarn.api._db import connect
from ecowarn.api._paths import API_PREFIX
from ecowarn.api._time import CST, AwareDatetime, iso, iso_or_none
from ecowarn.api.auth import Auth, Visibility, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import PayloadTooLarge
from ecowarn.api.pagination import BIGINT_MAX, DEFAULT_LIMIT, CursorCodec, Limit
from ecowarn.api.routes_workflow import region_enterprises
from ecowarn.config.registry import Registry
from ecowarn.credit.chain import lock_chain, next_slot
from ecowarn.credit.evidence import freeze_document
from ecowarn.credit.hooks import actor_info
from ecowarn.store.attachments import (
    MAX_FILES,
    AttachmentRejected,
    Upload,
    check_upload,
    decode_upload,
    fetch_attachment,
    parse_multipart,
)
from ecowarn.store.tokens import Principal

__all__ = [
    "CSV_COLUMNS",
    "MAX_REQUEST_BYTES",
    "FileIn",
    "RectificationIn",
    "RejectIn",
    "SubmissionIn",
    "VerifyIn",
    "attachment_response",
    "build_rectifications_router",
    "keep_submission",
    "rectification_csv",
    "rectification_out",
    "submission_out",
]

# A submission's whole body: ten files of 10 MiB do not fit (send them in several
# submissions); one 10 MiB file in base64 JSON (13.4 MiB) does.
MAX_REQUEST_BYTES = 32 * 1024 * 1024

EntityId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
_CURSOR = CursorCodec("rectifications", int)
_DATE = re.compile(r"^\d{4}-\d\d-\d\d$")

CSV_COLUMNS = ("id", "alert_id", "enterprise_id", "enterprise_name", "region", "rule", "status",
               "overdue", "due", "requirements", "created_at", "submitted_at", "submission_count",
               "decided_at", "decision_reason", "alert_status")


def _due_value(value: Any) -> Any:
    """A date alone means the end of that day in China Standard Time."""
    if isinstance(value, str) and _DATE.match(value.strip()):
        day = date.fromisoformat(value.strip())
        return datetime.combine(day, time(23, 59, 59), tzinfo=CST)
    return value


class RectificationIn(BaseModel):
    """``POST /alerts/{id}/rectification``."""

    model_config = ConfigDict(extra="forbid")

    due: Annotated[AwareDatetime, BeforeValidator(_due_value)] = Field(
        description="RFC 3339 with an offset, or a date (YYYY-MM-DD: the end of that day, "
                    "China time); must be in the future")
    requirements: str = Field(min_length=1, max_length=MAX_TEXT,
                              description="what the enterprise must correct, and how to prove it")


class FileIn(BaseModel):
    """A file inside a JSON submission."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(max_length=1000)
    content_type: str = Field(max_length=255)
    content_base64: str


Reference = Annotated[str, Field(min_length=1, max_length=REFERENCE_LENGTH)]


class SubmissionIn(BaseModel):
    """``POST /rectifications/{id}/submissions`` as JSON: text, and attachments that are
    references (document ids or URLs filed elsewhere) or files in base64."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_TEXT)
    attachments: list[Reference | FileIn] = Field(
        default_factory=list, max_length=MAX_REFERENCES + MAX_FILES)


class VerifyIn(BaseModel):
    """``POST /rectifications/{id}/verify``."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=MAX_TEXT)
    data_check_days: int | None = Field(
        default=None, ge=1, le=DATA_CHECK_MAX_DAYS,
        description="check that the alert's rule has not fired again for the enterprise "
                    "and subject in the last N days")
    force: bool = Field(default=False, description="verify even when the data check found a recurrence")


class RejectIn(BaseModel):
    """``POST /rectifications/{id}/reject``."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=MAX_TEXT)


_SUBMISSION_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": SubmissionIn.model_json_schema(
                ref_template="#/components/schemas/{model}")},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["text"],
                "properties": {
                    "text": {"type": "string", "maxLength": MAX_TEXT},
                    "attachments": {"type": "array", "items": {
                        "type": "string", "maxLength": REFERENCE_LENGTH}},
                    "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                },
            }},
        },
    },
}


# --- JSON and CSV shapes (the console reuses them) -----------------------------------------

def _who(token_id: int | None, label: str | None, *, hidden: bool) -> dict[str, Any] | None:
    if token_id is None:
        return None
    return {"token_id": None, "label": ""} if hidden else {"token_id": token_id, "label": label or ""}


def _data_check_out(check: dict[str, Any] | None) -> dict[str, Any] | None:
    if check is None:
        return None
    return {**check, "since": iso(datetime.fromisoformat(check["since"])),
            "until": iso(datetime.fromisoformat(check["until"]))}


def rectification_out(row: dict[str, Any], registry: Registry, *,
                      for_enterprise: bool = False) -> dict[str, Any]:
    """A rectification as JSON. An enterprise does not see which officer's token acted."""
    enterprise = registry.enterprises.get(row["enterprise_id"])
    return {
        "id": row["id"], "alert_id": row["alert_id"], "enterprise_id": row["enterprise_id"],
        "enterprise_name": enterprise.name if enterprise else None,
        "region": enterprise.region if enterprise else None,
        "rule": row["rule"], "subject": row["subject"], "status": row["status"],
        "overdue": bool(row["overdue"]), "due": iso(row["due_at"]),
        "requirements": row["requirements"],
        "ordered_by": _who(row["ordered_by_token"], row["ordered_by_label"], hidden=for_enterprise),
        "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"]),
        "submitted_at": iso_or_none(row["submitted_at"]),
        "submission_count": int(row["submission_count"]),
        "decided_at": iso_or_none(row["decided_at"]),
        "decided_by": _who(row["decided_by_token"], row["decided_by_label"], hidden=for_enterprise),
        "decision_reason": row["decision_reason"],
        "data_check": _data_check_out(row["data_check"]),
        "overdue_at": iso_or_none(row["overdue_at"]), "reminded_at": iso_or_none(row["reminded_at"]),
        "alert_status": row["alert_status"],
        "url": f"{API_PREFIX}/rectifications/{row['id']}",
    }


def _attachment_out(item: dict[str, Any]) -> dict[str, Any]:
    if item.get("kind") == "file":
        return {**item, "url": f"{API_PREFIX}/attachments/{item['id']}"}
    return item


def submission_out(row: dict[str, Any]) -> dict[str, Any]:
    evidence_id = row["evidence_id"]
    return {
        "id": row["id"], "rectification_id": row["rectification_id"], "text": row["body"],
        "attachments": [_attachment_out(a) for a in row["attachments"]],
        "evidence_id": evidence_id,
        "evidence_url": None if evidence_id is None else f"{API_PREFIX}/evidence/{evidence_id}",
        "by": {"token_id": row["author_token"], "label": row["author_label"]},
        "created_at": iso(row["created_at"]),
    }


def _event_out(row: dict[str, Any], *, for_enterprise: bool) -> dict[str, Any]:
    hidden = for_enterprise and row["actor_role"] != "enterprise"
    return {"id": row["id"], "action": row["action"], "at": iso(row["at"]),
            "actor": {"role": row["actor_role"],
                      "token_id": None if hidden else row["actor_token"],
                      "label": "" if hidden else row["actor_label"]},
            "reason": row["reason"], "data": row["data"]}


def rectification_csv(items: list[dict[str, Any]]) -> str:
    """Rectifications (as :func:`rectification_out`) as CSV, RFC 4180 quoting."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        writer.writerow(["" if item[c] is None else str(item[c]).lower() if isinstance(item[c], bool)
                         else item[c] for c in CSV_COLUMNS])
    return buf.getvalue()


# --- the chain ------------------------------------------------------------------------------

async def keep_submission(conn: psycopg.AsyncConnection[Any], *, alert_id: int, enterprise_id: str,
                          body: dict[str, Any], actor: Actor) -> int:
    """Freeze a submission in the hash chain (chain lock held until the transaction ends);
    its evidence package id. The :class:`~alerts.rectification.DocumentKeeper` of the API."""
    await lock_chain(conn)
    slot = await next_slot(conn)
    ref = await freeze_document(conn, slot, kind="rectification_submission", alert_id=alert_id,
                                enterprise_id=enterprise_id, body=body, actor=actor_info(actor))
    return ref.id


# --- request bodies -----------------------------------------------------------------------

async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"request body is larger than {MAX_REQUEST_BYTES // (1024 * 1024)} MiB; "
                           f"send at most {MAX_FILES} files of at most 10 MiB, in several "
                           "submissions if needed")


def _checked(upload: Upload, field: str) -> Upload:
    try:
        return check_upload(upload, field)
    except AttachmentRejected as exc:
        raise RectificationInputError.from_rejected(exc) from exc


def _json_submission(body: bytes) -> tuple[str, list[Upload], list[str]]:
    try:
        parsed = SubmissionIn.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(
            include_url=False, include_context=False)]) from exc
    uploads: list[Upload] = []
    refs: list[str] = []
    for i, item in enumerate(parsed.attachments):
        field = f"body.attachments[{i}]"
        if isinstance(item, str):
            refs.append(item)
            continue
        try:
            upload = decode_upload(item.model_dump(), field)
        except AttachmentRejected as exc:
            raise RectificationInputError.from_rejected(exc) from exc
        uploads.append(_checked(upload, field))
    return parsed.text, uploads, refs


def _form_submission(body: bytes, content_type: str) -> tuple[str, list[Upload], list[str]]:
    try:
        form = parse_multipart(body, content_type)
    except AttachmentRejected as exc:
        raise RectificationInputError.from_rejected(exc) from exc
    for name in {k for k, _ in form.fields} | {k for k, _ in form.files}:
        if name not in ("text", "attachments", "files"):
            raise RectificationInputError(f"body.{name}", "unknown_field", name=name)
    texts = form.values("text")
    if len(texts) != 1 or form.uploads("text") or form.uploads("attachments"):
        raise RectificationInputError("body.text", "text", max=MAX_TEXT)
    # An empty file input of a browser form sends a part without name or content.
    files = [u for u in form.uploads("files") if u.filename or u.content]
    if form.values("files"):
        raise RectificationInputError("body.files", "file_part", area="ATTACHMENTS")
    uploads = [_checked(u, f"body.files[{i}]") for i, u in enumerate(files)]
    refs = [r for r in form.values("attachments") if r.strip()]
    return texts[0], uploads, refs


# --- routes -------------------------------------------------------------------------------

def _scope(seen: Visibility) -> frozenset[str] | None:
    return seen.enterprises


def _wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("accept", "")


def _content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the exact UTF-8 name (RFC 6266, 5987)."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\%' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def attachment_response(ctx: ApiContext, principal: Principal, attachment_id: int) -> Response:
    """A stored file as a download, never rendered by the browser: the API's and the
    console's download route. Outside what ``principal`` sees it is absent (404)."""
    async with connect(ctx) as conn:
        row = await fetch_attachment(conn, attachment_id)
    if row is None or not visibility(ctx, principal).sees(row["enterprise_id"]):
        raise AttachmentNotFound(attachment_id)
    ctype = str(row["content_type"])
    if ctype.startswith("text/"):
        ctype += "; charset=utf-8"
    digest = base64.b64encode(bytes.fromhex(row["sha256"])).decode("ascii")
    return Response(bytes(row["content"]), media_type=ctype, headers={
        "Content-Disposition": _content_disposition(str(row["filename"])),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
        "Repr-Digest": f"sha-256=:{digest}:",
        "ETag": f'"{row["sha256"]}"',
    })


def build_rectifications_router(ctx: ApiContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["rectification"])
    officers = auth.require("officer")
    enterprises = auth.require("enterprise")
    readers = auth.require("officer", "enterprise")
    steps = Counter("ecowarn_rectification_steps_total",
                    "Steps of rectifications through the JSON API, by step",
                    ["step"], registry=ctx.metrics_registry)

    async def actor_of(conn: psycopg.AsyncConnection[Any], principal: Principal) -> Actor:
        return await load_actor(conn, principal.token_id, principal.role, principal.enterprise_id)

    async def detail(conn: psycopg.AsyncConnection[Any], row: dict[str, Any],
                     principal: Principal) -> dict[str, Any]:
        for_enterprise = principal.role == "enterprise"
        out = rectification_out(row, ctx.registry, for_enterprise=for_enterprise)
        out["submissions"] = [submission_out(s) for s in await submissions_of(conn, int(row["id"]))]
        out["events"] = [_event_out(e, for_enterprise=for_enterprise)
                         for e in await events_of(conn, int(row["id"]))]
        return out

    @router.post("/alerts/{alert_id}/rectification", status_code=201)
    async def post_rectification(principal: Annotated[Principal, Depends(officers)],
                                 alert_id: EntityId, body: RectificationIn) -> dict[str, Any]:
        """Order a rectification: the alert (dispatched or confirmed) becomes ``rectifying``
        until it is verified or rejected."""
        scope = _scope(visibility(ctx, principal))
        async with connect(ctx) as conn:
            row = await order_rectification(conn, alert_id, await actor_of(conn, principal),
                                            due=body.due, requirements=body.requirements,
                                            scope=scope, params=ctx.workflow)
            out = await detail(conn, row, principal)
        steps.labels("order").inc()
        return out

    @router.get("/rectifications")
    async def get_rectifications(
        request: Request,
        principal: Annotated[Principal, Depends(readers)],
        status: Annotated[Literal["ordered", "submitted", "verified", "rejected", "withdrawn"] | None,
                          Query(description=f"one of {', '.join(STATUSES)}")] = None,
        enterprise_id: str | None = None,
        overdue: Annotated[bool | None, Query(
            description="true: in progress and past due; false: the others")] = None,
        region: Annotated[str | None, Query(pattern=r"^\d{2,6}$", description=(
            "administrative division code or prefix (13 province, 1301 city)"))] = None,
        alert_id: Annotated[int | None, Query(ge=1, le=BIGINT_MAX)] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: str | None = None,
        format: Annotated[Literal["json", "csv"] | None, Query(
            description="csv or json; default from the Accept header, else json")] = None,
    ) -> Response:
        """The rectification ledger (整改台账), newest first: per enterprise, per region,
        by status, overdue ones."""
        seen = visibility(ctx, principal)
        wanted = region_enterprises(ctx.registry, region)
        if enterprise_id is not None:
            wanted = [enterprise_id] if wanted is None or enterprise_id in wanted else []
        f = RectificationFilter(enterprise_ids=seen.narrow(wanted),
                                statuses=None if status is None else (status,), overdue=overdue,
                                alert_id=alert_id)
        after = _CURSOR.decode_one(cursor)
        async with connect(ctx) as conn:
            rows, last = await list_rectifications(conn, f, limit=limit, after_id=after)
        items = [rectification_out(r, ctx.registry, for_enterprise=principal.role == "enterprise")
                 for r in rows]
        next_cursor = None if last is None else _CURSOR.encode(last)
        if _wants_csv(request, format):
            headers = {}
            if next_cursor is not None:
                headers["X-Next-Cursor"] = next_cursor
                headers["Link"] = f'<{request.url.include_query_params(cursor=next_cursor)}>; rel="next"'
            return Response(rectification_csv(items), media_type="text/csv; charset=utf-8",
                            headers=headers)
        return Response(json.dumps({"items": items, "next_cursor": next_cursor}, ensure_ascii=False),
                        media_type="application/json")

    @router.get("/rectifications/{rectification_id}")
    async def get_rectification(principal: Annotated[Principal, Depends(readers)],
                                rectification_id: EntityId) -> dict[str, Any]:
        """One rectification with its submissions and its trail."""
        scope = _scope(visibility(ctx, principal))
        async with connect(ctx) as conn:
            row = await fetch_rectification(conn, rectification_id, scope=scope)
            return await detail(conn, row, principal)

    @router.post("/rectifications/{rectification_id}/submissions", status_code=201,
                 openapi_extra=_SUBMISSION_OPENAPI)
    async def post_submission(principal: Annotated[Principal, Depends(enterprises)],
                              rectification_id: EntityId, request: Request) -> dict[str, Any]:
        """The enterprise submits its proof: text, files and references. Kept in the hash
        chain; allowed until the rectification is verified or rejected."""
        scope = _scope(visibility(ctx, principal))
        content_type = request.headers.get("content-type", "")
        kind = content_type.split(";")[0].strip().lower()
        if kind not in ("application/json", "multipart/form-data"):
            raise StarletteHTTPException(415, "send application/json or multipart/form-data")
        body = await _read_body(request)
        if kind == "application/json":
            text, uploads, refs = _json_submission(body)
        else:
            text, uploads, refs = _form_submission(body, content_type)
        async with connect(ctx) as conn:
            row = await submit(conn, rectification_id, await actor_of(conn, principal), text=text,
                               uploads=uploads, references=refs, keep=keep_submission, scope=scope,
                               files_field="body.files" if kind != "application/json"
                               else "body.attachments")
            rect = await fetch_rectification(conn, rectification_id)
        steps.labels("submit").inc()
        return {**submission_out(row), "rectification": rectification_out(
            rect, ctx.registry, for_enterprise=principal.role == "enterprise")}

    @router.post("/rectifications/{rectification_id}/verify")
    async def post_verify(principal: Annotated[Principal, Depends(officers)],
                          rectification_id: EntityId, body: VerifyIn) -> dict[str, Any]:
        """Verify a submitted rectification, optionally with a data check; the alert returns
        to where it was (dispatched or confirmed)."""
        scope = _scope(visibility(ctx, principal))
        async with connect(ctx) as conn:
            row = await verify(conn, rectification_id, await actor_of(conn, principal),
                               reason=body.reason, data_check_days=body.data_check_days,
                               force=body.force, scope=scope)
            out = await detail(conn, row, principal)
        steps.labels("verify").inc()
        return out

    @router.post("/rectifications/{rectification_id}/reject")
    async def post_reject(principal: Annotated[Principal, Depends(officers)],
                          rectification_id: EntityId, body: RejectIn) -> dict[str, Any]:
        """Reject an ordered or submitted rectification; the alert returns to where it was."""
        scope = _scope(visibility(ctx, principal))
        async with connect(ctx) as conn:
            row = await reject(conn, rectification_id, await actor_of(conn, principal),
                               reason=body.reason, scope=scope)
            out = await detail(conn, row, principal)
        steps.labels("reject").inc()
        return out

    @router.get("/attachments/{attachment_id}")
    async def get_attachment(principal: Annotated[Principal, Depends(readers)],
                             attachment_id: EntityId) -> Response:
        """A stored file, as a download (never rendered by the browser)."""
        return await attachment_response(ctx, principal, attachment_id)

    return router

