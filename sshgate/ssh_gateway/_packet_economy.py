"""Per-packet work asyncssh does that the gateway's connections do not need.

The relay moves every byte through two asyncssh connections, so per-packet costs count
twice (docs/performance.md). Two of them buy nothing on the gateway's connections:

- **An `SSH_MSG_IGNORE` before every packet.** asyncssh sends one ahead of each channel
  packet once encryption is on: the CBC-mode countermeasure of RFC 4251 section 9.3.1,
  which protects nothing under the ciphers the gateway negotiates (AES-GCM,
  chacha20-poly1305, AES-CTR; OpenSSH sends none either). For every 32 KiB of data that
  was a second packet: padding from `os.urandom`, an encryption, its own `send()` on the
  socket, and the peer's work to decrypt and drop it. It is still sent when the negotiated
  cipher is a CBC one.
- **Quadratic receive buffering.** asyncssh appends each read to one `bytes` buffer and
  re-slices it after every packet, copying what is left each time; one 256 KiB read of
  eight packets copies about 1.1 MiB. Reads are handed over in pieces of at most
  RECEIVE_PIECE bytes, so the copies stay proportional to the data.

Both are installed per connection, as instance attributes that shadow asyncssh's methods,
like `_auth_adapter`. Two more are process-wide, replacing asyncssh methods by ones with
the same effect (`install_process_economies`, once, in the gateway process only):

- **An AES-GCM object per packet.** asyncssh's `GCMCipher` builds a new `AESGCM` for every
  packet it encrypts or decrypts (key setup each time); the replacement builds one per
  cipher instance, that is per key and direction (a rekey makes new instances).
- **Packet log lines formatted and dropped.** `SSHPacketLogger._log_packet` formats a line
  for every packet, which `SSHLogger.packet` then drops unless asyncssh's debug level is 3
  or more; the replacement formats nothing below that level.

tests/unit/test_packet_economy.py fails when an asyncssh upgrade moves what this relies on:
`send_packet(pkttype, *args, handler=None)` being the one way packets leave and being what
inserts the ignore packet, `data_received(data, datatype)` feeding `_recv_data`, the
`send_cipher` extra info naming the negotiated cipher, `GCMCipher`'s two methods and its
`_key`, `_iv` and `_update_iv`, and `_log_packet` logging only from debug level 3.
"""

from __future__ import annotations

from collections.abc import Callable

import asyncssh
from asyncssh.constants import MSG_IGNORE, MSG_KEX_LAST
from asyncssh.crypto.cipher import GCMCipher
from asyncssh.logging import SSHLogger
from asyncssh.packet import SSHPacketLogger, String
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

GCM_TAG_SIZE = 16
PACKET_LOG_LEVEL = 3  # asyncssh's debug level from which packets are logged
RECEIVE_PIECE = 36 * 1024  # one 32 KiB channel packet with its framing, and a little more
_EMPTY_IGNORE = (String(b""),)
_SendPacket = Callable[..., None]


def economize(conn: asyncssh.SSHClientConnection | asyncssh.SSHServerConnection) -> None:
    """Install the economies on `conn`; the process-wide ones on first use."""
    install_process_economies()
    _skip_countermeasure_ignores(conn)
    _receive_in_pieces(conn)


def is_cbc(cipher: object) -> bool:
    """Whether a negotiated cipher name (asyncssh's `send_cipher`) is a CBC mode one
    (`aes128-cbc`, `seed-cbc@ssh.com`, ...)."""
    return isinstance(cipher, str) and "-cbc" in cipher


def _skip_countermeasure_ignores(
    conn: asyncssh.SSHClientConnection | asyncssh.SSHServerConnection,
) -> None:
    stock: _SendPacket = conn.send_packet
    inside = [0]  # send_packet calls of a packet that gets the countermeasure, in progress

    def send_packet(pkttype: int, *args: bytes, handler: object = None) -> None:
        countermeasure = inside[0] and pkttype == MSG_IGNORE and args == _EMPTY_IGNORE
        if countermeasure and not is_cbc(conn.get_extra_info("send_cipher")):
            return
        if pkttype <= MSG_KEX_LAST:
            stock(pkttype, *args, handler=handler)
            return
        inside[0] += 1
        try:
            stock(pkttype, *args, handler=handler)
        finally:
            inside[0] -= 1

    conn.send_packet = send_packet  # type: ignore[method-assign]


def _receive_in_pieces(
    conn: asyncssh.SSHClientConnection | asyncssh.SSHServerConnection,
) -> None:
    stock = conn.data_received

    def data_received(data: bytes, datatype: int | None = None) -> None:
        if len(data) <= RECEIVE_PIECE:
            stock(data, datatype)
            return
        # asyncssh only appends what it is given to its bytes buffer: a view is copied once.
        view = memoryview(data)
        for start in range(0, len(data), RECEIVE_PIECE):
            if start and conn._transport is None:
                return  # a piece ended the connection; asyncssh would drop the rest too
            stock(view[start : start + RECEIVE_PIECE], datatype)  # type: ignore[arg-type]

    conn.data_received = data_received  # type: ignore[method-assign]
    # uvloop's transports keep the protocol's bound data_received from set_protocol():
    # hand the connection over again so the transport picks up the instance attribute.
    transport = conn._transport
    if transport is not None:
        transport.set_protocol(conn)


def install_process_economies() -> None:
    """Replace asyncssh's per-packet `AESGCM` construction and its packet log formatting
    below debug level PACKET_LOG_LEVEL, for every connection of this process. Idempotent."""
    if getattr(GCMCipher, "_sshgate_economy", False):
        return
    stock_log_packet = SSHPacketLogger._log_packet

    def _log_packet(
        self: SSHPacketLogger,
        msg: str,
        pkttype: int,
        pktid: int | None,
        packet: object,
        note: str,
    ) -> None:
        if SSHLogger._debug_level >= PACKET_LOG_LEVEL:
            stock_log_packet(self, msg, pkttype, pktid, packet, note)  # type: ignore[arg-type]

    SSHPacketLogger._log_packet = _log_packet  # type: ignore[method-assign]
    GCMCipher.encrypt_and_sign = _gcm_encrypt_and_sign  # type: ignore[method-assign,assignment]
    GCMCipher.verify_and_decrypt = _gcm_verify_and_decrypt  # type: ignore[method-assign,assignment]
    GCMCipher._sshgate_economy = True  # type: ignore[attr-defined]


def _aead(cipher: GCMCipher) -> AESGCM:
    """The cipher instance's one AESGCM object: its key never changes."""
    aead: AESGCM | None = cipher.__dict__.get("_sshgate_aead")
    if aead is None:
        aead = cipher.__dict__["_sshgate_aead"] = AESGCM(cipher._key)
    return aead


def _gcm_encrypt_and_sign(cipher: GCMCipher, header: bytes, data: bytes) -> tuple[bytes, bytes]:
    sealed = _aead(cipher).encrypt(cipher._iv, data, header)
    cipher._update_iv()
    return header + sealed[:-GCM_TAG_SIZE], sealed[-GCM_TAG_SIZE:]


def _gcm_verify_and_decrypt(
    cipher: GCMCipher, header: bytes, data: bytes, mac: bytes
) -> bytes | None:
    try:
        opened: bytes | None = _aead(cipher).decrypt(cipher._iv, data + mac, header)
    except InvalidTag:
        opened = None
    cipher._update_iv()
    return opened
