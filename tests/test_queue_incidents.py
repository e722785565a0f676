"""The queue's repetition part counts earlier violations, not alerts of one incident: data gaps
of an enterprise overlapping in time are one site outage, and data gaps never count as
repeats of another rule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from ecowarn.alerts import QueueFilter, queue_page

CEMENT = "91130105MA0CXXXX1X"
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=timezone(timedelta(hours=8)))


async def insert(conn: psycopg.AsyncConnection[Any], rule: str, device: str, severity: str,
                 start: datetime, end: datetime | None) -> int:
    cur = await conn.execute(
        "INSERT INTO alerts (rule, subject, enterprise_id, device_ids, start_ts, end_ts, severity,"
        " summary, summary_zh, params, evidence) VALUES (%s, %s, %s, %s, %s, %s, %s, 's', '摘要', %s, %s)"
        " RETURNING id", (rule, device, CEMENT, [device], start, end, severity, Jsonb({}), Jsonb({})))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def ranked(conn: psycopg.AsyncConnection[Any]) -> list[dict[str, Any]]:
    rows, _ = await queue_page(conn, QueueFilter(), as_of=NOW, limit=50)
    return rows


async def test_overlapping_data_gaps_are_one_incident_not_repeats(database: str) -> None:
    """Five data gaps of one works overlapping in time (low, 7 h) count none of each other, so a
    medium treatment_off of 30 min outranks them; counted as repeats, the flood would have
    scored 20 points more each and come first."""
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        gaps = [await insert(conn, "data_gap", f"PWR-{i}", "low", NOW - timedelta(hours=7, minutes=20 * i), None)
                for i in range(5)]
        toff = await insert(conn, "treatment_off", "PWR-KILN-1", "medium", NOW - timedelta(minutes=30), NOW)
        rows = await ranked(conn)
    assert rows[0]["id"] == toff
    by_id = {r["id"]: r for r in rows}
    assert [by_id[g]["earlier"] for g in gaps] == [0] * 5
    assert all(by_id[g]["score"].repetition == 0.0 for g in gaps)
    assert by_id[toff]["earlier"] == 0, "data gaps are another rule: never repeats of treatment_off"


async def test_data_gaps_of_separate_outages_still_count(database: str) -> None:
    """A data gap of last week and one now (not overlapping) are two incidents: each counts the
    other; a treatment_off earlier in the window counts for the current treatment_off."""
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        old = await insert(conn, "data_gap", "PWR-SCR-1", "low", NOW - timedelta(days=7), NOW - timedelta(days=7)
                           + timedelta(hours=1))
        new = await insert(conn, "data_gap", "PWR-BAG-1", "low", NOW - timedelta(hours=1), None)
        await insert(conn, "treatment_off", "PWR-KILN-1", "medium", NOW - timedelta(days=3),
                     NOW - timedelta(days=3) + timedelta(minutes=20))
        toff = await insert(conn, "treatment_off", "PWR-KILN-1", "medium", NOW - timedelta(minutes=30), NOW)
        by_id = {r["id"]: r for r in await ranked(conn)}
    assert (by_id[old]["earlier"], by_id[new]["earlier"]) == (1, 1)
    assert by_id[toff]["earlier"] == 1
