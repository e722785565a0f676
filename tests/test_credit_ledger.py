"""Credit ledger: confirmation freezes evidence and deducts; levels, repair, reversal, append-only."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from ecowarn.config.registry import Registry
from ecowarn.credit import CreditService, EntryNotFound, NotEligible, level_for, load_credit_params
from ecowarn.credit.chain import lock_chain, next_slot
from ecowarn.credit.hooks import on_alert_confirmed
from ecowarn.credit.ledger import append_entry, repair, repair_due, reverse

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=CST)
CEMENT = "91130105MA0CXXXX1X"
COKING = "91130182MA0DEM001G"


class Officer:
    """What the alert lifecycle passes as ``actor``."""

    token_id = 7
    role = "officer"
    label = "Officer Wang, Shijiazhuang EEB"


@pytest.fixture
async def conn(database: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as c:
        yield c


@pytest.fixture
def service(sample_registry: Registry) -> CreditService:
    return CreditService(sample_registry, load_credit_params())


async def insert_alert(conn: psycopg.AsyncConnection[Any], *, rule: str = "treatment_off",
                       enterprise_id: str | None = CEMENT, severity: str = "high",
                       start: datetime = T0, end: datetime | None = T0 + timedelta(minutes=40),
                       device_ids: tuple[str, ...] = ("PWR-KILN-1", "PWR-BAG-1")) -> int:
    cur = await conn.execute(
        "INSERT INTO alerts (rule, subject, enterprise_id, device_ids, start_ts, end_ts, severity,"
        " summary, summary_zh, params, evidence) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " RETURNING id",
        (rule, device_ids[0], enterprise_id, list(device_ids), start, end, severity,
         "Kiln 1 ran while its treatment was off", "1号窑运行期间治污设施未运行",
         Jsonb({"min_duration_min": 10.0}), Jsonb({"production_kw": 512.0})))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def scores(conn: psycopg.AsyncConnection[Any]) -> dict[str, tuple[int, str]]:
    cur = await conn.execute("SELECT enterprise_id, score, level FROM credit_scores")
    return {r[0]: (r[1], r[2]) for r in await cur.fetchall()}


async def ledger_rows(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
    cur = await conn.execute(
        "SELECT id, entry_type, points, score_after, level_after, ref_id, repeat_count"
        " FROM credit_ledger ORDER BY id")
    return await cur.fetchall()


async def test_confirmation_freezes_evidence_then_deducts_from_the_table(
        conn: psycopg.AsyncConnection[Any], service: CreditService) -> None:
    """A confirmed high treatment_off takes 10 points; the package holds readings with flags,
    hourly values, rule params, detector version, registry entries and the actor."""
    alert = await insert_alert(conn)
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO readings (device_id, metric, ts, value, flag) VALUES (%s, %s, %s, %s, %s)",
            [("PWR-KILN-1", "p", T0 + timedelta(minutes=i), 500.0, "N") for i in range(-45, 90)]
            + [("PWR-BAG-1", "p", T0 + timedelta(minutes=i), 0.0, "M" if i == 5 else "N")
               for i in range(0, 40)])
    async with conn.transaction():
        await service.on_alert_confirmed(conn, alert, Officer())

    cur = await conn.execute("SELECT id, canonical, sha256, alert_id FROM evidence_packages")
    (ev_id, canonical, sha, ev_alert), = await cur.fetchall()
    assert ev_alert == alert
    assert hashlib.sha256(canonical.encode()).hexdigest() == sha
    package = json.loads(canonical)
    assert canonical == json.dumps(package, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert package["rule"] == {"id": "treatment_off", "params": {"min_duration_min": 10.0}}
    assert package["detector"]["package"] == "ecowarn" and package["detector"]["version"]
    assert package["confirmation"]["actor"] == {"token_id": 7, "role": "officer",
                                                "label": "Officer Wang, Shijiazhuang EEB"}
    rows = package["readings"]["rows"]
    # 30 min margin on each side of 08:00-08:40: kiln 07:30..09:10 (101 minutes), bag 40
    assert len(rows) == 101 + 40 and not package["readings"]["truncated"]
    assert ["PWR-BAG-1", "p", "2026-11-20T08:05:00.000000+08:00", 0.0, "M"] in rows
    hourly = {(r[0], r[2][:13]): r for r in package["hourly"]["rows"]}
    assert hourly[("PWR-BAG-1", "2026-11-20T08")][3:5] == [40, 39]  # n, n_valid (one M flag)
    devices = {d["id"]: d for d in package["registry"]["devices"]}
    assert {"PWR-KILN-1", "PWR-BAG-1", "PWR-SCR-1"} <= set(devices)
    assert "password" not in json.dumps(package["registry"])
    assert package["registry"]["enterprise"]["name"] == "石家庄某某水泥有限公司"

    (entry,) = await ledger_rows(conn)
    assert entry[1:5] == ("deduction", -10, 90, "A")
    cur = await conn.execute("SELECT evidence_id, alert_id, rule, severity, actor FROM credit_ledger")
    assert await cur.fetchone() == (ev_id, alert, "treatment_off", "high", package["confirmation"]["actor"])
    assert await scores(conn) == {CEMENT: (90, "A")}


async def test_confirming_again_changes_nothing(conn: psycopg.AsyncConnection[Any],
                                                service: CreditService) -> None:
    """A second confirmation of the same alert writes no second package or deduction."""
    alert = await insert_alert(conn)
    await service.on_alert_confirmed(conn, alert, Officer())
    await service.on_alert_confirmed(conn, alert, Officer())
    cur = await conn.execute("SELECT (SELECT count(*) FROM evidence_packages), (SELECT count(*) FROM credit_ledger)")
    assert await cur.fetchone() == (1, 1)


async def test_hook_rolls_back_with_the_confirming_transaction(
        conn: psycopg.AsyncConnection[Any], service: CreditService) -> None:
    """Evidence and deduction are written in the caller's transaction: a rollback leaves nothing."""
    alert = await insert_alert(conn)
    with pytest.raises(RuntimeError):
        async with conn.transaction():
            await service.on_alert_confirmed(conn, alert, Officer())
            raise RuntimeError("the confirmation failed after the hook")
    cur = await conn.execute("SELECT (SELECT count(*) FROM evidence_packages), (SELECT count(*) FROM credit_ledger)")
    assert await cur.fetchone() == (0, 0)


async def test_module_hook_reads_actor_attributes_defensively(conn: psycopg.AsyncConnection[Any]) -> None:
    """credit.hooks.on_alert_confirmed works without an installed service and with an actor
    that lacks ``label``."""
    class Partial:
        token_id = 3
        role = "admin"

    alert = await insert_alert(conn, severity="medium")
    await on_alert_confirmed(conn, alert, Partial())
    cur = await conn.execute("SELECT actor, points FROM credit_ledger")
    assert await cur.fetchone() == ({"token_id": 3, "role": "admin", "label": None}, -5)
    with pytest.raises(EntryNotFound):
        await on_alert_confirmed(conn, 999_999, Partial())


async def test_alert_without_enterprise_freezes_evidence_only(
        conn: psycopg.AsyncConnection[Any], service: CreditService) -> None:
    """An air station alert gets an evidence package and no ledger entry."""
    alert = await insert_alert(conn, rule="air_hotspot", enterprise_id=None, device_ids=("AQ-0001",))
    await service.on_alert_confirmed(conn, alert, Officer())
    cur = await conn.execute("SELECT (SELECT count(*) FROM evidence_packages), (SELECT count(*) FROM credit_ledger)")
    assert await cur.fetchone() == (1, 0)


async def test_repeat_within_twelve_months_costs_more(conn: psycopg.AsyncConnection[Any],
                                                      service: CreditService) -> None:
    """The second treatment_off (high) within 365 days takes 15 points, the third 20; one
    that started more than 365 days before does not count."""
    old = await insert_alert(conn, start=T0 - timedelta(days=400), end=T0 - timedelta(days=400) + timedelta(hours=1))
    first = await insert_alert(conn, start=T0)
    second = await insert_alert(conn, start=T0 + timedelta(days=30), end=T0 + timedelta(days=30, hours=1))
    third = await insert_alert(conn, start=T0 + timedelta(days=60), end=T0 + timedelta(days=60, hours=1))
    for alert in (old, first, second, third):
        await service.on_alert_confirmed(conn, alert, Officer())
    assert [(r[2], r[6]) for r in await ledger_rows(conn)] == [(-10, 0), (-10, 0), (-15, 1), (-20, 2)]
    assert await scores(conn) == {CEMENT: (45, "D")}


async def _deduct(conn: psycopg.AsyncConnection[Any], enterprise_id: str, points: int) -> dict[str, Any]:
    async with conn.transaction():
        await lock_chain(conn)
        slot = await next_slot(conn)
        return await append_entry(conn, slot, enterprise_id=enterprise_id, entry_type="deduction",
                                  points=-points, occurred_at=slot.now, reason="test", actor={"role": "test"})


@pytest.mark.parametrize("steps", [[(15, 85, "A"), (1, 84, "B"), (14, 70, "B"), (1, 69, "C"),
                                    (19, 50, "C"), (1, 49, "D"), (19, 30, "D"), (1, 29, "E"),
                                    (100, 0, "E")]])
async def test_level_changes_at_each_boundary(conn: psycopg.AsyncConnection[Any],
                                              steps: list[tuple[int, int, str]]) -> None:
    """85 is A and 84 B, 70 B and 69 C, 50 C and 49 D, 30 D and 29 E; the score stops at 0.
    The credit_scores view and each entry's score_after agree."""
    for points, score, level in steps:
        entry = await _deduct(conn, COKING, points)
        assert (entry["score_after"], entry["level_after"]) == (score, level)
        assert await scores(conn) == {COKING: (score, level)}
        assert level_for(score) == level


async def test_repair_restores_points_only_after_the_waiting_period(
        conn: psycopg.AsyncConnection[Any], service: CreditService) -> None:
    """A medium deduction can be repaired 90 days after it was recorded, once; the repair is
    its own entry referencing the deduction."""
    alert = await insert_alert(conn, severity="medium")
    await service.on_alert_confirmed(conn, alert, Officer())
    (deduction,) = await ledger_rows(conn)
    cur = await conn.execute("SELECT repair_after - created_at FROM credit_ledger")
    assert await cur.fetchone() == (timedelta(days=90),)
    with pytest.raises(NotEligible, match="waiting period"):
        await repair(conn, deduction[0], actor={"role": "officer"}, reason="rectified")
    later = datetime.now(CST) + timedelta(days=91)
    entry = await repair(conn, deduction[0], actor={"role": "officer"}, reason="rectified", now=later)
    assert (entry["entry_type"], entry["points"], entry["ref_id"], entry["score_after"]) == (
        "repair", 5, deduction[0], 100)
    with pytest.raises(NotEligible, match="already repaired"):
        await repair(conn, deduction[0], actor={"role": "officer"}, reason="again", now=later)
    assert await scores(conn) == {CEMENT: (100, "A")}


async def test_automatic_repair_needs_ended_condition_and_no_repeat_waiting(
        conn: psycopg.AsyncConnection[Any], service: CreditService) -> None:
    """repair_due repairs a deduction past its waiting period whose alert ended, but not while
    the alert is ongoing or while a newer same-rule deduction is still in its waiting period."""
    ended = await insert_alert(conn, rule="emission_exceedance", severity="medium")
    ongoing = await insert_alert(conn, rule="flatline", severity="medium", end=None)
    await service.on_alert_confirmed(conn, ended, Officer())
    await service.on_alert_confirmed(conn, ongoing, Officer())
    now = datetime.now(CST)
    assert await repair_due(conn, now=now + timedelta(days=10)) == []
    repaired = await repair_due(conn, now=now + timedelta(days=91))
    assert [(r["alert_id"], r["points"]) for r in repaired] == [(ended, 5)]

    # Two bypass violations: the newer (high, 365 days) keeps the older (medium) waiting.
    b1 = await insert_alert(conn, rule="bypass_suspected", severity="medium", start=T0 + timedelta(days=1),
                            end=T0 + timedelta(days=1, hours=2))
    b2 = await insert_alert(conn, rule="bypass_suspected", severity="high", start=T0 + timedelta(days=5),
                            end=T0 + timedelta(days=5, hours=2))
    await service.on_alert_confirmed(conn, b1, Officer())
    await service.on_alert_confirmed(conn, b2, Officer())
    assert await repair_due(conn, now=now + timedelta(days=100)) == []
    repaired = await repair_due(conn, now=now + timedelta(days=366))
    assert sorted(r["alert_id"] for r in repaired) == [b1, b2]
    assert await scores(conn) == {CEMENT: (85, "A")}  # the flatline deduction (15) stands


async def test_reversal_is_a_new_entry_and_cannot_be_repeated(
        conn: psycopg.AsyncConnection[Any], service: CreditService) -> None:
    """Reversing a deduction adds the opposite points referencing it; a second reversal and the
    reversal of a reversal are refused; the alert can then be confirmed anew."""
    alert = await insert_alert(conn)
    await service.on_alert_confirmed(conn, alert, Officer())
    (deduction,) = await ledger_rows(conn)
    (rev,) = await reverse(conn, deduction[0], actor={"role": "officer"}, reason="wrong meter mapping")
    assert (rev["entry_type"], rev["points"], rev["ref_id"], rev["score_after"]) == ("reversal", 10, deduction[0], 100)
    with pytest.raises(NotEligible, match="already reversed"):
        await reverse(conn, deduction[0], actor={}, reason="again")
    with pytest.raises(NotEligible, match="final"):
        await reverse(conn, rev["id"], actor={}, reason="undo")
    with pytest.raises(NotEligible, match="reversed"):
        await repair(conn, deduction[0], actor={}, reason="x", now=datetime.now(CST) + timedelta(days=999))
    await service.on_alert_confirmed(conn, alert, Officer())  # confirmed again after the review
    rows = await ledger_rows(conn)
    assert [(r[1], r[2], r[6]) for r in rows] == [("deduction", -10, 0), ("reversal", 10, None),
                                                  ("deduction", -10, 0)]
    cur = await conn.execute("SELECT count(*) FROM evidence_packages")
    assert await cur.fetchone() == (2,)


async def test_reversing_a_repaired_deduction_reverses_its_repair_first(
        conn: psycopg.AsyncConnection[Any], service: CreditService) -> None:
    """The net effect of a repaired then reversed deduction is nil."""
    alert = await insert_alert(conn, severity="medium")
    await service.on_alert_confirmed(conn, alert, Officer())
    (deduction,) = await ledger_rows(conn)
    await repair(conn, deduction[0], actor={}, reason="rectified", now=datetime.now(CST) + timedelta(days=91))
    written = await reverse(conn, deduction[0], actor={}, reason="confirmed in error")
    assert [(w["points"], w["ref_id"]) for w in written] == [(-5, deduction[0] + 1), (5, deduction[0])]
    assert await scores(conn) == {CEMENT: (100, "A")}


@pytest.mark.parametrize("statement", [
    "UPDATE credit_ledger SET points = 0",
    "DELETE FROM credit_ledger",
    "TRUNCATE credit_ledger CASCADE",
    "UPDATE evidence_packages SET canonical = '{}'",
    "DELETE FROM evidence_packages",
])
async def test_ledger_and_evidence_are_append_only(conn: psycopg.AsyncConnection[Any],
                                                   service: CreditService, statement: str) -> None:
    """UPDATE, DELETE and TRUNCATE of ledger entries and evidence packages are rejected."""
    await service.on_alert_confirmed(conn, await insert_alert(conn), Officer())
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        await conn.execute(statement)
    cur = await conn.execute("SELECT (SELECT count(*) FROM evidence_packages), (SELECT count(*) FROM credit_ledger)")
    assert await cur.fetchone() == (1, 1)


def test_credit_table_errors_name_file_and_key(tmp_path: Any) -> None:
    """A bad deduction table stops the service naming the file and the key."""
    from ecowarn.credit import CreditConfigError

    path = tmp_path / "credit.yaml"
    path.write_text("deductions:\n  treatment_off: {high: [10, -5]}\n")
    with pytest.raises(CreditConfigError, match=r"credit.yaml: deductions.treatment_off.high"):
        load_credit_params(path)
    path.write_text("deductions: {}\nrepair: {waiting: 3}\n")
    with pytest.raises(CreditConfigError, match=r"repair.waiting"):
        load_credit_params(path)


async def test_confirming_through_the_alert_lifecycle_writes_evidence_and_deduction(
        conn: psycopg.AsyncConnection[Any], service: CreditService) -> None:
    """Acknowledge, dispatch, confirm with the service's hook: one package and one deduction,
    recorded with the confirming officer."""
    from ecowarn.alerts.lifecycle import transition
    from ecowarn.alerts.model import Actor
    from ecowarn.store.tokens import create_token, lookup_token

    principal = await lookup_token(conn, await create_token(conn, role="officer", label="Officer Wu"))
    assert principal is not None
    officer = Actor(token_id=principal.token_id, role="officer", label="Officer Wu")
    alert = await insert_alert(conn)
    for action in ("acknowledge", "dispatch"):
        await transition(conn, alert, action, officer, on_confirmed=service.on_alert_confirmed)
    # Four days on, the three-day answer deadline has passed without an answer: heard.
    await transition(conn, alert, "confirm", officer, on_confirmed=service.on_alert_confirmed,
                     now=datetime.now(UTC) + timedelta(days=4))
    cur = await conn.execute("SELECT entry_type, points, actor FROM credit_ledger")
    assert await cur.fetchall() == [("deduction", -10, {"token_id": principal.token_id, "role": "officer",
                                                        "label": "Officer Wu"})]
    cur = await conn.execute("SELECT count(*) FROM evidence_packages WHERE alert_id = %s", (alert,))
    assert await cur.fetchone() == (1,)


async def test_first_offence_is_a_zero_point_entry_that_counts_as_a_violation(
        conn: psycopg.AsyncConnection[Any], service: CreditService) -> None:
    """Confirmed with first_offence_no_penalty: evidence frozen and a zero-point first_offence
    entry (no ref_id, nothing to repair) in the chain; confirming again is a no-op; a later
    same-rule deduction counts it as an earlier violation; the chain verifies."""
    from ecowarn.credit import verify_chain

    first = await insert_alert(conn)
    await service.on_alert_confirmed(conn, first, Officer(), disposition="first_offence_no_penalty")
    await on_alert_confirmed(conn, first, Officer(), disposition="first_offence_no_penalty")
    await service.on_alert_confirmed(conn, first, Officer())  # its first offence stands: no deduction
    later = await insert_alert(conn, start=T0 + timedelta(days=10), end=T0 + timedelta(days=10, hours=1))
    await service.on_alert_confirmed(conn, later, Officer())
    rows = await ledger_rows(conn)
    assert [r[1:] for r in rows] == [("first_offence", 0, 100, "A", None, 0),
                                     ("deduction", -15, 85, "A", None, 1)]
    cur = await conn.execute("SELECT repair_after, evidence_id IS NOT NULL FROM credit_ledger WHERE id = %s",
                             (rows[0][0],))
    assert await cur.fetchone() == (None, True)
    with pytest.raises(NotEligible, match="only deductions are repaired"):
        await repair(conn, rows[0][0], actor={"role": "officer"}, reason="x")
    async with conn.transaction():
        result = await verify_chain(conn)
    assert result.ok and (result.evidence, result.ledger) == (2, 2)
