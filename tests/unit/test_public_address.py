"""The gateway's public host and port: what may reach a user's ssh_config and known_hosts
(sshgate.public_address, shared by the configuration and the client). Tables for the forms
that matter, and a property: whatever is accepted holds no character OpenSSH reads as
anything but part of a host name."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sshgate.public_address import PublicAddressError, check_public_host, check_public_port

# What a host name or IP literal is made of; nothing here is special in ssh_config.
PLAIN = frozenset(string.ascii_letters + string.digits + ".-:")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gw.example.com", "gw.example.com"),
        ("localhost", "localhost"),
        ("GW-1.Example.COM", "GW-1.Example.COM"),
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("::ffff:192.0.2.1", "::ffff:c000:201"),
        ("a" * 63 + ".example", "a" * 63 + ".example"),
    ],
    ids=str,
)
def test_host_names_and_ip_literals_are_accepted(value: str, expected: str) -> None:
    assert check_public_host(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "gw.example.com\n  ProxyCommand sh -c 'id > /tmp/pwned'",
        "gw.example.com\r\nHost *",
        "gw example.com",
        "gw.example.com ",
        "\tgw.example.com",
        '"gw.example.com"',
        "'gw.example.com'",
        "gw.example.com%h",
        "gw.example.com#comment",
        "*",
        "*.example.com",
        "gw?.example.com",
        "!gw.example.com",
        "gw.example.com,evil.example.com",
        "gw.exämple.com",
        "gw.example.com\u2028",
        "xn--gw\u200b.example.com",
        "${HOME}",
        "gw.example.com.",
        ".gw.example.com",
        "gw..example.com",
        "-gw.example.com",
        "gw-.example.com",
        "gw_1.example.com",
        "a" * 64 + ".example.com",
        ("a" * 62 + ".") * 4 + "example",
        "fe80::1%eth0",
        "[fe80::1%eth0]",
        "fe80::1%eth0\n  ProxyCommand x",
        "[::1",
        "::1]",
        "[gw.example.com]",
        "[127.0.0.1]",
        "1:2:3:4:5:6:7:8:9",
        ":::",
        "[::1]:2222",
    ],
    ids=repr,
)
def test_anything_else_is_refused(value: str) -> None:
    with pytest.raises(PublicAddressError):
        check_public_host(value)


@pytest.mark.parametrize("value", [None, 2222, b"gw.example.com", ["gw"]], ids=repr)
def test_a_host_that_is_not_text_is_refused(value: object) -> None:
    with pytest.raises(PublicAddressError):
        check_public_host(value)


def test_the_refusal_names_the_value_escaped_on_one_line() -> None:
    with pytest.raises(PublicAddressError) as caught:
        check_public_host("gw\nProxyCommand id")
    assert "\n" not in str(caught.value)
    assert "'gw\\nProxyCommand id'" in str(caught.value)


@given(st.text())
def test_whatever_text_is_accepted_is_plain_host_characters(value: str) -> None:
    try:
        host = check_public_host(value)
    except PublicAddressError:
        return
    assert host and set(host) <= PLAIN


@given(
    st.lists(
        st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=20),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from(["\n", "\r", " ", "\t", '"', "'", "%", "#", "*", "?", "!", ",", "$", "é"]),
    st.integers(min_value=0),
)
def test_one_special_character_anywhere_in_a_good_name_is_refused(
    labels: list[str], special: str, where: int
) -> None:
    name = ".".join(labels)
    assert check_public_host(name) == name
    at = where % (len(name) + 1)
    with pytest.raises(PublicAddressError):
        check_public_host(name[:at] + special + name[at:])


@pytest.mark.parametrize("value", [1, 22, 2222, 65535], ids=str)
def test_ports_from_1_to_65535_are_accepted(value: int) -> None:
    assert check_public_port(value) == value


@pytest.mark.parametrize(
    "value", [0, -1, 65536, True, "22", "22\nProxyCommand id", 22.0, None], ids=repr
)
def test_anything_but_an_integer_port_in_range_is_refused(value: object) -> None:
    with pytest.raises(PublicAddressError):
        check_public_port(value)
