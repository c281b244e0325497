"""The store interface: everything sshgate persists, behind one small async Protocol.

Callers depend only on `Store`; `open_store(url)` picks the backend from `storage.url`.
Every method either answers from the database or raises `StoreError` (never guesses):
security decisions built on a failing store must fail closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal, Protocol

from sshgate.policy import (
    Endpoint,
    Environment,
    MFALevel,
    Organization,
    OrgRole,
    Project,
    ProjectRole,
    User,
)


@dataclass(frozen=True)
class CertificateRecord:
    """One issued user certificate in the ledger."""

    serial: int
    user_id: str
    key_fingerprint: str
    valid_after: int
    valid_before: int
    amr: tuple[str, ...]
    jti: str
    ca_fingerprint: str
    issued_at: float
    revoked_at: float | None = None


@dataclass(frozen=True)
class CAKeyRecord:
    """A user-CA public key that gateways trust. `retired_at` is set once a newer key is active;
    the key stays trusted until the last certificate it signed expires."""

    fingerprint: str
    public_key: str  # OpenSSH one-line form
    added_at: float
    retired_at: float | None = None


@dataclass(frozen=True)
class Revocation:
    """What the store says about a certificate outside the ledger: when its serial was revoked
    for the CA key that signed it, and when certificates with its key ID were revoked (those
    whose validity began before then). None: never."""

    serial_revoked_at: float | None = None
    key_id_revoked_at: float | None = None


@dataclass(frozen=True)
class GatewayHostKey:
    """A gateway's host public key, recorded by the gateway itself for GET /api/ssh/authority."""

    public_key: str
    public_host: str
    public_port: int
    recorded_at: float


@dataclass(frozen=True)
class AuditEvent:
    """One decision of the gateway (or the operator), written when it is made."""

    time: float
    kind: str  # request kind: "auth", "shell", "exec", "subsystem", "git-upload-pack", ...
    decision: str  # "allow" | "deny" | "close" | "admin"
    reason: str  # the name of the rule that decided
    user_id: str | None = None
    serial: int | None = None
    client: str | None = None
    service: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class AuditOutcome:
    """What is known when a session ends; written onto its AuditEvent."""

    bytes_in: int
    bytes_out: int
    exit_status: int | None
    duration: float


@dataclass(frozen=True)
class AuditRecord:
    id: int
    event: AuditEvent
    outcome: AuditOutcome | None = None


@dataclass(frozen=True)
class Membership:
    org: str
    user: User
    role: OrgRole


@dataclass(frozen=True)
class AccessFacts:
    """What the policy decision needs to know about one user and one project, read in one go."""

    project: Project | None
    org: Organization | None
    org_role: OrgRole | None
    project_role: ProjectRole | None
    environments: tuple[Environment, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class LoginSession:
    """One login: the bearer's secret is stored only as `token_hash` (SHA-256 hex).
    `amr` is fixed at login; `auth_time` is when the password (and code) were verified."""

    id: str
    user_id: str
    token_hash: str
    amr: tuple[str, ...]
    auth_time: float
    created_at: float
    expires_at: float
    revoked_at: float | None = None
    client: str | None = None


TokenScope = Literal["certificate", "account"]


@dataclass(frozen=True)
class ApiToken:
    """A bot's bearer token; it carries the amr and auth_time of the login that created it,
    a scope (what it may do, see sshgate.accounts.scope) and maybe an expiry."""

    id: str
    user_id: str
    name: str
    token_hash: str
    amr: tuple[str, ...]
    auth_time: float
    created_at: float
    revoked_at: float | None = None
    last_used_at: float | None = None
    scope: TokenScope = "certificate"
    expires_at: float | None = None


@dataclass(frozen=True)
class MFAState:
    """A user's second factor as stored: the encrypted TOTP secret of a verified
    authenticator app (None when there is none; a setup not yet verified is kept apart, see
    `save_totp_setup`), the last accepted time step, and the consecutive-failure count and
    lock."""

    user_id: str
    enabled: bool
    secret_enc: bytes | None
    last_step: int | None
    failures: int
    locked_until: float | None


@dataclass(frozen=True)
class MFAAttempt:
    """`taken`: the code may be checked (it counts as a failure until a success resets the
    count); `locked_until` set means this slot was the last before the lock. Not taken:
    locked until `locked_until`, or (None) the user has no MFA."""

    taken: bool
    locked_until: float | None


ThrottleScope = Literal["user", "addr"]


@dataclass(frozen=True)
class ThrottleRecord:
    """Consecutive failed passwords for one username ("user") or client address ("addr")."""

    scope: ThrottleScope
    subject: str
    failures: int
    last_failure_at: float


@dataclass(frozen=True)
class ThrottleRule:
    """The numbers of the password throttle (sshgate.accounts.throttle states the rule): after
    `limit` consecutive failures, one attempt per `interval` seconds; a count is forgotten
    `forget_after` seconds after its last failure."""

    limit: int
    interval: float
    forget_after: float


@dataclass(frozen=True)
class MemberSecurity:
    """One row of an organization's security listing: a member, their role, whether their
    account has MFA (since when, with which factors), and when they were last reminded."""

    user_id: str
    username: str
    email: str
    role: OrgRole
    mfa: bool
    mfa_since: float | None
    last_reminded: float | None
    factors: tuple[str, ...] = ()  # "totp", "webauthn" (sshgate.policy.amr.member_factors)


@dataclass(frozen=True)
class SecurityKey:
    """A user's security key or passkey (a WebAuthn credential): its id and COSE public key
    in base64url, and the last signature counter seen."""

    id: str
    user_id: str
    name: str
    credential_id: str
    public_key: str
    sign_count: int
    created_at: float
    last_used_at: float | None = None


class KeyRemoval(Enum):
    """What `remove_security_key` did: REMOVED, NOT_FOUND (no such key of the user), or LAST
    (it is the user's last second factor and no code was verified for its removal)."""

    REMOVED = "removed"
    NOT_FOUND = "not_found"
    LAST = "last"


@dataclass(frozen=True)
class AppRemoved:
    """What `remove_totp` did: whether MFA went off with the app (no security key was
    left), and how many login sessions that ended."""

    mfa_off: bool
    sessions_ended: int


class AppConfirmation(Enum):
    """What `confirm_totp_setup` did: NOT_PENDING (no such setup of the user, or it expired
    or was replaced), REFUSED (an app is already verified, or MFA is on and the login that
    checked the code had no MFA), ENABLED (the app turned MFA on, with the new recovery
    codes), ADDED (MFA was already on through security keys and the unused recovery codes
    were kept), ADDED_WITH_CODES (as ADDED, but no unused code was left: the new ones were
    stored)."""

    NOT_PENDING = "not_pending"
    REFUSED = "refused"
    ENABLED = "enabled"
    ADDED = "added"
    ADDED_WITH_CODES = "added_with_codes"


@dataclass(frozen=True)
class WebAuthnChallenge:
    """A WebAuthn ceremony in flight: `purpose` "register" or "authenticate", `challenge` in
    base64url, `bound_to` what started it (a digest of the sign-in or login session)."""

    id: str
    user_id: str
    purpose: str
    challenge: str
    bound_to: str
    expires_at: float


@dataclass(frozen=True)
class AuthorizationCode:
    """An OAuth authorization code of `sshgate login --web`, stored by its SHA-256 hex: what
    the user allowed (the login session's amr and auth_time), for which redirect and PKCE
    challenge, until when."""

    code_hash: str
    client_id: str
    user_id: str
    redirect_uri: str
    code_challenge: str
    amr: tuple[str, ...]
    auth_time: float
    expires_at: float
    session_id: str | None = None  # the login session that allowed it


@dataclass(frozen=True)
class DeviceCode:
    """A device authorization of `sshgate login --device` (RFC 8628), stored by the SHA-256
    of its device code: `state` "pending", "approved" or "denied"; once decided, who and
    with which login (amr, auth_time)."""

    device_code_hash: str
    user_code: str
    client_id: str
    expires_at: float
    state: str = "pending"
    user_id: str | None = None
    amr: tuple[str, ...] = ()
    auth_time: float | None = None
    last_poll_at: float | None = None
    session_id: str | None = None  # the login session that approved it
    requested_at: float | None = None  # when and from which address the CLI asked
    requested_from: str | None = None


@dataclass(frozen=True)
class LiveSession:
    """An SSH session a gateway has let through and not yet ended. `has_mfa` and `has_key`
    are what the gateway decided from the certificate when the session opened; `project_id`
    and `org` are those of the service the session reaches."""

    id: str
    gateway_id: str
    user_id: str
    serial: int
    org: str
    has_mfa: bool
    opened_at: float
    project_id: str | None = None
    has_key: bool = False


class StoreError(Exception):
    """The store could not answer (unreachable, locked, corrupt). Callers deny."""


class ConflictError(StoreError):
    """A uniqueness rule was violated (existing username, org, serial, ...)."""


class NotFoundError(StoreError):
    """The named user, org, project or environment does not exist."""


class Store(Protocol):
    # lifecycle
    async def close(self) -> None: ...
    async def ping(self) -> None: ...

    # users
    async def create_user(self, username: str, email: str, password_hash: str) -> User: ...
    async def get_user(self, user_id: str) -> User | None: ...
    async def get_user_by_name(self, username: str) -> User | None: ...
    async def set_user_disabled(self, user_id: str, disabled: bool) -> None: ...
    async def set_password_hash(self, user_id: str, password_hash: str) -> None: ...
    async def get_password_hash(self, user_id: str) -> str | None: ...
    async def reset_mfa(self, user_id: str, at: float) -> None: ...
    async def set_mfa_secret(self, user_id: str, secret_enc: bytes) -> None: ...
    async def enable_mfa(self, user_id: str, at: float) -> None: ...

    # organizations
    async def create_org(self, name: str, addons: frozenset[str] = frozenset()) -> Organization: ...
    async def get_org(self, name: str) -> Organization | None: ...
    async def set_org_addon(self, name: str, addon: str, present: bool) -> None: ...
    async def set_mfa_required(
        self, name: str, required: bool, level: MFALevel = MFALevel.ANY
    ) -> None: ...
    async def set_member(self, org: str, user_id: str, role: OrgRole) -> None: ...
    async def remove_member(self, org: str, user_id: str) -> None: ...
    async def list_members(self, org: str) -> list[Membership]: ...
    async def orgs_of(self, user_id: str) -> list[tuple[Organization, OrgRole]]: ...

    # projects and environments
    async def create_project(self, project: Project) -> Project: ...
    async def get_project(self, project_id: str) -> Project | None: ...
    async def remove_project(self, project_id: str) -> None: ...
    async def list_projects(self, org: str | None = None) -> list[Project]: ...
    async def set_grant(self, project_id: str, user_id: str, role: ProjectRole) -> None: ...
    async def remove_grant(self, project_id: str, user_id: str) -> None: ...
    async def add_environment(self, env: Environment) -> Environment: ...
    async def get_environment(self, project_id: str, name: str, app: str) -> Environment | None: ...
    async def list_environments(self, project_id: str) -> list[Environment]: ...
    async def set_environment_host_keys(
        self, project_id: str, name: str, app: str, host_keys: tuple[str, ...]
    ) -> None: ...
    async def remove_environment(self, project_id: str, name: str, app: str | None) -> None: ...
    async def access_facts(self, project_id: str, user_id: str) -> AccessFacts: ...

    # certificates and CA keys
    async def record_certificate(self, record: CertificateRecord) -> None: ...
    async def get_certificate(self, serial: int) -> CertificateRecord | None: ...
    async def revoke_certificate(self, serial: int, at: float) -> bool: ...
    async def revoke_user_certificates(self, user_id: str, at: float) -> int: ...
    async def revoke_ca_serial(self, ca_fingerprint: str, serial: int, at: float) -> bool: ...
    async def get_revocation(self, ca_fingerprint: str, serial: int, key_id: str) -> Revocation: ...
    async def distrust_ca_key(self, fingerprint: str, at: float) -> bool: ...
    async def list_distrusted_ca_keys(self) -> list[str]: ...
    async def record_ca_key(self, fingerprint: str, public_key: str, at: float) -> None: ...
    async def list_ca_keys(self) -> list[CAKeyRecord]: ...
    async def record_gateway_host_key(self, key: GatewayHostKey) -> None: ...
    async def list_gateway_host_keys(self) -> list[GatewayHostKey]: ...

    # accounts: login sessions, API tokens, second factor, password throttle
    async def create_login_session(self, session: LoginSession) -> None: ...
    async def create_login_session_within(
        self, session: LoginSession, approving_id: str, now: float
    ) -> LoginSession | None: ...
    async def get_login_session(self, token_hash: str) -> LoginSession | None: ...
    async def revoke_login_session(self, session_id: str, at: float) -> bool: ...
    async def revoke_user_sessions(self, user_id: str, at: float) -> int: ...
    async def create_api_token(self, token: ApiToken) -> None: ...
    async def get_api_token(self, token_hash: str) -> ApiToken | None: ...
    async def list_api_tokens(self, user_id: str) -> list[ApiToken]: ...
    async def revoke_api_token(self, user_id: str, token_id: str, at: float) -> bool: ...
    async def revoke_user_tokens(self, user_id: str, at: float) -> int: ...
    async def touch_api_token(self, token_id: str, at: float, min_interval: float) -> None: ...
    async def get_mfa_state(self, user_id: str) -> MFAState | None: ...
    async def accept_totp_step(self, user_id: str, step: int, now: float) -> bool: ...
    async def take_mfa_attempt(
        self, user_id: str, now: float, limit: int, lock_seconds: float
    ) -> MFAAttempt: ...
    # an authenticator app being set up, and removing the verified one (see _totpsetup.py)
    async def save_totp_setup(
        self, user_id: str, secret_enc: bytes, at: float, expires_at: float
    ) -> bool: ...
    async def get_totp_setup(self, user_id: str, now: float) -> bytes | None: ...
    async def confirm_totp_setup(
        self,
        user_id: str,
        secret_enc: bytes,
        code_hashes: Sequence[str],
        at: float,
        mfa_login: bool,
    ) -> AppConfirmation: ...
    async def remove_totp(self, user_id: str, at: float) -> AppRemoved | None: ...
    async def disable_mfa(self, user_id: str, at: float) -> int: ...
    async def replace_recovery_codes(
        self, user_id: str, code_hashes: Sequence[str], at: float
    ) -> None: ...
    async def unused_recovery_codes(self, user_id: str) -> list[str]: ...
    async def use_recovery_code(self, user_id: str, code_hash: str, at: float) -> bool: ...
    async def read_login_throttle(
        self, keys: Sequence[tuple[ThrottleScope, str]]
    ) -> list[ThrottleRecord]: ...
    async def take_login_attempt(
        self, keys: Sequence[tuple[ThrottleScope, str]], now: float, rule: ThrottleRule
    ) -> bool: ...
    async def clear_login_failures(self, keys: Sequence[tuple[ThrottleScope, str]]) -> None: ...

    # organization security: reminders and the security listing
    async def list_member_security(self, org: str) -> list[MemberSecurity]: ...
    async def last_reminders(self, org: str) -> dict[str, float]: ...
    async def record_reminder(
        self, org: str, user_id: str, sent_by: str | None, at: float
    ) -> str: ...
    async def claim_reminder(
        self,
        org: str,
        user_id: str,
        sent_by: str | None,
        now: float,
        interval: float,
        force: bool,
        claim_ttl: float,
    ) -> str | None: ...
    async def mark_reminder_sent(self, reminder_id: str, at: float) -> None: ...
    async def release_reminder(self, reminder_id: str) -> None: ...

    # live sessions across gateways
    async def gateway_heartbeat(self, gateway_id: str, at: float) -> None: ...
    async def open_live_session(self, session: LiveSession) -> None: ...
    async def close_live_session(self, session_id: str) -> None: ...
    async def forget_gateway(self, gateway_id: str) -> int: ...
    async def count_sessions_without_mfa(
        self, org: str, now: float, stale_after: float = 30, level: MFALevel = MFALevel.ANY
    ) -> int: ...

    # security keys and passkeys (see _securitykeys.py)
    async def add_security_key(
        self, key: SecurityKey, code_hashes: Sequence[str] | None, at: float
    ) -> bool: ...
    async def list_security_keys(self, user_id: str) -> list[SecurityKey]: ...
    async def use_security_key(
        self, user_id: str, key_id: str, sign_count: int, at: float
    ) -> bool: ...
    async def remove_security_key(
        self, user_id: str, key_id: str, at: float, code_verified: bool
    ) -> tuple[KeyRemoval, int]: ...
    async def save_authorization_code(self, code: AuthorizationCode) -> None: ...
    async def take_authorization_code(
        self, code_hash: str, now: float
    ) -> AuthorizationCode | None: ...
    async def save_device_code(self, code: DeviceCode) -> None: ...
    async def decide_device_code(
        self,
        user_code: str,
        approve: bool,
        user_id: str,
        amr: tuple[str, ...],
        auth_time: float,
        session_id: str,
        now: float,
    ) -> bool: ...
    async def poll_device_code(self, device_code_hash: str, now: float) -> DeviceCode | None: ...
    async def pending_device_code(self, user_code: str, now: float) -> DeviceCode | None: ...
    async def forget_cli_grants(self, user_id: str, session_id: str | None = None) -> int: ...
    async def save_webauthn_challenge(self, challenge: WebAuthnChallenge, now: float) -> None: ...
    async def take_webauthn_challenge(
        self, challenge_id: str, user_id: str, purpose: str, bound_to: str, now: float
    ) -> WebAuthnChallenge | None: ...

    # audit and change tracking
    async def audit(self, event: AuditEvent) -> int: ...
    async def audit_outcome(self, audit_id: int, outcome: AuditOutcome) -> None: ...
    async def list_audit(
        self, since: float | None = None, user_id: str | None = None, limit: int = 1000
    ) -> list[AuditRecord]: ...
    async def policy_version(self) -> int: ...


__all__ = [
    "AccessFacts",
    "ApiToken",
    "AuditEvent",
    "AuditOutcome",
    "AuditRecord",
    "CAKeyRecord",
    "CertificateRecord",
    "ConflictError",
    "Endpoint",
    "GatewayHostKey",
    "LiveSession",
    "LoginSession",
    "MFAAttempt",
    "MFAState",
    "MemberSecurity",
    "Membership",
    "NotFoundError",
    "Revocation",
    "Store",
    "StoreError",
    "ThrottleRecord",
    "ThrottleRule",
    "ThrottleScope",
    "TokenScope",
]
