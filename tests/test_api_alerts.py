"""GET /api/v1/alerts and /alerts/{id}: scoping, filters, keyset pagination, detail."""

from __future__ import annotations

from datetime import timedelta

from test_api_support import CEMENT, COKING, T0, ApiEnv

pytest_plugins = ("test_api_support",)


async def test_enterprise_cannot_read_another_enterprises_alert(api: ApiEnv) -> None:
    """Another enterprise's alert is 404 (not 403) by id and absent from every list."""
    own = await api.insert_alert(enterprise_id=CEMENT)
    other = await api.insert_alert(enterprise_id=COKING, device_ids=("PWR-COKE-1",))
    headers = await api.headers("enterprise", CEMENT)

    assert (await api.client.get(f"/api/v1/alerts/{own}", headers=headers)).status_code == 200
    r = await api.client.get(f"/api/v1/alerts/{other}", headers=headers)
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"

    listed = (await api.client.get("/api/v1/alerts", headers=headers)).json()
    assert [a["id"] for a in listed["items"]] == [own]
    filtered = await api.client.get("/api/v1/alerts", headers=headers,
                                    params={"enterprise_id": COKING})
    assert filtered.status_code == 200 and filtered.json()["items"] == []
    by_device = await api.client.get("/api/v1/alerts", headers=headers,
                                     params={"device_id": "PWR-COKE-1"})
    assert by_device.json()["items"] == []

    officer = await api.headers("officer")
    both = (await api.client.get("/api/v1/alerts", headers=officer)).json()["items"]
    assert {a["id"] for a in both} == {own, other}


async def test_pagination_walks_every_alert_once_newest_first(api: ApiEnv) -> None:
    """250 alerts (many sharing a start time) come back over pages without gaps or repeats."""
    await api.execute(
        "INSERT INTO alerts (rule, subject, enterprise_id, device_ids, start_ts, severity,"
        " summary, summary_zh, params, evidence)"
        " SELECT 'data_gap', 'PWR-KILN-1', %s, ARRAY['PWR-KILN-1'],"
        " %s + (g / 3) * interval '1 minute', 'low', 'gap ' || g, '缺失 ' || g, '{}', '{}'"
        " FROM generate_series(1, 250) g", (CEMENT, T0))
    headers = await api.headers("officer")
    seen: list[tuple[str, int]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 37}
        if cursor:
            params["cursor"] = cursor
        r = await api.client.get("/api/v1/alerts", headers=headers, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        seen.extend((a["start"], a["id"]) for a in body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 7  # 6 full pages of 37 and one of 28
    assert len(seen) == 250 and len({i for _, i in seen}) == 250
    assert seen == sorted(seen, reverse=True)
    assert all(s.endswith("+08:00") for s, _ in seen)


async def test_list_filters_and_time_overlap(api: ApiEnv) -> None:
    """rule/status filter exactly; since/until keep alerts whose span overlaps the window."""
    closed_early = await api.insert_alert(start=T0, end=T0 + timedelta(hours=1))
    ongoing = await api.insert_alert(start=T0 + timedelta(hours=2))
    late = await api.insert_alert(rule="data_gap", start=T0 + timedelta(hours=5),
                                  end=T0 + timedelta(hours=6))
    headers = await api.headers("officer")

    async def ids(**params: str) -> set[int]:
        r = await api.client.get("/api/v1/alerts", headers=headers, params=params)
        assert r.status_code == 200, r.text
        return {a["id"] for a in r.json()["items"]}

    assert await ids(rule="data_gap") == {late}
    assert await ids(status="closed") == set()
    window = {"since": (T0 + timedelta(hours=3)).isoformat(),
              "until": (T0 + timedelta(hours=4)).isoformat()}
    assert await ids(**window) == {ongoing}
    assert await ids(since="2026-11-20T00:30:00Z") == {closed_early, ongoing, late}
    assert await ids(until=(T0 + timedelta(minutes=1)).isoformat()) == {closed_early}


async def test_naive_times_bad_cursor_and_limit_are_422(api: ApiEnv) -> None:
    """A time without offset, a foreign cursor and limit > 1000 are refused with field paths."""
    headers = await api.headers("officer")
    r = await api.client.get("/api/v1/alerts", headers=headers,
                             params={"since": "2026-11-20T08:00:00"})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "validation_error"
    assert body["fields"][0]["path"] == "query.since"
    assert "no UTC offset" in body["fields"][0]["message"]

    r = await api.client.get("/api/v1/alerts", headers=headers, params={"cursor": "bm9wZQ"})
    assert r.status_code == 422 and r.json()["fields"][0]["path"] == "query.cursor"
    r = await api.client.get("/api/v1/alerts", headers=headers, params={"limit": 1001})
    assert r.status_code == 422 and r.json()["fields"][0]["path"] == "query.limit"


async def test_unescaped_plus_in_query_offset_is_understood(api: ApiEnv) -> None:
    """'+08:00' sent unescaped arrives as ' 08:00' and is still read as +08:00."""
    alert = await api.insert_alert(start=T0, end=T0 + timedelta(minutes=30))
    headers = await api.headers("officer")
    r = await api.client.get("/api/v1/alerts?since=2026-11-20T08:10:00+08:00", headers=headers)
    assert r.status_code == 200, r.text
    assert [a["id"] for a in r.json()["items"]] == [alert]
    r = await api.client.get("/api/v1/alerts?since=2026-11-20T08:40:00+08:00", headers=headers)
    assert r.json()["items"] == []


async def test_alert_detail_has_evidence_and_window_readings(api: ApiEnv) -> None:
    """Detail returns params, evidence and its devices' readings from start-30min to end+30min."""
    alert = await api.insert_alert(start=T0, end=T0 + timedelta(minutes=20),
                                   evidence={"production_kw": [500, 510]})
    # 2 hours of minute readings from 40 min before the start; only 80 minutes are in window.
    await api.insert_readings("PWR-KILN-1", "p", T0 - timedelta(minutes=40), [500.0] * 120)
    await api.insert_readings("PWR-SCR-1", "p", T0, [1.0] * 10)  # not a device of the alert
    r = await api.client.get(f"/api/v1/alerts/{alert}", headers=await api.headers("officer"))
    assert r.status_code == 200
    body = r.json()
    assert body["evidence"] == {"production_kw": [500, 510]}
    assert body["params"] == {"min_duration_min": 10}
    assert body["start"] == "2026-11-20T08:00:00+08:00"
    assert body["end"] == "2026-11-20T08:20:00+08:00"
    assert body["summary_zh"] == "1号窑运行期间治污设施未运行"
    assert body["readings_truncated"] is False
    assert {x["device_id"] for x in body["readings"]} == {"PWR-KILN-1"}
    assert len(body["readings"]) == 81  # 07:30 .. 08:50 inclusive
    assert body["readings"][0]["ts"] == "2026-11-20T07:30:00+08:00"
    assert body["readings_window"] == {"since": "2026-11-20T07:30:00+08:00",
                                       "until": "2026-11-20T08:50:00+08:00"}


async def test_unknown_alert_is_404(api: ApiEnv) -> None:
    """An id that does not exist is 404 for an officer too."""
    r = await api.client.get("/api/v1/alerts/999999", headers=await api.headers("officer"))
    assert r.status_code == 404


async def test_value_the_database_refuses_is_422(api: ApiEnv) -> None:
    """A NUL character in a filter is a client error (422), not a server error."""
    r = await api.client.get("/api/v1/alerts", headers=await api.headers("officer"),
                             params={"rule": "treatment_off\x00"})
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_request"
