"""Browser sign-in for the CLI: `sshgate login --web`, the OAuth 2.0 authorization-code grant
for native apps (RFC 6749 §4.1, RFC 8252: a loopback redirect on 127.0.0.1, any port; RFC
7636 PKCE with S256 only; `state` is the CLI's to check). Authlib's grant and PKCE extension
validate the requests; the rest is ours:

* the one client is `sshgate-cli`, public (no secret), redirected only to
  `http://127.0.0.1:PORT/callback`;
* an authorization code is random, stored as its SHA-256, good for CODE_TTL seconds, taken
  once (the store deletes it as it reads it), and bound to the PKCE challenge, the redirect
  URI and the login session that allowed it;
* the token answer opens a new login session with that session's `amr` and `auth_time`, so
  the CLI carries on exactly as `sshgate login` does, with the factor the user signed in
  with (a security key gives `hwk`).

Authlib's server is synchronous; its callbacks here only read and write values gathered
before (the code taken from the store) or persisted after (the code made), never the store.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint, DeviceCodeGrant
from authlib.oauth2.rfc8628.endpoint import create_string_user_code

from sshgate.accounts import Accounts, Principal
from sshgate.policy import User
from sshgate.store import AuthorizationCode, DeviceCode, Store

__all__ = [
    "CLIENT_ID",
    "CODE_TTL",
    "DEVICE_PATH",
    "DEVICE_TTL",
    "CliSignIn",
    "Consent",
    "TokenAnswer",
]

CLIENT_ID = "sshgate-cli"
CODE_TTL = 120.0
DEVICE_TTL = 600
POLL_INTERVAL = 5
DEVICE_PATH = "/device"
MAX_HOST = 64


class _Client(ClientMixin):  # type: ignore[misc]
    """sshgate's CLI: a public native app with loopback redirects (RFC 8252 §7.3)."""

    client_id = CLIENT_ID

    def get_client_id(self) -> str:
        return CLIENT_ID

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        parts = urlsplit(redirect_uri)
        try:
            port = parts.port
        except ValueError:
            return False
        return (
            parts.scheme == "http"
            and parts.hostname == "127.0.0.1"
            and port is not None
            and parts.path == "/callback"
            and not parts.query
            and not parts.fragment
            and not parts.username
        )

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", DeviceCodeGrant.GRANT_TYPE)


class _Code:
    """What Authlib's grant reads of an authorization code."""

    def __init__(self, code: str, stored: AuthorizationCode) -> None:
        self.code = code
        self.stored = stored
        self.code_challenge = stored.code_challenge
        self.code_challenge_method = "S256"

    def get_redirect_uri(self) -> str:
        return self.stored.redirect_uri

    def get_scope(self) -> str:
        return ""

    def is_expired(self) -> bool:
        return False  # the store hands out only live codes


class _S256Only(CodeChallenge):  # type: ignore[misc]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]


class _Device:
    """What Authlib's device grant reads of a device code, as the store had it at this poll."""

    def __init__(self, stored: DeviceCode, now: float) -> None:
        self.stored = stored
        self._now = now

    def get_client_id(self) -> str:
        return self.stored.client_id

    def get_scope(self) -> str:
        return ""

    def get_user_code(self) -> str:
        return self.stored.user_code

    def is_expired(self) -> bool:
        return self._now >= self.stored.expires_at


@dataclass
class _Exchange:
    """One request's state between our async code and Authlib's synchronous callbacks."""

    taken: _Code | None = None
    user: User | None = None
    made: list[tuple[str, str, str]] = field(default_factory=list)  # code, redirect, challenge
    device: _Device | None = None
    device_made: dict[str, Any] = field(default_factory=dict)


class _Grant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]

    @property
    def _exchange(self) -> _Exchange:
        exchange: _Exchange = self.request.exchange
        return exchange

    def save_authorization_code(self, code: str, request: Any) -> None:
        challenge = str(request.payload.data.get("code_challenge", ""))
        self._exchange.made.append((code, str(request.payload.redirect_uri), challenge))

    def query_authorization_code(self, code: str, client: Any) -> _Code | None:
        taken = self._exchange.taken
        if taken is None or not secrets.compare_digest(taken.code, code):
            return None
        return taken

    def delete_authorization_code(self, authorization_code: Any) -> None:
        """Already gone: the store deleted it when it was taken."""

    def authenticate_user(self, authorization_code: Any) -> User | None:
        return self._exchange.user


class _DeviceGrant(DeviceCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]

    def query_device_credential(self, device_code: str) -> _Device | None:
        device: _Device | None = self.request.exchange.device
        return device

    def query_user_grant(self, user_code: str) -> tuple[User | None, bool] | None:
        device: _Device = self.request.exchange.device
        if device.stored.state == "pending":
            return None
        return self.request.exchange.user, device.stored.state == "approved"

    def should_slow_down(self, credential: _Device) -> bool:
        last = credential.stored.last_poll_at
        return last is not None and credential._now - last < POLL_INTERVAL


class _DeviceAuthorization(DeviceAuthorizationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["none"]
    EXPIRES_IN = DEVICE_TTL
    INTERVAL = POLL_INTERVAL

    def __init__(self, server: Any, verification_uri: str) -> None:
        super().__init__(server)
        self._verification_uri = verification_uri

    def get_verification_uri(self) -> str:
        return self._verification_uri

    def generate_user_code(self) -> str:
        return str(create_string_user_code())

    def save_device_credential(self, client_id: str, scope: str, data: dict[str, Any]) -> None:
        self._exchange.device_made = dict(data)

    def create_endpoint_response(self, request: Any) -> Any:
        self._exchange: _Exchange = request.exchange
        return super().create_endpoint_response(request)


class _Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(scopes_supported=[])
        self._client = _Client()
        self.register_grant(_Grant, [_S256Only(required=True)])
        self.register_grant(_DeviceGrant)
        self.register_token_generator("default", self._placeholder_token)

    @staticmethod
    def _placeholder_token(**_: Any) -> dict[str, Any]:
        # Replaced by the login session's bearer once Authlib accepted the request.
        return {"token_type": "Bearer", "access_token": ""}

    def query_client(self, client_id: str) -> _Client | None:
        return self._client if client_id == CLIENT_ID else None

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        """The session is recorded by `CliSignIn.token` after this returns."""

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass


@dataclass(frozen=True)
class Consent:
    """What the allow page shows: "Allow sshgate on HOST to get SSH certificates for USER?"."""

    host: str
    username: str
    redirect_uri: str


@dataclass(frozen=True)
class TokenAnswer:
    status: int
    body: dict[str, Any]


class _Request(OAuth2Request):  # type: ignore[misc]
    """An OAuth request as Authlib reads it: the query (authorize) or form (token) values,
    and this request's `_Exchange`."""

    def __init__(self, method: str, uri: str, params: dict[str, str], exchange: _Exchange):
        super().__init__(method, uri)
        self._params = params
        self.payload = BasicOAuth2Payload(params)
        self.exchange = exchange

    @property
    def args(self) -> dict[str, str]:
        return self._params if self.method == "GET" else {}

    @property
    def form(self) -> dict[str, str]:
        return self._params if self.method == "POST" else {}


def _request(base: str, method: str, params: dict[str, str], exchange: _Exchange) -> OAuth2Request:
    # Authlib refuses plain http unless it is loopback (RFC 8252 §7.3): `base` is
    # api.public_url, where the request really arrived.
    path = "/oauth/authorize" if method == "GET" else "/oauth/token"
    return _Request(method, base + path, params, exchange)


def _user_code(text: str) -> str:
    """A user code as people type it: case and spaces do not matter."""
    letters = "".join(c for c in text.upper() if c.isalpha())[:8]
    return f"{letters[:4]}-{letters[4:]}" if len(letters) == 8 else ""


# RFC 6749's NQSCHAR (%x20-21 / %x23-5B / %x5D-7E): what an error description may hold.
# Authlib repeats redirect_uri and response_type in its descriptions and raises ValueError
# (a 500) when they hold anything else, so such a request is refused before it is parsed.
_NQSCHAR = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\"}
_ECHOED = ("redirect_uri", "response_type")


def _require_echoable(params: dict[str, str]) -> None:
    for name in _ECHOED:
        if not set(params.get(name, "")) <= _NQSCHAR:
            raise InvalidRequestError(f"{name} holds characters it may not")


def _require_pkce(params: dict[str, str]) -> None:
    """Authlib's PKCE extension lets a request without a challenge through to the token
    step; a native app must always send one, with S256 (RFC 8252 §8.1)."""
    if not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
        raise InvalidRequestError("PKCE with code_challenge_method=S256 is required")


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode("ascii", "replace")).hexdigest()


def _host(params: dict[str, str]) -> str:
    host = params.get("host", "")[:MAX_HOST]
    return host if host and host.isprintable() else "this computer"


class CliSignIn:
    def __init__(
        self,
        store: Store,
        accounts: Accounts,
        public_url: str,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._base = public_url.rstrip("/")
        self._store = store
        self._accounts = accounts
        self._now = now
        self._server = _Server()

    def consent(self, params: dict[str, str], principal: Principal) -> Consent:
        """Check an authorization request (OAuth2Error when it is not one to show)."""
        _require_echoable(params)
        _require_pkce(params)
        exchange = _Exchange(user=principal.user)
        grant = self._server.get_consent_grant(
            _request(self._base, "GET", params, exchange), principal.user
        )
        return Consent(_host(params), principal.user.username, grant.redirect_uri)

    async def authorize(self, params: dict[str, str], principal: Principal, allow: bool) -> str:
        """Where the browser goes next: the CLI's redirect with a code (allowed) or with
        error=access_denied (denied); both carry the CLI's `state`."""
        _require_echoable(params)
        _require_pkce(params)
        exchange = _Exchange(user=principal.user)
        request = _request(self._base, "GET", params, exchange)
        grant = self._server.get_consent_grant(request, principal.user)
        _, _, headers = self._server.create_authorization_response(
            request, principal.user if allow else None, grant
        )
        for code, redirect_uri, challenge in exchange.made:
            await self._store.save_authorization_code(
                AuthorizationCode(
                    code_hash=_digest(code),
                    client_id=CLIENT_ID,
                    user_id=principal.user.id,
                    redirect_uri=redirect_uri,
                    code_challenge=challenge,
                    amr=principal.amr,
                    auth_time=float(principal.auth_time),
                    expires_at=self._now() + CODE_TTL,
                    session_id=principal.jti,
                )
            )
        return str(dict(headers)["Location"])

    async def token(self, form: dict[str, str], client: str) -> TokenAnswer:
        """The token endpoint: a code (once, live, with its PKCE verifier and redirect URI)
        for a new login session with the allowing session's amr."""
        exchange = _Exchange()
        if form.get("grant_type") == DeviceCodeGrant.GRANT_TYPE:
            return await self._device_token(form, client, exchange)
        code = form.get("code", "")[:256]
        stored = (
            await self._store.take_authorization_code(_digest(code), self._now()) if code else None
        )
        if stored is not None and stored.client_id == CLIENT_ID:
            user = await self._store.get_user(stored.user_id)
            if user is not None and not user.disabled:
                exchange.taken, exchange.user = _Code(code, stored), user
        status, body, _ = self._server.create_token_response(
            _request(self._base, "POST", form, exchange)
        )
        if status != 200 or exchange.taken is None or exchange.user is None:
            return TokenAnswer(status, dict(body))
        stored = exchange.taken.stored
        return await self._session(
            exchange.user, stored.amr, stored.auth_time, client, stored.session_id
        )

    async def _session(
        self,
        user: User,
        amr: tuple[str, ...],
        auth_time: float,
        client: str,
        approving_id: str | None,
    ) -> TokenAnswer:
        """The CLI's new session, only while the session that allowed it is live (not logged
        out, not ended by a password change or reset) and ending no later than it."""
        opened = (
            await self._accounts.open_session_within(user, amr, auth_time, client, approving_id)
            if approving_id
            else None
        )
        if opened is None:
            return TokenAnswer(400, {"error": "invalid_grant"})
        return TokenAnswer(
            200,
            {
                "access_token": opened.token,
                "token_type": "Bearer",
                "expires_in": max(0, int(opened.expires_at - self._now())),
                "amr": list(opened.amr),
            },
        )

    # RFC 8628: `sshgate login --device`

    async def device_authorization(self, form: dict[str, str], client: str = "") -> TokenAnswer:
        """A device code for the CLI and a short user code for the person (RFC 8628 §3.2).
        No verification_uri_complete: the person types the code their terminal shows, so a
        link with someone else's code cannot be approved in one click (RFC 8628 §5.4)."""
        exchange = _Exchange()
        endpoint = _DeviceAuthorization(self._server, self._base + DEVICE_PATH)
        request = _request(self._base, "POST", form, exchange)
        try:
            status, body, _ = endpoint(request)
        except OAuth2Error as exc:
            status, body, _ = exc()
            return TokenAnswer(status, dict(body))
        made = exchange.device_made
        await self._store.save_device_code(
            DeviceCode(
                device_code_hash=_digest(str(made["device_code"])),
                user_code=str(made["user_code"]),
                client_id=CLIENT_ID,
                expires_at=self._now() + DEVICE_TTL,
                requested_at=self._now(),
                requested_from=client[:MAX_HOST] or None,
            )
        )
        answer = dict(body)
        answer.pop("verification_uri_complete", None)
        return TokenAnswer(status, answer)

    async def device_request(self, user_code: str) -> DeviceCode | None:
        """The pending request behind a typed user code, to show when and from where it was
        started before the person decides; None for a code unknown, expired or decided."""
        code = _user_code(user_code)
        return await self._store.pending_device_code(code, self._now()) if code else None

    async def decide_device(self, user_code: str, principal: Principal, approve: bool) -> bool:
        """The person approves or denies the code they typed; False for a code that is
        unknown, expired or already decided."""
        code = _user_code(user_code)
        if not code:
            return False
        return await self._store.decide_device_code(
            code,
            approve,
            principal.user.id,
            principal.amr,
            float(principal.auth_time),
            principal.jti,
            self._now(),
        )

    async def _device_token(
        self, form: dict[str, str], client: str, exchange: _Exchange
    ) -> TokenAnswer:
        device_code = form.get("device_code", "")[:256]
        now = self._now()
        stored = (
            await self._store.poll_device_code(_digest(device_code), now) if device_code else None
        )
        if stored is not None:
            exchange.device = _Device(stored, now)
            if stored.user_id is not None:
                exchange.user = await self._store.get_user(stored.user_id)
        status, body, _ = self._server.create_token_response(
            _request(self._base, "POST", form, exchange)
        )
        user = exchange.user
        if status != 200 or stored is None or user is None or user.disabled:
            return TokenAnswer(
                status if status != 200 else 400,
                dict(body) if status != 200 else {"error": "invalid_grant"},
            )
        return await self._session(
            user, stored.amr, stored.auth_time or now, client, stored.session_id
        )
