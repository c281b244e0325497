"""Port forwarding reaches only the environment itself: the pure rules."""

from __future__ import annotations

import pytest

from sshgate.policy.decision import Decision, Target
from sshgate.policy.model import Endpoint, Environment, Organization, Project
from sshgate.ssh_gateway.forwarding import (
    NOT_AN_ENVIRONMENT,
    NOT_LOOPBACK,
    forwarding_decision,
    is_environment_loopback,
    open_failure_reason,
)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("0:0:0:0:0:0:0:1", True),
        ("127.0.0.2", False),
        ("127.1", False),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
        ("localhost.", False),
        ("[::1]", False),
        ("", False),
        ("169.254.169.254", False),
    ],
)
def test_only_the_loopback_of_the_environment_is_a_destination(host: str, allowed: bool) -> None:
    assert is_environment_loopback(host) is allowed


_PROJECT = Project("abcdefg123456", "acme", "Acme")
_ENV = Environment("abcdefg123456", "main", "main-bvxea6i", "app", Endpoint("u", "h", 22))
ALLOWED = Decision(True, "allow")


def _target(environment: Environment | None) -> Target:
    return Target(
        "svc", _PROJECT, Organization("acme"), environment, environment is None, None, None
    )


def test_an_allowed_forward_to_the_environment_loopback_stays_allowed() -> None:
    assert forwarding_decision(ALLOWED, _target(_ENV), "127.0.0.1") == ALLOWED


def test_the_git_route_has_no_environment_to_forward_to() -> None:
    decision = forwarding_decision(ALLOWED, _target(None), "127.0.0.1")
    assert not decision.allowed
    assert decision.rule == "port-forward-not-an-environment"
    assert decision.lines == (NOT_AN_ENVIRONMENT,)


def test_another_destination_is_refused_with_its_own_rule() -> None:
    decision = forwarding_decision(ALLOWED, _target(_ENV), "db.internal")
    assert (decision.allowed, decision.rule, decision.lines) == (
        False,
        "port-forward-destination",
        (NOT_LOOPBACK,),
    )


def test_a_policy_refusal_is_kept_as_it_is() -> None:
    refused = Decision(False, "mfa-required", ("Error: Access denied",), 1)
    assert forwarding_decision(refused, _target(_ENV), "10.0.0.1") is refused


def test_a_multi_line_message_becomes_one_open_failure_reason() -> None:
    lines = ("Error: Access denied", "Service: x", "\t - Multifactor authentication (MFA)")
    reason = open_failure_reason(lines)
    assert "\n" not in reason and "\t" not in reason
    assert reason == "Error: Access denied; Service: x; - Multifactor authentication (MFA)"
