"""`sshgate admin ca rotate|distrust` and `sshgate admin cert revoke`."""

from __future__ import annotations

import re
import time

import click

from sshgate.ca import CAError, KeyDir, fingerprint, read_key_lines
from sshgate.cli._help import Group
from sshgate.cli._output import Refusal, emit, json_option
from sshgate.cli._server import config_option, run
from sshgate.cli.admin._common import audit_admin, user_named
from sshgate.config import Config
from sshgate.store import Store

_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")


def _fingerprint_argument(value: str) -> str:
    if not _FINGERPRINT.fullmatch(value):
        raise Refusal(
            f"not a key fingerprint: {value[:80]!r} (expected SHA256:... as ssh-keygen -l)"
        )
    return value


def _external_ca_fingerprints(config: Config) -> list[str]:
    """The `ca.trusted_public_keys` CAs: not sshgate's own, so not in the ledger."""
    try:
        lines = read_key_lines(list(config.ca.trusted_public_keys))
    except OSError as exc:
        raise Refusal(f"cannot read ca.trusted_public_keys: {exc.strerror}") from None
    return list(dict.fromkeys(fingerprint(line) for line in lines))


@click.group(cls=Group)
def ca() -> None:
    """The user certificate authority's keys."""


@ca.command("rotate")
@config_option
@json_option
def rotate(config_path: str | None, as_json: bool) -> None:
    """Add a new CA key; it signs from now on, the old one stays trusted until its
    certificates expire."""

    async def action(config: Config, store: Store) -> str:
        line = KeyDir(config.ca.key_dir).rotate()
        await store.record_ca_key(fingerprint(line), line, time.time())
        await audit_admin(store, "ca-rotate", fingerprint(line))
        return line

    line = run(config_path, action)
    emit(
        as_json,
        {"fingerprint": fingerprint(line), "public_key": line},
        f"new CA key {fingerprint(line)} is active",
    )


@ca.command("distrust")
@click.argument("key_fingerprint", metavar="FINGERPRINT")
@config_option
@json_option
def distrust(key_fingerprint: str, config_path: str | None, as_json: bool) -> None:
    """Stop trusting CA key FINGERPRINT (SHA256:...) at once, on every gateway sharing the
    store: for a leaked key. Rotate first when it is the active key."""
    fp = _fingerprint_argument(key_fingerprint)

    async def action(config: Config, store: Store) -> tuple[bool, bool]:
        own = {record.fingerprint for record in await store.list_ca_keys()}
        if fp not in own and fp not in _external_ca_fingerprints(config):
            raise Refusal(f"no CA key with fingerprint {fp}")
        added = await store.distrust_ca_key(fp, time.time())
        if added:
            await audit_admin(store, "ca-distrust", fp)
        try:
            _, active = KeyDir(config.ca.key_dir).active()
            signs_now = fingerprint(active.public_key()) == fp
        except CAError:
            signs_now = False  # a gateway host without the CA keys
        return added, signs_now

    added, signs_now = run(config_path, action)
    lines = [
        f"CA key {fp} is no longer trusted" if added else f"CA key {fp} was already distrusted"
    ]
    if signs_now:
        lines.append(
            "it is the active CA key: no certificate is signed until sshgate admin ca rotate"
        )
    emit(as_json, {"fingerprint": fp, "distrusted": True, "active": signs_now}, lines)


@click.group(cls=Group)
def cert() -> None:
    """Issued user certificates."""


@cert.command("revoke")
@click.argument("serial", required=False, type=click.IntRange(0, 2**64 - 1))
@click.option("--user", "username", help="Revoke every certificate of this user.")
@click.option(
    "--ca",
    "ca_fingerprint",
    metavar="FINGERPRINT",
    help="The CA key that signed SERIAL, when several CAs may have issued it.",
)
@config_option
@json_option
def revoke(
    serial: int | None,
    username: str | None,
    ca_fingerprint: str | None,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Revoke certificate SERIAL (of sshgate's CA, or of a ca.trusted_public_keys CA), or
    every certificate of --user (by key ID for ca.trusted_public_keys CAs)."""
    if (serial is None) == (username is None):
        raise click.UsageError("give either SERIAL or --user NAME")
    if ca_fingerprint is not None and serial is None:
        raise click.UsageError("--ca goes with SERIAL")
    ca_fp = _fingerprint_argument(ca_fingerprint) if ca_fingerprint is not None else None

    async def action(config: Config, store: Store) -> int:
        now = time.time()
        if username is not None:
            target = await user_named(store, username)
            count = await store.revoke_user_certificates(target.id, now)
            await audit_admin(store, "cert-revoke", username, f"count={count}")
            return count
        assert serial is not None
        issuer = await _issuer_of(config, store, serial, ca_fp)
        if issuer is None:
            await store.revoke_certificate(serial, now)
        else:
            await store.revoke_ca_serial(issuer, serial, now)
        await audit_admin(store, "cert-revoke", str(serial), f"ca={issuer}" if issuer else None)
        return 1

    count = run(config_path, action)
    emit(as_json, {"revoked": count}, f"revoked {count} certificate(s)")


async def _issuer_of(config: Config, store: Store, serial: int, ca_fp: str | None) -> str | None:
    """Where SERIAL is revoked: None for the ledger (a certificate sshgate issued), else the
    fingerprint of the CA key whose serial it is, like an OpenSSH KRL entry."""
    record = await store.get_certificate(serial)
    if ca_fp is None:
        if record is not None:
            return None
        external = _external_ca_fingerprints(config)
        if not external:
            raise Refusal(f"no certificate with serial {serial}")
        if len(external) > 1:
            raise Refusal(
                f"serial {serial} is not one sshgate issued, and ca.trusted_public_keys has"
                " several CA keys: name one with --ca FINGERPRINT"
            )
        return external[0]
    if record is not None and record.ca_fingerprint == ca_fp:
        return None
    own = {r.fingerprint for r in await store.list_ca_keys()}
    if ca_fp not in own and ca_fp not in _external_ca_fingerprints(config):
        raise Refusal(f"no CA key with fingerprint {ca_fp}")
    return ca_fp
