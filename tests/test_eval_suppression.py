"""Approved maintenance suppresses the rules it covers, whether declared before or after the
data; rules it does not cover are untouched; a pending or rejected declaration changes nothing."""

from __future__ import annotations

import dataclasses

import pytest
from test_eval_support import (
    BAG,
    KILN,
    KILN_CEMS,
    SCR,
    EvalEnv,
    at,
    insert_maintenance,
    simulate_days,
    spans,
)

from ecowarn.alerts.errors import DeclarationDecided
from ecowarn.alerts.maintenance import decide, declare
from ecowarn.alerts.model import Actor, MaintenancePolicy
from ecowarn.detectors.flatline import FlatlineParams
from ecowarn.detectors.marking import MarkingParams
from ecowarn.simulator import Flatline, Marking, TreatmentOutage

pytest_plugins = ("test_eval_support",)

DEVICES = (KILN, BAG, SCR, KILN_CEMS)


def marked_day(env: EvalEnv) -> object:
    return simulate_days(env.registry, 1, [Marking((KILN_CEMS,), at(0, 16), at(0, 17, 30))])


async def test_maintenance_declared_before_the_data_prevents_the_alert(eval_env: EvalEnv) -> None:
    """M flags 16:00-17:30 inside declared maintenance 15:50-17:40: no marking alert."""
    await insert_maintenance(eval_env, KILN_CEMS, at(0, 15, 50), at(0, 17, 40))
    await eval_env.write_sim(marked_day(eval_env), devices=DEVICES)  # type: ignore[arg-type]
    await eval_env.runner(["undeclared_marking"]).drain()
    assert await eval_env.alerts(live=False) == []


async def test_retroactive_enterprise_declaration_waits_for_an_officer(eval_env: EvalEnv) -> None:
    """An enterprise declaring maintenance over an alert after the fact changes nothing (the
    declaration is pending); once an officer approves it, the re-evaluation retires the open
    alert: superseded, with the declaration in its evidence and its audit trail."""
    await eval_env.write_sim(marked_day(eval_env), devices=DEVICES)  # type: ignore[arg-type]
    runner = eval_env.runner(["undeclared_marking"])
    await runner.drain()
    [alert] = await eval_env.alerts()
    firm = Actor(token_id=None, role="enterprise", enterprise_id=eval_env.registry.devices[KILN_CEMS].enterprise_id)
    officer = Actor(token_id=None, role="officer", label="Officer Li")
    async with eval_env.pool.connection() as conn:
        declared = await declare(conn, device_id=KILN_CEMS, enterprise_id=firm.enterprise_id,
                                 start=at(0, 15, 50), end=at(0, 17, 40), reason="analyser calibration",
                                 actor=firm, policy=MaintenancePolicy())
        assert (declared["status"], declared["pending_reason"]) == ("pending", "retroactive")
        await runner.drain()
        [still] = await eval_env.alerts()
        assert (still.id, still.status) == (alert.id, "open"), "a pending declaration suppresses nothing"
        await decide(conn, declared["id"], "approve", officer, "calibration log checked on site")
    assert await eval_env.execute("SELECT device_id, t_min, t_max FROM pending_eval") == [
        (KILN_CEMS, at(0, 15, 50), at(0, 17, 40))], "queued by the approval's own transaction"
    assert await runner.drain() == 1
    assert await eval_env.alerts() == []
    [gone] = await eval_env.alerts(live=False)
    assert (gone.id, gone.status) == (alert.id, "superseded")
    assert gone.evidence["suppressed_by_maintenance"][0]["id"] == declared["id"]
    events = await eval_env.execute(
        "SELECT kind, from_status, to_status, actor_role, reason FROM alert_events"
        " WHERE alert_id = %s ORDER BY id", (alert.id,))
    assert events[-1] == ("superseded", "open", "superseded", "system",
                          f"covered by declared maintenance #{declared['id']}")


async def test_rejected_declaration_never_suppresses(eval_env: EvalEnv) -> None:
    """A rejected declaration stays without effect, and cannot be approved afterwards."""
    await eval_env.write_sim(marked_day(eval_env), devices=DEVICES)  # type: ignore[arg-type]
    runner = eval_env.runner(["undeclared_marking"])
    await runner.drain()
    firm = Actor(token_id=None, role="enterprise")
    officer = Actor(token_id=None, role="officer")
    async with eval_env.pool.connection() as conn:
        declared = await declare(conn, device_id=KILN_CEMS, enterprise_id=None, start=at(0, 15, 50),
                                 end=at(0, 17, 40), reason="calibration", actor=firm, policy=MaintenancePolicy())
        rejected = await decide(conn, declared["id"], "reject", officer, "no calibration record")
        assert rejected["status"] == "rejected"
        with pytest.raises(DeclarationDecided):
            await decide(conn, declared["id"], "approve", officer, "changed my mind")
    await runner.drain()
    assert [a.status for a in await eval_env.alerts()] == ["open"]


async def test_maintenance_covering_part_of_an_alert_trims_it(eval_env: EvalEnv) -> None:
    """A flatline 09:00-12:00, then maintenance declared for 09:00-10:00: the alert now starts
    at 10:00 (two uncovered hours remain, the minimum is two)."""
    sim = simulate_days(eval_env.registry, 1, [Flatline((KILN_CEMS,), at(0, 9), at(0, 12), "nox")])
    await eval_env.write_sim(sim, devices=DEVICES)
    runner = eval_env.runner(["flatline"])
    await runner.drain()
    assert spans(await eval_env.alerts()) == [(at(0, 9), at(0, 12))]
    await insert_maintenance(eval_env, KILN_CEMS, at(0, 8, 30), at(0, 10))
    await runner.drain()
    [alert] = await eval_env.alerts()
    assert (alert.start, alert.end, alert.status) == (at(0, 10), at(0, 12), "open")
    assert alert.evidence["facts"]["duration_min"] == 120.0


async def test_treatment_maintenance_does_not_excuse_production_without_treatment(
        eval_env: EvalEnv) -> None:
    """treatment_off is not covered by maintenance (default): the kiln ran untreated anyway."""
    sim = simulate_days(eval_env.registry, 1, [TreatmentOutage((KILN,), at(0, 10), at(0, 11))])
    await insert_maintenance(eval_env, BAG, at(0, 9), at(0, 12), "bag replacement")
    await insert_maintenance(eval_env, SCR, at(0, 9), at(0, 12), "catalyst replacement")
    await eval_env.write_sim(sim, devices=DEVICES)
    await eval_env.runner(["treatment_off"]).drain()
    assert spans(await eval_env.alerts()) == [(at(0, 10), at(0, 11))]


async def test_suppression_is_a_parameter(eval_env: EvalEnv) -> None:
    """With suppressed_by_maintenance false, a declaration excuses neither marks nor a flatline."""
    sim = simulate_days(eval_env.registry, 1, [
        Marking((KILN_CEMS,), at(0, 16), at(0, 17, 30)),
        Flatline((KILN_CEMS,), at(0, 9), at(0, 12), "nox")])
    await insert_maintenance(eval_env, KILN_CEMS, at(0, 8), at(0, 18))
    await eval_env.write_sim(sim, devices=DEVICES)
    runner = eval_env.runner(
        ["undeclared_marking", "flatline"],
        undeclared_marking=dataclasses.replace(MarkingParams(), suppressed_by_maintenance=False),
        flatline=dataclasses.replace(FlatlineParams(), suppressed_by_maintenance=False))
    await runner.drain()
    assert sorted((a.rule, a.start, a.end) for a in await eval_env.alerts()) == [
        ("flatline", at(0, 9), at(0, 12)), ("undeclared_marking", at(0, 16), at(0, 17, 30))]


async def test_alert_being_worked_is_left_to_the_officer(eval_env: EvalEnv) -> None:
    """An alert already acknowledged by an officer is not retired by a later declaration."""
    await eval_env.write_sim(marked_day(eval_env), devices=DEVICES)  # type: ignore[arg-type]
    runner = eval_env.runner(["undeclared_marking"])
    await runner.drain()
    await eval_env.execute("UPDATE alerts SET status = 'acknowledged'")
    await insert_maintenance(eval_env, KILN_CEMS, at(0, 15, 50), at(0, 17, 40))
    await runner.drain()
    assert [a.status for a in await eval_env.alerts()] == ["acknowledged"]
