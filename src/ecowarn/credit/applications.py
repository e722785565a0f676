"""Credit repair by application (信用修复申请): the enterprise applies, an officer decides.

The enterprise applies for the repair of one of its deductions with a commitment
(信用修复承诺书, 1..5000 characters) and proof (uploaded files, stored with their SHA-256
by :mod:`store.attachments`, and references to documents kept elsewhere). The deduction
must be live: a ``deduction`` that took points, not reversed and not already repaired;
and at most one application per deduction may be pending.

**Publication period.** An application can be filed once the deduction's minimum
publication period has passed (``repair_publication`` in ``config/credit.yaml``: the
severity maps to an ordinary or a serious record, each with its minimum in calendar
months), counted from when the deduction was recorded (its ``created_at``: the record
is published from then). Earlier filings are refused with the time from which one can
be filed (``allowed_at``). The deduction's ``repair_after`` (the waiting period of
automatic repair and of an officer's direct repair) does not apply to applications:
whether it falls before or after the publication period, an application is judged by
the publication period alone, so an approved application is never blocked by a longer
waiting period, and nothing is repaired on application before the publication period
ends (approval checks it again).

**Every step is in the hash chain** (and so in the credit feed), under the chain lock
(:func:`credit.chain.lock_chain`) in one transaction with the application row:

- filing: the filed document (commitment, the files' names, types, sizes and SHA-256,
  the references, the deduction and its hash) as an evidence package of kind
  ``repair_application`` (:func:`credit.evidence.freeze_document`), then a zero-point
  ``repair_application`` ledger entry referencing the deduction and resting on it;
- approval: a ``repair`` entry with the deduction's points restored (the same entry an
  officer's direct repair writes, so reversal and automatic repair treat it alike);
- rejection: a zero-point ``repair_rejection`` entry with the reason.

Both decisions need a pending application and a reason. Approval also needs the
deduction still live (automatic repair or a reversal may have come first; the officer
then rejects the application).

Errors (mapped to HTTP in ``api/errors.py``)::

    EntryNotFound (credit.errors)          404
     └── ApplicationNotFound               no such application, or one not visible
    NotEligible (credit.errors)            409, reason in English and Chinese (detail_zh)
     ├── ApplicationRefused                the deduction cannot be repaired on application
     │    └── TooEarly                     publication period running; extra allowed_at
     └── ApplicationDecided                approved or rejected already; extra status
    InvalidWorkflowInput (alerts.errors)   422, names the field
     └── InvalidApplication
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ecowarn.alerts.errors import InvalidWorkflowInput
from ecowarn.alerts.model import Actor
from ecowarn.credit._canonical import CST
from ecowarn.credit.chain import lock_chain, next_slot
from ecowarn.credit.errors import EntryNotFound, NotEligible
from ecowarn.credit.evidence import freeze_document
from ecowarn.credit.ledger import append_entry, fetch_entry
from ecowarn.credit.params import CreditParams
from ecowarn.i18n import catalog, label
from ecowarn.store.attachments import AttachmentRejected, Upload, check_upload, store_uploads

__all__ = [
    "MAX_COMMITMENT",
    "MAX_REASON",
    "MAX_REFERENCES",
    "ApplicationDecided",
    "ApplicationNotFound",
    "ApplicationRefused",
    "InvalidApplication",
    "Proof",
    "TooEarly",
    "approve",
    "fetch_application",
    "file_application",
    "list_applications",
    "reject",
]

log = logging.getLogger(__name__)

MAX_COMMITMENT: Final = 5000
MAX_REASON: Final = 2000
MAX_REFERENCES: Final = 10
MAX_REFERENCE_LEN: Final = 500

_EN = catalog("en", "CREDIT")
_ZH = catalog("zh", "CREDIT")

_COLUMNS = ("a.id, a.enterprise_id, a.entry_id, a.commitment, a.attachments, a.status, a.publication,"
            " a.allowed_from, a.applicant_token, a.applicant_label, a.created_at, a.decided_at,"
            " a.decided_by_token, a.decided_by_label, a.decision_reason, a.application_entry_id,"
            " a.decision_entry_id, a.evidence_id, e.sha256 AS evidence_sha256,"
            " d.points AS entry_points, d.rule AS entry_rule, d.severity AS entry_severity,"
            " d.alert_id AS entry_alert_id, d.created_at AS entry_recorded_at,"
            " d.repair_after AS entry_repair_after")
_FROM = (" FROM repair_applications a JOIN credit_ledger d ON d.id = a.entry_id"
         " JOIN evidence_packages e ON e.id = a.evidence_id")


class ApplicationNotFound(EntryNotFound):
    """No credit repair application with this id, or one the actor may not see."""

    def __init__(self, application_id: int) -> None:
        super().__init__(f"no credit repair application {application_id}")
        self.application_id = application_id


class ApplicationRefused(NotEligible):
    """The deduction cannot be repaired on application (now); in both languages."""

    def __init__(self, key: str, *, extra: Mapping[str, Any] | None = None, **fields: Any) -> None:
        super().__init__(_EN[key].format(**fields))
        self.detail_zh = _ZH[key].format(**fields)
        self.extra: dict[str, Any] = dict(extra or {})
        self.key = key


class TooEarly(ApplicationRefused):
    """The minimum publication period runs until ``allowed_at``."""

    def __init__(self, key: str, allowed_at: datetime, **fields: Any) -> None:
        local = allowed_at.astimezone(CST)
        super().__init__(key, extra={"allowed_at": local.isoformat()},
                         allowed_at=f"{local:%Y-%m-%d %H:%M}", **fields)
        self.allowed_at = allowed_at


class ApplicationDecided(NotEligible):
    """Only a pending application can be approved or rejected."""

    def __init__(self, application_id: int, status: str) -> None:
        key = "repair_app_decided"
        super().__init__(_EN[key].format(application=application_id, status=status))
        self.detail_zh = _ZH[key].format(application=application_id, status=label(status, "zh"))
        self.extra = {"status": status}
        self.status = status


class InvalidApplication(InvalidWorkflowInput):
    """A field of the application that cannot be accepted (422, names the field); the
    reason in Chinese too when it has one (``detail_zh``)."""

    def __init__(self, field: str, message: str, *, detail_zh: str | None = None) -> None:
        super().__init__(field, message)
        if detail_zh is not None:
            self.detail_zh = detail_zh

    @classmethod
    def worded(cls, field: str, key: str, **values: Any) -> InvalidApplication:
        return cls(field, _EN[key].format(**values), detail_zh=_ZH[key].format(**values))


@dataclass(frozen=True, slots=True)
class Proof:
    """What the enterprise attaches: files (checked and stored) and references."""

    files: Sequence[Upload] = ()
    references: Sequence[str] = ()


def _check_text(value: str, field: str, limit: int, key: str) -> str:
    text = value.strip()
    if not text or len(text) > limit:
        raise InvalidApplication.worded(field, key, max=limit)
    return text


def _check_proof(proof: Proof) -> tuple[list[Upload], list[str]]:
    refs = [r.strip() for r in proof.references]
    if len(refs) > MAX_REFERENCES or any(not r or len(r) > MAX_REFERENCE_LEN for r in refs):
        raise InvalidApplication.worded("body.attachments", "repair_app_references", max=MAX_REFERENCES,
                                        len=MAX_REFERENCE_LEN)
    try:
        files = [check_upload(u, f"body.attachments[{i}]") for i, u in enumerate(proof.files)]
    except AttachmentRejected as exc:
        raise InvalidApplication(exc.field, exc.message, detail_zh=exc.message_zh) from exc
    return files, refs


async def _clock(conn: psycopg.AsyncConnection[Any], now: datetime | None) -> datetime:
    if now is not None:
        return now
    cur = await conn.execute("SELECT now()")
    row = await cur.fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


async def _live_repair_or_reversal(conn: psycopg.AsyncConnection[Any], entry_id: int) -> str | None:
    """'reversed' when the deduction was reversed, 'repaired' when an unreversed repair
    references it, else None."""
    cur = await conn.execute(
        "SELECT x.entry_type FROM credit_ledger x WHERE x.ref_id = %s"
        " AND (x.entry_type = 'reversal' OR (x.entry_type = 'repair' AND NOT EXISTS ("
        "   SELECT 1 FROM credit_ledger y WHERE y.ref_id = x.id AND y.entry_type = 'reversal')))"
        " ORDER BY x.entry_type = 'reversal' DESC LIMIT 1", (entry_id,))
    row = await cur.fetchone()
    if row is None:
        return None
    return "reversed" if row[0] == "reversal" else "repaired"


async def _check_live(conn: psycopg.AsyncConnection[Any], entry: Mapping[str, Any]) -> None:
    """:class:`ApplicationRefused` unless ``entry`` is a deduction that can be repaired."""
    entry_id = int(entry["id"])
    if entry["entry_type"] != "deduction":
        raise ApplicationRefused("repair_app_not_deduction", entry=entry_id)
    if entry["points"] >= 0:
        raise ApplicationRefused("repair_app_no_points", entry=entry_id)
    state = await _live_repair_or_reversal(conn, entry_id)
    if state is not None:
        raise ApplicationRefused(f"repair_app_{state}", entry=entry_id)
    if entry["alert_id"] is None:
        raise ApplicationRefused("repair_app_no_alert", entry=entry_id)


def _who(actor: Actor) -> dict[str, Any]:
    return {"token_id": actor.token_id, "role": actor.role, "label": actor.label}


async def file_application(
    conn: psycopg.AsyncConnection[Any], params: CreditParams, *, entry_id: int, commitment: str,
    proof: Proof, actor: Actor, scope: Collection[str] | None, now: datetime | None = None,
) -> dict[str, Any]:
    """File an application for the repair of deduction ``entry_id``; returns it (pending).

    ``scope`` is the enterprises the actor may see (None: all); a deduction outside it is
    :class:`EntryNotFound`, exactly like one that does not exist. ``now`` is the clock
    the publication period is judged by (default: the database's).
    """
    text = _check_text(commitment, "body.commitment", MAX_COMMITMENT, "repair_app_commitment")
    files, refs = _check_proof(proof)
    async with conn.transaction():
        await lock_chain(conn)
        entry = await fetch_entry(conn, entry_id)
        if entry is None or (scope is not None and entry["enterprise_id"] not in scope):
            raise EntryNotFound(f"no credit ledger entry {entry_id}")
        await _check_live(conn, entry)
        cur = await conn.execute(
            "SELECT id FROM repair_applications WHERE entry_id = %s AND status = 'pending'", (entry_id,))
        pending = await cur.fetchone()
        if pending is not None:
            raise ApplicationRefused("repair_app_pending", extra={"application_id": int(pending[0])},
                                     entry=entry_id, application=int(pending[0]))
        at = await _clock(conn, now)
        allowed_from = params.publication_end(entry["created_at"], entry["severity"])
        if at < allowed_from:
            raise TooEarly("repair_app_too_early", allowed_from, entry=entry_id)
        enterprise_id = str(entry["enterprise_id"])
        stored = await store_uploads(conn, files, enterprise_id=enterprise_id,
                                     uploaded_by=actor.token_id, field="body.attachments")
        attachments = [*stored, *({"reference": r} for r in refs)]
        cur = await conn.execute("SELECT nextval(pg_get_serial_sequence('repair_applications', 'id'))")
        id_row = await cur.fetchone()
        assert id_row is not None
        application_id = int(id_row[0])
        publication = params.publication_class(entry["severity"])
        who = _who(actor)
        document = await freeze_document(
            conn, await next_slot(conn), kind="repair_application", alert_id=int(entry["alert_id"]),
            enterprise_id=enterprise_id, actor=who, body={
                "application_id": application_id, "commitment": text, "attachments": attachments,
                "deduction": {"id": entry_id, "points": entry["points"], "rule": entry["rule"],
                              "severity": entry["severity"], "alert_id": entry["alert_id"],
                              "recorded_at": entry["created_at"], "hash": entry["hash"]},
                "publication": {"class": publication, "allowed_from": allowed_from},
                "filed_at": at,
            })
        ledger_entry = await append_entry(
            conn, await next_slot(conn), enterprise_id=enterprise_id, entry_type="repair_application",
            points=0, occurred_at=at, actor=who, alert_id=entry["alert_id"], rule=entry["rule"],
            severity=entry["severity"], evidence_id=document.id, ref_id=entry_id,
            reason=f"credit repair application {application_id} for deduction {entry_id} filed with "
                   f"a commitment and {len(attachments)} attachment(s)")
        await conn.execute(
            "INSERT INTO repair_applications (id, enterprise_id, entry_id, commitment, attachments,"
            " publication, allowed_from, applicant_token, applicant_label, created_at,"
            " application_entry_id, evidence_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (application_id, enterprise_id, entry_id, text, Jsonb(attachments), publication,
             allowed_from, actor.token_id, actor.label, at, ledger_entry["id"], document.id))
        application = await _fetch(conn, application_id)
    log.info("credit repair application %s for deduction %s of %s filed (%d attachments, evidence %s)",
             application_id, entry_id, enterprise_id, len(attachments), document.id)
    assert application is not None
    return application


async def _fetch(conn: psycopg.AsyncConnection[Any], application_id: int, *,
                 lock: bool = False) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS}{_FROM} WHERE a.id = %s"
                          + (" FOR UPDATE OF a" if lock else ""), (application_id,))
        return await cur.fetchone()


async def fetch_application(conn: psycopg.AsyncConnection[Any], application_id: int, *,
                            scope: Collection[str] | None) -> dict[str, Any]:
    """One application with its deduction's headline; :class:`ApplicationNotFound` when
    absent or outside ``scope``."""
    row = await _fetch(conn, application_id)
    if row is None or (scope is not None and row["enterprise_id"] not in scope):
        raise ApplicationNotFound(application_id)
    return row


async def list_applications(
    conn: psycopg.AsyncConnection[Any], *, scope: Collection[str] | None, status: str | None = None,
    enterprise_id: str | None = None, before_id: int | None = None, limit: int,
) -> list[dict[str, Any]]:
    """Applications newest first, at most ``limit`` + 1 (one more: another page follows)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS}{_FROM}"
            " WHERE (%(scope)s::text[] IS NULL OR a.enterprise_id = ANY(%(scope)s))"
            " AND (%(status)s::text IS NULL OR a.status = %(status)s)"
            " AND (%(ent)s::text IS NULL OR a.enterprise_id = %(ent)s)"
            " AND (%(before)s::bigint IS NULL OR a.id < %(before)s)"
            " ORDER BY a.id DESC LIMIT %(limit)s",
            {"scope": None if scope is None else sorted(scope), "status": status, "ent": enterprise_id,
             "before": before_id, "limit": limit + 1})
        return await cur.fetchall()


async def _pending(conn: psycopg.AsyncConnection[Any], application_id: int,
                   scope: Collection[str] | None) -> dict[str, Any]:
    row = await _fetch(conn, application_id, lock=True)
    if row is None or (scope is not None and row["enterprise_id"] not in scope):
        raise ApplicationNotFound(application_id)
    if row["status"] != "pending":
        raise ApplicationDecided(application_id, row["status"])
    return row


async def _decide(conn: psycopg.AsyncConnection[Any], application_id: int, *, status: str,
                  at: datetime, actor: Actor, reason: str, entry_id: int) -> dict[str, Any]:
    await conn.execute(
        "UPDATE repair_applications SET status = %s, decided_at = %s, decided_by_token = %s,"
        " decided_by_label = %s, decision_reason = %s, decision_entry_id = %s WHERE id = %s",
        (status, at, actor.token_id, actor.label, reason, entry_id, application_id))
    row = await _fetch(conn, application_id)
    assert row is not None
    return row


async def approve(
    conn: psycopg.AsyncConnection[Any], application_id: int, *, actor: Actor, reason: str,
    scope: Collection[str] | None, now: datetime | None = None,
) -> dict[str, Any]:
    """Approve a pending application: a ``repair`` entry restores the deduction's points.

    :class:`ApplicationDecided` when it is not pending; :class:`TooEarly` before its
    ``allowed_from`` (never repaired before the publication period); :class:`ApplicationRefused`
    when the deduction was repaired or reversed meanwhile (reject the application instead).
    """
    why = _check_text(reason, "body.reason", MAX_REASON, "repair_app_reason")
    async with conn.transaction():
        await lock_chain(conn)
        application = await _pending(conn, application_id, scope)
        at = await _clock(conn, now)
        if at < application["allowed_from"]:
            raise TooEarly("repair_app_approve_early", application["allowed_from"],
                           application=application_id)
        entry = await fetch_entry(conn, int(application["entry_id"]))
        assert entry is not None  # a foreign key
        await _check_live(conn, entry)
        repaired = await append_entry(
            conn, await next_slot(conn), enterprise_id=entry["enterprise_id"], entry_type="repair",
            points=-int(entry["points"]), occurred_at=at, actor=_who(actor), alert_id=entry["alert_id"],
            rule=entry["rule"], severity=entry["severity"], evidence_id=application["evidence_id"],
            ref_id=int(entry["id"]),
            reason=f"credit repair application {application_id} approved: {why}")
        row = await _decide(conn, application_id, status="approved", at=at, actor=actor, reason=why,
                            entry_id=int(repaired["id"]))
    log.info("credit repair application %s approved: deduction %s repaired by entry %s (%+d)",
             application_id, entry["id"], repaired["id"], repaired["points"])
    return row


async def reject(
    conn: psycopg.AsyncConnection[Any], application_id: int, *, actor: Actor, reason: str,
    scope: Collection[str] | None, now: datetime | None = None,
) -> dict[str, Any]:
    """Reject a pending application: a zero-point ``repair_rejection`` entry with the reason.
    The enterprise may apply again (a new application)."""
    why = _check_text(reason, "body.reason", MAX_REASON, "repair_app_reason")
    async with conn.transaction():
        await lock_chain(conn)
        application = await _pending(conn, application_id, scope)
        at = await _clock(conn, now)
        entry = await fetch_entry(conn, int(application["entry_id"]))
        assert entry is not None  # a foreign key
        rejected = await append_entry(
            conn, await next_slot(conn), enterprise_id=entry["enterprise_id"],
            entry_type="repair_rejection", points=0, occurred_at=at, actor=_who(actor),
            alert_id=entry["alert_id"], rule=entry["rule"], severity=entry["severity"],
            evidence_id=application["evidence_id"], ref_id=int(entry["id"]),
            reason=f"credit repair application {application_id} rejected: {why}")
        row = await _decide(conn, application_id, status="rejected", at=at, actor=actor, reason=why,
                            entry_id=int(rejected["id"]))
    log.info("credit repair application %s rejected (entry %s)", application_id, rejected["id"])
    return row
