"""config.example.toml documents every key with its default, and overrides work."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from sshgate.config import _SECTIONS, Config, ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def test_example_lists_every_key_with_its_default(tmp_path: Path) -> None:
    raw = tomllib.loads(EXAMPLE.read_text())
    for section, cls in _SECTIONS.items():
        names = {("from" if f.name == "sender" else f.name) for f in dataclasses.fields(cls)}
        assert set(raw[section]) == names, section
    example = load_config(EXAMPLE)
    defaults_file = tmp_path / "empty.toml"
    defaults_file.write_text("")
    defaults = load_config(defaults_file)
    for section in _SECTIONS:
        got, want = getattr(example, section), getattr(defaults, section)
        for f in dataclasses.fields(got):
            a, b = getattr(got, f.name), getattr(want, f.name)
            if isinstance(a, Path) or (isinstance(a, tuple) and a and isinstance(a[0], Path)):
                continue  # relative to different folders
            assert a == b, f"{section}.{f.name}"


@pytest.mark.parametrize(
    ("name", "value", "attr", "expected"),
    [
        ("SSHGATE_GATEWAY_LISTEN", "127.0.0.1:2200", ("gateway", "listen"), "127.0.0.1:2200"),
        ("SSHGATE_GATEWAY_ENV_ALLOWLIST", "A,B", ("gateway", "env_allowlist"), ("A", "B")),
        ("SSHGATE_CA_PERMIT_PTY", "false", ("ca", "permit_pty"), False),
        ("SSHGATE_CA_CERTIFICATE_TTL", "600", ("ca", "certificate_ttl"), 600),
        ("SSHGATE_MAIL_FROM", "ops@example.com", ("mail", "sender"), "ops@example.com"),
    ],
)
def test_environment_overrides(
    tmp_path: Path, name: str, value: str, attr: tuple[str, str], expected: object
) -> None:
    path = tmp_path / "c.toml"
    path.write_text("")
    config = load_config(path, {name: value})
    assert getattr(getattr(config, attr[0]), attr[1]) == expected


@pytest.mark.parametrize(
    ("text", "env"),
    [
        ("[gateway]\nlisten = 'nope'\n", {}),
        ("[nosuch]\nx = 1\n", {}),
        ("[gateway]\nnosuch = 1\n", {}),
        ("", {"SSHGATE_CA_PERMIT_PTY": "maybe"}),
        ("", {"SSHGATE_CA_CERTIFICATE_TTL": "-1"}),
        ("[log]\nformat = 'xml'\n", {}),
        ("[ca]\ncertificate_ttl = 90000\n", {}),
    ],
)
def test_bad_configuration_is_refused(tmp_path: Path, text: str, env: dict[str, str]) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_config(path, env)


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "c.toml"
    path.parent.mkdir()
    path.write_text("[ca]\nkey_dir = 'keys'\n")
    config: Config = load_config(path, {})
    assert config.ca.key_dir == path.parent / "keys"
    assert config.secrets.key_file == path.parent / "secrets.key"


@pytest.mark.parametrize(
    ("text", "env", "key"),
    [
        (
            "[gateway]\npublic_host = 'gw.example.com\\n  ProxyCommand id'\n",
            {},
            "gateway.public_host",
        ),
        ("[gateway]\npublic_host = 'gw example.com'\n", {}, "gateway.public_host"),
        ("[gateway]\npublic_host = 'gw.example.com%h'\n", {}, "gateway.public_host"),
        ("[gateway]\npublic_host = 'fe80::1%eth0'\n", {}, "gateway.public_host"),
        ("", {"SSHGATE_GATEWAY_PUBLIC_HOST": "gw.example.com,*"}, "gateway.public_host"),
        ("[gateway]\nlisten = 'bad host:2222'\n", {}, "gateway.listen"),
        ("[gateway]\npublic_port = 65536\n", {}, "gateway.public_port"),
        ("[gateway]\npublic_port = '22\\nProxyCommand id'\n", {}, "gateway.public_port"),
        (
            "[gateway]\nproxy_protocol_trusted = ['10.0.1.5/24']\n",
            {},
            "gateway.proxy_protocol_trusted",
        ),
        (
            "",
            {"SSHGATE_GATEWAY_PROXY_PROTOCOL_TRUSTED": "10.0.0.0/8,2001:db8::1/64"},
            "gateway.proxy_protocol_trusted",
        ),
        (
            "[gateway]\nproxy_protocol_trusted = ['fe80::%eth0/64']\n",
            {},
            "gateway.proxy_protocol_trusted",
        ),
        (
            "[gateway]\nproxy_protocol_trusted = ['10.0.0.0/33']\n",
            {},
            "gateway.proxy_protocol_trusted",
        ),
        ("[api]\ntrusted_proxies = ['10.0.1.5/24']\n", {}, "api.trusted_proxies"),
        ("", {"SSHGATE_API_TRUSTED_PROXIES": "10.0.0.0/8,proxy.example"}, "api.trusted_proxies"),
        ("[api]\nmax_body_bytes = 100\n", {}, "api.max_body_bytes"),
        ("[api]\nmax_connections = 0\n", {}, "api.max_connections"),
    ],
    ids=repr,
)
def test_a_gateway_address_openssh_or_the_balancer_check_would_misread_is_refused_naming_its_key(
    tmp_path: Path, text: str, env: dict[str, str], key: str
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env)
    assert str(caught.value).startswith(f"{key}: ")
    assert "\n" not in str(caught.value)


def test_host_bits_in_a_trusted_cidr_are_refused_with_the_network_to_write_instead(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[gateway]\nproxy_protocol_trusted = ['10.0.1.5/24']\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert str(caught.value) == (
        "gateway.proxy_protocol_trusted: '10.0.1.5/24' has host bits set;"
        " write the network, '10.0.1.0/24'"
    )


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("", "127.0.0.1", 2222),
        ("[gateway]\nlisten = '[::1]:2200'\n", "::1", 2200),
        ("[gateway]\npublic_host = 'gw.example.com'\npublic_port = 22\n", "gw.example.com", 22),
        ("[gateway]\npublic_host = '2001:db8::5'\n", "2001:db8::5", 2222),
        (
            "[gateway]\nproxy_protocol_trusted = ['10.0.1.0/24', '10.0.0.5', '2001:db8::/32']\n",
            "127.0.0.1",
            2222,
        ),
    ],
    ids=repr,
)
def test_plain_gateway_addresses_and_networks_are_accepted(
    tmp_path: Path, text: str, host: str, port: int
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    config = load_config(path, {})
    assert (config.gateway_public_host, config.gateway_public_port) == (host, port)


@pytest.mark.parametrize(
    ("listen", "tls", "public_url", "expected"),
    [
        ("127.0.0.1:8022", False, "", "http://localhost:8022"),
        ("[::1]:8022", False, "", "http://localhost:8022"),
        ("127.0.0.1:8022", True, "", "https://localhost:8022"),
        ("0.0.0.0:8022", False, "", "http://0.0.0.0:8022"),
        ("[2001:db8::1]:443", True, "", "https://[2001:db8::1]:443"),
        ("127.0.0.1:8022", False, "https://sshgate.example.com/", "https://sshgate.example.com"),
    ],
    ids=["loopback-v4", "loopback-v6", "loopback-tls", "any", "v6-literal", "explicit"],
)
def test_the_api_public_url_names_loopback_as_localhost_so_passkeys_work(
    tmp_path: Path, listen: str, tls: bool, public_url: str, expected: str
) -> None:
    (tmp_path / "c.toml").write_text("")
    config = load_config(tmp_path / "c.toml", {})
    api = dataclasses.replace(
        config.api,
        listen=listen,
        public_url=public_url,
        tls_cert_file=tmp_path / "cert.pem" if tls else None,
    )
    assert dataclasses.replace(config, api=api).api_public_url == expected
