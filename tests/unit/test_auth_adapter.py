"""The asyncssh internals the gateway's auth adapter relies on. These fail first when an
asyncssh upgrade moves them; see sshgate/ssh_gateway/_auth_adapter.py."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from importlib.metadata import version

import asyncssh
import pytest
from asyncssh.public_key import decode_ssh_public_key

from sshgate.ssh_gateway._auth_adapter import take_over_public_key_auth


def test_asyncssh_version_is_in_the_pinned_safe_range() -> None:
    parts = tuple(int(p) for p in version("asyncssh").split(".")[:3])
    assert (2, 14, 2) <= parts < (2, 25, 0)  # 2.14.2: Terrapin (strict kex) fix


def test_publickey_auth_goes_through_validate_public_key() -> None:
    params = list(inspect.signature(asyncssh.SSHServerConnection.validate_public_key).parameters)
    assert params == ["self", "username", "key_data", "msg", "signature"]
    source = inspect.getsource(asyncssh.auth._ServerPublicKeyAuth._start)
    assert "self._conn.validate_public_key(" in source


Validator = Callable[[str, bytes, bool], object]


async def _serve(validator_factory: Callable[[], Validator]) -> asyncssh.SSHAcceptor:
    class Server(asyncssh.SSHServer):
        def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
            take_over_public_key_auth(conn, validator_factory())  # type: ignore[arg-type]

        def begin_auth(self, username: str) -> bool:
            return True

        def public_key_auth_supported(self) -> bool:
            return True

    return await asyncssh.create_server(
        Server, "127.0.0.1", 0, server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")]
    )


def _credentials() -> tuple[asyncssh.SSHKey, asyncssh.SSHCertificate]:
    ca = asyncssh.generate_private_key("ssh-ed25519")
    key = asyncssh.generate_private_key("ssh-ed25519")
    cert = ca.generate_user_certificate(key, "key-id", principals=["alice"])
    return key, cert


async def test_adapter_sees_the_raw_certificate_and_checks_possession() -> None:
    calls: list[tuple[str, bytes, bool]] = []

    def factory() -> Validator:
        async def validate(username: str, blob: bytes, signed: bool) -> asyncssh.SSHKey | None:
            calls.append((username, blob, signed))
            length = int.from_bytes(blob[:4], "big")
            # Accept the certified key; the adapter must still verify the signature with it.
            from sshgate.ca.certificate import parse_certificate

            assert blob[4 : 4 + length].endswith(b"-cert-v01@openssh.com")
            return decode_ssh_public_key(parse_certificate(blob).subject_key_blob)

        return validate

    server = await _serve(factory)
    port = server.sockets[0].getsockname()[1]
    key, cert = _credentials()
    try:
        async with asyncssh.connect(
            "127.0.0.1",
            port,
            username="route-not-a-person",
            client_keys=[(key, cert)],
            known_hosts=None,
            config=[],
            agent_path=None,
        ):
            pass
    finally:
        server.close()
    assert calls and calls[-1][0] == "route-not-a-person"
    assert calls[-1][1] == cert.public_data
    assert calls[-1][2] is True


async def test_a_signature_by_another_key_is_refused() -> None:
    _, other_cert = _credentials()
    impostor = asyncssh.generate_private_key("ssh-ed25519")

    def factory() -> Validator:
        async def validate(username: str, blob: bytes, signed: bool) -> asyncssh.SSHKey | None:
            # Claims the certificate of another key; possession must fail.
            return other_cert.key

        return validate

    server = await _serve(factory)
    port = server.sockets[0].getsockname()[1]
    forged = impostor.generate_user_certificate(impostor, "x", principals=["alice"])
    try:
        with pytest.raises(asyncssh.PermissionDenied):
            await asyncssh.connect(
                "127.0.0.1",
                port,
                username="u",
                client_keys=[(impostor, forged)],
                known_hosts=None,
                config=[],
                agent_path=None,
            )
    finally:
        server.close()
