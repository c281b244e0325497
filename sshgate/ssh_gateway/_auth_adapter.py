"""The one place that reaches into asyncssh's server authentication.

asyncssh validates certificates itself, but keeps neither the key ID, the serial nor
unknown extensions, and compares principals with the login name, which for sshgate is a
route and not a person. So the gateway takes over public-key validation per connection:
the raw key blob goes to sshgate's own named checks, and asyncssh only verifies the
proof-of-possession signature with the certified key.

tests/unit/test_auth_adapter.py fails when an asyncssh upgrade moves what this relies on:
`SSHServerConnection.validate_public_key(username, key_data, msg, signature)` being the
single entry used by the publickey method, and `_session_id` holding the exchange hash.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncssh
from asyncssh.packet import String

# Returns the certified public key when the certificate passed every check, else None.
CertificateValidator = Callable[[str, bytes, bool], Awaitable[asyncssh.SSHKey | None]]


def take_over_public_key_auth(
    conn: asyncssh.SSHServerConnection, validate: CertificateValidator
) -> None:
    """Route every publickey attempt on `conn` through `validate`.

    `validate(username, key_blob, signed)` is told whether this attempt carries a signature
    (the real login) or is the client's query whether a key would be accepted.
    """

    async def validate_public_key(
        username: str, key_data: bytes, msg: bytes, signature: bytes
    ) -> bool:
        key = await validate(username, key_data, bool(msg))
        if key is None:
            return False
        if not msg:
            return True
        session_id: bytes = conn._session_id
        return bool(key.verify(String(session_id) + msg, signature))

    # Instance attribute shadows the method for this connection only.
    conn.validate_public_key = validate_public_key  # type: ignore[method-assign]
