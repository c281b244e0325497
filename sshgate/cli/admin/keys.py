"""`sshgate admin ca rotate` and `sshgate admin cert revoke`."""

from __future__ import annotations

import time

import click

from sshgate.ca import KeyDir, fingerprint
from sshgate.cli._help import Group
from sshgate.cli._output import Refusal, emit, json_option
from sshgate.cli._server import config_option, run
from sshgate.cli.admin._common import audit_admin, user_named
from sshgate.config import Config
from sshgate.store import Store


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


@click.group(cls=Group)
def cert() -> None:
    """Issued user certificates."""


@cert.command("revoke")
@click.argument("serial", required=False, type=int)
@click.option("--user", "username", help="Revoke every certificate of this user.")
@config_option
@json_option
def revoke(
    serial: int | None, username: str | None, config_path: str | None, as_json: bool
) -> None:
    """Revoke certificate SERIAL, or all of --user's certificates."""
    if (serial is None) == (username is None):
        raise click.UsageError("give either SERIAL or --user NAME")

    async def action(config: Config, store: Store) -> int:
        now = time.time()
        if username is not None:
            target = await user_named(store, username)
            count = await store.revoke_user_certificates(target.id, now)
            await audit_admin(store, "cert-revoke", username, f"count={count}")
            return count
        assert serial is not None
        if not await store.revoke_certificate(serial, now):
            raise Refusal(f"no certificate with serial {serial}")
        await audit_admin(store, "cert-revoke", str(serial))
        return 1

    count = run(config_path, action)
    emit(as_json, {"revoked": count}, f"revoked {count} certificate(s)")
