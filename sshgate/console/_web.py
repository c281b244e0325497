"""What every Console page shares: the signed-in user from the session cookie, the CSRF
check of every form that changes anything, bounded form bodies, the security headers and
rendering a template.

* The session cookie holds the login session's bearer (the same `sgs_...` a CLI login gets:
  same amr, TTL, throttles, revocation). `HttpOnly`, `SameSite=Strict`, and over HTTPS
  `Secure` with the `__Host-` prefix (no Domain, Path=/: no subdomain can set or read it).
* CSRF: a random nonce in its own cookie; every form carries HMAC(secrets key, session,
  nonce), the session being the login session's id (`anon` signed out), and a POST without
  the matching value is refused with 403 before anything is read or done. Bound to the
  session, a nonce planted by a sibling host (plain HTTP has no `__Host-` prefix) together
  with a token the attacker loaded for it is worth nothing in the victim's session. The
  nonce is replaced at sign-in and sign-out.
* Where the form was sent from: a POST that the browser says came from another origin is
  refused like a wrong token, before the body is read. `Sec-Fetch-Site` (sent by every
  current browser) must be `same-origin` (or `none`: the person's own action); an `Origin`
  other than `null` must be this Console's (the host of `api.public_url`, or the host the
  request was sent to). This is what stops login CSRF from a sibling host on plain HTTP,
  where that host can set the csrf cookie of a signed-out browser: its pages are
  `same-site`, never `same-origin`. (`Origin` is `null` on our own forms: the Console's
  `Referrer-Policy: no-referrer` makes browsers send `null` for every POST.)
* Forms are `application/x-www-form-urlencoded`, at most MAX_FORM_BYTES and MAX_FORM_FIELDS
  (a form that needs more says so), read here; over either is 413.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jinja2
from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

from sshgate import accounts as acc
from sshgate import services as svc
from sshgate.accounts import Principal, SecretBox
from sshgate.logs import log
from sshgate.policy import Organization, OrgRole
from sshgate.services import Services
from sshgate.store import StoreError

__all__ = [
    "SECURITY_HEADERS",
    "ConsolePage",
    "ConsoleRoute",
    "Form",
    "Web",
    "redirect",
]

MAX_FORM_BYTES = 16384
MAX_FORM_FIELDS = 300
SESSION = "sshgate_session"
CSRF = "sshgate_csrf"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'; object-src 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


class SignInNeeded(Exception):
    """No valid session cookie: the page sends the browser to Sign in."""


class CsrfRefused(Exception):
    """A form without the page's CSRF token, or with another: refused, nothing done."""


class FormTooLarge(Exception):
    """A form body over its byte or field bound."""


@dataclass(frozen=True)
class Form:
    """A submitted form: the first value of a field, or all of them."""

    fields: list[tuple[str, str]]

    def get(self, name: str, default: str = "") -> str:
        return next((v for k, v in self.fields if k == name), default)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.fields if k == name]


@dataclass
class ConsolePage:
    """One request of the Console: the caller (None when signed out) and the cookies this
    response must set or clear."""

    request: Request
    services: Services
    web: Web
    principal: Principal | None
    nonce: str
    new_nonce: bool
    set_session: tuple[str, int] | None = None  # (bearer, max-age)
    clear_session: bool = False
    orgs: list[tuple[Organization, OrgRole]] = field(default_factory=list)

    @property
    def client(self) -> str:
        return self.web.client_of(self.request)

    @property
    def csrf_token(self) -> str:
        session = self.principal.jti if self.principal is not None else None
        return self.web.csrf_token(self.nonce, session)

    def me(self) -> Principal:
        if self.principal is None:
            raise SignInNeeded()
        return self.principal

    async def form(
        self, max_bytes: int = MAX_FORM_BYTES, max_fields: int = MAX_FORM_FIELDS
    ) -> Form:
        """The posted form, after the size bounds (FormTooLarge) and the CSRF check
        (CsrfRefused)."""
        if not self.web.same_origin(self.request):
            log("console_cross_origin_refused", logging.WARNING, path=self.request.url.path)
            raise CsrfRefused()
        length = self.request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_bytes):
            raise FormTooLarge()
        body = b""
        async for chunk in self.request.stream():
            body += chunk
            if len(body) > max_bytes:
                raise FormTooLarge()
        # parse_qsl counts fields the same way before it parses anything
        if body.count(b"&") + 1 > max_fields:
            raise FormTooLarge()
        try:
            fields = parse_qsl(
                body.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields
            )
        except (UnicodeDecodeError, ValueError):
            raise CsrfRefused() from None
        form = Form(fields)
        if not hmac.compare_digest(form.get("csrf").encode(), self.csrf_token.encode()):
            log("console_csrf_refused", logging.WARNING, path=self.request.url.path)
            raise CsrfRefused()
        return form

    def signed_in(self, bearer: str, max_age: int) -> None:
        """Set the session cookie, and a fresh CSRF nonce (no fixation across sign-in)."""
        self.set_session = (bearer, max_age)
        self.nonce, self.new_nonce = secrets.token_urlsafe(24), True

    def signed_out(self) -> None:
        self.clear_session = True
        self.principal = None
        self.nonce, self.new_nonce = secrets.token_urlsafe(24), True

    async def render(self, template: str, status: int = 200, **values: Any) -> Response:
        if self.principal is not None and not self.orgs:
            self.orgs = await self.services.store.orgs_of(self.principal.user.id)
        html = self.web.templates.get_template(template).render(
            page=self, user=self.principal.user if self.principal else None, **values
        )
        return self.finish(HTMLResponse(html, status_code=status))

    def finish(self, response: Response) -> Response:
        secure = self.web.secure(self.request)
        if self.new_nonce:
            self._cookie(response, CSRF, self.nonce, None, secure)
        if self.set_session is not None:
            self._cookie(response, SESSION, self.set_session[0], self.set_session[1], secure)
        elif self.clear_session:
            self._cookie(response, SESSION, "", 0, secure)
        return response

    def _cookie(
        self, response: Response, name: str, value: str, max_age: int | None, secure: bool
    ) -> None:
        response.set_cookie(
            cookie_name(name, secure),
            value,
            max_age=max_age,
            path="/",
            secure=secure,
            httponly=True,
            samesite="strict",
        )


def cookie_name(name: str, secure: bool) -> str:
    return f"__Host-{name}" if secure else name


def origin_host(url: str) -> str:
    """`host[:port]` of an origin or URL, as a Host header names it; "" when it has none."""
    if len(url) > 2048:
        return ""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    if not parts.hostname or parts.scheme not in ("http", "https"):
        return ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return host if port is None else f"{host}:{port}"


def redirect(page: ConsolePage, to: str) -> Response:
    return page.finish(RedirectResponse(to, status_code=303))


def iso(moment: float | None) -> str:
    """Times shown to people: ISO 8601 in UTC."""
    return "" if moment is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


class Web:
    """The Console's templates and keys, made once per app. The app hands over how to find
    the services of a request and the client's address (the API's own rules for both)."""

    def __init__(
        self,
        box: SecretBox,
        public_url: str,
        services_of: Callable[[Request], Services],
        client_of: Callable[[Request], str],
    ) -> None:
        self._box = box
        self.services_of = services_of
        self.client_of = client_of
        self._https = public_url.startswith("https://")
        self._public_host = origin_host(public_url)
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("sshgate.console", "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["iso"] = iso
        # Where other parts add their own piece of a page (passkeys: a second-factor choice
        # at sign-in, a profile section); each is a template name, included in order.
        self.second_factor_steps: list[str] = ["parts/code_step.html"]
        self.profile_sections: list[str] = [
            "parts/authenticator.html",
            "parts/recovery_codes.html",
            "parts/password.html",
        ]

    def same_origin(self, request: Request) -> bool:
        """Whether the browser says `request` was sent from this Console's own pages (a
        request without the headers, from a client that is not a browser, passes: the
        token check still applies)."""
        site = request.headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return False
        origin = request.headers.get("origin")
        if origin is None or origin == "null":
            return True
        sent_to = request.headers.get("host", "").lower()
        return origin_host(origin) in (self._public_host, sent_to)

    def secure(self, request: Request) -> bool:
        return self._https or request.url.scheme == "https"

    def csrf_token(self, nonce: str, session: str | None) -> str:
        """The token of the forms of `session` (a login session's id; None: signed out)."""
        bound = f"{session or 'anon'}\n{nonce}"
        return self._box.keyed_hash("console-csrf", bound.encode())

    async def page(self, request: Request) -> ConsolePage:
        services = self.services_of(request)
        secure = self.secure(request)
        nonce = request.cookies.get(cookie_name(CSRF, secure), "")
        fresh = not (16 <= len(nonce) <= 64)
        if fresh:
            nonce = secrets.token_urlsafe(24)
        principal = None
        bearer = request.cookies.get(cookie_name(SESSION, secure), "")
        if bearer.startswith("sgs_") and len(bearer) <= 128:
            try:
                principal = await services.accounts.session_from_token(bearer)
            except acc.InvalidToken:
                principal = None
        page = ConsolePage(request, services, self, principal, nonce, fresh)
        page.clear_session = bool(bearer) and principal is None
        return page


Handler = Callable[[Request], Coroutine[Any, Any, Response]]
ErrorPage = Callable[[Request, Exception], Awaitable[Response]]


class ConsoleRoute(APIRoute):
    """A Console route answers every error with a page (the app's handlers answer JSON)."""

    error_page: ErrorPage | None = None

    def get_route_handler(self) -> Handler:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except Exception as exc:
                shown: ErrorPage = request.app.state.console_error_page
                return await shown(request, exc)

        return handler


ERROR_STATUS: Mapping[type[Exception], tuple[int, str]] = {
    CsrfRefused: (
        403,
        "This form has expired or did not come from this page. Reload the page and try again.",
    ),
    FormTooLarge: (413, "That form was too large."),
    svc.Forbidden: (403, ""),
    svc.NotFound: (404, ""),
    acc.Throttled: (429, ""),
    acc.SecondFactorLocked: (429, ""),
    StoreError: (503, "The service is unavailable; try again in a moment."),
}
