"""Readings over HTTP: raw and hourly reads, scoping, and batch ingest results."""

from __future__ import annotations

from datetime import timedelta

from test_api_support import CEMENT, T0, ApiEnv, dumps

pytest_plugins = ("test_api_support",)

CEMS = "13010500000001"


async def test_readings_are_returned_as_stored_with_flags(api: ApiEnv) -> None:
    """Rows come back ascending by (ts, metric) with value, flag and +08:00 times."""
    await api.insert_readings(CEMS, "so2", T0, [12.5, None, 13.0], flag="N")
    await api.insert_readings(CEMS, "nox", T0, [40.0, 41.0, 42.0], flag="M")
    r = await api.client.get("/api/v1/readings", headers=await api.headers("officer"),
                             params={"device_id": CEMS})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert items[:3] == [
        {"ts": "2026-11-20T08:00:00+08:00", "metric": "nox", "value": 40.0, "flag": "M"},
        {"ts": "2026-11-20T08:00:00+08:00", "metric": "so2", "value": 12.5, "flag": "N"},
        {"ts": "2026-11-20T08:01:00+08:00", "metric": "nox", "value": 41.0, "flag": "M"},
    ]
    assert items[3] == {"ts": "2026-11-20T08:01:00+08:00", "metric": "so2", "value": None,
                        "flag": "N"}
    assert len(items) == 6 and r.json()["next_cursor"] is None


async def test_readings_filter_and_paginate(api: ApiEnv) -> None:
    """metric/since/until narrow the rows; pages of 7 walk 50 rows without overlap."""
    await api.insert_readings(CEMS, "so2", T0, [float(i) for i in range(50)])
    await api.insert_readings(CEMS, "o2", T0, [9.0] * 50)
    headers = await api.headers("officer")
    seen: list[float] = []
    cursor = None
    while True:
        params = {"device_id": CEMS, "metric": "so2", "limit": "7"}
        if cursor:
            params["cursor"] = cursor
        body = (await api.client.get("/api/v1/readings", headers=headers, params=params)).json()
        seen.extend(x["value"] for x in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [float(i) for i in range(50)]
    window = {"device_id": CEMS, "metric": "so2", "since": (T0 + timedelta(minutes=10)).isoformat(),
              "until": (T0 + timedelta(minutes=12)).isoformat()}
    body = (await api.client.get("/api/v1/readings", headers=headers, params=window)).json()
    assert [x["value"] for x in body["items"]] == [10.0, 11.0]


async def test_device_id_is_required(api: ApiEnv) -> None:
    """Without device_id the request is 422 naming query.device_id."""
    r = await api.client.get("/api/v1/readings", headers=await api.headers("officer"))
    assert r.status_code == 422
    assert r.json()["fields"][0]["path"] == "query.device_id"


async def test_enterprise_reads_only_its_own_devices(api: ApiEnv) -> None:
    """An enterprise token gets its own device's readings and 404 for another's."""
    await api.insert_readings("PWR-COKE-1", "p", T0, [900.0])
    await api.insert_readings("PWR-KILN-1", "p", T0, [500.0])
    headers = await api.headers("enterprise", CEMENT)
    r = await api.client.get("/api/v1/readings", headers=headers, params={"device_id": "PWR-KILN-1"})
    assert r.status_code == 200 and len(r.json()["items"]) == 1
    for path in ("/api/v1/readings", "/api/v1/readings/hourly"):
        r = await api.client.get(path, headers=headers, params={"device_id": "PWR-COKE-1"})
        assert r.status_code == 404, path


async def test_hourly_rows_come_from_the_view(api: ApiEnv) -> None:
    """Hourly rows carry n, n_valid (flag N only), avg_valid, min and max per bucket."""
    await api.insert_readings(CEMS, "so2", T0, [10.0] * 60)
    await api.insert_readings(CEMS, "so2", T0 + timedelta(hours=1), [30.0, 50.0], flag="M")
    r = await api.client.get("/api/v1/readings/hourly", headers=await api.headers("officer"),
                             params={"device_id": CEMS, "metric": "so2"})
    assert r.status_code == 200
    assert r.json() == {"truncated": False, "items": [
        {"bucket": "2026-11-20T08:00:00+08:00", "metric": "so2", "n": 60, "n_valid": 60,
         "avg_valid": 10.0, "min": 10.0, "max": 10.0},
        {"bucket": "2026-11-20T09:00:00+08:00", "metric": "so2", "n": 2, "n_valid": 0,
         "avg_valid": None, "min": 30.0, "max": 50.0},
    ]}


async def test_post_readings_reports_each_reading(api: ApiEnv) -> None:
    """One good, one naive-time and one unknown-device reading: results in order, one submit."""
    body = {"readings": [
        {"device_id": CEMS, "ts": "2026-11-20T08:00:00+08:00",
         "values": {"so2": 12.0, "o2": 9.1}, "flags": {"so2": "N"}},
        {"device_id": CEMS, "ts": "2026-11-20T08:01:00", "values": {"so2": 12.0}},
        {"device_id": "NO-SUCH-DEVICE", "ts": "2026-11-20T08:00:00+08:00",
         "values": {"p": 1.0}},
    ]}
    r = await api.client.post("/api/v1/readings", headers=await api.headers("ingest"), json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["accepted"], out["rejected"]) == (1, 2)
    assert out["results"][0] == {"index": 0, "status": "accepted"}
    assert out["results"][1]["status"] == "rejected"
    assert out["results"][1]["reason"] == "naive_timestamp"
    assert "+08:00" in out["results"][1]["detail"]
    assert out["results"][2]["reason"] == "unknown_device"
    assert len(api.submits) == 1
    rows, rejections = api.submits[0]
    assert sorted(r.metric for r in rows) == ["o2", "so2"]
    assert [r.reason for r in rejections] == ["naive_timestamp", "unknown_device"]
    stored = await api.execute("SELECT metric, value FROM readings ORDER BY metric")
    assert stored == [("o2", 9.1), ("so2", 12.0)]
    dead = await api.execute("SELECT source, reason FROM dead_letters ORDER BY id")
    assert dead == [("http", "naive_timestamp"), ("http", "unknown_device")]


async def test_post_readings_accepts_a_bare_array(api: ApiEnv) -> None:
    """A JSON array of readings is accepted like {"readings": [...]}."""
    body = [{"device_id": "PWR-KILN-1", "ts": "2026-11-20T00:00:00Z", "values": {"p": 500}}]
    r = await api.client.post("/api/v1/readings", headers=await api.headers("ingest"), json=body)
    assert r.json() == {"accepted": 1, "rejected": 0,
                        "results": [{"index": 0, "status": "accepted"}]}


async def test_post_readings_limits_and_malformed_bodies(api: ApiEnv) -> None:
    """Over 10,000 readings is 413; malformed JSON and a non-list body are 422; nothing submitted."""
    headers = {**await api.headers("ingest"), "Content-Type": "application/json"}
    reading = {"device_id": "PWR-KILN-1", "ts": "2026-11-20T00:00:00Z", "values": {"p": 1}}
    r = await api.client.post("/api/v1/readings", headers=headers,
                              content=dumps({"readings": [reading] * 10_001}))
    assert r.status_code == 413
    assert "10000" in r.json()["detail"]
    r = await api.client.post("/api/v1/readings", headers=headers, content=b"{not json")
    assert r.status_code == 422 and r.json()["fields"][0]["path"] == "body"
    r = await api.client.post("/api/v1/readings", headers=headers, content=b'{"readings": 5}')
    assert r.status_code == 422
    big = b"[" + b" " * (16 * 1024 * 1024) + b"]"
    r = await api.client.post("/api/v1/readings", headers=headers, content=big)
    assert r.status_code == 413 and "MiB" in r.json()["detail"]
    assert api.submits == []
