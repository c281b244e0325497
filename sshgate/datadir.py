"""`sshgate init`: a data folder with every key, the database and a loopback config.toml."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from sshgate.ca import KeyDir, fingerprint, generate_ed25519_key_file
from sshgate.store import open_store

CONFIG_TEMPLATE = """\
# sshgate configuration written by `sshgate init`; every key is documented in
# config.example.toml. Relative paths are relative to this file's folder.

[storage]
url = "sqlite:///sshgate.db"

[ca]
key_dir = "ca"
certificate_ttl = 3600

[gateway]
listen = "{gateway}"
host_key_files = ["gateway_host_key"]
upstream_ca_key_file = "upstream_ca.key"

[api]
listen = "{api}"

[secrets]
key_file = "secrets.key"

[metrics]
listen = "{metrics}"
"""


class InitError(Exception):
    """The folder already holds a configuration, or a key cannot be written."""


def write_secret_file(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600; never overwrite."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InitError(f"{path}: already exists; refusing to overwrite a key file") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def initialize(
    data_dir: Path,
    gateway: str = "127.0.0.1:2222",
    api: str = "127.0.0.1:8022",
    metrics: str = "127.0.0.1:9122",
) -> Path:
    """Create keys, database and config.toml in `data_dir`; return the config path."""
    data_dir = data_dir.resolve()
    config_path = data_dir / "config.toml"
    if config_path.exists():
        raise InitError(f"{config_path} already exists; refusing to initialize over it")
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    keydir = KeyDir(data_dir / "ca")
    keydir.ensure()
    for name in ("gateway_host_key", "upstream_ca.key"):
        if not (data_dir / name).exists():
            generate_ed25519_key_file(data_dir / name)
    # Environments list this file in sshd's TrustedUserCAKeys.
    upstream_pub = data_dir / "upstream_ca.pub"
    if not upstream_pub.exists():
        upstream_pub.write_text((data_dir / "upstream_ca.key.pub").read_text(encoding="utf-8"))
    if not (data_dir / "secrets.key").exists():
        write_secret_file(data_dir / "secrets.key", secrets.token_bytes(32))
    asyncio.run(_create_database(data_dir, keydir))
    config_path.write_text(
        CONFIG_TEMPLATE.format(gateway=gateway, api=api, metrics=metrics), encoding="utf-8"
    )
    return config_path


async def _create_database(data_dir: Path, keydir: KeyDir) -> None:
    store = await open_store("sqlite:///sshgate.db", str(data_dir))
    try:
        for line in keydir.public_keys():
            await store.record_ca_key(fingerprint(line), line, _mtime(keydir, line))
    finally:
        await store.close()


def _mtime(keydir: KeyDir, line: str) -> float:
    for pub in keydir.public_key_files():
        if pub.read_text(encoding="utf-8").strip() == line.strip():
            return pub.stat().st_mtime
    return 0.0
