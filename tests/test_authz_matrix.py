"""Authorization matrix: every route of the app x every kind of caller, against the documented roles.

Routes are read from the application itself, so a new endpoint without a line in
``EXPECTED`` fails ``test_every_route_has_a_documented_expectation`` until its roles are
written down here. Callers: no token, officer, enterprise A (owner of the probed
resources), enterprise B, an officer of another region (a token limited to 1306, the glass
works' city, while the probed resources are the cement plant's in 130105), credit, ingest,
admin, and revoked and expired admin tokens.

Expected answers, per route kind:

- ``public``: the same answer for everyone (``ok``);
- ``bearer`` (JSON API): no/revoked/expired token 401; a role the route does not serve
  403; enterprise B and the other region's officer on enterprise A's resource 404 (never
  403), and the very same 404 as for an id that does not exist; otherwise ``ok``
  (``ok_for`` per role where it differs, ``other_region`` for that officer where it
  differs: naming A in an order is the 422 of an unknown enterprise);
- ``cookie`` (console): like bearer, except that no valid session redirects (303) to
  the login page; form posts carry the session's form token;
- ``login`` (``POST /console/login``): 303 for a live token, 401 otherwise.

Resources the test cannot create (credit ledger entries, evidence packages, maintenance
declarations) are probed
with an id that does not exist: admitted roles get 404, the others 401/403 first.
Every successful change of an alert must add to its audit trail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from test_api_support import CEMENT, COKING, GLASS, T0, ApiEnv, app_routes

from ecowarn.store.tokens import create_token, lookup_token, revoke_token

pytest_plugins = ("test_api_support",)

CALLERS = ("none", "officer", "enterprise_a", "enterprise_b", "officer_other_region", "credit",
           "ingest", "admin", "revoked", "expired")
ROLE_OF = {"officer": "officer", "enterprise_a": "enterprise", "enterprise_b": "enterprise",
           "officer_other_region": "officer", "credit": "credit", "ingest": "ingest",
           "admin": "admin"}
# Callers for whom enterprise A's resources do not exist.
OUTSIDERS = ("enterprise_b", "officer_other_region")
ABSENT = 9_876_543
OFFICER, ENTERPRISE, CREDIT, INGEST = "officer", "enterprise", "credit", "ingest"


@dataclass(frozen=True)
class Rule:
    auth: str  # public | bearer | cookie | login
    roles: frozenset[str] = frozenset()
    ok: int = 200
    ok_for: dict[str, int] = field(default_factory=dict)
    scoped: bool = False  # probes enterprise A's resource: enterprise B, another region get 404
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None  # JSON body, or a form (dict) for console posts
    form: bool = False
    other_region: int | None = None  # the other region's officer, where not 404/ok


def public(ok: int = 200) -> Rule:
    return Rule("public", ok=ok)


def bearer(*roles: str, ok: int = 200, scoped: bool = False, params: dict[str, str] | None = None,
           body: Any = None, other_region: int | None = None) -> Rule:
    return Rule("bearer", frozenset(roles), ok, scoped=scoped, params=params or {}, body=body,
                other_region=other_region)


def cookie(*roles: str, ok: int = 200, scoped: bool = False, form: dict[str, str] | None = None,
           ok_for: dict[str, int] | None = None) -> Rule:
    return Rule("cookie", frozenset(roles), ok, ok_for=ok_for or {}, scoped=scoped, body=form,
                form=form is not None)


WINDOW = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat()}

EXPECTED: dict[tuple[str, str], Rule] = {
    ("GET", "/"): public(307),
    ("GET", "/healthz"): public(),
    ("GET", "/metrics"): public(),
    ("GET", "/api/v1/healthz"): public(),
    ("GET", "/api/v1/metrics"): public(),
    ("GET", "/api/v1/docs"): public(),
    ("GET", "/api/v1/openapi.json"): public(),
    # alerts, readings, ingest
    ("GET", "/api/v1/alerts"): bearer(OFFICER, ENTERPRISE),
    ("GET", "/api/v1/alerts/{alert_id}"): bearer(OFFICER, ENTERPRISE, scoped=True),
    ("GET", "/api/v1/readings"): bearer(OFFICER, ENTERPRISE, scoped=True,
                                        params={"device_id": "PWR-KILN-1"}),
    ("GET", "/api/v1/readings/hourly"): bearer(OFFICER, ENTERPRISE, scoped=True,
                                               params={"device_id": "PWR-KILN-1"}),
    ("POST", "/api/v1/readings"): bearer(INGEST, body={"readings": []}),
    # orders and maintenance
    ("POST", "/api/v1/emergency-orders"): bearer(OFFICER, ok=201, other_region=422, body={
        "enterprise_ids": [CEMENT], "measure": "shutdown", **WINDOW}),
    ("GET", "/api/v1/emergency-orders"): bearer(OFFICER, ENTERPRISE),
    ("POST", "/api/v1/maintenance"): bearer(OFFICER, ENTERPRISE, ok=201, scoped=True, body={
        "device_id": "PWR-BAG-1", "reason": "filter change", **WINDOW}),
    ("GET", "/api/v1/maintenance"): bearer(OFFICER, ENTERPRISE, scoped=True,
                                           params={"device_id": "PWR-BAG-1"}),
    ("GET", "/api/v1/maintenance/{maintenance_id}"): bearer(OFFICER, ENTERPRISE, ok=404),
    ("POST", "/api/v1/maintenance/{maintenance_id}/approve"): bearer(OFFICER, ok=404,
                                                                     body={"reason": "log checked"}),
    ("POST", "/api/v1/maintenance/{maintenance_id}/reject"): bearer(OFFICER, ok=404,
                                                                    body={"reason": "no record"}),
    ("GET", "/api/v1/dead-letters"): bearer(OFFICER),
    ("POST", "/api/v1/dead-letters/{dead_letter_id}/replay"): bearer(OFFICER, scoped=True),
    # the alert workflow
    ("GET", "/api/v1/queue"): bearer(OFFICER),
    ("POST", "/api/v1/queue/{alert_id}/claim"): bearer(OFFICER, scoped=True),
    ("POST", "/api/v1/alerts/{alert_id}/transitions"): bearer(OFFICER, scoped=True,
                                                              body={"action": "acknowledge"}),
    ("POST", "/api/v1/alerts/{alert_id}/comments"): bearer(OFFICER, ok=201, scoped=True,
                                                           body={"text": "n"}),
    ("POST", "/api/v1/alerts/{alert_id}/assign"): bearer(OFFICER, scoped=True,
                                                         body={"assignee_token_id": "OFFICER"}),
    ("GET", "/api/v1/alerts/{alert_id}/audit"): bearer(OFFICER, ENTERPRISE, scoped=True),
    ("POST", "/api/v1/alerts/{alert_id}/answers"): bearer(ENTERPRISE, ok=201, scoped=True, body={
        "kind": "explanation", "text": "we were calibrating"}),
    ("GET", "/api/v1/alerts/{alert_id}/answers"): bearer(OFFICER, ENTERPRISE, scoped=True),
    ("GET", "/api/v1/labels"): bearer(OFFICER),
    # off-site handling first (api/routes_offsite.py)
    ("POST", "/api/v1/alerts/{alert_id}/remote-verification"): bearer(OFFICER, ok=201, scoped=True, body={
        "method": "video_call", "result": "confirmed", "note": "视频连线核查"}),
    ("GET", "/api/v1/alerts/{alert_id}/remote-verifications"): bearer(OFFICER, scoped=True),
    # credit, evidence, warnings (api/routes_credit.py)
    ("GET", "/api/v1/credit/events"): bearer(CREDIT, OFFICER),
    ("GET", "/api/v1/credit/scores"): bearer(CREDIT, OFFICER),
    ("GET", "/api/v1/credit/enterprises/{enterprise_id}"): bearer(CREDIT, OFFICER, ENTERPRISE,
                                                                  scoped=True),
    ("POST", "/api/v1/credit/entries/{entry_id}/repair"): bearer(OFFICER, ok=404,
                                                                 body={"reason": "rectified"}),
    ("POST", "/api/v1/credit/entries/{entry_id}/reversal"): bearer(OFFICER, ok=404,
                                                                   body={"reason": "in error"}),
    ("GET", "/api/v1/evidence/{evidence_id}.html"): bearer(CREDIT, OFFICER, ENTERPRISE, ok=404),
    ("GET", "/api/v1/evidence/{evidence_id}/package"): bearer(CREDIT, OFFICER, ENTERPRISE, ok=404),
    ("GET", "/api/v1/evidence/{evidence_id}"): bearer(CREDIT, OFFICER, ENTERPRISE, ok=404),
    ("GET", "/api/v1/warnings"): bearer(OFFICER, ENTERPRISE),
    ("GET", "/api/v1/notifications"): bearer(OFFICER),
    # credit repair applications (api/routes_repair.py)
    ("POST", "/api/v1/credit/repair-applications"): bearer(ENTERPRISE, ok=404, body={
        "entry_id": ABSENT, "commitment": "整改到位，承诺守法"}),
    ("GET", "/api/v1/credit/repair-applications"): bearer(OFFICER, ENTERPRISE),
    ("GET", "/api/v1/credit/repair-applications/{application_id}"): bearer(OFFICER, ENTERPRISE,
                                                                         ok=404),
    ("POST", "/api/v1/credit/repair-applications/{application_id}/approve"): bearer(
        OFFICER, ok=404, body={"reason": "rectified"}),
    ("POST", "/api/v1/credit/repair-applications/{application_id}/reject"): bearer(
        OFFICER, ok=404, body={"reason": "no proof"}),
    # rectification (api/routes_rectifications.py); ordering on the open alert dispatches it first
    ("POST", "/api/v1/alerts/{alert_id}/rectification"): bearer(OFFICER, ok=201, scoped=True, body={
        "due": "2099-12-31T18:00:00+08:00", "requirements": "replace the filter bags"}),
    ("GET", "/api/v1/rectifications"): bearer(OFFICER, ENTERPRISE),
    ("GET", "/api/v1/rectifications/{rectification_id}"): bearer(OFFICER, ENTERPRISE, ok=404),
    ("POST", "/api/v1/rectifications/{rectification_id}/submissions"): bearer(
        ENTERPRISE, ok=404, body={"text": "bags replaced"}),
    ("POST", "/api/v1/rectifications/{rectification_id}/verify"): bearer(
        OFFICER, ok=404, body={"reason": "checked on site"}),
    ("POST", "/api/v1/rectifications/{rectification_id}/reject"): bearer(
        OFFICER, ok=404, body={"reason": "no proof"}),
    ("GET", "/api/v1/attachments/{attachment_id}"): bearer(OFFICER, ENTERPRISE, ok=404),
    # rectification in the console (api/console_rectifications.py)
    ("POST", "/console/alerts/{alert_id}/rectification"): cookie(OFFICER, ok=303, scoped=True, form={
        "due": "2099-12-31", "requirements": "replace the filter bags"}),
    ("POST", "/console/rectifications/{rectification_id}/submit"): cookie(
        ENTERPRISE, ok=404, form={"text": "bags replaced"}),
    ("POST", "/console/rectifications/{rectification_id}/verify"): cookie(
        OFFICER, ok=404, form={"reason": "checked on site"}),
    ("POST", "/console/rectifications/{rectification_id}/reject"): cookie(
        OFFICER, ok=404, form={"reason": "no proof"}),
    ("GET", "/console/rectifications"): cookie(OFFICER, ENTERPRISE),
    ("GET", "/console/attachments/{attachment_id}"): cookie(OFFICER, ENTERPRISE, ok=404),
    # enterprise file and statistics (api/routes_enterprises.py, api/routes_stats.py)
    ("GET", "/api/v1/enterprises"): bearer(OFFICER, CREDIT, ENTERPRISE),
    ("GET", "/api/v1/enterprises/{enterprise_id}"): bearer(OFFICER, CREDIT, ENTERPRISE, scoped=True),
    ("GET", "/api/v1/stats"): bearer(OFFICER),
    ("GET", "/console/enterprises/{enterprise_id}/file"): cookie(OFFICER, ENTERPRISE, scoped=True),
    ("GET", "/console/stats"): cookie(OFFICER),
    ("GET", "/console/stats.csv"): cookie(OFFICER),
    # the bureau's overview, map and search (api/console_overview.py, console_map.py,
    # console_search.py): officers only, each within its jurisdiction
    ("GET", "/console/overview"): cookie(OFFICER),
    ("GET", "/console/overview/completeness"): cookie(OFFICER),
    ("GET", "/console/map"): cookie(OFFICER),
    ("GET", "/console/search"): cookie(OFFICER),
    # credit repair and the officer notification log (api/console_repair.py,
    # api/console_notifications.py)
    ("POST", "/console/enterprises/{enterprise_id}"): cookie(ENTERPRISE, ok=404, scoped=True, form={
        "entry_id": str(ABSENT), "commitment": "整改到位，承诺守法"}),
    ("GET", "/console/credit/repair-applications"): cookie(OFFICER),
    ("POST", "/console/credit/repair-applications"): cookie(OFFICER, ok=404, form={
        "application_id": str(ABSENT), "action": "approve", "reason": "rectified"}),
    ("GET", "/console/notifications"): cookie(OFFICER),
    # evaluations, positive list, plan and draws in the console (api/console_evaluations.py,
    # console_positive_list.py, console_draws.py); posts name the glass works, which is in the
    # other-region officer's own region
    ("GET", "/console/credit/evaluations"): cookie(OFFICER, ENTERPRISE),
    ("GET", "/console/credit/evaluations/new"): cookie(OFFICER),
    ("POST", "/console/credit/evaluations/new"): cookie(OFFICER, ok=303, form={
        "enterprise_id": GLASS, "catalog": "hebei_initial", "kind": "periodic", "points.noise": "1"}),
    ("GET", "/console/credit/evaluations/{evaluation_id}"): cookie(OFFICER, ENTERPRISE, ok=404),
    ("GET", "/console/credit/evaluations/{evaluation_id}/report"): cookie(OFFICER, ENTERPRISE,
                                                                          ok=404),
    ("GET", "/console/positive-list"): cookie(OFFICER, ENTERPRISE),
    ("POST", "/console/positive-list"): cookie(OFFICER, ok=303, form={"enterprise_id": GLASS,
                                                                      "reason": "r"}),
    ("POST", "/console/positive-list/{entry_id}/remove"): cookie(OFFICER, ok=404, form={"reason": "r"}),
    ("GET", "/console/supervision"): cookie(OFFICER),
    ("GET", "/console/supervision/plan.csv"): cookie(OFFICER),
    ("POST", "/console/supervision/draws"): cookie(OFFICER, ok=303, form={
        "period": "2026-12", "kind": "remote", "count": "1"}),
    ("GET", "/console/supervision/draws/{draw_id}"): cookie(OFFICER, ok=404),
    ("GET", "/console/supervision/draws/{draw_id}.csv"): cookie(OFFICER, ok=404),
    ("POST", "/console/supervision/draws/{draw_id}/verify"): cookie(OFFICER, ok=404, form={}),
    ("GET", "/console/complaints"): cookie(OFFICER),
    ("POST", "/console/complaints"): cookie(OFFICER, ok=303, form={
        "enterprise_id": GLASS, "received_at": "2026-11-20T08:00", "source": "12369", "summary": "odour"}),
    # credit evaluations (api/routes_evaluations.py)
    ("GET", "/api/v1/credit/catalogs"): bearer(CREDIT, OFFICER, ENTERPRISE),
    ("GET", "/api/v1/credit/level-schemes"): bearer(CREDIT, OFFICER, ENTERPRISE),
    ("POST", "/api/v1/credit/evaluations"): bearer(OFFICER, ok=201, other_region=422, body={
        "enterprise_id": CEMENT, "kind": "periodic", "catalog": "hebei_initial", "items": []}),
    ("GET", "/api/v1/credit/evaluations"): bearer(CREDIT, OFFICER, ENTERPRISE),
    ("GET", "/api/v1/credit/evaluations/{evaluation_id}"): bearer(CREDIT, OFFICER, ENTERPRISE,
                                                                  ok=404),
    ("GET", "/api/v1/credit/evaluations/{evaluation_id}.html"): bearer(CREDIT, OFFICER,
                                                                       ENTERPRISE, ok=404),
    ("GET", "/api/v1/credit/enterprises/{enterprise_id}/initial-evaluation.html"): bearer(
        CREDIT, OFFICER, ENTERPRISE, ok=404, scoped=True),
    # positive lists, supervision plans and draws (api/routes_supervision.py)
    ("POST", "/api/v1/positive-list"): bearer(OFFICER, ok=201, other_region=422, body={
        "enterprise_id": CEMENT, "start": "2026-12-01", "end": "2027-11-30",
        "reason": "no violation in 3 years"}),
    ("GET", "/api/v1/positive-list"): bearer(OFFICER, CREDIT, ENTERPRISE),
    ("GET", "/api/v1/positive-list/{entry_id}"): bearer(OFFICER, CREDIT, ENTERPRISE, ok=404),
    ("DELETE", "/api/v1/positive-list/{entry_id}"): bearer(OFFICER, ok=404),
    ("GET", "/api/v1/supervision/plan"): bearer(OFFICER, scoped=True,
                                               params={"region": "130105", "period": "2026-12"}),
    ("POST", "/api/v1/supervision/draws"): bearer(OFFICER, ok=201, scoped=True, body={
        "region": "130105", "period": "2026-12", "kind": "remote", "count": 1}),
    ("GET", "/api/v1/supervision/draws"): bearer(OFFICER),
    ("GET", "/api/v1/supervision/draws/{draw_id}"): bearer(OFFICER, ok=404),
    ("POST", "/api/v1/supervision/draws/{draw_id}/verify"): bearer(OFFICER, ok=404),
    # complaints (api/routes_complaints.py)
    ("POST", "/api/v1/complaints"): bearer(OFFICER, ok=201, other_region=422, body={
        "enterprise_id": CEMENT, "received_at": "2026-11-20T08:00:00+08:00", "source": "12369",
        "summary": "night-time odour"}),
    ("GET", "/api/v1/complaints"): bearer(OFFICER),
    ("GET", "/api/v1/complaints/{complaint_id}"): bearer(OFFICER, ok=404),
    # console
    ("GET", "/console/login"): public(),
    ("POST", "/console/login"): Rule("login"),
    ("GET", "/console/logout"): public(303),
    ("GET", "/console"): cookie(OFFICER, ENTERPRISE),
    ("GET", "/console/alerts/{alert_id}"): cookie(OFFICER, ENTERPRISE, scoped=True),
    ("GET", "/console/queue"): cookie(OFFICER),
    ("POST", "/console/alerts/{alert_id}/transition"): cookie(OFFICER, ok=303, scoped=True,
                                                              form={"action": "acknowledge"}),
    ("POST", "/console/alerts/{alert_id}/claim"): cookie(OFFICER, ok=303, scoped=True, form={}),
    ("POST", "/console/alerts/{alert_id}/comment"): cookie(OFFICER, ok=303, scoped=True,
                                                           form={"text": "n"}),
    ("POST", "/console/alerts/{alert_id}/remote-verification"): cookie(OFFICER, ok=303, scoped=True, form={
        "method": "documents", "result": "inconclusive", "note": "n"}),
    ("POST", "/console/maintenance/{maintenance_id}/decide"): cookie(
        OFFICER, ok=404, form={"action": "approve", "reason": "log checked"}),
    ("POST", "/console/alerts/{alert_id}/answer"): cookie(ENTERPRISE, ok=303, scoped=True, form={
        "kind": "explanation", "text": "we were calibrating"}),
    ("GET", "/console/enterprises"): cookie(OFFICER, ENTERPRISE, ok_for={ENTERPRISE: 303}),
    ("GET", "/console/enterprises/{enterprise_id}"): cookie(OFFICER, ENTERPRISE, scoped=True),
    ("GET", "/console/evidence/{evidence_id}"): cookie(OFFICER, ENTERPRISE, ok=404),
}


def expected_status(rule: Rule, caller: str) -> int:
    if rule.auth == "public":
        return rule.ok
    if caller in ("none", "revoked", "expired"):
        return {"bearer": 401, "cookie": 303, "login": 401}[rule.auth]
    if rule.auth == "login":
        return 303
    role = ROLE_OF[caller]
    if role != "admin" and role not in rule.roles:
        return 403
    if caller == "officer_other_region" and rule.other_region is not None:
        return rule.other_region
    if caller in OUTSIDERS and rule.scoped:
        return 404
    return rule.ok_for.get(role, rule.ok)


@dataclass
class World:
    api: ApiEnv
    tokens: dict[str, str | None]
    officer_id: int
    dead_letter: int
    form_tokens: dict[str, str]

    async def alert(self) -> int:
        return await self.api.insert_alert(enterprise_id=CEMENT)

    async def events(self, alert_id: int) -> int:
        rows = await self.api.execute("SELECT count(*) FROM alert_events WHERE alert_id = %s",
                                      (alert_id,))
        return int(rows[0][0])


async def _world(api: ApiEnv) -> World:
    tokens: dict[str, str | None] = {"none": None}
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        for caller in ("officer", "credit", "ingest", "admin"):
            tokens[caller] = await create_token(conn, role=caller, label=f"{caller} token")
        tokens["enterprise_a"] = await create_token(conn, role="enterprise", enterprise_id=CEMENT)
        tokens["enterprise_b"] = await create_token(conn, role="enterprise", enterprise_id=COKING)
        tokens["officer_other_region"] = await create_token(conn, role="officer", region="1306",
                                                            label="officer of 1306")
        revoked = await create_token(conn, role="admin")
        principal = await lookup_token(conn, revoked)
        assert principal is not None and await revoke_token(conn, principal.token_id)
        tokens["revoked"] = revoked
        tokens["expired"] = await create_token(
            conn, role="admin", expires_at=datetime.now(UTC) - timedelta(seconds=1))
        officer = await lookup_token(conn, tokens["officer"] or "")
        assert officer is not None
    rows = await api.execute(  # a reading of enterprise A's kiln meter
        "INSERT INTO dead_letters (source, device_id, reason, detail, payload)"
        " VALUES ('mqtt', 'PWR-KILN-1', 'naive_timestamp', 'no offset', '{}') RETURNING id")
    world = World(api, tokens, officer.token_id, int(rows[0][0]), {})
    own = {"officer": CEMENT, "admin": CEMENT, "enterprise_a": CEMENT, "enterprise_b": COKING,
           "officer_other_region": GLASS}
    devices = {CEMENT: "PWR-KILN-1", COKING: "PWR-COKE-1", GLASS: "PWR-FURN-1"}
    for caller, enterprise in own.items():
        alert = await api.insert_alert(enterprise_id=enterprise, device_ids=(devices[enterprise],))
        page = await _send(api, "GET", f"/console/alerts/{alert}", tokens[caller], "cookie")
        m = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
        assert m, (caller, page.status_code)
        world.form_tokens[caller] = m.group(1)
    return world


async def _send(api: ApiEnv, method: str, url: str, token: str | None, auth: str, *,
                params: dict[str, str] | None = None, json: Any = None,
                form: dict[str, str] | None = None) -> httpx.Response:
    api.client.cookies.clear()
    headers = {}
    if token is not None and auth == "bearer":
        headers["Authorization"] = f"Bearer {token}"
    if token is not None and auth == "cookie":
        headers["Cookie"] = f"ecowarn_token={token}"
    if form is not None:
        return await api.client.request(method, url, headers=headers, params=params, data=form)
    return await api.client.request(method, url, headers=headers, params=params, json=json)


async def _call(world: World, key: tuple[str, str], rule: Rule, caller: str,
                resource: int | None = None) -> tuple[httpx.Response, int | None]:
    """Send the route's request as ``caller``; returns the response and the alert probed."""
    method, template = key
    alert_id = None
    values = {"dead_letter_id": str(world.dead_letter), "enterprise_id": CEMENT,
              "entry_id": str(ABSENT), "evidence_id": str(ABSENT), "maintenance_id": str(ABSENT),
              "rectification_id": str(ABSENT), "attachment_id": str(ABSENT),
              "application_id": str(ABSENT), "draw_id": str(ABSENT),
              "evaluation_id": str(ABSENT), "complaint_id": str(ABSENT)}
    if "{alert_id}" in template:
        alert_id = resource if resource is not None else await world.alert()
        values["alert_id"] = str(alert_id)
    url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)
    token = world.tokens[caller]
    if rule.auth == "login":
        return await _send(world.api, method, url, None, "none", form={"token": token or ""}), None
    body = rule.body
    if isinstance(body, dict) and body.get("assignee_token_id") == "OFFICER":
        body = {**body, "assignee_token_id": world.officer_id}
    if rule.form:
        form = {**(body or {}), "csrf": world.form_tokens.get(caller, "0" * 64)}
        return await _send(world.api, method, url, token, "cookie", form=form), alert_id
    auth = "bearer" if rule.auth in ("bearer", "public") else rule.auth
    return await _send(world.api, method, url, token, auth, params=rule.params,
                       json=body), alert_id


async def test_every_route_has_a_documented_expectation(api: ApiEnv) -> None:
    """The routes of the app and the lines of EXPECTED are the same set, both ways."""
    routes = set(app_routes(api.client._transport.app))  # type: ignore[attr-defined]
    missing = sorted(routes - EXPECTED.keys())
    stale = sorted(EXPECTED.keys() - routes)
    assert not missing, f"routes without a documented expectation: {missing}"
    assert not stale, f"expectations for routes that no longer exist: {stale}"


@pytest.mark.parametrize("caller", CALLERS)
async def test_authorization_matrix(api: ApiEnv, caller: str) -> None:
    """Each route answers each caller as documented; changes to alerts land in their trail."""
    world = await _world(api)
    problems = []
    for key in sorted(set(app_routes(api.client._transport.app))):  # type: ignore[attr-defined]
        rule = EXPECTED.get(key)
        if rule is None:
            continue  # reported by test_every_route_has_a_documented_expectation
        want = expected_status(rule, caller)
        r, alert_id = await _call(world, key, rule, caller)
        if r.status_code != want:
            problems.append(f"{key[0]} {key[1]} as {caller}: {r.status_code}, expected {want}"
                            f" ({r.text[:160]!r})")
            continue
        if want in (303, 307) and rule.auth in ("cookie",) and caller in ("none", "revoked",
                                                                         "expired"):
            assert r.headers["location"].startswith("/console/login"), key
        if want == 401:
            assert r.headers.get("www-authenticate") == "Bearer" or rule.auth == "login", key
        admitted = caller in ROLE_OF and 200 <= want < 300
        if key[0] == "POST" and alert_id is not None and admitted:
            if await world.events(alert_id) == 0:
                problems.append(f"{key[0]} {key[1]} as {caller} changed alert {alert_id}"
                                " without an audit event")
    assert not problems, "\n".join(problems)


async def test_enterprise_b_cannot_tell_a_foreign_alert_from_a_missing_one(api: ApiEnv) -> None:
    """For every alert route enterprise B may use, A's alert id answers exactly like an absent id."""
    world = await _world(api)
    compared = 0
    for key in sorted(set(app_routes(api.client._transport.app))):  # type: ignore[attr-defined]
        rule = EXPECTED.get(key)
        if rule is None or "{alert_id}" not in key[1] or ENTERPRISE not in rule.roles:
            continue
        foreign, _ = await _call(world, key, rule, "enterprise_b", resource=await world.alert())
        absent, _ = await _call(world, key, rule, "enterprise_b", resource=ABSENT)
        assert foreign.status_code == absent.status_code == 404, key
        if rule.auth == "bearer":
            strip = re.compile(r"\d+")
            assert strip.sub("N", foreign.text) == strip.sub("N", absent.text), key
        compared += 1
    assert compared >= 5


async def test_an_officer_of_another_region_cannot_tell_a_foreign_alert_from_a_missing_one(
        api: ApiEnv) -> None:
    """For every alert route an officer may use, a 1306 officer gets for the cement plant's
    (130105) alert exactly the answer of an absent id, and the alert's trail stays empty."""
    world = await _world(api)
    compared = 0
    strip = re.compile(r"\d+")
    for key in sorted(set(app_routes(api.client._transport.app))):  # type: ignore[attr-defined]
        rule = EXPECTED.get(key)
        if rule is None or "{alert_id}" not in key[1] or OFFICER not in rule.roles:
            continue
        alert = await world.alert()
        foreign, _ = await _call(world, key, rule, "officer_other_region", resource=alert)
        absent, _ = await _call(world, key, rule, "officer_other_region", resource=ABSENT)
        assert foreign.status_code == absent.status_code == 404, (key, foreign.text[:160])
        assert strip.sub("N", foreign.text) == strip.sub("N", absent.text), key
        assert await world.events(alert) == 0, key
        compared += 1
    assert compared >= 9
