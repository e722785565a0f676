"""Bearer tokens: storage, lookup, and how the API answers bad ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from test_api_support import CEMENT, ApiEnv

from ecowarn.store.tokens import TokenError, create_token, hash_token, lookup_token, revoke_token

pytest_plugins = ("test_api_support",)


async def test_token_is_stored_hashed_and_looked_up(database: str) -> None:
    """Only the sha256 of the token is stored, and lookup returns its principal."""
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        token = await create_token(conn, role="enterprise", enterprise_id=CEMENT, label="ops")
        assert token.startswith("ew_") and len(token) > 40
        stored = await (await conn.execute("SELECT token_hash FROM api_tokens")).fetchall()
        assert stored == [(hash_token(token),)]
        principal = await lookup_token(conn, token)
        assert principal is not None
        assert (principal.role, principal.enterprise_id) == ("enterprise", CEMENT)
        assert await lookup_token(conn, token + "x") is None


async def test_token_arguments_are_validated(database: str) -> None:
    """Unknown roles, enterprise tokens without an enterprise and naive expiries are refused."""
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        with pytest.raises(TokenError, match="unknown role"):
            await create_token(conn, role="superuser")
        with pytest.raises(TokenError, match="enterprise id"):
            await create_token(conn, role="enterprise")
        with pytest.raises(TokenError, match="only enterprise tokens"):
            await create_token(conn, role="officer", enterprise_id=CEMENT)
        with pytest.raises(TokenError, match="timezone-aware"):
            await create_token(conn, role="officer", expires_at=datetime(2030, 1, 1))


async def test_missing_token_is_401_with_bearer_challenge(api: ApiEnv) -> None:
    """No Authorization header -> 401, WWW-Authenticate: Bearer, JSON error body."""
    r = await api.client.get("/api/v1/alerts")
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"] == "unauthorized"


@pytest.mark.parametrize("header", ["Bearer ew_not-a-real-token", "Basic dXNlcjpwYXNz",
                                    "Bearer", "Bearer a b", "ew_token-without-scheme"])
async def test_wrong_or_malformed_token_is_401(api: ApiEnv, header: str) -> None:
    """Unknown tokens and malformed headers are refused the same way."""
    r = await api.client.get("/api/v1/alerts", headers={"Authorization": header})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


async def test_expired_token_is_401(api: ApiEnv) -> None:
    """A token past expires_at no longer authenticates."""
    expired = await api.token("officer", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    live = await api.token("officer", expires_at=datetime.now(UTC) + timedelta(hours=1))
    r = await api.client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401
    r = await api.client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {live}"})
    assert r.status_code == 200


async def test_revoked_token_is_401(api: ApiEnv) -> None:
    """A revoked token stops working at once; revoking twice reports nothing to revoke."""
    token = await api.token("officer")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await api.client.get("/api/v1/alerts", headers=headers)).status_code == 200
    async with await psycopg.AsyncConnection.connect(api.dsn, autocommit=True) as conn:
        principal = await lookup_token(conn, token)
        assert principal is not None
        assert await revoke_token(conn, principal.token_id) is True
        assert await revoke_token(conn, principal.token_id) is False
    assert (await api.client.get("/api/v1/alerts", headers=headers)).status_code == 401


@pytest.mark.parametrize(("role", "method", "path"), [
    ("ingest", "GET", "/api/v1/alerts"),
    ("credit", "GET", "/api/v1/alerts"),
    ("enterprise", "POST", "/api/v1/readings"),
    ("officer", "POST", "/api/v1/readings"),
    ("enterprise", "GET", "/api/v1/dead-letters"),
    ("enterprise", "POST", "/api/v1/emergency-orders"),
])
async def test_role_outside_endpoint_is_403(api: ApiEnv, role: str, method: str,
                                            path: str) -> None:
    """A valid token of a role the endpoint does not serve gets 403, not 401."""
    headers = await api.headers(role, CEMENT if role == "enterprise" else None)
    r = await api.client.request(method, path, headers=headers, json={"readings": []})
    assert r.status_code == 403
    assert r.json()["error"] == "forbidden"


async def test_admin_passes_every_role_check(api: ApiEnv) -> None:
    """An admin token reads alerts and dead letters and may post readings."""
    headers = await api.headers("admin")
    for method, path in (("GET", "/api/v1/alerts"), ("GET", "/api/v1/dead-letters"),
                         ("POST", "/api/v1/readings")):
        r = await api.client.request(method, path, headers=headers, json={"readings": []})
        assert r.status_code == 200, (path, r.text)
