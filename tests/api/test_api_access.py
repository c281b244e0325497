"""GET /api/me/access, and the MFA guard that organization resources use."""

from __future__ import annotations

import pyotp
import pytest
from fastapi import FastAPI

from sshgate.accounts.principal import Principal
from sshgate.api import MFA_REQUIRED_MESSAGE, ApiError, require_mfa_for_org
from sshgate.api.context import CurrentPrincipal
from sshgate.policy.model import (
    Endpoint,
    Environment,
    Organization,
    OrgRole,
    Project,
    ProjectRole,
    User,
)
from sshgate.services import git_remote
from tests.api.conftest import Site, auth

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA host"


async def add_project(site: Site, pid: str, org: str, git: bool = True) -> Project:
    upstream = Endpoint("git", "git.internal", 22, (KEY,)) if git else None
    project = await site.store.create_project(
        Project(pid, org, f"Project {pid}", upstream, "/srv/repo.git")
    )
    await site.store.add_environment(
        Environment(pid, "main", "main-bvxea6i", "app", Endpoint("deploy", "10.0.0.5", 22, (KEY,)))
    )
    return project


@pytest.mark.parametrize(
    ("host", "port", "remote"),
    [
        ("gw.example.com", 22, "abcdefg123456@gw.example.com:abcdefg123456.git"),
        ("gw.example.com", 2222, "ssh://abcdefg123456@gw.example.com:2222/abcdefg123456.git"),
        ("::1", 2222, "ssh://abcdefg123456@[::1]:2222/abcdefg123456.git"),
    ],
    ids=["scp-form", "ssh-url-for-other-port", "ipv6"],
)
def test_git_remote_forms(host: str, port: int, remote: str) -> None:
    assert git_remote("abcdefg123456", host, port) == remote


async def test_access_lists_orgs_projects_services_and_remotes(site: Site) -> None:
    alice = await site.add_user("alice")
    await site.store.create_org("acme")
    await site.store.create_org("other")
    await site.store.set_member("acme", alice.id, OrgRole.MEMBER)
    await site.store.set_member("other", alice.id, OrgRole.ADMIN)
    await add_project(site, "abcdefg123456", "acme")
    await add_project(site, "hijklmn789012", "acme")  # no grant: not listed
    await add_project(site, "opqrstu345678", "other", git=False)
    await site.store.set_grant("abcdefg123456", alice.id, ProjectRole.VIEWER)
    token = await site.token("alice")
    body = (await site.client.get("/api/me/access", headers=auth(token))).json()
    assert body["orgs"] == [
        {
            "name": "acme",
            "role": "member",
            "mfa_required": False,
            "mfa_level": "any",
            "mfa_missing": False,
        },
        {
            "name": "other",
            "role": "admin",
            "mfa_required": False,
            "mfa_level": "any",
            "mfa_missing": False,
        },
    ]
    assert body["projects"] == [
        {
            "id": "abcdefg123456",
            "title": "Project abcdefg123456",
            "org": "acme",
            "role": "viewer",
            "git_remote": "abcdefg123456@gw.example.com:abcdefg123456.git",
            "services": [],  # a viewer may pull, not ssh
        },
        {
            "id": "opqrstu345678",
            "title": "Project opqrstu345678",
            "org": "other",
            "role": "admin",
            "git_remote": None,
            "services": ["opqrstu345678-main-bvxea6i--app"],
        },
    ]


async def test_projects_of_an_org_requiring_mfa_need_an_mfa_login(site: Site) -> None:
    bob = await site.add_user("bob")
    await site.store.create_org("acme")
    await site.store.set_member("acme", bob.id, OrgRole.OWNER)
    await site.store.set_mfa_required("acme", True)
    await add_project(site, "abcdefg123456", "acme")
    session = await site.token("bob")
    body = (await site.client.get("/api/me/access", headers=auth(session))).json()
    assert body["orgs"][0]["mfa_missing"] is True and body["projects"] == []
    secret, _ = await site.enable_mfa(session)
    mfa = await site.token("bob", totp=pyotp.TOTP(secret).at(site.clock.next_step()))
    body = (await site.client.get("/api/me/access", headers=auth(mfa))).json()
    assert body["orgs"][0]["mfa_missing"] is False
    assert [p["id"] for p in body["projects"]] == ["abcdefg123456"]


def principal(amr: tuple[str, ...]) -> Principal:
    user = User("u1", "bob", "bob@example.com", mfa_enabled="mfa" in amr)
    return Principal(user, amr, 1, "jti", "token")


@pytest.mark.parametrize(
    ("mfa_required", "amr", "refused"),
    [
        (False, ("pwd",), False),
        (True, ("pwd", "mfa"), False),
        (True, ("pwd",), True),
    ],
    ids=["org-without-requirement", "bearer-with-mfa", "bearer-without-mfa"],
)
def test_require_mfa_for_org(mfa_required: bool, amr: tuple[str, ...], refused: bool) -> None:
    org = Organization("acme", mfa_required=mfa_required)
    if not refused:
        require_mfa_for_org(principal(amr), org)
        return
    with pytest.raises(ApiError) as info:
        require_mfa_for_org(principal(amr), org)
    assert info.value.status == 401
    assert info.value.headers == {
        "WWW-Authenticate": 'Bearer error="insufficient_user_authentication"'
    }


async def test_mfa_guard_answers_with_rfc9470_body_through_a_route(site: Site) -> None:
    """A test-only route stands in for the org-security endpoints of a later issue."""
    app: FastAPI = site.app

    @app.get("/api/test-only/orgs/{name}")
    async def org_resource(name: str, who: CurrentPrincipal) -> dict[str, str]:
        org = await site.store.get_org(name)
        assert org is not None
        require_mfa_for_org(who, org)
        return {"org": org.name}

    bob = await site.add_user("bob")
    await site.store.create_org("acme")
    await site.store.set_member("acme", bob.id, OrgRole.MEMBER)
    await site.store.set_mfa_required("acme", True)
    token = await site.token("bob")
    response = await site.client.get("/api/test-only/orgs/acme", headers=auth(token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="insufficient_user_authentication"'
    assert response.json() == {
        "error": "insufficient_user_authentication",
        "amr": ["mfa"],
        "message": MFA_REQUIRED_MESSAGE,
    }
    assert MFA_REQUIRED_MESSAGE == (
        "Multifactor authentication (MFA) is required. "
        "The API token may need to be re-created after enabling MFA."
    )
    secret, _ = await site.enable_mfa(token)
    mfa = await site.token("bob", totp=pyotp.TOTP(secret).at(site.clock.next_step()))
    allowed = await site.client.get("/api/test-only/orgs/acme", headers=auth(mfa))
    assert allowed.status_code == 200 and allowed.json() == {"org": "acme"}
