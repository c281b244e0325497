"""The HTTP API as the CLI sees it: JSON in, JSON out, one-line errors."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

import httpx

TIMEOUT = 30.0
STEP_UP = "insufficient_user_authentication"


class ApiError(Exception):
    """The API refused or could not be reached; `str()` is the one line the user sees."""

    def __init__(self, message: str, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def check_api_url(url: str) -> str:
    """Plain http:// is refused except to loopback: tokens and passwords travel here."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(f"not an API URL: {url!r} (expected https://HOST[:PORT])")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ApiError(f"refusing plain http:// to {parts.hostname}; use https://")
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Api:
    def __init__(self, url: str, token: str = "") -> None:
        self.url = check_api_url(url)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=TIMEOUT)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach the API at {self.url}: {unreachable(exc)}") from None
        if response.status_code == 204:
            return None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.is_success:
            return data
        raise _error(response.status_code, data)


def unreachable(exc: BaseException) -> str:
    """Why a request did not get an answer, in words (never an exception's class name)."""
    causes: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and len(causes) < 8:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS problem: the server's certificate is not trusted ({cause.verify_message})"
        if isinstance(cause, ssl.SSLError):
            return (
                "TLS problem: the TLS handshake failed (does the server speak https on that"
                " port, or plain http?)"
            )
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (is the API running, and on that port?)"
        if isinstance(cause, socket.gaierror):
            return "unknown host name"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection without an HTTP answer (does it speak https?)"
    if isinstance(exc, httpx.TransportError):
        return "the connection failed"
    return "the request failed"


def _error(status: int, data: Any) -> ApiError:
    if isinstance(data, dict):
        code = str(data.get("error", ""))
        message = str(data.get("message") or data.get("detail") or code or f"HTTP {status}")
        return ApiError(message.splitlines()[0] if message else f"HTTP {status}", status, code)
    return ApiError(f"the API answered HTTP {status}", status)
