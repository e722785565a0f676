"""Credit repair applications (信用修复申请, CONTRACT section 9).

- ``POST /api/v1/credit/repair-applications``: enterprise (its own deductions). JSON
  ``{"entry_id", "commitment", "attachments": [reference | {"filename", "content_type",
  "content_base64"}]}`` or ``multipart/form-data`` with the fields ``entry_id`` and
  ``commitment``, ``attachments`` fields (references) and ``files`` parts (the files).
  201 with the application (``status: "pending"``); 404 for another enterprise's or a
  missing entry; 409 ``not_eligible`` when the entry is not a live deduction, already has
  a pending application, or its minimum publication period runs (``allowed_at``).
- ``GET /api/v1/credit/repair-applications?status=&enterprise_id=&limit=&cursor=``:
  officer (the enterprises it sees), enterprise (its own). Newest first.
- ``GET /api/v1/credit/repair-applications/{id}``: officer, enterprise (own).
- ``POST /api/v1/credit/repair-applications/{id}/approve`` | ``/reject``: officer.
  ``{"reason"}``; 409 when the application is not pending.

Files are stored by :mod:`store.attachments` (checked, with their SHA-256) and each
attachment of an application names its download, ``GET /api/v1/attachments/{id}``.
``admin`` may use all of them. An application or entry outside what the token sees
(``api.auth.visibility``) is 404, exactly like one that does not exist.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ecowarn.alerts.audit import load_actor
from ecowarn.api._db import connect
from ecowarn.api._paths import API_PREFIX
from ecowarn.api._time import iso, iso_or_none
from ecowarn.api.auth import Auth, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import FieldError, InvalidRequest, PayloadTooLarge
from ecowarn.api.pagination import BIGINT_MAX, DEFAULT_LIMIT, CursorCodec, Limit
from ecowarn.credit import applications
from ecowarn.credit.applications import MAX_COMMITMENT, MAX_REASON, MAX_REFERENCES, InvalidApplication, Proof
from ecowarn.credit.hooks import installed
from ecowarn.credit.params import CreditParams
from ecowarn.store.attachments import (
    MAX_BYTES,
    MAX_FILES,
    AttachmentRejected,
    Upload,
    check_upload,
    decode_upload,
    parse_multipart,
)
from ecowarn.store.tokens import Principal

__all__ = ["application_out", "build_repair_router"]

EntityId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
_CURSOR = CursorCodec("repair_applications", int)
BASE = f"{API_PREFIX}/credit/repair-applications"

# Bodies: every file at its largest, base64 in JSON (4/3), plus the text fields.
MAX_MULTIPART_BYTES = MAX_FILES * MAX_BYTES + 1024 * 1024
MAX_JSON_BYTES = MAX_FILES * MAX_BYTES * 4 // 3 + 1024 * 1024


class UploadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=200)
    content_type: str = Field(min_length=1, max_length=200)
    content_base64: str = Field(min_length=1)


class RepairApplicationIn(BaseModel):
    """``POST /credit/repair-applications`` as JSON."""

    model_config = ConfigDict(extra="forbid")

    entry_id: int = Field(ge=1, le=BIGINT_MAX, description="the deduction to repair")
    commitment: str = Field(min_length=1, max_length=MAX_COMMITMENT,
                            description="信用修复承诺书: the enterprise's commitment")
    attachments: list[str | UploadIn] = Field(
        default_factory=list, max_length=MAX_FILES + MAX_REFERENCES,
        description="references (document numbers, URLs) or files as base64")


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=MAX_REASON)


_MULTIPART_SCHEMA = {
    "type": "object", "required": ["entry_id", "commitment"],
    "properties": {
        "entry_id": {"type": "integer"}, "commitment": {"type": "string", "maxLength": MAX_COMMITMENT},
        "attachments": {"type": "array", "items": {"type": "string"}},
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
    },
}
_FILE_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": RepairApplicationIn.model_json_schema(
        ref_template="#/components/schemas/{model}")},
    "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
}}}


def _invalid(path: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{path}: {message}", fields=(FieldError(path, message),))


def _rejected(exc: AttachmentRejected) -> InvalidApplication:
    return InvalidApplication(exc.field, exc.message, detail_zh=exc.message_zh)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _from_form(body: bytes, content_type: str) -> tuple[int, str, Proof]:
    try:
        form = parse_multipart(body, content_type)
    except AttachmentRejected as exc:
        raise _rejected(exc) from exc
    for name in {k for k, _ in form.fields} | {k for k, _ in form.files}:
        if name not in ("entry_id", "commitment", "attachments", "files"):
            raise _invalid(f"body.{name}", "unexpected part; send entry_id, commitment, "
                                           "attachments (references) and files")
    if form.values("files") or form.uploads("entry_id") or form.uploads("commitment"):
        raise _invalid("body.files", "files go in file parts named files; entry_id and commitment "
                                     "are text fields")
    entries, commitments = form.values("entry_id"), form.values("commitment")
    if len(entries) != 1 or not entries[0].strip().isdigit() or not 1 <= int(entries[0]) <= BIGINT_MAX:
        raise _invalid("body.entry_id", "the id of one credit ledger entry is required")
    if len(commitments) != 1:
        raise _invalid("body.commitment", "one commitment (信用修复承诺书) is required")
    # An empty file input of a browser form sends a part without a name or content.
    files = [u for u in form.uploads("files") if u.filename or u.content]
    for i, upload in enumerate(files):
        try:
            check_upload(upload, f"body.files[{i}]")
        except AttachmentRejected as exc:
            raise _rejected(exc) from exc
    refs = [r for r in form.values("attachments") if r.strip()]
    return int(entries[0]), commitments[0], Proof(files=files, references=refs)


def _from_json(body: bytes) -> tuple[int, str, Proof]:
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid("body", "not valid JSON") from exc
    try:
        data = RepairApplicationIn.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from exc
    files: list[Upload] = []
    refs: list[str] = []
    for i, item in enumerate(data.attachments):
        if isinstance(item, str):
            refs.append(item)
            continue
        try:
            files.append(decode_upload(item.model_dump(), f"body.attachments[{i}]"))
        except AttachmentRejected as exc:
            raise _rejected(exc) from exc
    return data.entry_id, data.commitment, Proof(files=files, references=refs)


async def _read_application(request: Request) -> tuple[int, str, Proof]:
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        return _from_form(await _read_body(request, MAX_MULTIPART_BYTES), content_type)
    if content_type.lower().split(";")[0].strip() in ("application/json", ""):
        return _from_json(await _read_body(request, MAX_JSON_BYTES))
    raise _invalid("header.content-type", "send application/json or multipart/form-data")


# --- output --------------------------------------------------------------------------------


def application_out(row: dict[str, Any], *, for_enterprise: bool = False) -> dict[str, Any]:
    """An application as JSON; enterprises do not see the deciding officer's token."""
    app_id = row["id"]
    files = [{**a, "url": f"{API_PREFIX}/attachments/{a['id']}"} if "id" in a else dict(a)
             for a in row["attachments"]]
    decided_by = None
    if row["decided_at"] is not None and not for_enterprise:
        decided_by = {"token_id": row["decided_by_token"], "label": row["decided_by_label"] or ""}
    return {
        "id": app_id,
        "enterprise_id": row["enterprise_id"],
        "entry_id": row["entry_id"],
        "status": row["status"],
        "commitment": row["commitment"],
        "attachments": files,
        "publication": row["publication"],
        "allowed_from": iso(row["allowed_from"]),
        "applicant": {"token_id": row["applicant_token"], "label": row["applicant_label"]},
        "created_at": iso(row["created_at"]),
        "decided_at": iso_or_none(row["decided_at"]),
        "decided_by": decided_by,
        "decision_reason": row["decision_reason"],
        "application_entry_id": row["application_entry_id"],
        "decision_entry_id": row["decision_entry_id"],
        "evidence_id": row["evidence_id"],
        "evidence_sha256": row["evidence_sha256"],
        "entry": {"id": row["entry_id"], "points": row["entry_points"], "rule": row["entry_rule"],
                  "severity": row["entry_severity"], "alert_id": row["entry_alert_id"],
                  "recorded_at": iso(row["entry_recorded_at"]),
                  "repair_after": iso_or_none(row["entry_repair_after"])},
    }


def build_repair_router(ctx: ApiContext, auth: Auth,
                        params: Callable[[], CreditParams] | None = None) -> APIRouter:
    """The routes above; ``params`` gives the credit configuration (default: that of the
    installed :class:`credit.CreditService`, which the service builds at start)."""
    router = APIRouter(prefix=API_PREFIX)
    applicants = auth.require("enterprise")
    readers = auth.require("officer", "enterprise")
    officers = auth.require("officer")
    credit_params = params or (lambda: installed().params)

    def scope(principal: Principal) -> frozenset[str] | None:
        return visibility(ctx, principal).enterprises

    def out(row: dict[str, Any], principal: Principal) -> dict[str, Any]:
        return application_out(row, for_enterprise=principal.role == "enterprise")

    @router.post("/credit/repair-applications", tags=["credit"], status_code=201,
                 openapi_extra=_FILE_BODY)
    async def file_application(
        request: Request, principal: Annotated[Principal, Depends(applicants)],
    ) -> dict[str, Any]:
        """Apply for the repair of one of the enterprise's deductions with a commitment and
        proof (JSON, or multipart/form-data with ``files`` parts). Filing writes a
        ``repair_application`` ledger entry and keeps the document in the hash chain."""
        entry_id, commitment, proof = await _read_application(request)
        async with connect(ctx) as conn:
            actor = await load_actor(conn, principal.token_id, principal.role, principal.enterprise_id)
            row = await applications.file_application(
                conn, credit_params(), entry_id=entry_id, commitment=commitment, proof=proof,
                actor=actor, scope=scope(principal))
        return out(row, principal)

    @router.get("/credit/repair-applications", tags=["credit"])
    async def list_applications(
        principal: Annotated[Principal, Depends(readers)],
        status: Literal["pending", "approved", "rejected"] | None = None,
        enterprise_id: str | None = None, limit: Limit = DEFAULT_LIMIT, cursor: str | None = None,
    ) -> dict[str, Any]:
        """Applications newest first: an officer's of the enterprises it sees, an
        enterprise's own."""
        before = _CURSOR.decode_one(cursor)
        async with connect(ctx) as conn:
            rows = await applications.list_applications(
                conn, scope=scope(principal), status=status, enterprise_id=enterprise_id,
                before_id=before, limit=limit)
        more = len(rows) > limit
        rows = rows[:limit]
        return {"items": [out(r, principal) for r in rows],
                "next_cursor": _CURSOR.encode(rows[-1]["id"]) if more else None}

    @router.get("/credit/repair-applications/{application_id}", tags=["credit"])
    async def get_application(principal: Annotated[Principal, Depends(readers)],
                              application_id: EntityId) -> dict[str, Any]:
        """One application with its deduction, decision and evidence package."""
        async with connect(ctx) as conn:
            row = await applications.fetch_application(conn, application_id, scope=scope(principal))
        return out(row, principal)

    @router.post("/credit/repair-applications/{application_id}/approve", tags=["credit"])
    async def approve(principal: Annotated[Principal, Depends(officers)], application_id: EntityId,
                      body: DecisionIn) -> dict[str, Any]:
        """Approve a pending application: a ``repair`` entry restores the deduction's points."""
        async with connect(ctx) as conn:
            actor = await load_actor(conn, principal.token_id, principal.role)
            row = await applications.approve(conn, application_id, actor=actor, reason=body.reason,
                                             scope=scope(principal))
        return out(row, principal)

    @router.post("/credit/repair-applications/{application_id}/reject", tags=["credit"])
    async def reject(principal: Annotated[Principal, Depends(officers)], application_id: EntityId,
                     body: DecisionIn) -> dict[str, Any]:
        """Reject a pending application with the reason (a ``repair_rejection`` entry)."""
        async with connect(ctx) as conn:
            actor = await load_actor(conn, principal.token_id, principal.role)
            row = await applications.reject(conn, application_id, actor=actor, reason=body.reason,
                                            scope=scope(principal))
        return out(row, principal)

    return router
