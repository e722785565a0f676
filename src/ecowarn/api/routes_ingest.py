"""``POST /api/v1/readings``: batch ingest over HTTP (roles ingest, admin).

Body: ``{"readings": [{"device_id", "ts", "values", "flags"?}, ...]}`` or the bare
array. Each reading is accepted or rejected on its own (rejections go to the
dead-letter table like MQTT ones); the whole request is handed to the ingest
pipeline once, and the answer lists every reading's outcome in order. Bodies over
16 MiB or with more than 10,000 readings are refused with 413.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from prometheus_client import Counter

from ecowarn.api._paths import API_PREFIX
from ecowarn.api.auth import Auth
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import FieldError, InvalidRequest, PayloadTooLarge
from ecowarn.store.model import Rejection, Row
from ecowarn.store.tokens import Principal

__all__ = ["MAX_BODY_BYTES", "MAX_READINGS", "build_ingest_router"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_READINGS = 10_000

_OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {"readings": {"type": "array", "maxItems": MAX_READINGS, "items": {
                "type": "object",
                "required": ["device_id", "ts", "values"],
                "properties": {
                    "device_id": {"type": "string"},
                    "ts": {"type": "string", "format": "date-time",
                           "description": "RFC 3339 with offset, or epoch milliseconds"},
                    "values": {"type": "object", "additionalProperties": {"type": "number"}},
                    "flags": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            }}},
        }}},
    },
}


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large_body()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large_body()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large_body() -> PayloadTooLarge:
    return PayloadTooLarge(f"request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB; "
                           f"send at most {MAX_READINGS} readings per request")


def _items(body: bytes) -> list[Any]:
    try:
        # The standard library reads NaN/Infinity, so the parser can name the bad value.
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"body is not valid UTF-8 JSON: {exc}",
                             fields=(FieldError("body", "malformed JSON"),)) from exc
    items = obj.get("readings") if isinstance(obj, dict) else obj
    if not isinstance(items, list):
        msg = 'body must be {"readings": [...]} or a JSON array of readings'
        raise InvalidRequest(msg, fields=(FieldError("body.readings", msg),))
    if len(items) > MAX_READINGS:
        raise PayloadTooLarge(f"{len(items)} readings in one request; the limit is {MAX_READINGS}, "
                              "split the batch")
    return items


def build_ingest_router(ctx: ApiContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["ingest"])
    writers = auth.require("ingest")
    outcomes = Counter("ecowarn_api_ingest_readings_total",
                       "Readings received by POST /api/v1/readings, by outcome",
                       ["outcome"], registry=ctx.metrics_registry)

    @router.post("/readings", openapi_extra=_OPENAPI_BODY)
    async def post_readings(
        principal: Annotated[Principal, Depends(writers)], request: Request,
    ) -> dict[str, Any]:
        """Store a batch of readings; per-reading results in order."""
        items = _items(await _read_body(request))
        parsed = ctx.parser.parse_batch(items, source="http")
        rows: list[Row] = []
        rejections: list[Rejection] = []
        results: list[dict[str, Any]] = []
        for index, (item_rows, rejection) in enumerate(parsed):
            if rejection is None:
                rows.extend(item_rows)
                results.append({"index": index, "status": "accepted"})
            else:
                rejections.append(rejection)
                results.append({"index": index, "status": "rejected",
                                "reason": rejection.reason, "detail": rejection.detail})
        await ctx.submit(rows, rejections)
        accepted = len(parsed) - len(rejections)
        outcomes.labels("accepted").inc(accepted)
        outcomes.labels("rejected").inc(len(rejections))
        log.debug("token %s posted %d readings (%d rejected)", principal.token_id,
                  len(parsed), len(rejections))
        return {"accepted": accepted, "rejected": len(rejections), "results": results}

    return router
