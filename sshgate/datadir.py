"""`sshgate init`: a data folder with every key, the database and a loopback config.toml.

Whatever the umask: every file it writes is 0600 (public halves 0644), every folder 0700,
and a folder that already exists is tightened to 0700 or refused with a line saying why.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
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


PRIVATE_FILE = 0o600
PUBLIC_FILE = 0o644
PRIVATE_FOLDER = 0o700


def write_new_file(path: Path, data: bytes, mode: int = PRIVATE_FILE) -> None:
    """Create `path` with exactly `mode` (the umask cannot widen or narrow it); never
    overwrite."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        raise InitError(f"{path}: already exists; refusing to overwrite it") from None
    except OSError as exc:
        raise InitError(f"{path}: cannot write ({exc.strerror})") from None
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(data)


def write_secret_file(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600; never overwrite."""
    write_new_file(path, data, PRIVATE_FILE)


def private_folder(path: Path) -> None:
    """Create `path` (and missing parents) 0700, or tighten an existing folder to 0700;
    InitError when it is not a folder or cannot be made private."""
    try:
        path.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
        info = path.lstat()
        if not stat.S_ISDIR(info.st_mode):
            raise InitError(f"{path}: not a folder; refusing to initialize into it")
        if stat.S_IMODE(info.st_mode) != PRIVATE_FOLDER:
            os.chmod(path, PRIVATE_FOLDER, follow_symlinks=False)
    except FileExistsError:
        raise InitError(f"{path}: not a folder; refusing to initialize into it") from None
    except OSError as exc:
        raise InitError(
            f"{path}: cannot make the folder private (mode 0700): {exc.strerror}"
        ) from None


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
    private_folder(data_dir)
    # An existing key folder is tightened too: KeyDir.ensure only sets the mode it creates.
    private_folder(data_dir / "ca")
    keydir = KeyDir(data_dir / "ca")
    keydir.ensure()
    for name in ("gateway_host_key", "upstream_ca.key"):
        if not (data_dir / name).exists():
            generate_ed25519_key_file(data_dir / name)
    # Environments list this file in sshd's TrustedUserCAKeys.
    upstream_pub = data_dir / "upstream_ca.pub"
    if not upstream_pub.exists():
        public = (data_dir / "upstream_ca.key.pub").read_bytes()
        write_new_file(upstream_pub, public, PUBLIC_FILE)
    if not (data_dir / "secrets.key").exists():
        write_secret_file(data_dir / "secrets.key", secrets.token_bytes(32))
    asyncio.run(_create_database(data_dir, keydir))
    text = CONFIG_TEMPLATE.format(gateway=gateway, api=api, metrics=metrics)
    write_new_file(config_path, text.encode("utf-8"), PRIVATE_FILE)
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
