"""Freezing an evidence package when an alert is confirmed.

A package is everything an officer relied on, as it stood at confirmation time:
the alert (rule, subject, span, severity, summaries, the findings that made it fire),
the rule parameters, the detector version, the raw readings of its devices with
their HJ 212 flags over the alert window widened by a margin, the hourly values over
that window (the columns of ``readings_hourly``, aggregated from the raw rows), the
registry entries of the enterprise and the devices (passwords left out) and who
confirmed it. It is stored as canonical JSON with its SHA-256 and linked into the hash chain (:mod:`credit.chain`).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import metadata
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ecowarn.config.registry import Registry
from ecowarn.credit._canonical import canonical_json, link_hash, sha256_hex
from ecowarn.credit.chain import ChainSlot, evidence_payload

__all__ = ["DOCUMENT_FORMAT", "FORMAT", "EvidenceRef", "detector_version", "fetch_evidence",
           "freeze_document", "freeze_evidence"]

log = logging.getLogger(__name__)

FORMAT = "ecowarn-evidence/1"
# What an enterprise filed (a rectification submission, a credit repair application) and
# what was decided on it, kept in the same chain.
DOCUMENT_FORMAT = "ecowarn-document/1"
DOCUMENT_KINDS = ("rectification_submission", "repair_application")
# Raw readings kept in one package at most (a day of 9 CEMS metrics and two meters is
# ~16k rows); the package says when rows were left out.
READINGS_CAP = 200_000

# The hourly values of the window, aggregated from the raw rows like the readings_hourly
# view (migration 0001), with the window applied before grouping. Never read from
# readings_hourly itself: under TimescaleDB it is a continuous aggregate whose hours
# older than its refresh window hold whatever the last refresh saw, and a package frozen
# weeks after the fact must hold exactly the rows it also lists. Hours are UTC hours, as
# TimescaleDB's time_bucket aligns them (date_bin does not depend on the session time zone).
_HOURLY_SQL = (
    "SELECT device_id, metric, date_bin('1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00+00') AS bucket,"
    " count(*) AS n,"
    " count(value) FILTER (WHERE flag = 'N') AS n_valid,"
    " avg(value) FILTER (WHERE flag = 'N') AS avg_valid,"
    " min(value) AS min_value, max(value) AS max_value"
    " FROM readings WHERE device_id = ANY(%(devices)s)"
    " AND ts >= date_bin('1 hour', %(t0)s::timestamptz, TIMESTAMPTZ '2000-01-01 00:00+00')"
    " AND ts < date_bin('1 hour', %(t1)s::timestamptz, TIMESTAMPTZ '2000-01-01 00:00+00')"
    " + INTERVAL '1 hour'"
    " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    id: int
    sha256: str
    chain_seq: int
    hash: str


def detector_version() -> str:
    """The installed ecowarn version, which is the detectors' version."""
    try:
        return metadata.version("ecowarn")
    except metadata.PackageNotFoundError:
        return "unknown"


def _registry_entries(registry: Registry | None, enterprise_id: str | None,
                      device_ids: list[str]) -> dict[str, Any] | None:
    if registry is None:
        return None
    wanted: list[str] = []
    for device_id in device_ids:
        device = registry.devices.get(device_id)
        for ref in (device_id, *(device.treated_by if device else ()), *(device.serves if device else ())):
            if ref not in wanted:
                wanted.append(ref)
    devices = []
    for device_id in wanted:
        device = registry.devices.get(device_id)
        if device is None:
            devices.append({"id": device_id, "missing": True})
            continue
        entry = dataclasses.asdict(device)
        entry.pop("password", None)  # the data logger's HJ 212 password is a secret
        entry["limits"] = dict(device.limits)
        devices.append(entry)
    enterprise = registry.enterprises.get(enterprise_id) if enterprise_id else None
    return {
        "source": registry.source,
        "enterprise": None if enterprise is None else {
            "id": enterprise.id, "name": enterprise.name, "region": enterprise.region,
            "industry": enterprise.industry},
        "devices": devices,
    }


async def _window_data(conn: psycopg.AsyncConnection[Any], device_ids: list[str], t0: datetime,
                       t1: datetime) -> tuple[list[list[Any]], bool, list[list[Any]]]:
    cur = await conn.execute(
        "SELECT device_id, metric, ts, value, flag FROM readings"
        " WHERE device_id = ANY(%s) AND ts >= %s AND ts <= %s"
        " ORDER BY device_id, metric, ts LIMIT %s",
        (device_ids, t0, t1, READINGS_CAP + 1))
    raw = [list(r) for r in await cur.fetchall()]
    truncated = len(raw) > READINGS_CAP
    cur = await conn.execute(_HOURLY_SQL, {"devices": device_ids, "t0": t0, "t1": t1})
    hourly = [list(r) for r in await cur.fetchall()]
    return raw[:READINGS_CAP], truncated, hourly


async def freeze_evidence(
    conn: psycopg.AsyncConnection[Any], alert: dict[str, Any], slot: ChainSlot, *,
    registry: Registry | None, actor: dict[str, Any], margin: timedelta,
) -> EvidenceRef:
    """Build the package of ``alert`` (a row of ``alerts``), store it in ``slot`` of the
    chain and return its reference. Runs in the caller's transaction with the chain lock
    held."""
    start: datetime = alert["start_ts"]
    end: datetime = alert["end_ts"] or slot.now
    t0, t1 = start - margin, end + margin
    device_ids = list(alert["device_ids"])
    raw, truncated, hourly = await _window_data(conn, device_ids, t0, t1)
    package = {
        "format": FORMAT,
        "alert": {
            "id": alert["id"], "rule": alert["rule"], "subject": alert["subject"],
            "enterprise_id": alert["enterprise_id"], "device_ids": device_ids,
            "start": start, "end": alert["end_ts"], "severity": alert["severity"],
            "status": alert["status"], "summary_en": alert["summary"],
            "summary_zh": alert["summary_zh"], "created_at": alert["created_at"],
            "updated_at": alert["updated_at"],
        },
        "rule": {"id": alert["rule"], "params": alert["params"]},
        "findings": alert["evidence"],
        "detector": {"package": "ecowarn", "version": detector_version()},
        "window": {"since": t0, "until": t1, "margin_min": margin.total_seconds() / 60},
        "readings": {"columns": ["device_id", "metric", "ts", "value", "flag"], "rows": raw,
                     "count": len(raw), "truncated": truncated},
        "hourly": {"columns": ["device_id", "metric", "bucket", "n", "n_valid", "avg_valid",
                               "min_value", "max_value"], "rows": hourly},
        "registry": _registry_entries(registry, alert["enterprise_id"], device_ids),
        "confirmation": {"actor": actor, "confirmed_at": slot.now},
    }
    ref = await _insert(conn, slot, alert_id=alert["id"], enterprise_id=alert["enterprise_id"],
                        canonical=canonical_json(package), kind="alert")
    log.info("froze evidence package %s for alert %s (%d readings, sha256 %s)", ref.id,
             alert["id"], len(raw), ref.sha256)
    return ref


async def _insert(conn: psycopg.AsyncConnection[Any], slot: ChainSlot, *, alert_id: int,
                  enterprise_id: str | None, canonical: bytes, kind: str) -> EvidenceRef:
    digest = sha256_hex(canonical)
    cur = await conn.execute("SELECT nextval('evidence_packages_id_seq')")
    id_row = await cur.fetchone()
    assert id_row is not None
    row = {"id": int(id_row[0]), "alert_id": alert_id, "enterprise_id": enterprise_id,
           "sha256": digest, "created_at": slot.now, "chain_seq": slot.seq}
    chain_hash = link_hash(slot.prev_hash, evidence_payload(row))
    await conn.execute(
        "INSERT INTO evidence_packages (id, alert_id, enterprise_id, canonical, sha256, created_at,"
        " chain_seq, prev_hash, hash, kind) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (row["id"], alert_id, enterprise_id, canonical.decode("utf-8"), digest, slot.now,
         slot.seq, slot.prev_hash, chain_hash, kind))
    return EvidenceRef(id=int(id_row[0]), sha256=digest, chain_seq=slot.seq, hash=chain_hash)


async def freeze_document(conn: psycopg.AsyncConnection[Any], slot: ChainSlot, *, kind: str,
                          alert_id: int, enterprise_id: str | None, body: dict[str, Any],
                          actor: dict[str, Any]) -> EvidenceRef:
    """Keep a document an enterprise filed, or a decision on it, in the hash chain.

    ``body`` is what was filed (text, the attachments' names, sizes, types and
    SHA-256 — the files themselves stay in ``attachments``, their hashes bind them);
    it is stored as canonical JSON ``{"format", "kind", "alert_id", "enterprise_id",
    "body", "actor", "at"}`` in ``slot`` (chain lock held). ``ecowarn verify`` checks
    it like any evidence package.
    """
    if kind not in DOCUMENT_KINDS:
        raise ValueError(f"unknown document kind {kind!r}; expected one of {DOCUMENT_KINDS}")
    canonical = canonical_json({"format": DOCUMENT_FORMAT, "kind": kind, "alert_id": alert_id,
                                "enterprise_id": enterprise_id, "body": body, "actor": actor,
                                "at": slot.now})
    ref = await _insert(conn, slot, alert_id=alert_id, enterprise_id=enterprise_id,
                        canonical=canonical, kind=kind)
    log.info("kept %s for alert %s as evidence package %s (sha256 %s)", kind, alert_id, ref.id,
             ref.sha256)
    return ref


async def fetch_evidence(conn: psycopg.AsyncConnection[Any], evidence_id: int) -> dict[str, Any] | None:
    """An evidence_packages row (with ``canonical``, the exact stored text), or None."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, alert_id, enterprise_id, canonical, sha256, created_at, chain_seq,"
            " prev_hash, hash, kind FROM evidence_packages WHERE id = %s", (evidence_id,))
        return await cur.fetchone()

