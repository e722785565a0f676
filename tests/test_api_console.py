"""The web console: login by token, the alert list, the alert page with its chart."""

from __future__ import annotations

from datetime import timedelta

import httpx
from test_api_support import CEMENT, COKING, T0, ApiEnv

pytest_plugins = ("test_api_support",)


async def _login(api: ApiEnv, role: str, enterprise_id: str | None = None) -> httpx.Response:
    token = await api.token(role, enterprise_id)
    return await api.client.get("/console/login", params={"token": token})


async def test_login_sets_a_strict_httponly_cookie_and_redirects(api: ApiEnv) -> None:
    """A valid token sets the session cookie (HttpOnly, SameSite=Strict) and redirects to /console."""
    r = await _login(api, "officer")
    assert r.status_code == 303
    assert r.headers["location"] == "/console"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("ecowarn_token=ew_")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie


async def test_bad_token_and_no_session_lead_to_the_login_page(api: ApiEnv) -> None:
    """Without a session /console redirects to a login page telling how to get a token."""
    r = await api.client.get("/console")
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    page = await api.client.get("/console/login")
    assert page.status_code == 200
    assert "ecowarn token create --role officer" in page.text
    assert "<script" not in page.text and "http" not in page.text.split("<body>")[1]
    bad = await api.client.get("/console/login", params={"token": "ew_wrong"})
    assert bad.status_code == 401 and "令牌无效" in bad.text
    assert "set-cookie" not in bad.headers


async def test_alert_list_and_page_render_with_chart(api: ApiEnv) -> None:
    """The list shows the alert in Chinese; its page shows evidence and an SVG with the window shaded."""
    alert = await api.insert_alert(start=T0, end=None, evidence={"production_kw": 512.0})
    await api.insert_readings("PWR-KILN-1", "p", T0 - timedelta(minutes=20), [500.0] * 60)
    await api.insert_readings("PWR-BAG-1", "p", T0 - timedelta(minutes=20), [0.0] * 60)
    await _login(api, "officer")

    listing = await api.client.get("/console")
    assert listing.status_code == 200
    assert "1号窑运行期间治污设施未运行" in listing.text
    assert "石家庄某某水泥有限公司" in listing.text
    assert "1号回转窑、袋式除尘器" in listing.text
    assert "进行中" in listing.text and "治污设施未运行" in listing.text
    assert "2026-11-20 08:00" in listing.text

    page = await api.client.get(f"/console/alerts/{alert}")
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "1号窑运行期间治污设施未运行" in page.text
    assert page.text.count("<svg") == 2  # one chart per power meter
    assert 'fill="#ff9800"' in page.text  # the shaded alert window
    assert "<path d=\"M" in page.text
    assert "production_kw" in page.text

    english = await api.client.get(f"/console/alerts/{alert}", params={"lang": "en"})
    assert "Kiln 1 ran while its treatment was off" in english.text
    assert "ongoing" in english.text and 'lang="en"' in english.text


async def test_console_is_scoped_like_the_api(api: ApiEnv) -> None:
    """An enterprise session lists only its alerts and gets a 404 page for another's."""
    own = await api.insert_alert(enterprise_id=CEMENT, summary_zh="本企业预警")
    other = await api.insert_alert(enterprise_id=COKING, device_ids=("PWR-COKE-1",),
                                   summary_zh="他企业预警")
    await _login(api, "enterprise", CEMENT)
    listing = await api.client.get("/console")
    assert "本企业预警" in listing.text and "他企业预警" not in listing.text
    assert (await api.client.get(f"/console/alerts/{own}")).status_code == 200
    r = await api.client.get(f"/console/alerts/{other}")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")


async def test_roles_without_console_get_a_403_page(api: ApiEnv) -> None:
    """An ingest token logs in but the console pages answer 403 in HTML."""
    await _login(api, "ingest")
    r = await api.client.get("/console")
    assert r.status_code == 403 and "<h1>" in r.text
