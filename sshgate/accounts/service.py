"""The accounts service: logging in, the bearer behind every API call, password change and
API tokens. MFA enrollment lives in `mfa.py` and is reached as `Accounts.mfa`.

All I/O goes through the `Store`; the clock is injectable (`now`) so that tests can step
through TOTP time steps and lock periods without sleeping.

A login opens a session whose `amr` is fixed at that moment: ["pwd"], ["pwd", "otp", "mfa"]
when a TOTP or recovery code was verified in it, ["pwd", "hwk", "mfa"] when a security key or
passkey was (RFC 8176 method names; "mfa" stays in both, so every rule that asks for it
holds). An API token carries the amr and auth_time of the login session that created it, so a
token made before MFA was enabled stays without "mfa" and must be re-created. Tokens are made
from login sessions only (a token cannot mint tokens), have a scope (`scope.py`) and maybe an
expiry; they stop working when revoked, when they expire, and when a password change or
reset, a user disable or an MFA reset ends every token of their user.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sshgate.accounts.bearer import bearer_hash, kind_of, new_bearer
from sshgate.accounts.credentials import PasswordCheck
from sshgate.accounts.errors import (
    InvalidToken,
    InvalidTokenExpiry,
    InvalidTokenName,
    LoginFailed,
    NotPermitted,
    SecondFactorRequired,
    SignInExpired,
    TokenNotFound,
    WrongPassword,
)
from sshgate.accounts.mfa import MFA
from sshgate.accounts.passwords import check_password_policy, hash_password
from sshgate.accounts.principal import Principal, effective_amr, session_ended_by_mfa_change
from sshgate.accounts.scope import new_token_refusal
from sshgate.accounts.second_factor import SecondFactor
from sshgate.accounts.secretbox import SecretBox
from sshgate.accounts.security_keys import Ceremony, SecurityKeys
from sshgate.accounts.ticket import open_ticket, seal_ticket
from sshgate.policy import PASSWORD_ONLY, WITH_CODE, WITH_KEY, User
from sshgate.store import ApiToken, LoginSession, Store, TokenScope

__all__ = [
    "DEFAULT_SESSION_TTL",
    "Accounts",
    "CreatedToken",
    "LoginResult",
    "PasswordChanged",
    "SignInTicket",
    "end_user_access",
]

DEFAULT_SESSION_TTL = 86400
# last_used_at of a token is written at most this often.
TOKEN_TOUCH_INTERVAL = 60.0
MAX_TOKEN_NAME = 64
MAX_TOKEN_LIFETIME = 10 * 366 * 86400


@dataclass(frozen=True)
class LoginResult:
    """A new login session. `token` is its bearer secret: it is shown once, never stored."""

    token: str
    session_id: str
    user: User
    amr: tuple[str, ...]
    auth_time: float
    expires_at: float


@dataclass(frozen=True)
class SignInTicket:
    """The password was right and the account has MFA: `finish_login` with this ticket and a
    code (within five minutes) opens the session."""

    ticket: str


@dataclass(frozen=True)
class PasswordChanged:
    """What ended with a password change, reset or a user disable."""

    sessions_ended: int
    certificates_revoked: int
    tokens_revoked: int


async def end_user_access(store: Store, user_id: str, now: float) -> PasswordChanged:
    """What a password change, a password reset and a user disable end, in one place: every
    login session and API token of the user and every certificate they hold, and the
    `login --web` / `--device` grants they allowed that the CLI has not taken yet."""
    ended = await store.revoke_user_sessions(user_id, now)
    await store.forget_cli_grants(user_id)
    tokens = await store.revoke_user_tokens(user_id, now)
    revoked = await store.revoke_user_certificates(user_id, now)
    return PasswordChanged(ended, revoked, tokens)


@dataclass(frozen=True)
class CreatedToken:
    """A new API token; `token` is its secret, shown once."""

    token: str
    record: ApiToken


class Accounts:
    def __init__(
        self,
        store: Store,
        box: SecretBox,
        session_ttl: int = DEFAULT_SESSION_TTL,
        now: Callable[[], float] = time.time,
        public_url: str = "",
    ) -> None:
        self._store = store
        self._session_ttl = session_ttl
        self._now = now
        self._box = box
        self._passwords = PasswordCheck(store, now)
        self._second_factor = SecondFactor(store, box, now)
        self.mfa = MFA(store, box, self._passwords, self._second_factor, now)
        self.keys = SecurityKeys(store, box, self._passwords, self._second_factor, public_url, now)

    # logging in and out

    async def login(
        self, username: str, password: str, code: str | None, client: str
    ) -> LoginResult:
        """Check the password (throttled), then, for a user with MFA, the code.

        Raises Throttled, LoginFailed (the same for an unknown user, a wrong password and a
        disabled user), then SecondFactorRequired, InvalidCode or SecondFactorLocked: what
        concerns the second factor only once the password was right. A code given to an
        account without MFA is ignored.
        """
        user = await self._check_password(username, password, client)
        if not user.mfa_enabled:
            return await self.open_session(user, PASSWORD_ONLY, self._now(), client)
        if not code:
            raise SecondFactorRequired()
        return await self._with_code(user, code, client)

    async def begin_login(
        self, username: str, password: str, client: str
    ) -> LoginResult | SignInTicket:
        """The first step of a two-step sign-in (the Console): the password alone. A user
        without MFA is signed in; one with MFA gets a ticket for `finish_login`. Raises as
        `login` does for the password."""
        user = await self._check_password(username, password, client)
        if not user.mfa_enabled:
            return await self.open_session(user, PASSWORD_ONLY, self._now(), client)
        return SignInTicket(seal_ticket(self._box, user.id, self._now()))

    async def finish_login(self, ticket: str, code: str, client: str) -> LoginResult:
        """The second step: a TOTP or recovery code for the ticket's user, with the same
        lock as `login`'s. SignInExpired for a bad or old ticket, or a user disabled or
        without MFA since."""
        return await self._with_code(await self._ticket_user(ticket), code, client)

    async def _check_password(self, username: str, password: str, client: str) -> User:
        user = await self._passwords.verify(username, password, client)
        if user is None:
            raise LoginFailed()
        return user

    async def _with_code(self, user: User, code: str, client: str) -> LoginResult:
        await self._second_factor.verify(user.id, code)
        return await self.open_session(user, WITH_CODE, self._now(), client)

    async def begin_key_sign_in(
        self, username: str, password: str, client: str
    ) -> tuple[str, Ceremony]:
        """A sign-in with a security key in one call for the API: the password (throttled, as
        `login`), then `key_sign_in_options` for its ticket. Returns the ticket and options."""
        user = await self._check_password(username, password, client)
        ticket = seal_ticket(self._box, user.id, self._now())
        return ticket, await self.key_sign_in_options(ticket)

    async def key_sign_in_options(self, ticket: str) -> Ceremony:
        """After the password step (`begin_login`'s ticket): a challenge for the user's keys,
        bound to this ticket. SignInExpired for a bad or old ticket; KeyNotAccepted when the
        account has no key."""
        user = await self._ticket_user(ticket)
        return await self.keys.authentication_options(user, _ticket_binding(ticket))

    async def finish_key_sign_in(
        self, ticket: str, challenge_id: str, credential: str, client: str
    ) -> LoginResult:
        """The key's answer to this ticket's challenge opens a login session with amr
        ["pwd", "hwk", "mfa"]."""
        user = await self._ticket_user(ticket)
        binding = _ticket_binding(ticket)
        await self.keys.authenticate(user, binding, challenge_id, credential, client)
        return await self.open_session(user, WITH_KEY, self._now(), client)

    async def _ticket_user(self, ticket: str) -> User:
        opened = open_ticket(self._box, ticket, self._now())
        if opened is None:
            raise SignInExpired()
        user = await self._store.get_user(opened[0])
        if user is None or user.disabled or not user.mfa_enabled:
            raise SignInExpired()
        return user

    async def open_session(
        self,
        user: User,
        amr: tuple[str, ...],
        auth_time: float,
        client: str,
        ttl: int | None = None,
    ) -> LoginResult:
        """Record a login session for an already authenticated user."""
        token, session = self._new_session(user, amr, auth_time, client, ttl)
        await self._store.create_login_session(session)
        return LoginResult(token, session.id, user, amr, auth_time, session.expires_at)

    async def open_session_within(
        self, user: User, amr: tuple[str, ...], auth_time: float, client: str, approving_id: str
    ) -> LoginResult | None:
        """A login session allowed by the login session `approving_id` (`login --web`,
        `--device`): opened only while that one is live, and ending no later than it, so
        repeating the grant never extends a session. None when it is no longer live."""
        token, session = self._new_session(user, amr, auth_time, client, None)
        stored = await self._store.create_login_session_within(session, approving_id, self._now())
        if stored is None:
            return None
        return LoginResult(token, stored.id, user, amr, auth_time, stored.expires_at)

    def _new_session(
        self, user: User, amr: tuple[str, ...], auth_time: float, client: str, ttl: int | None
    ) -> tuple[str, LoginSession]:
        now = self._now()
        token = new_bearer("session")
        return token, LoginSession(
            id=str(uuid.uuid4()),
            user_id=user.id,
            token_hash=bearer_hash(token),
            amr=amr,
            auth_time=auth_time,
            created_at=now,
            expires_at=now + (self._session_ttl if ttl is None else ttl),
            client=client or None,
        )

    async def session_from_token(self, bearer: str) -> Principal:
        """The caller behind a session or API token bearer; InvalidToken when it is unknown,
        revoked, expired, of a disabled user, or a session from before an MFA reset."""
        kind = kind_of(bearer)
        if kind is None:
            raise InvalidToken()
        digest = bearer_hash(bearer)
        now = self._now()
        if kind == "session":
            session = await self._store.get_login_session(digest)
            if session is None or session.revoked_at is not None or now >= session.expires_at:
                raise InvalidToken()
            user = await self._live_user(session.user_id)
            if session_ended_by_mfa_change(session.auth_time, user):
                raise InvalidToken()
            auth_time, amr, jti = session.auth_time, session.amr, session.id
            expires_at: float | None = session.expires_at
        else:
            token = await self._store.get_api_token(digest)
            if token is None or token.revoked_at is not None:
                raise InvalidToken()
            if token.expires_at is not None and now >= token.expires_at:
                raise InvalidToken()
            user = await self._live_user(token.user_id)
            await self._store.touch_api_token(token.id, now, TOKEN_TOUCH_INTERVAL)
            auth_time, amr, jti, expires_at = token.auth_time, token.amr, token.id, token.expires_at
            scope: TokenScope | None = token.scope
        whole = int(auth_time)
        amr = effective_amr(amr, whole, user)
        if kind == "session":
            return Principal(user, amr, whole, jti, kind, expires_at)
        return Principal(user, amr, whole, jti, kind, expires_at, scope)

    async def logout(self, principal: Principal) -> None:
        """End the caller's login session; an API token is revoked with `revoke_token`."""
        if principal.kind != "session":
            raise NotPermitted(
                "an API token is not a login session: revoke it with DELETE /api/tokens/{id}"
            )
        await self._store.revoke_login_session(principal.jti, self._now())
        await self._store.forget_cli_grants(principal.user.id, principal.jti)

    # password

    async def change_password(
        self, user: User, old: str, new: str, client: str = ""
    ) -> PasswordChanged:
        """Set a new password after checking the old one (throttled like a login). Ends every
        login session of the user, the caller's included, and revokes their certificates.
        Raises WrongPassword, Throttled, PasswordPolicyError."""
        if await self._passwords.verify(user.username, old, client) is None:
            raise WrongPassword()
        check_password_policy(new)
        password_hash = await asyncio.to_thread(hash_password, new)
        await self._store.set_password_hash(user.id, password_hash)
        return await end_user_access(self._store, user.id, self._now())

    # API tokens

    async def create_token(
        self,
        principal: Principal,
        name: str,
        scope: str = "certificate",
        expires_in: int | None = None,
    ) -> CreatedToken:
        """A token for bots with the caller's amr and auth_time; only from a login session,
        and with scope `account` only from a login with mfa when the user has MFA. It ends
        `expires_in` seconds from now (None: when revoked or ended by a password change or
        reset, a user disable or an MFA reset)."""
        refused = new_token_refusal(principal, scope)
        if refused is not None:
            raise NotPermitted(refused)
        name = name.strip()
        if not 0 < len(name) <= MAX_TOKEN_NAME or not name.isprintable():
            raise InvalidTokenName()
        if expires_in is not None and not 0 < expires_in <= MAX_TOKEN_LIFETIME:
            raise InvalidTokenExpiry(MAX_TOKEN_LIFETIME)
        now = self._now()
        token = new_bearer("token")
        record = ApiToken(
            id=str(uuid.uuid4()),
            user_id=principal.user.id,
            name=name,
            token_hash=bearer_hash(token),
            amr=principal.amr,
            auth_time=principal.auth_time,
            created_at=now,
            scope="account" if scope == "account" else "certificate",
            expires_at=None if expires_in is None else now + expires_in,
        )
        await self._store.create_api_token(record)
        return CreatedToken(token, record)

    async def list_tokens(self, user: User) -> list[ApiToken]:
        return await self._store.list_api_tokens(user.id)

    async def revoke_token(self, user: User, token_id: str) -> None:
        if not await self._store.revoke_api_token(user.id, token_id, self._now()):
            raise TokenNotFound()

    async def _live_user(self, user_id: str) -> User:
        user = await self._store.get_user(user_id)
        if user is None or user.disabled:
            raise InvalidToken()
        return user


def _ticket_binding(ticket: str) -> str:
    """What a key challenge of a sign-in is bound to: its ticket, hashed."""
    return hashlib.sha256(ticket.encode("ascii", "replace")).hexdigest()
