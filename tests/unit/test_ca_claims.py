"""The claims codec: exact encoding, strict decoding, and a round-trip property."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sshgate.ca import Claims, ClaimsError, decode_claims, encode_claims

USER_ID = "11111111-1111-4111-8111-111111111111"


def test_encoding_is_compact_json_with_keys_in_contract_order() -> None:
    claims = Claims(sub=USER_ID, amr=("pwd", "mfa"), auth_time=1767225600, jti="s1")
    assert encode_claims(claims) == (
        b'{"sub":"11111111-1111-4111-8111-111111111111","amr":["pwd","mfa"],'
        b'"auth_time":1767225600,"jti":"s1"}'
    )


@pytest.mark.parametrize(
    ("amr", "has_mfa"),
    [(("pwd",), False), (("pwd", "mfa"), True), (("mfa",), True), ((), False), (("MFA",), False)],
    ids=["pwd", "pwd-mfa", "mfa-only", "empty", "upper-case-is-not-mfa"],
)
def test_has_mfa_means_amr_contains_mfa(amr: tuple[str, ...], has_mfa: bool) -> None:
    assert Claims(sub=USER_ID, amr=amr, auth_time=0, jti="").has_mfa is has_mfa


def test_unknown_extra_keys_are_ignored() -> None:
    data = b'{"jti":"t","auth_time":5,"amr":["pwd"],"sub":"u","iss":"x","extra":{"a":[1]}}'
    assert decode_claims(data) == Claims(sub="u", amr=("pwd",), auth_time=5, jti="t")


def _doc(**changes: object) -> bytes:
    document: dict[str, object] = {"sub": USER_ID, "amr": ["pwd"], "auth_time": 1, "jti": "j"}
    document.update(changes)
    return json.dumps(document).encode()


def _without(key: str) -> bytes:
    document = json.loads(_doc())
    del document[key]
    return json.dumps(document).encode()


INVALID = {
    "not-utf8": b'{"sub":"\xff"}',
    "not-json": b'{"sub":',
    "empty": b"",
    "array": b'["sub"]',
    "string": b'"claims"',
    "null": b"null",
    "nan-auth-time": b'{"sub":"u","amr":[],"auth_time":NaN,"jti":""}',
    "duplicate-key": b'{"sub":"u","sub":"v","amr":[],"auth_time":1,"jti":""}',
    "too-long": _doc(jti="x" * 5000),
    "deeply-nested": b'{"x":' + b"[" * 2000 + b"]" * 2000 + b"}",
    "missing-sub": _without("sub"),
    "missing-amr": _without("amr"),
    "missing-auth-time": _without("auth_time"),
    "missing-jti": _without("jti"),
    "sub-empty": _doc(sub=""),
    "sub-number": _doc(sub=1),
    "sub-null": _doc(sub=None),
    "amr-string": _doc(amr="mfa"),
    "amr-object": _doc(amr={"mfa": True}),
    "amr-null": _doc(amr=None),
    "amr-number-entry": _doc(amr=["pwd", 1]),
    "amr-nested-list": _doc(amr=[["mfa"]]),
    "amr-empty-string": _doc(amr=[""]),
    "amr-space": _doc(amr=["pw d"]),
    "amr-control-char": _doc(amr=["mfa\n"]),
    "amr-too-long-entry": _doc(amr=["a" * 33]),
    "amr-too-many": _doc(amr=["pwd"] * 9),
    "auth-time-bool": _doc(auth_time=True),
    "auth-time-float": _doc(auth_time=1.0),
    "auth-time-string": _doc(auth_time="1"),
    "auth-time-negative": _doc(auth_time=-1),
    "auth-time-huge": _doc(auth_time=2**64),
    "jti-number": _doc(jti=7),
    "jti-null": _doc(jti=None),
}


@pytest.mark.parametrize("data", list(INVALID.values()), ids=list(INVALID))
def test_invalid_shapes_are_refused_with_claims_error(data: bytes) -> None:
    with pytest.raises(ClaimsError):
        decode_claims(data)


@pytest.mark.parametrize(
    "claims",
    [
        Claims(sub="", amr=(), auth_time=0, jti=""),
        Claims(sub="u", amr=("pwd", "m f a"), auth_time=0, jti=""),
        Claims(sub="u", amr=("pwd",) * 9, auth_time=0, jti=""),
        Claims(sub="u", amr=(), auth_time=-1, jti=""),
        Claims(sub="u", amr=(), auth_time=0, jti="x" * 5000),
    ],
    ids=["empty-sub", "bad-amr", "too-many-amr", "negative-time", "too-long"],
)
def test_encoder_refuses_what_the_decoder_would_refuse(claims: Claims) -> None:
    with pytest.raises(ClaimsError):
        encode_claims(claims)


def test_errors_do_not_echo_the_input() -> None:
    secret = "s3cr3t-token-value"
    with pytest.raises(ClaimsError) as raised:
        decode_claims(_doc(sub=1, jti=secret))
    assert secret not in str(raised.value)


amr_values = st.from_regex(r"[A-Za-z0-9_.-]{1,32}", fullmatch=True)
valid_claims = st.builds(
    Claims,
    sub=st.text(min_size=1, max_size=64),
    amr=st.lists(amr_values, max_size=8).map(tuple),
    auth_time=st.integers(min_value=0, max_value=2**63 - 1),
    jti=st.text(max_size=64),
)


@given(valid_claims)
def test_decode_inverts_encode(claims: Claims) -> None:
    assert decode_claims(encode_claims(claims)) == claims


@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_or_raise_claims_error(data: bytes) -> None:
    with contextlib.suppress(ClaimsError):
        decode_claims(data)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    )
)
def test_arbitrary_json_decodes_or_raises_claims_error(document: object) -> None:
    try:
        claims = decode_claims(json.dumps(document).encode())
    except ClaimsError:
        return
    assert isinstance(claims.sub, str) and claims.sub
    assert all(isinstance(a, str) for a in claims.amr)
