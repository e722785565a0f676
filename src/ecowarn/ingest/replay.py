"""Replay of dead letters after the cause was fixed (e.g. a device added to the registry)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from psycopg_pool import AsyncConnectionPool

from ecowarn.ingest.parse import TelemetryParser
from ecowarn.store.model import Rejection, Row

__all__ = ["DeadLetterReplayer"]

Submit = Callable[[Sequence[Row], Sequence[Rejection]], Awaitable[None]]
Hj212Decode = Callable[[bytes], tuple[list[Row], list[Rejection]]]


class DeadLetterReplayer:
    """Re-parses one dead letter against the current registry and stores what now passes.

    The dead letter is kept and marked with the replay time and result; a replay
    that is rejected again does not create a second dead letter.
    """

    def __init__(self, pool: AsyncConnectionPool[Any], parser: TelemetryParser, submit: Submit,
                 hj212_decode: Hj212Decode | None = None) -> None:
        self._pool = pool
        self._parser = parser
        self._submit = submit
        self._hj212_decode = hj212_decode

    async def replay(self, dead_letter_id: int) -> dict[str, Any]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT source, topic, payload FROM dead_letters WHERE id = %s", (dead_letter_id,))
            row = await cur.fetchone()
        if row is None:
            raise KeyError(dead_letter_id)
        source, topic, payload = row[0], row[1], bytes(row[2])
        rows, rejections = self._parse(source, topic, payload)
        if rejections:
            first = rejections[0]
            result: dict[str, Any] = {"id": dead_letter_id, "result": "rejected",
                                      "reason": first.reason, "detail": first.detail}
            outcome = f"rejected: {first.reason}"
        else:
            await self._submit(rows, [])
            result = {"id": dead_letter_id, "result": "stored", "rows": len(rows)}
            outcome = "stored"
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE dead_letters SET replayed_at = now(), replay_result = %s WHERE id = %s",
                (outcome, dead_letter_id))
        return result

    def _parse(self, source: str, topic: str | None, payload: bytes) -> tuple[list[Row], list[Rejection]]:
        if source == "hj212":
            if self._hj212_decode is None:
                return [], [Rejection(source="replay", reason="unsupported",
                                      detail="HJ 212 replay is not available", payload=payload)]
            return self._hj212_decode(payload)
        if topic:
            res = self._parser.parse_mqtt(topic, payload, source="replay")
            return res.rows, res.rejections
        try:
            item = json.loads(payload)
        except ValueError:
            return [], [Rejection(source="replay", reason="malformed_json",
                                  detail="payload is not JSON", payload=payload)]
        rows: list[Row] = []
        rejections: list[Rejection] = []
        for r, rej in self._parser.parse_batch([item], source="replay"):
            rows.extend(r)
            if rej is not None:
                rejections.append(rej)
        return rows, rejections
