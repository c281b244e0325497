"""`sshgate login --web`: sign in through the browser (OAuth 2.0 for native apps, RFC 8252);
`sshgate login --device`: approve in any browser, elsewhere (RFC 8628 device authorization).

The CLI listens on 127.0.0.1 on a free port for one redirect, sends the browser to the
Console's /oauth/authorize with a PKCE S256 challenge (RFC 7636) and a random `state`, and
waits for the code. A redirect whose `state` is not ours is refused; the code goes back to
/oauth/token with the verifier, and the answer is a login session with the `amr` of the
browser's sign-in (a security key gives `hwk`). Only the `--web` path imports this module.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import socket
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from sshgate.client.api import TIMEOUT, ApiError, unreachable

__all__ = ["CLIENT_ID", "WAIT_SECONDS", "browser_session", "device_session"]

CLIENT_ID = "sshgate-cli"
WAIT_SECONDS = 300
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DONE_PAGE = (
    b"<!doctype html><meta charset=utf-8><title>sshgate</title>"
    b"<p>sshgate has what it needs. You can close this window and go back to the terminal.</p>"
)


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class _Callback(HTTPServer):
    """One redirect to /callback: its query, once."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.query: dict[str, list[str]] | None = None
        self.arrived = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    server: _Callback

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/callback" or self.server.arrived.is_set():
            self.send_error(404)
            return
        self.server.query = parse_qs(parts.query[:4096])
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(DONE_PAGE)
        self.server.arrived.set()

    def log_message(self, format: str, *args: object) -> None:
        pass  # nothing on the terminal but what login prints


def _can_open_browser() -> bool:
    return sys.platform == "darwin" or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def browser_session(api: str, announce: Callable[[str], None]) -> str:
    """The bearer of a login session made by signing in through the browser. `announce`
    shows the URL to open (the browser is also opened when there is a display)."""
    verifier = secrets.token_urlsafe(48)
    state = secrets.token_urlsafe(24)
    callback = _Callback()
    redirect_uri = f"http://127.0.0.1:{callback.server_address[1]}/callback"
    url = f"{api}/oauth/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": redirect_uri,
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
            "state": state,
            "host": socket.gethostname()[:64],
        }
    )
    serving = threading.Thread(target=callback.serve_forever, daemon=True)
    serving.start()
    try:
        announce(url)
        if _can_open_browser():
            webbrowser.open(url)
        if not callback.arrived.wait(WAIT_SECONDS):
            raise ApiError(f"no answer from the browser within {WAIT_SECONDS} seconds")
    finally:
        callback.shutdown()
        callback.server_close()
    query = callback.query or {}
    if query.get("state") != [state]:
        raise ApiError("the browser's answer is not for this sign-in (state differs): refused")
    if "error" in query:
        raise ApiError(f"the sign-in was not allowed ({query['error'][0][:64]})")
    code = (query.get("code") or [""])[0]
    return _token(api, code, verifier, redirect_uri)


def _token(api: str, code: str, verifier: str, redirect_uri: str) -> str:
    form = {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": redirect_uri,
    }
    status, body = _post(f"{api}/oauth/token", form)
    return _access_token(status, body)


def _post(url: str, form: dict[str, str]) -> tuple[int, dict[str, object]]:
    try:
        answer = httpx.post(url, data=form, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise ApiError(unreachable(exc)) from None
    is_json = answer.headers.get("content-type", "").startswith("application/json")
    body = answer.json() if is_json else {}
    return answer.status_code, body if isinstance(body, dict) else {}


def _access_token(status: int, body: dict[str, object]) -> str:
    token = body.get("access_token")
    if status != 200 or not isinstance(token, str) or not token:
        raise ApiError(f"the sign-in could not be completed ({body.get('error', status)})")
    return token


def device_session(api: str, announce: Callable[[str, str], None]) -> str:
    """The bearer of a login session approved in a browser anywhere: `announce` shows the
    URL and the user code; the API is polled at the interval it gives until the person
    approves, denies, or the code expires."""
    status, started = _post(f"{api}/oauth/device_authorization", {"client_id": CLIENT_ID})
    device_code, user_code = started.get("device_code"), started.get("user_code")
    if status != 200 or not isinstance(device_code, str) or not isinstance(user_code, str):
        raise ApiError(f"the API did not start a device sign-in ({started.get('error', status)})")
    interval = float(str(started.get("interval", 5)))
    deadline = time.monotonic() + float(str(started.get("expires_in", 600)))
    link = started.get("verification_uri")  # the person types the code (RFC 8628 §5.4)
    announce(str(link), user_code)
    form = {"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": CLIENT_ID}
    while time.monotonic() < deadline:
        time.sleep(interval)
        status, body = _post(f"{api}/oauth/token", form)
        error = body.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5  # RFC 8628 §3.5
            continue
        if error == "access_denied":
            raise ApiError("the sign-in was denied in the browser")
        if error == "expired_token":
            break
        return _access_token(status, body)
    raise ApiError("the code expired before it was approved; run sshgate login --device again")
