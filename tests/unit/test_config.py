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
