"""Jurisdictions (CONTRACT section 9): officer tokens limited to a region.

An officer token created with ``--region`` sees only the enterprises whose administrative
division code starts with it: another region's alert, reading, declaration, credit entry,
evidence package, warning, answer, trail or dead letter answers 404 with the very body of
an id that does not exist, and lists hold only its region's objects (objects of no
enterprise, such as an air hotspot, are left to unlimited tokens).

Sample registry: cement plant ``CEMENT`` in 130105, coking plant ``COKING`` in 130182,
glass works ``GLASS`` in 130627.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import psycopg
from test_api_support import CEMENT, COKING, GLASS, T0, ApiEnv

from ecowarn.alerts.model import Actor
from ecowarn.credit import CreditService, load_credit_params
from ecowarn.store.tokens import create_token, lookup_token

pytest_plugins = ("test_api_support",)

ABSENT = 9_876_543
NO_ENTERPRISE = "91130000MA0NONE000"
NO_DEVICE = "PWR-NONE-9"
_DIGITS = re.compile(r"\d+")


@dataclass
class Plant:
    """One enterprise's objects, made through the same paths the service uses."""

    enterprise_id: str
    device: str
    alert: int = 0
    entry: int = 0
    evidence: int = 0
    maintenance: int = 0
    dead_letter: int = 0
    answer: int = 0


@dataclass
class World:
    api: ApiEnv
    tokens: dict[str, str]
    plants: dict[str, Plant] = field(default_factory=dict)
    hotspot: int = 0
    anonymous_dead_letter: int = 0
    orders: dict[str, int] = field(default_factory=dict)

    def bearer(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


async def _token(api: ApiEnv, role: str, *, region: str | None = None,
                 enterprise_id: str | None = None) -> str:
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        return await create_token(conn, role=role, region=region, enterprise_id=enterprise_id,
                                  label=f"{role} {region or enterprise_id or 'all'}")


async def _confirm(api: ApiEnv, alert_id: int) -> None:
    """The credit side of a confirmation: a deduction resting on a frozen evidence package."""
    service = CreditService(api.ctx.registry, load_credit_params())
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        await service.on_alert_confirmed(conn, alert_id, Actor(token_id=None, role="officer",
                                                               label="province officer"))


async def _world(api: ApiEnv) -> World:
    tokens = {
        "glass_officer": await _token(api, "officer", region="1306"),
        "cement_officer": await _token(api, "officer", region="130105"),
        "province_officer": await _token(api, "officer", region="13"),
        "officer": await _token(api, "officer"),
        "credit": await _token(api, "credit"),
    }
    world = World(api, tokens)
    for enterprise_id, device in ((CEMENT, "PWR-KILN-1"), (COKING, "PWR-COKE-1"),
                                  (GLASS, "PWR-FURN-1")):
        plant = Plant(enterprise_id, device)
        plant.alert = await api.insert_alert(enterprise_id=enterprise_id, device_ids=(device,),
                                             start=T0, end=T0 + timedelta(minutes=40))
        await api.insert_readings(device, "p", T0, [400.0, 410.0, 420.0])
        answer = await api.client.post(
            f"/api/v1/alerts/{plant.alert}/answers",
            headers={"Authorization": f"Bearer {await _token(api, 'enterprise', enterprise_id=enterprise_id)}"},
            json={"kind": "explanation", "text": "检修期间短时停运"})
        assert answer.status_code == 201, answer.text
        plant.answer = int(answer.json()["id"])
        await _confirm(api, plant.alert)
        (plant.entry, plant.evidence), = await api.execute(
            "SELECT id, evidence_id FROM credit_ledger WHERE alert_id = %s", (plant.alert,))
        (plant.maintenance,), = await api.execute(
            "INSERT INTO maintenance (device_id, enterprise_id, start_ts, end_ts, reason,"
            " declared_by_role, status, pending_reason)"
            " VALUES (%s, %s, %s, %s, 'retroactive filter change', 'enterprise', 'pending',"
            " 'retroactive') RETURNING id", (device, enterprise_id, T0, T0 + timedelta(hours=2)))
        (plant.dead_letter,), = await api.execute(
            "INSERT INTO dead_letters (source, device_id, reason, detail, payload)"
            " VALUES ('mqtt', %s, 'naive_timestamp', 'no offset', '{}') RETURNING id", (device,))
        await api.execute(
            "INSERT INTO warning_deliveries (delivery_id, alert_id, event, enterprise_id, channel,"
            " target, body, status, attempts, next_attempt_at, delivered_at)"
            " VALUES (gen_random_uuid(), %s, 'opened', %s, 'webhook', 'http://x', '{}',"
            " 'delivered', 1, now(), now())", (plant.alert, enterprise_id))
        world.plants[enterprise_id] = plant
    world.hotspot = await api.insert_alert(rule="air_hotspot", enterprise_id=None,
                                           device_ids=("AQ-0001",), summary="PM2.5 hotspot",
                                           summary_zh="PM2.5 高值")
    (world.anonymous_dead_letter,), = await api.execute(
        "INSERT INTO dead_letters (source, reason, detail, payload)"
        " VALUES ('mqtt', 'bad_json', 'not JSON', 'x') RETURNING id")
    officer = world.bearer("officer")
    for name, ids in (("cement_glass", [CEMENT, GLASS]), ("cement", [CEMENT])):
        r = await api.client.post("/api/v1/emergency-orders", headers=officer, json={
            "enterprise_ids": ids, "measure": "shutdown", "start": T0.isoformat(),
            "end": (T0 + timedelta(hours=6)).isoformat()})
        assert r.status_code == 201, r.text
        world.orders[name] = int(r.json()["id"])
    return world


def _same(a: httpx.Response, b: httpx.Response) -> bool:
    """Two answers that cannot be told apart once the ids asked for are left out."""
    def bare(r: httpx.Response) -> str:
        text = r.text
        for name in (CEMENT, NO_ENTERPRISE, "PWR-BAG-1", "PWR-KILN-1", NO_DEVICE):
            text = text.replace(name, "ID")
        return _DIGITS.sub("N", text)
    return (a.status_code == b.status_code and bare(a) == bare(b)
            and a.headers.get("content-type") == b.headers.get("content-type"))


async def _probe(world: World, who: str, method: str, template: str, foreign: dict[str, Any],
                 absent: dict[str, Any], *, json: Any = None, params: dict[str, str] | None = None,
                 ) -> tuple[httpx.Response, httpx.Response]:
    """The same request for another region's object and for one that does not exist."""
    out = []
    for values in (foreign, absent):
        url = template.format(**values)
        query = {k: v.format(**values) for k, v in (params or {}).items()}
        out.append(await world.api.client.request(method, url, headers=world.bearer(who),
                                                  params=query, json=json))
    return out[0], out[1]


def _bearer_probes(cement: Plant) -> list[tuple[str, str, dict[str, Any], dict[str, Any], Any,
                                                  dict[str, str] | None]]:
    """(method, url, foreign values, absent values, body, query) of every id-taking route this
    part of the API owns."""
    alert = ({"id": cement.alert}, {"id": ABSENT})
    return [
        ("GET", "/api/v1/alerts/{id}", *alert, None, None),
        ("GET", "/api/v1/readings", {"d": cement.device}, {"d": NO_DEVICE}, None, {"device_id": "{d}"}),
        ("GET", "/api/v1/readings/hourly", {"d": cement.device}, {"d": NO_DEVICE}, None,
         {"device_id": "{d}"}),
        ("GET", "/api/v1/maintenance", {"d": "PWR-BAG-1"}, {"d": NO_DEVICE}, None, {"device_id": "{d}"}),
        ("POST", "/api/v1/maintenance", {}, {}, None, None),  # body differs: sent below
        ("GET", "/api/v1/maintenance/{id}", {"id": cement.maintenance}, {"id": ABSENT}, None, None),
        ("POST", "/api/v1/maintenance/{id}/approve", {"id": cement.maintenance}, {"id": ABSENT},
         {"reason": "log checked"}, None),
        ("POST", "/api/v1/maintenance/{id}/reject", {"id": cement.maintenance}, {"id": ABSENT},
         {"reason": "no record"}, None),
        ("POST", "/api/v1/dead-letters/{id}/replay", {"id": cement.dead_letter}, {"id": ABSENT},
         None, None),
        ("GET", "/api/v1/credit/enterprises/{id}", {"id": CEMENT}, {"id": NO_ENTERPRISE}, None, None),
        ("POST", "/api/v1/credit/entries/{id}/repair", {"id": cement.entry}, {"id": ABSENT},
         {"reason": "rectified"}, None),
        ("POST", "/api/v1/credit/entries/{id}/reversal", {"id": cement.entry}, {"id": ABSENT},
         {"reason": "in error"}, None),
        ("GET", "/api/v1/evidence/{id}", {"id": cement.evidence}, {"id": ABSENT}, None, None),
        ("GET", "/api/v1/evidence/{id}.html", {"id": cement.evidence}, {"id": ABSENT}, None, None),
        ("GET", "/api/v1/evidence/{id}/package", {"id": cement.evidence}, {"id": ABSENT}, None, None),
    ]


async def test_another_regions_objects_answer_exactly_like_absent_ones(api: ApiEnv) -> None:
    """A 1306 officer probing the cement plant's (130105) alert, readings, maintenance, dead
    letter, credit standing, entries and evidence gets 404 with the body of a missing id, and
    changes nothing."""
    world = await _world(api)
    cement = world.plants[CEMENT]
    problems = []
    for method, template, foreign, absent, body, params in _bearer_probes(cement):
        if method == "POST" and template == "/api/v1/maintenance":
            window = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat(),
                      "reason": "filter change"}
            a = await api.client.post(template, headers=world.bearer("glass_officer"),
                                      json={"device_id": "PWR-BAG-1", **window})
            b = await api.client.post(template, headers=world.bearer("glass_officer"),
                                      json={"device_id": NO_DEVICE, **window})
        else:
            a, b = await _probe(world, "glass_officer", method, template, foreign, absent,
                                json=body, params=params)
        if a.status_code != 404 or not _same(a, b):
            problems.append(f"{method} {template}: {a.status_code} {a.text[:120]!r}"
                            f" vs absent {b.status_code} {b.text[:120]!r}")
    assert not problems, "\n".join(problems)
    # Nothing was changed by the refused requests.
    assert await api.execute("SELECT status FROM maintenance WHERE id = %s",
                             (cement.maintenance,)) == [("pending",)]
    assert await api.execute("SELECT count(*) FROM maintenance WHERE device_id = 'PWR-BAG-1'") == [(0,)]
    assert await api.execute("SELECT replayed_at FROM dead_letters WHERE id = %s",
                             (cement.dead_letter,)) == [(None,)]
    assert await api.execute("SELECT count(*) FROM credit_ledger WHERE ref_id = %s",
                             (cement.entry,)) == [(0,)]


async def test_workflow_routes_of_another_region_answer_like_absent_ones(api: ApiEnv) -> None:
    """The alert workflow's routes (trail, answers, claim, transitions, comments, assignment)
    answer a 1306 officer about the cement plant's alert as about a missing one, record
    nothing, and its queue and labels hold only the glass works' alerts."""
    world = await _world(api)
    cement, glass = world.plants[CEMENT], world.plants[GLASS]
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        me = await lookup_token(conn, world.tokens["glass_officer"])
    assert me is not None
    alert = ({"id": cement.alert}, {"id": ABSENT})
    probes: list[tuple[str, str, Any]] = [
        ("GET", "/api/v1/alerts/{id}/audit", None),
        ("GET", "/api/v1/alerts/{id}/answers", None),
        ("POST", "/api/v1/queue/{id}/claim", None),
        ("POST", "/api/v1/alerts/{id}/transitions", {"action": "acknowledge"}),
        ("POST", "/api/v1/alerts/{id}/comments", {"text": "note"}),
        ("POST", "/api/v1/alerts/{id}/assign", {"assignee_token_id": me.token_id}),
    ]
    problems = []
    for method, template, body in probes:
        a, b = await _probe(world, "glass_officer", method, template, *alert, json=body)
        if a.status_code != 404 or not _same(a, b):
            problems.append(f"{method} {template}: {a.status_code} {a.text[:120]!r}"
                            f" vs absent {b.status_code} {b.text[:120]!r}")
    assert not problems, "\n".join(problems)
    assert await api.execute("SELECT count(*) FROM alert_events WHERE alert_id = %s"
                             " AND kind <> 'answer'", (cement.alert,)) == [(0,)]
    assert await api.execute("SELECT first_read_at FROM alert_answers WHERE id = %s",
                             (cement.answer,)) == [(None,)]

    h = world.bearer("glass_officer")
    queue = (await api.client.get("/api/v1/queue", headers=h)).json()
    assert [q["id"] for q in queue["items"]] == [glass.alert] and queue["next_cursor"] is None
    elsewhere = await api.client.get("/api/v1/queue", headers=h, params={"region": "130105"})
    assert elsewhere.json()["items"] == []
    await api.execute("UPDATE alerts SET status = 'closed', disposition = 'false_alarm',"
                      " closed_at = now()")
    labels = (await api.client.get("/api/v1/labels", headers=h)).json()["items"]
    assert [lb["alert_id"] for lb in labels] == [glass.alert]


async def test_an_order_naming_another_regions_enterprise_is_refused_like_an_unknown_id(
        api: ApiEnv) -> None:
    """Ordering the cement plant from a 1306 token is the 422 of an unknown enterprise id,
    word for word; its own enterprise is accepted."""
    world = await _world(api)
    window = {"measure": "shutdown", "start": T0.isoformat(),
              "end": (T0 + timedelta(hours=1)).isoformat()}
    headers = world.bearer("glass_officer")
    foreign = await api.client.post("/api/v1/emergency-orders", headers=headers,
                                    json={"enterprise_ids": [CEMENT], **window})
    unknown = await api.client.post("/api/v1/emergency-orders", headers=headers,
                                    json={"enterprise_ids": [NO_ENTERPRISE], **window})
    assert foreign.status_code == unknown.status_code == 422
    assert foreign.json()["detail"].replace(CEMENT, "X") == unknown.json()["detail"].replace(
        NO_ENTERPRISE, "X")
    own = await api.client.post("/api/v1/emergency-orders", headers=headers,
                                json={"enterprise_ids": [GLASS], **window})
    assert own.status_code == 201 and own.json()["enterprise_ids"] == [GLASS]


async def test_lists_hold_only_the_regions_objects(api: ApiEnv) -> None:
    """Every list a 1306 officer reads (alerts, maintenance, orders, dead letters, credit
    feed, scores, warnings) holds only the glass works' objects; a page of one says no more
    follow; filtering on another region's enterprise gives nothing."""
    world = await _world(api)
    glass = world.plants[GLASS]
    h = world.bearer("glass_officer")
    get = api.client.get

    alerts = (await get("/api/v1/alerts", headers=h)).json()
    assert [a["id"] for a in alerts["items"]] == [glass.alert]
    one = (await get("/api/v1/alerts", headers=h, params={"limit": 1})).json()
    assert len(one["items"]) == 1 and one["next_cursor"] is None
    assert (await get("/api/v1/alerts", headers=h, params={"enterprise_id": CEMENT})).json()["items"] == []
    by_device = await get("/api/v1/alerts", headers=h, params={"device_id": "PWR-KILN-1"})
    assert by_device.json()["items"] == []

    maintenance = (await get("/api/v1/maintenance", headers=h)).json()["items"]
    assert [m["id"] for m in maintenance] == [glass.maintenance]
    pending = (await get("/api/v1/maintenance", headers=h, params={"status": "pending"})).json()
    assert [m["enterprise_id"] for m in pending["items"]] == [GLASS]

    orders = (await get("/api/v1/emergency-orders", headers=h)).json()["items"]
    assert [(o["id"], o["enterprise_ids"]) for o in orders] == [(world.orders["cement_glass"], [GLASS])]

    letters = (await get("/api/v1/dead-letters", headers=h)).json()
    assert [d["id"] for d in letters["items"]] == [glass.dead_letter] and letters["next_cursor"] is None

    events = (await get("/api/v1/credit/events", headers=h)).json()
    assert {e["enterprise_id"] for e in events["items"]} == {GLASS}
    assert [e["id"] for e in events["items"]] == [glass.entry]
    filtered = await get("/api/v1/credit/events", headers=h, params={"enterprise_id": CEMENT})
    assert filtered.json()["items"] == []
    csv = await get("/api/v1/credit/events", headers=h, params={"format": "csv"})
    assert CEMENT not in csv.text and GLASS in csv.text

    scores = (await get("/api/v1/credit/scores", headers=h)).json()["items"]
    assert [s["enterprise_id"] for s in scores] == [GLASS]

    warnings = (await get("/api/v1/warnings", headers=h)).json()["items"]
    assert [w["alert_id"] for w in warnings] == [glass.alert]
    peek = await get("/api/v1/warnings", headers=h, params={"enterprise_id": CEMENT})
    assert peek.json()["items"] == []


async def test_the_unlimited_and_the_province_officer_see_all_enterprises(api: ApiEnv) -> None:
    """An officer of region 13 sees all three enterprises' alerts, scores, dead letters and
    credit; an unlimited officer and the credit role also see what belongs to no enterprise
    (the air hotspot, a dead letter naming no device), which region tokens never do."""
    world = await _world(api)
    every = {p.alert for p in world.plants.values()}
    province = world.bearer("province_officer")
    listed = (await api.client.get("/api/v1/alerts", headers=province)).json()["items"]
    assert {a["id"] for a in listed} == every
    for plant in world.plants.values():
        r = await api.client.get(f"/api/v1/alerts/{plant.alert}", headers=province)
        assert r.status_code == 200, r.text
        r = await api.client.get(f"/api/v1/evidence/{plant.evidence}", headers=province)
        assert r.status_code == 200, r.text
    hotspot = await api.client.get(f"/api/v1/alerts/{world.hotspot}", headers=province)
    assert hotspot.status_code == 404
    letters = (await api.client.get("/api/v1/dead-letters", headers=province)).json()["items"]
    assert {d["id"] for d in letters} == {p.dead_letter for p in world.plants.values()}
    scores = (await api.client.get("/api/v1/credit/scores", headers=province)).json()["items"]
    assert [s["enterprise_id"] for s in scores] == sorted([CEMENT, COKING, GLASS])

    unlimited = world.bearer("officer")
    listed = (await api.client.get("/api/v1/alerts", headers=unlimited)).json()["items"]
    assert {a["id"] for a in listed} == every | {world.hotspot}
    letters = (await api.client.get("/api/v1/dead-letters", headers=unlimited)).json()["items"]
    assert world.anonymous_dead_letter in {d["id"] for d in letters}
    feed = (await api.client.get("/api/v1/credit/events", headers=world.bearer("credit"))).json()
    assert {e["enterprise_id"] for e in feed["items"]} == {CEMENT, COKING, GLASS}


async def test_a_county_officer_sees_its_county_and_not_its_neighbours(api: ApiEnv) -> None:
    """A 130105 officer reads the cement plant's alert, readings and credit; the coking plant
    (130182, same city) and the glass works answer 404."""
    world = await _world(api)
    h = world.bearer("cement_officer")
    cement = world.plants[CEMENT]
    assert (await api.client.get(f"/api/v1/alerts/{cement.alert}", headers=h)).status_code == 200
    readings = await api.client.get("/api/v1/readings", headers=h, params={"device_id": "PWR-KILN-1"})
    assert [r["value"] for r in readings.json()["items"]] == [400.0, 410.0, 420.0]
    assert (await api.client.get(f"/api/v1/credit/enterprises/{CEMENT}", headers=h)).status_code == 200
    for other in (COKING, GLASS):
        plant = world.plants[other]
        assert (await api.client.get(f"/api/v1/alerts/{plant.alert}", headers=h)).status_code == 404
        assert (await api.client.get(f"/api/v1/credit/enterprises/{other}", headers=h)).status_code == 404
        r = await api.client.get("/api/v1/readings", headers=h, params={"device_id": plant.device})
        assert r.status_code == 404


# --- console ------------------------------------------------------------------------------


async def _page(api: ApiEnv, token: str, method: str, url: str,
                form: dict[str, str] | None = None) -> httpx.Response:
    api.client.cookies.clear()
    headers = {"Cookie": f"ecowarn_token={token}"}
    if form is not None:
        return await api.client.request(method, url, headers=headers, data=form)
    return await api.client.request(method, url, headers=headers)


async def _form_token(api: ApiEnv, token: str, alert_id: int) -> str:
    page = await _page(api, token, "GET", f"/console/alerts/{alert_id}")
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
    assert m, page.status_code
    return m.group(1)


async def test_console_pages_and_forms_of_another_region_are_not_found(api: ApiEnv) -> None:
    """In the console a 1306 officer gets the missing-id 404 page for the cement plant's alert
    page, enterprise page, evidence page and for every form posted at its alert or
    declaration; nothing changes."""
    world = await _world(api)
    token = world.tokens["glass_officer"]
    cement = world.plants[CEMENT]
    csrf = await _form_token(api, token, world.plants[GLASS].alert)
    probes: list[tuple[str, str, str, dict[str, str] | None]] = [
        ("GET", f"/console/alerts/{cement.alert}", f"/console/alerts/{ABSENT}", None),
        ("GET", f"/console/enterprises/{CEMENT}", f"/console/enterprises/{NO_ENTERPRISE}", None),
        ("GET", f"/console/evidence/{cement.evidence}", f"/console/evidence/{ABSENT}", None),
        ("POST", f"/console/alerts/{cement.alert}/transition", f"/console/alerts/{ABSENT}/transition",
         {"action": "acknowledge", "csrf": csrf}),
        ("POST", f"/console/alerts/{cement.alert}/claim", f"/console/alerts/{ABSENT}/claim",
         {"csrf": csrf}),
        ("POST", f"/console/alerts/{cement.alert}/comment", f"/console/alerts/{ABSENT}/comment",
         {"text": "n", "csrf": csrf}),
        ("POST", f"/console/maintenance/{cement.maintenance}/decide",
         f"/console/maintenance/{ABSENT}/decide", {"action": "approve", "reason": "ok", "csrf": csrf}),
    ]
    problems = []
    for method, foreign_url, absent_url, form in probes:
        a = await _page(api, token, method, foreign_url, form)
        b = await _page(api, token, method, absent_url, form)
        if a.status_code != 404 or not _same(a, b):
            problems.append(f"{method} {foreign_url}: {a.status_code} vs absent {b.status_code}")
    assert not problems, "\n".join(problems)
    assert await api.execute("SELECT status, assignee_token FROM alerts WHERE id = %s",
                             (cement.alert,)) == [("open", None)]
    assert await api.execute("SELECT status FROM maintenance WHERE id = %s",
                             (cement.maintenance,)) == [("pending",)]
    assert await api.execute("SELECT count(*) FROM alert_events WHERE alert_id = %s"
                             " AND actor_role = 'officer'", (cement.alert,)) == [(0,)]


async def test_console_lists_hold_only_the_regions_objects(api: ApiEnv) -> None:
    """The console's alert list, queue (items, pending declarations, region choices) and
    enterprise list show a 1306 officer the glass works only."""
    world = await _world(api)
    token = world.tokens["glass_officer"]
    glass, cement, coking = world.plants[GLASS], world.plants[CEMENT], world.plants[COKING]
    alerts = (await _page(api, token, "GET", "/console")).text
    assert f"/console/alerts/{glass.alert}" in alerts
    for other in (cement.alert, coking.alert, world.hotspot):
        assert f"/console/alerts/{other}\"" not in alerts and f"/console/alerts/{other}?" not in alerts
    queue = await _page(api, token, "GET", "/console/queue")
    assert queue.status_code == 200
    shown = set(map(int, re.findall(r'/console/alerts/(\d+)/claim', queue.text)))
    assert shown == {glass.alert}
    decide = set(map(int, re.findall(r'/console/maintenance/(\d+)/decide', queue.text)))
    assert decide == {glass.maintenance}
    regions = re.findall(r'<option value="(\d{6})"', queue.text)
    assert regions == ["130627"]
    other_region = await _page(api, token, "GET", "/console/queue?region=130105")
    assert re.findall(r'/console/alerts/(\d+)/claim', other_region.text) == []
    assert re.findall(r'/console/maintenance/(\d+)/decide', other_region.text) == []
    enterprises = (await _page(api, token, "GET", "/console/enterprises")).text
    assert f"/console/enterprises/{GLASS}" in enterprises
    assert CEMENT not in enterprises and COKING not in enterprises


async def test_officer_viewing_the_alert_page_has_read_its_answers(api: ApiEnv) -> None:
    """An officer's console page of an alert showing an answer marks it read once, with an
    ``answers_read`` event in the trail; the enterprise's own view and another region's
    refused view mark nothing."""
    world = await _world(api)
    cement = world.plants[CEMENT]
    enterprise = await _token(api, "enterprise", enterprise_id=CEMENT)
    assert (await _page(api, enterprise, "GET", f"/console/alerts/{cement.alert}")).status_code == 200
    refused = await _page(api, world.tokens["glass_officer"], "GET", f"/console/alerts/{cement.alert}")
    assert refused.status_code == 404
    unread = await api.execute("SELECT first_read_at FROM alert_answers WHERE id = %s", (cement.answer,))
    assert unread == [(None,)]
    events = "SELECT count(*) FROM alert_events WHERE alert_id = %s AND kind = 'answers_read'"
    assert await api.execute(events, (cement.alert,)) == [(0,)]

    officer = world.tokens["cement_officer"]
    for _ in range(2):
        page = await _page(api, officer, "GET", f"/console/alerts/{cement.alert}")
        assert page.status_code == 200 and "检修期间短时停运" in page.text
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        principal = await lookup_token(conn, officer)
    assert principal is not None
    read = await api.execute("SELECT first_read_token FROM alert_answers WHERE id = %s", (cement.answer,))
    assert read == [(principal.token_id,)]
    assert await api.execute(events, (cement.alert,)) == [(1,)]


# --- the command --------------------------------------------------------------------------


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ECOWARN_")}
    return subprocess.run([sys.executable, "-m", "ecowarn", *args], capture_output=True, text=True,
                          env={**base, **env}, timeout=60)


def test_token_create_with_a_region_through_the_command(database: str) -> None:
    """`ecowarn token create --role officer --region 1306` stores an officer token of that
    region; --region on another role, or a region that is not 2 to 6 digits, is refused
    with the reason and exit status 2, storing nothing."""
    env = {"ECOWARN_DATABASE_URL": database}
    res = run("token", "create", "--role", "officer", "--region", "1306", env=env)
    assert res.returncode == 0, res.stderr
    token = res.stdout.strip()
    with psycopg.connect(database) as conn:
        rows = conn.execute("SELECT token_hash, role, enterprise_id, region FROM api_tokens").fetchall()
    assert rows == [(hashlib.sha256(token.encode()).hexdigest(), "officer", None, "1306")]

    for role_args in (["--role", "credit"], ["--role", "admin"],
                      ["--role", "enterprise", "--enterprise", CEMENT]):
        res = run("token", "create", *role_args, "--region", "1306", env=env)
        assert res.returncode == 2, res.stdout
        assert "--region applies to --role officer only" in res.stderr
    for bad in ("1", "13a", "1306271", "１３"):
        res = run("token", "create", "--role", "officer", "--region", bad, env=env)
        assert res.returncode == 2, (bad, res.stdout)
        assert "region must be 2 to 6 digits" in res.stderr, bad
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM api_tokens").fetchone() == (1,)
