"""The pure parts of accounts: TOTP, recovery codes, the throttle rules, bearer strings and
the effective amr. Table-driven, no store."""

from __future__ import annotations

import base64
import re
import string

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sshgate.accounts import bearer, recovery, throttle, totp
from sshgate.accounts.principal import effective_amr, session_ended_by_mfa_change
from sshgate.accounts.relying_party import counter_moves_forward, key_name
from sshgate.accounts.secretbox import SecretBox
from sshgate.policy.model import User
from sshgate.store.base import ThrottleRecord

T0 = 1_800_000_000.0  # the start of a TOTP time step (divisible by 30)
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


# TOTP


@pytest.mark.parametrize(
    ("offset_steps", "accepted"),
    [(-2, False), (-1, True), (0, True), (1, True), (2, False)],
    ids=["two-steps-old", "one-step-old", "current", "one-step-ahead", "two-steps-ahead"],
)
def test_totp_accepts_one_step_of_drift_either_way(offset_steps: int, accepted: bool) -> None:
    code = pyotp.TOTP(SECRET).at(T0 + 30 * offset_steps)
    step = totp.matching_step(SECRET, code, T0 + 10)
    assert (step is not None) is accepted
    if accepted:
        assert step == int(T0) // 30 + offset_steps


@pytest.mark.parametrize(
    "code", ["", "12345", "1234567", "abcdef", " 123456", "12 456", "１２３４５６"], ids=repr
)
def test_totp_refuses_what_is_not_six_ascii_digits(code: str) -> None:
    assert totp.matching_step(SECRET, code, T0) is None


def test_totp_secret_has_160_bits_and_is_random() -> None:
    secrets_ = {totp.new_secret() for _ in range(20)}
    assert len(secrets_) == 20
    for secret in secrets_:
        assert len(base64.b32decode(secret)) * 8 >= 160


def test_otpauth_uri_names_issuer_and_user_and_round_trips_through_pyotp() -> None:
    uri = totp.provisioning_uri(SECRET, "alice")
    assert uri.startswith("otpauth://totp/sshgate:alice?")
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert (parsed.secret, parsed.issuer, parsed.name) == (SECRET, "sshgate", "alice")
    assert (parsed.digits, parsed.interval) == (6, 30)
    assert parsed.at(T0) == totp.code_at(SECRET, T0)


def test_qr_codes_are_svg_text_and_terminal_blocks() -> None:
    uri = totp.provisioning_uri(SECRET, "alice")
    svg = totp.qr_svg(uri)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    drawn = totp.terminal_qr(uri)
    assert len(drawn.splitlines()) > 10 and "█" in drawn


# recovery codes


def test_recovery_codes_are_ten_distinct_groups_of_four() -> None:
    codes = recovery.generate()
    assert len(codes) == len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(r"[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}", code)
    alphabet = len(
        set("".join(codes).replace("-", "")) | set(string.ascii_lowercase + string.digits)
    )
    assert alphabet**12 >= 2**60  # at least 60 bits per code


@pytest.mark.parametrize(
    ("typed", "normalized"),
    [
        ("k3x9-p2qa-7mzt", "k3x9p2qa7mzt"),
        ("K3X9-P2QA-7MZT", "k3x9p2qa7mzt"),
        ("k3x9p2qa7mzt", "k3x9p2qa7mzt"),
        (" k3x9 p2qa 7mzt ", "k3x9p2qa7mzt"),
        ("k3x9-p2qa-7mz", None),
        ("k3x9-p2qa-7mzt-", "k3x9p2qa7mzt"),
        ("k3x9_p2qa_7mzt", None),
        ("123456", None),
    ],
    ids=[
        "display",
        "upper",
        "no-dashes",
        "spaces",
        "short",
        "trailing-dash",
        "underscores",
        "totp",
    ],
)
def test_recovery_code_normalization(typed: str, normalized: str | None) -> None:
    assert recovery.normalize(typed) == normalized


def test_recovery_code_hash_is_keyed_and_matches_in_any_spelling() -> None:
    box, other = SecretBox(b"k" * 32), SecretBox(b"o" * 32)
    stored = [recovery.code_hash(box, c) for c in recovery.generate()]
    code = recovery.generate(1)[0]
    mine = recovery.code_hash(box, code)
    assert mine is not None and code.replace("-", "") not in mine
    assert recovery.code_hash(other, code) != mine
    assert recovery.find_match(mine, [*stored, mine]) == mine
    assert recovery.find_match(recovery.code_hash(box, code.upper()) or "", [mine]) == mine
    assert recovery.find_match(mine, stored) is None


# the throttle


def rec(scope: str, failures: int, last: float, subject: str = "alice") -> ThrottleRecord:
    return ThrottleRecord(scope, subject, failures, last)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("records", "retry_after"),
    [
        ([], 1),
        ([rec("user", 10, T0)], 60),
        ([rec("user", 10, T0 - 30)], 30),
        ([rec("user", 10, T0 - 60)], 1),
        ([rec("user", 3, T0), rec("addr", 10, T0 - 10, "10.0.0.1")], 50),
        ([rec("user", 50, T0 - throttle.FORGET_AFTER - 1)], 1),
    ],
    ids=[
        "raced-away-at-least-a-second",
        "ten-failures-just-now",
        "ten-failures-half-a-minute-ago",
        "slot-taken-by-another-attempt",
        "address-throttled",
        "forgotten-after-quiet-period",
    ],
)
def test_throttle_retry_after(records: list[ThrottleRecord], retry_after: float) -> None:
    assert throttle.retry_after(records, T0) == pytest.approx(retry_after)


@pytest.mark.parametrize(
    ("username", "client", "keys"),
    [
        ("alice", "10.0.0.1", [("user", "alice"), ("addr", "10.0.0.1")]),
        ("Not A User!", "10.0.0.1", [("addr", "10.0.0.1")]),
        ("alice", "", [("user", "alice"), ("addr", "unknown")]),
    ],
    ids=["user-and-address", "impossible-username", "no-address"],
)
def test_throttle_keys(username: str, client: str, keys: list[tuple[str, str]]) -> None:
    assert throttle.keys(username, client) == keys


def test_forgetting_never_beats_the_throttled_rate() -> None:
    # A guesser who waits out the quiet period gets fewer tries than one per INTERVAL.
    assert throttle.FAILURE_LIMIT * throttle.INTERVAL <= throttle.FORGET_AFTER


# bearer strings


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (bearer.new_bearer("session"), "session"),
        (bearer.new_bearer("token"), "token"),
        ("sgs_", None),
        ("Bearer sgs_abc", None),
        ("xyz_abc", None),
        ("sgt_" + "a" * 500, None),
        ("sgs_é", None),
    ],
    ids=[
        "session",
        "token",
        "prefix-only",
        "scheme-included",
        "unknown-prefix",
        "huge",
        "non-ascii",
    ],
)
def test_bearer_kind(value: str, kind: str | None) -> None:
    assert bearer.kind_of(value) == kind


@given(st.text(max_size=200))
def test_bearer_kind_never_raises(value: str) -> None:
    assert bearer.kind_of(value) in (None, "session", "token")


def test_bearers_are_random_and_only_their_hash_is_kept() -> None:
    a, b = bearer.new_bearer("token"), bearer.new_bearer("token")
    assert a != b and len(a) > 40
    assert bearer.bearer_hash(a) != bearer.bearer_hash(b)
    assert a not in bearer.bearer_hash(a)


# effective amr


def user(enabled: bool, revoked_at: float | None) -> User:
    return User("u1", "alice", "a@x", mfa_enabled=enabled, mfa_revoked_at=revoked_at)


@pytest.mark.parametrize(
    ("amr", "auth_time", "account", "expected"),
    [
        (("pwd", "mfa"), 100, user(True, None), ("pwd", "mfa")),
        (("pwd",), 100, user(True, None), ("pwd",)),
        (("pwd", "mfa"), 100, user(False, None), ("pwd",)),
        (("pwd", "mfa"), 100, user(True, 150.0), ("pwd",)),
        (("pwd", "mfa"), 200, user(True, 150.0), ("pwd", "mfa")),
        (("pwd", "mfa"), 150, user(True, 150.5), ("pwd",)),
        (("pwd", "otp", "mfa"), 100, user(True, None), ("pwd", "otp", "mfa")),
        (("pwd", "hwk", "mfa"), 100, user(True, None), ("pwd", "hwk", "mfa")),
        (("pwd", "otp", "mfa"), 100, user(True, 150.0), ("pwd",)),
        (("pwd", "hwk", "mfa"), 100, user(False, None), ("pwd",)),
    ],
    ids=[
        "mfa-counts",
        "never-had-mfa",
        "mfa-disabled-since",
        "mfa-reset-after-login",
        "login-after-reset-and-reenable",
        "same-second-counts-as-before",
        "authenticator-code-counts",
        "security-key-counts",
        "code-reset-since-loses-its-factor-too",
        "key-of-disabled-mfa-loses-its-factor-too",
    ],
)
def test_effective_amr(
    amr: tuple[str, ...], auth_time: int, account: User, expected: tuple[str, ...]
) -> None:
    assert effective_amr(amr, auth_time, account) == expected


def test_sessions_from_before_an_mfa_change_have_ended() -> None:
    assert session_ended_by_mfa_change(100.0, user(False, 150.0))
    assert not session_ended_by_mfa_change(200.0, user(False, 150.0))
    assert not session_ended_by_mfa_change(100.0, user(True, None))


def test_passwords_are_hashed_with_argon2id_at_the_library_s_recommended_cost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from argon2 import PasswordHasher, Type

    from sshgate.accounts import passwords

    monkeypatch.undo()  # the tests' cheap hasher (tests/conftest.py) off: the real one
    recommended = PasswordHasher()
    hasher = passwords._HASHER
    assert hasher.type is Type.ID
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (
        recommended.time_cost,
        recommended.memory_cost,
        recommended.parallelism,
    )
    assert passwords.hash_password("correct horse battery").startswith("$argon2id$")


# security keys


@pytest.mark.parametrize(
    ("stored", "new", "forward"),
    [(0, 0, True), (0, 1, True), (5, 6, True), (5, 5, False), (5, 3, False), (5, 0, False)],
    ids=["no-counter", "first-use", "moves-on", "replayed", "went-back", "reset-to-zero"],
)
def test_a_signature_counter_must_move_forward(stored: int, new: int, forward: bool) -> None:
    assert counter_moves_forward(stored, new) is forward


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (None, "Security key"),
        ("  ", "Security key"),
        ("YubiKey 5", "YubiKey 5"),
        ("x" * 65, None),
        ("a\nb", None),
    ],
)
def test_a_key_name_is_short_and_printable(given: str | None, stored: str | None) -> None:
    assert key_name(given) == stored
