"""Whose address is the client's behind proxies: the pure rule of sshgate.api.forwarded."""

from __future__ import annotations

import pytest

from sshgate.api.forwarded import MAX_HOPS, ConflictingForwarding, client_address, networks

TRUSTED = networks(["10.0.0.0/8", "2001:db8:ffff::/48"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "xff", "client"),
    [
        ("203.0.113.5", [], ["198.51.100.1"], "203.0.113.5"),
        ("10.0.0.1", [], [], "10.0.0.1"),
        ("10.0.0.1", [], ["198.51.100.1"], "198.51.100.1"),
        ("10.0.0.1", [], ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),
        ("10.0.0.1", [], ["198.51.100.1, 10.0.0.2"], "198.51.100.1"),
        ("10.0.0.1", [], ["6.6.6.6", "198.51.100.1"], "198.51.100.1"),
        ("10.0.0.1", [], ["10.0.0.3, 10.0.0.2"], "10.0.0.3"),
        ("10.0.0.1", [], ["198.51.100.1:4711"], "198.51.100.1"),
        ("10.0.0.1", [], ["unknown"], "10.0.0.1"),
        ("10.0.0.1", [], ["198.51.100.1, garbage, 10.0.0.2"], "10.0.0.2"),
        ("10.0.0.1", [], ["fe80::1%eth0"], "10.0.0.1"),
        ("10.0.0.1", ['for="[2001:db8::7]:4711";proto=https'], [], "2001:db8::7"),
        ("10.0.0.1", ["for=192.0.2.60;by=10.0.0.1, for=10.0.0.9"], [], "192.0.2.60"),
        ("10.0.0.1", ["For=192.0.2.60"], ["192.0.2.60"], "192.0.2.60"),
        ("10.0.0.1", ["for=192.0.2.60, for=10.0.0.2"], ["6.6.6.6, 192.0.2.60"], "192.0.2.60"),
        ("10.0.0.1", ["for=192.0.2.60"], ["::ffff:192.0.2.60"], "192.0.2.60"),
        ("10.0.0.1", ["proto=https"], [], "10.0.0.1"),
        ("::ffff:10.0.0.1", [], ["198.51.100.1"], "198.51.100.1"),
        ("2001:db8:ffff::1", [], ["2001:db8::9"], "2001:db8::9"),
    ],
    ids=[
        "untrusted-peer-headers-ignored",
        "trusted-peer-without-headers",
        "one-hop",
        "client-prepended-a-lie",
        "two-trusted-hops",
        "two-header-lines",
        "every-hop-trusted-leftmost",
        "address-with-port",
        "unknown-hop-stops-at-the-proxy",
        "garbage-stops-at-the-trusted-hop-before-it",
        "zone-id-is-not-a-client",
        "forwarded-ipv6-quoted-with-port",
        "forwarded-two-elements",
        "both-headers-agree",
        "both-headers-agree-past-a-trusted-hop-and-a-lie",
        "both-headers-agree-one-ipv4-mapped",
        "forwarded-element-without-for",
        "ipv4-mapped-peer",
        "ipv6-proxy",
    ],
)
def test_client_address(peer: str, forwarded: list[str], xff: list[str], client: str) -> None:
    assert client_address(peer, TRUSTED, forwarded, xff) == client


@pytest.mark.parametrize(
    ("forwarded", "xff"),
    [
        (["for=198.51.100.77"], ["203.0.113.9"]),
        (["for=192.0.2.60"], ["6.6.6.6, 198.51.100.1"]),
        (["for=198.51.100.77", "for=203.0.113.9"], ["198.51.100.1"]),
        (["proto=https"], ["198.51.100.1"]),
        (["for=10.0.0.3"], ["198.51.100.1, 10.0.0.2"]),
    ],
    ids=[
        "client-sent-forwarded-proxy-appended-xff",
        "different-clients",
        "two-forwarded-lines",
        "forwarded-without-for-stops-at-the-proxy",
        "all-trusted-forwarded-against-a-client",
    ],
)
def test_headers_naming_different_clients_conflict(forwarded: list[str], xff: list[str]) -> None:
    with pytest.raises(ConflictingForwarding):
        client_address("10.0.0.5", TRUSTED, forwarded, xff)


def test_an_untrusted_peer_is_the_client_whatever_its_headers_say() -> None:
    assert client_address("203.0.113.5", TRUSTED, ["for=1.2.3.4"], ["5.6.7.8"]) == "203.0.113.5"


def test_a_long_chain_of_trusted_hops_is_cut() -> None:
    chain = ", ".join(["198.51.100.1"] + ["10.0.0.2"] * (MAX_HOPS + 5))
    assert client_address("10.0.0.1", TRUSTED, [], [chain]) == "10.0.0.2"


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_address("10.0.0.1", (), [], ["198.51.100.1"]) == "10.0.0.1"
