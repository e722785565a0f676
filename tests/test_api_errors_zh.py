"""Every JSON error answer carries a Chinese explanation (``detail_zh``) beside the English
``detail``: the code's own wording when the error has none of its own, the fields to check on
a validation error."""

from __future__ import annotations

from test_api_support import ApiEnv

pytest_plugins = ("test_api_support",)


async def test_errors_without_their_own_chinese_get_the_code_wording(api: ApiEnv) -> None:
    """401, 404, 405 and 422 answers have detail_zh in Chinese, and keep error and detail."""
    r = await api.client.get("/api/v1/alerts")
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized" and r.json()["detail"]
    assert r.json()["detail_zh"] == "需要登录：令牌缺失、无效、已过期或已吊销"

    officer = await api.headers("officer")
    r = await api.client.get("/api/v1/alerts/999999", headers=officer)
    assert r.status_code == 404
    assert r.json()["detail_zh"] == "未找到（或当前账号无权查看）"

    r = await api.client.delete("/api/v1/alerts", headers=officer)
    assert r.status_code == 405
    assert r.json()["detail_zh"] == "此处不允许该请求方法"

    r = await api.client.get("/api/v1/alerts", params={"since": "yesterday"}, headers=officer)
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "validation_error"
    assert body["detail_zh"] == "请求无效：请检查这些字段：query.since"
