"""The policy decision as a table: who may do what, and which message they get."""

from __future__ import annotations

import pytest

from sshgate.policy.decision import GatewaySettings, Identity, RequestKind, Target, decide
from sshgate.policy.messages import display_service, render
from sshgate.policy.model import (
    Endpoint,
    Environment,
    MFALevel,
    Organization,
    OrgRole,
    Project,
    ProjectRole,
    User,
)

PID = "abcdefg123456"
SERVICE = f"{PID}-main-bvxea6i--app"
ENV = Environment(PID, "main", "main-bvxea6i", "app", Endpoint("u", "127.0.0.1", 22))
PROJECT = Project(PID, "acme", "Acme", Endpoint("git", "127.0.0.1", 22), "/srv/r.git")
BOB = User(
    "0b6e0000-0000-4000-8000-000000000000",
    "bob",
    "bob@example.com",
    mfa_enabled=True,
    mfa_since=1.0,
)

MFA_TEXT = (
    "Error: Access denied\n"
    f"Service: {SERVICE}\n"
    f"User: bob ({BOB.id})\n"
    'Parameters: {"amr":["mfa"]}\n'
    "Detail: Additional authentication is required:\n"
    "\t - Multifactor authentication (MFA)\n"
    "Hint: enable MFA (sshgate mfa setup), then refresh your certificate: sshgate login -f\n"
)
KEY_TEXT = (
    "Error: Access denied\n"
    f"Service: {SERVICE}\n"
    f"User: bob ({BOB.id})\n"
    'Parameters: {"amr":["hwk"]}\n'
    "Detail: Additional authentication is required:\n"
    "\t - Phishing-resistant multifactor authentication (security key or passkey)\n"
)
NO_ACCESS_TEXT = (
    "Error: The service doesn't exist or you do not have access to it.\n"
    f"Service: {SERVICE}\n"
    f"User: bob ({BOB.id})\n"
)


def identity(
    amr: tuple[str, ...] = ("pwd", "mfa"), user: User = BOB, auth_time: int = 100, **kw: object
) -> Identity:
    return Identity(
        user=user,
        serial=1,
        amr=amr,
        auth_time=auth_time,
        permit_port_forwarding=True,
        permit_agent_forwarding=True,
        **kw,
    )  # type: ignore[arg-type]


def target(
    mfa_required: bool = True,
    org_role: OrgRole | None = OrgRole.MEMBER,
    project_role: ProjectRole | None = ProjectRole.CONTRIBUTOR,
    exists: bool = True,
    env: bool = True,
    git: bool = False,
    level: MFALevel = MFALevel.ANY,
) -> Target:
    return Target(
        requested=PID if git else SERVICE,
        project=PROJECT if exists else None,
        org=Organization("acme", mfa_required, mfa_level=level) if exists else None,
        environment=ENV if env and not git else None,
        is_git=git,
        org_role=org_role,
        project_role=project_role,
    )


KEY_AMR = ("pwd", "hwk", "mfa")
CODE_AMR = ("pwd", "otp", "mfa")
PR: dict[str, MFALevel] = {"level": MFALevel.PHISHING_RESISTANT}

CASES = [
    ("mfa user, mfa org, contributor: shell", identity(), RequestKind.SHELL, target(), "allow"),
    ("no mfa, mfa org", identity(("pwd",)), RequestKind.EXEC, target(), "mfa-required"),
    ("no mfa, open org", identity(("pwd",)), RequestKind.EXEC, target(mfa_required=False), "allow"),
    (
        "mfa claim but account mfa reset later",
        identity(user=User(BOB.id, "bob", "", mfa_enabled=True, mfa_revoked_at=200.0)),
        RequestKind.EXEC,
        target(),
        "mfa-required",
    ),
    (
        "mfa claim, account mfa disabled",
        identity(user=User(BOB.id, "bob", "")),
        RequestKind.EXEC,
        target(),
        "mfa-required",
    ),
    (
        "mfa after a reset that predates login",
        identity(
            auth_time=300, user=User(BOB.id, "bob", "", mfa_enabled=True, mfa_revoked_at=200.0)
        ),
        RequestKind.EXEC,
        target(),
        "allow",
    ),
    ("unknown project", identity(), RequestKind.EXEC, target(exists=False), "unknown-service"),
    ("unknown environment", identity(), RequestKind.EXEC, target(env=False), "unknown-service"),
    ("no grant", identity(), RequestKind.EXEC, target(project_role=None), "no-access"),
    (
        "not a member (grant alone)",
        identity(),
        RequestKind.EXEC,
        target(org_role=None),
        "no-access",
    ),
    (
        "viewer cannot ssh",
        identity(),
        RequestKind.SHELL,
        target(project_role=ProjectRole.VIEWER),
        "no-access",
    ),
    (
        "viewer pulls",
        identity(),
        RequestKind.GIT_PULL,
        target(project_role=ProjectRole.VIEWER, git=True),
        "allow",
    ),
    (
        "viewer cannot push",
        identity(),
        RequestKind.GIT_PUSH,
        target(project_role=ProjectRole.VIEWER, git=True),
        "no-access",
    ),
    ("contributor pushes", identity(), RequestKind.GIT_PUSH, target(git=True), "allow"),
    (
        "org admin without grant",
        identity(),
        RequestKind.GIT_PUSH,
        target(org_role=OrgRole.ADMIN, project_role=None, git=True),
        "allow",
    ),
    (
        "org owner without grant",
        identity(),
        RequestKind.SHELL,
        target(org_role=OrgRole.OWNER, project_role=None),
        "allow",
    ),
    (
        "no access beats mfa",
        identity(("pwd",)),
        RequestKind.EXEC,
        target(project_role=None),
        "no-access",
    ),
    (
        "disabled user",
        identity(user=User(BOB.id, "bob", "", disabled=True)),
        RequestKind.EXEC,
        target(),
        "user-disabled",
    ),
    ("revoked certificate", identity(revoked=True), RequestKind.EXEC, target(), "revoked"),
    ("port forward permitted", identity(), RequestKind.PORT_FORWARD, target(), "allow"),
    ("agent forward permitted", identity(), RequestKind.AGENT_FORWARD, target(), "allow"),
    ("key login, any level", identity(KEY_AMR), RequestKind.SHELL, target(), "allow"),
    ("code login, any level", identity(CODE_AMR), RequestKind.SHELL, target(), "allow"),
    ("key login, key level", identity(KEY_AMR), RequestKind.GIT_PUSH, target(**PR), "allow"),
    (
        "code login, key level",
        identity(CODE_AMR),
        RequestKind.EXEC,
        target(**PR),
        "phishing-resistant-mfa-required",
    ),
    (
        "old mfa claim, key level",
        identity(),
        RequestKind.GIT_PULL,
        target(git=True, **PR),
        "phishing-resistant-mfa-required",
    ),
    (
        "no mfa at all, key level",
        identity(("pwd",)),
        RequestKind.EXEC,
        target(**PR),
        "mfa-required",
    ),
    (
        "key claim but account mfa reset later, key level",
        identity(KEY_AMR, user=User(BOB.id, "bob", "", mfa_enabled=True, mfa_revoked_at=200.0)),
        RequestKind.EXEC,
        target(**PR),
        "mfa-required",
    ),
    (
        "hwk without mfa does not count",
        identity(("pwd", "hwk")),
        RequestKind.EXEC,
        target(**PR),
        "mfa-required",
    ),
    (
        "key level but requirement off",
        identity(("pwd",)),
        RequestKind.EXEC,
        target(mfa_required=False, **PR),
        "allow",
    ),
    (
        "no access beats key level",
        identity(CODE_AMR),
        RequestKind.EXEC,
        target(project_role=None, **PR),
        "no-access",
    ),
]


@pytest.mark.parametrize(
    ("who", "kind", "where", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_decision_table(who: Identity, kind: RequestKind, where: Target, rule: str) -> None:
    decision = decide(who, kind, where)
    assert decision.rule == rule
    assert decision.allowed == (rule == "allow")
    assert decision.exit_status == (0 if rule == "allow" else 1)


def test_forwarding_needs_the_certificate_permission_and_the_setting() -> None:
    no_perm = Identity(user=BOB, serial=1, amr=("pwd", "mfa"), auth_time=1)
    assert (
        decide(no_perm, RequestKind.PORT_FORWARD, target()).rule == "port-forwarding-not-permitted"
    )
    assert (
        decide(no_perm, RequestKind.AGENT_FORWARD, target()).rule
        == "agent-forwarding-not-permitted"
    )
    off = GatewaySettings(allow_port_forwarding=False)
    assert (
        decide(identity(), RequestKind.PORT_FORWARD, target(), off).rule
        == "port-forwarding-not-permitted"
    )


def test_mfa_message_is_byte_for_byte_the_documented_one() -> None:
    decision = decide(identity(("pwd",)), RequestKind.EXEC, target())
    assert render(decision.lines, pty=False).decode() == MFA_TEXT
    assert render(decision.lines, pty=True).decode() == MFA_TEXT.replace("\n", "\r\n")


def test_no_access_message_is_byte_for_byte_the_documented_one() -> None:
    decision = decide(identity(), RequestKind.EXEC, target(project_role=None))
    assert render(decision.lines, pty=False).decode() == NO_ACCESS_TEXT


@pytest.mark.parametrize(
    ("requested", "shown"),
    [
        ("plain", "plain"),
        ("tab\there", "tab\\x09here"),
        ("nl\nx", "nl\\x0ax"),
        ("é", "\\xe9"),
        ("☃", "\\u2603"),
        ("😀", "\\U0001f600"),
        ("x" * 300, "x" * 128),
        ("\x01" * 100, ("\\x01" * 100)[:128]),
    ],
)
def test_service_line_escapes_then_cuts(requested: str, shown: str) -> None:
    assert display_service(requested) == shown


@pytest.mark.parametrize("pty", [False, True], ids=["exec", "pty"])
def test_key_level_message_is_byte_for_byte_the_documented_one(pty: bool) -> None:
    decision = decide(
        identity(CODE_AMR), RequestKind.EXEC, target(level=MFALevel.PHISHING_RESISTANT)
    )
    expected = KEY_TEXT.replace("\n", "\r\n") if pty else KEY_TEXT
    assert render(decision.lines, pty) == expected.encode()
    assert render(decision.lines, pty).endswith(
        b"\t - Phishing-resistant multifactor authentication (security key or passkey)"
        + (b"\r\n" if pty else b"\n")
    )
