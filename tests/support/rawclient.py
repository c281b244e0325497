"""A minimal SSH client that presents arbitrary certificate bytes in publickey
authentication, signed by a key of our choosing. Stock `ssh` refuses to send many hostile
shapes (host certificates, unparsable blobs); this client sends whatever it is given, so
the gateway's checks are exercised over a real connection."""

from __future__ import annotations

import asyncio

import asyncssh
from asyncssh.public_key import SSHLocalKeyPair


def raw_keypair(key: asyncssh.SSHKey, blob: bytes) -> SSHLocalKeyPair:
    """A key pair whose public half on the wire is `blob` (any bytes), signing with `key`."""
    pair = SSHLocalKeyPair(key, None, None, None)
    length = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else 0
    name = blob[4 : 4 + length] if 0 < length <= 64 else b"ssh-ed25519-cert-v01@openssh.com"
    pair.algorithm = name
    pair.public_data = blob
    return pair


async def try_auth(host: str, port: int, username: str, key: asyncssh.SSHKey, blob: bytes) -> bool:
    """True when the server accepted the blob; False when it refused (or hung up)."""
    try:
        conn = await asyncio.wait_for(
            asyncssh.connect(
                host,
                port,
                username=username,
                client_keys=[raw_keypair(key, blob)],
                known_hosts=None,
                config=[],
                agent_path=None,
                preferred_auth="publickey",
            ),
            30,
        )
    except (asyncssh.PermissionDenied, asyncssh.DisconnectError, ConnectionError):
        return False
    conn.close()
    await conn.wait_closed()
    return True
