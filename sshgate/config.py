"""Configuration: one TOML file, `SSHGATE_<SECTION>_<KEY>` overrides, typed frozen dataclasses.

Every default lives here and is documented beside the key in `config.example.toml`.
Relative paths are resolved against the configuration file's folder.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sshgate.public_address import PublicAddressError, check_public_host, check_public_port


class ConfigError(Exception):
    """The configuration file or an override is missing, malformed or inconsistent."""


# `sshgate serve --role`: which parts of the configuration one process runs.
ROLES = ("all", "gateway", "api")
GATEWAY_ROLES = ("all", "gateway")
# A typo in gateway.workers must not start thousands of processes.
MAX_GATEWAY_WORKERS = 256
# Below this, a certificate request with an RSA key would not fit in a body.
MIN_BODY_BYTES = 4096


@dataclass(frozen=True)
class StorageConfig:
    url: str = "sqlite:///sshgate.db"


@dataclass(frozen=True)
class CAConfig:
    key_dir: Path = Path("ca")
    trusted_public_keys: tuple[Path, ...] = ()
    certificate_ttl: int = 3600
    max_certificate_ttl: int = 86400
    permit_pty: bool = True
    permit_port_forwarding: bool = True
    permit_agent_forwarding: bool = True
    bind_source_address: bool = False


@dataclass(frozen=True)
class GatewayConfig:
    listen: str = "127.0.0.1:2222"
    public_host: str = ""
    public_port: int = 0
    host_key_files: tuple[Path, ...] = (Path("gateway_host_key"),)
    upstream_ca_key_file: Path = Path("upstream_ca.key")
    env_allowlist: tuple[str, ...] = ("LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES")
    allow_port_forwarding: bool = True
    login_timeout: int = 30
    max_auth_attempts: int = 6
    max_unauthenticated: int = 200
    max_per_source: int = 10
    idle_timeout: int = 3600
    drain_timeout: int = 30
    proxy_protocol: bool = False
    proxy_protocol_trusted: tuple[str, ...] = ()
    # Gateway processes sharing `listen` (0: one per usable CPU core); see sshgate.workers.
    workers: int = 1


@dataclass(frozen=True)
class APIConfig:
    listen: str = "127.0.0.1:8022"
    public_url: str = ""
    session_ttl: int = 86400
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # Request bodies larger than this get 413 before anything reads them.
    max_body_bytes: int = 65536
    # Concurrent HTTP connections, at most (more are closed as soon as they are accepted).
    max_connections: int = 1000
    # Reverse proxies whose X-Forwarded-For / Forwarded name the client (CIDR list).
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True)
class MailConfig:
    host: str = "127.0.0.1"
    port: int = 25
    # "from" is a Python keyword; the TOML key is `from`.
    sender: str = "sshgate@localhost"
    starttls: bool = False
    tls: bool = False
    username: str = ""
    password: str = ""


@dataclass(frozen=True)
class SecretsConfig:
    key_file: Path = Path("secrets.key")


@dataclass(frozen=True)
class LogConfig:
    format: str = "text"


@dataclass(frozen=True)
class MetricsConfig:
    listen: str = "127.0.0.1:9122"


@dataclass(frozen=True)
class Config:
    base_dir: Path = Path(".")
    storage: StorageConfig = field(default_factory=StorageConfig)
    ca: CAConfig = field(default_factory=CAConfig)
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    api: APIConfig = field(default_factory=APIConfig)
    mail: MailConfig = field(default_factory=MailConfig)
    secrets: SecretsConfig = field(default_factory=SecretsConfig)
    log: LogConfig = field(default_factory=LogConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)

    @property
    def gateway_public_host(self) -> str:
        return self.gateway.public_host or split_host_port(self.gateway.listen)[0]

    @property
    def gateway_public_port(self) -> int:
        return self.gateway.public_port or split_host_port(self.gateway.listen)[1]

    @property
    def api_public_url(self) -> str:
        if self.api.public_url:
            return self.api.public_url.rstrip("/")
        host, port = split_host_port(self.api.listen)
        scheme = "https" if self.api.tls_cert_file else "http"
        # Browsers refuse an IP address as a WebAuthn relying party id, and accept
        # http://localhost as a secure context: a loopback API is named localhost so that
        # security keys and passkeys work out of the box (init's and the demo's defaults).
        if host in _LOOPBACK_ADDRESSES:
            host = "localhost"
        elif ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{port}"


_LOOPBACK_ADDRESSES = frozenset({"127.0.0.1", "::1", "localhost"})


_SECTIONS: dict[str, type[Any]] = {
    "storage": StorageConfig,
    "ca": CAConfig,
    "gateway": GatewayConfig,
    "api": APIConfig,
    "mail": MailConfig,
    "secrets": SecretsConfig,
    "log": LogConfig,
    "metrics": MetricsConfig,
}
_RENAMED = {("mail", "from"): "sender"}


def split_host_port(value: str) -> tuple[str, int]:
    """Parse `HOST:PORT` (IPv6 as `[::1]:PORT`)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"expected HOST:PORT, got {value!r}")
    number = int(port)
    if not 0 <= number <= 65535:
        raise ConfigError(f"port out of range in {value!r}")
    return host.strip("[]"), number


def _field_name(section: str, key: str) -> str:
    return _RENAMED.get((section, key), key)


def _coerce(section: str, key: str, hint: Any, value: Any, base_dir: Path) -> Any:
    where = f"{section}.{key}"
    text = str(hint)
    if text == "bool":
        if isinstance(value, str):
            if value.lower() not in ("true", "false"):
                raise ConfigError(f"{where}: expected true or false")
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected a boolean")
        return value
    if text == "int":
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected an integer") from None
        if number < 0:
            raise ConfigError(f"{where}: must not be negative")
        return number
    if text == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string")
        return value
    if text == "Path":
        return _path(where, value, base_dir)
    if text == "Path | None":
        return None if value in ("", None) else _path(where, value, base_dir)
    if text.startswith("tuple["):
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ConfigError(f"{where}: expected a list")
        cleaned = [str(i).strip() for i in items if str(i).strip()]
        if "Path" in text:
            return tuple(_path(where, i, base_dir) for i in cleaned)
        return tuple(cleaned)
    raise ConfigError(f"{where}: unsupported type {text}")  # pragma: no cover


def _path(where: str, value: Any, base_dir: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected a path")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def _build_section(
    name: str, raw: Mapping[str, Any], env: Mapping[str, str], base_dir: Path
) -> Any:
    cls = _SECTIONS[name]
    hints = {f.name: f.type for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        attr = _field_name(name, key)
        if attr not in hints:
            raise ConfigError(f"unknown configuration key {name}.{key}")
        values[attr] = _coerce(name, key, hints[attr], value, base_dir)
    for attr, hint in hints.items():
        key = "from" if (name, "from") in _RENAMED and attr == "sender" else attr
        override = env.get(f"SSHGATE_{name.upper()}_{key.upper()}")
        if override is not None:
            values[attr] = _coerce(name, key, hint, override, base_dir)
    defaults = cls()
    for attr in hints:
        if attr not in values:
            # Defaults that are paths are relative to the configuration file too.
            values[attr] = _rebase(getattr(defaults, attr), base_dir)
    return cls(**values)


def _rebase(default: Any, base_dir: Path) -> Any:
    if isinstance(default, Path):
        return default if default.is_absolute() else base_dir / default
    if isinstance(default, tuple):
        return tuple(_rebase(d, base_dir) for d in default)
    return default


def _validate(config: Config) -> None:
    for where, value in (
        ("gateway.listen", config.gateway.listen),
        ("api.listen", config.api.listen),
        ("metrics.listen", config.metrics.listen),
    ):
        try:
            split_host_port(value)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if config.gateway.workers > MAX_GATEWAY_WORKERS:
        raise ConfigError(f"gateway.workers: at most {MAX_GATEWAY_WORKERS}")
    if config.log.format not in ("text", "json"):
        raise ConfigError("log.format: expected text or json")
    if config.ca.certificate_ttl <= 0 or config.ca.certificate_ttl > config.ca.max_certificate_ttl:
        raise ConfigError("ca.certificate_ttl must be positive and at most ca.max_certificate_ttl")
    if bool(config.api.tls_cert_file) != bool(config.api.tls_key_file):
        raise ConfigError("api.tls_cert_file and api.tls_key_file go together")
    _validate_public_address(config)
    for cidr in config.gateway.proxy_protocol_trusted:
        _validate_cidr("gateway.proxy_protocol_trusted", cidr)
    for cidr in config.api.trusted_proxies:
        _validate_cidr("api.trusted_proxies", cidr)
    if config.api.max_body_bytes < MIN_BODY_BYTES:
        raise ConfigError(f"api.max_body_bytes: at least {MIN_BODY_BYTES}")
    if config.api.max_connections < 1:
        raise ConfigError("api.max_connections: at least 1")


def _validate_public_address(config: Config) -> None:
    """What `sshgate login` writes into users' ssh_config must be a plain host and port
    (sshgate.public_address); without `public_host`, the listen address is what it writes."""
    where = "gateway.public_host" if config.gateway.public_host else "gateway.listen"
    try:
        check_public_host(config.gateway_public_host)
    except PublicAddressError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if config.gateway.public_port:
        try:
            check_public_port(config.gateway.public_port)
        except PublicAddressError as exc:
            raise ConfigError(f"gateway.public_port: {exc}") from None


def _validate_cidr(where: str, cidr: str) -> None:
    """A network written with its host bits zero: `10.0.1.5/24` is refused rather than read
    as the whole of 10.0.1.0/24, which its author may not have meant to trust."""
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise ConfigError(f"{where}: not a CIDR: {cidr!r}") from None
    if "%" in cidr:
        raise ConfigError(f"{where}: not a CIDR (a zone id): {cidr!r}")
    try:
        ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        raise ConfigError(
            f"{where}: {cidr!r} has host bits set; write the network, {str(network)!r}"
        ) from None


def load_config(
    path: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None
) -> Config:
    """Read the TOML file at `path` (or `$SSHGATE_CONFIG`) and apply environment overrides."""
    env = os.environ if env is None else env
    chosen = path or env.get("SSHGATE_CONFIG")
    if not chosen:
        raise ConfigError("no configuration: pass --config FILE or set SSHGATE_CONFIG")
    file = Path(chosen).expanduser().resolve()
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found: {file}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file} is not a TOML configuration file (it is not text)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file} is not a valid TOML configuration file: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {file}: {exc.strerror}") from None
    for section in raw:
        if section not in _SECTIONS:
            raise ConfigError(f"unknown configuration section [{section}]")
        if not isinstance(raw[section], dict):
            raise ConfigError(f"[{section}] must be a table")
    base_dir = file.parent
    sections = {name: _build_section(name, raw.get(name, {}), env, base_dir) for name in _SECTIONS}
    config = Config(base_dir=base_dir, **sections)
    _validate(config)
    return config
