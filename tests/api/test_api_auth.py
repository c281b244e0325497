"""Logging in and out, bearer checks, and the shape of errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.api.conftest import PASSWORD, Site, auth


async def test_login_without_mfa_gives_pwd(site: Site) -> None:
    alice = await site.add_user("alice")
    response = await site.login("alice")
    assert response.status_code == 200
    body = response.json()
    assert body["amr"] == ["pwd"]
    assert body["user"] == {"id": alice.id, "username": "alice"}
    assert body["token"].startswith("sgs_")
    assert body["expires_at"].endswith("Z")
    assert response.headers["cache-control"] == "no-store"
    account = await site.client.get("/api/account", headers=auth(body["token"]))
    assert account.status_code == 200
    assert account.json() == {
        "id": alice.id,
        "username": "alice",
        "email": "alice@example.com",
        "mfa": False,
        "mfa_since": None,
        "amr": ["pwd"],
        "bearer": "session",
        "expires_at": body["expires_at"],
    }


async def test_unknown_user_and_wrong_password_get_the_same_401(site: Site) -> None:
    await site.add_user("alice")
    unknown = await site.login("mallory")
    wrong = await site.login("alice", password="not the password")
    assert unknown.status_code == wrong.status_code == 401
    assert (
        unknown.json()
        == wrong.json()
        == {
            "error": "invalid_credentials",
            "message": "invalid username or password",
        }
    )


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, "unauthorized"),
        ({"Authorization": "Basic YWxpY2U6eA=="}, "unauthorized"),
        ({"Authorization": "Bearer sgs_not-a-session"}, "invalid_token"),
        ({"Authorization": "Bearer garbage"}, "invalid_token"),
    ],
    ids=["missing", "basic-auth", "unknown-session", "malformed"],
)
async def test_missing_or_invalid_token_is_401_with_bearer_challenge(
    site: Site, headers: dict[str, str], error: str
) -> None:
    response = await site.client.get("/api/account", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"] == error


async def test_logout_ends_the_session(site: Site) -> None:
    await site.add_user("alice")
    token = await site.token("alice")
    assert (await site.client.post("/api/auth/logout", headers=auth(token))).status_code == 204
    response = await site.client.get("/api/account", headers=auth(token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_expired_session_is_401(site: Site) -> None:
    await site.add_user("alice")
    token = await site.token("alice")
    site.clock.now += site.config.api.session_ttl
    assert (await site.client.get("/api/account", headers=auth(token))).status_code == 401


async def test_throttled_login_is_429_with_retry_after(site: Site) -> None:
    await site.add_user("alice")
    for _ in range(10):
        assert (await site.login("alice", password="wrong password")).status_code == 401
    response = await site.login("alice")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "60"
    assert response.json()["error"] == "throttled"


async def test_validation_errors_never_echo_the_request(site: Site) -> None:
    secret = "hunter2-very-secret-password"
    response = await site.client.post(
        "/api/auth/login", json={"username": ["not", "a", "string"], "password": secret}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert "username" in response.json()["message"]
    assert secret not in response.text
    response = await site.client.post("/api/auth/login", json={"password": PASSWORD * 500})
    assert response.status_code == 422 and PASSWORD not in response.text


async def test_openapi_is_served_and_lists_the_endpoints(site: Site) -> None:
    response = await site.client.get("/api/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/auth/login",
        "/api/auth/logout",
        "/api/account",
        "/api/account/password",
        "/api/account/mfa/setup",
        "/api/account/mfa/verify",
        "/api/account/mfa/disable",
        "/api/account/mfa/recovery-codes",
        "/api/ssh/certificate",
        "/api/ssh/authority",
        "/api/tokens",
        "/api/tokens/{token_id}",
        "/api/me/access",
        "/api/orgs/{org}/security",
        "/api/orgs/{org}/mfa-required",
        "/api/orgs/{org}/reminders",
    ):
        assert path in paths, path
    assert "HTTPBearer" in response.json()["components"]["securitySchemes"]


async def test_the_api_reference_lists_every_route_of_the_openapi_description(site: Site) -> None:
    reference = (Path(__file__).resolve().parents[2] / "docs" / "reference" / "api.md").read_text()
    listed = set(re.findall(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)`", reference, re.M))
    paths = (await site.client.get("/api/openapi.json")).json()["paths"]
    served = {(method.upper(), path) for path, item in paths.items() for method in item}
    assert served == listed


async def test_unknown_path_is_a_json_404(site: Site) -> None:
    response = await site.client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
