"""Admission of unauthenticated connections and the keepalive interval: pure bookkeeping."""

from __future__ import annotations

import pytest

from sshgate.ssh_gateway.limits import (
    KEEPALIVE_COUNT_MAX,
    MAX_PER_SOURCE,
    MAX_UNAUTHENTICATED,
    Admission,
    Limits,
    keepalive_interval,
    refusal,
)

LIMITS = Limits(max_unauthenticated=4, max_per_source=2)


def test_a_third_pending_connection_from_one_source_breaks_max_per_source() -> None:
    admission = Admission()
    assert admission.admit("a", "10.0.0.1", LIMITS) is None
    assert admission.admit("b", "10.0.0.1", LIMITS) is None
    assert admission.admit("c", "10.0.0.1", LIMITS) == MAX_PER_SOURCE
    assert admission.admit("d", "10.0.0.2", LIMITS) is None


def test_pending_connections_beyond_the_total_break_max_unauthenticated() -> None:
    admission = Admission()
    for n, source in enumerate(("s1", "s1", "s2", "s2")):
        assert admission.admit(n, source, LIMITS) is None
    assert admission.admit("fifth", "s3", LIMITS) == MAX_UNAUTHENTICATED


def test_authenticated_connections_no_longer_count() -> None:
    admission = Admission()
    admission.admit("a", "s", LIMITS)
    admission.admit("b", "s", LIMITS)
    admission.authenticated("a")
    admission.authenticated("b")
    assert admission.unauthenticated == 0
    assert admission.admit("c", "s", LIMITS) is None
    assert admission.admit("d", "s", LIMITS) is None


def test_a_refused_connection_counts_until_released() -> None:
    admission = Admission()
    admission.admit("a", "s", LIMITS)
    admission.admit("b", "s", LIMITS)
    assert admission.admit("c", "s", LIMITS) == MAX_PER_SOURCE
    admission.release("c")
    admission.release("a")
    assert admission.admit("e", "s", LIMITS) is None


def test_release_is_idempotent_and_forgets_empty_sources() -> None:
    admission = Admission()
    admission.admit("a", "s", LIMITS)
    admission.release("a")
    admission.release("a")
    admission.authenticated("never-seen")
    assert admission.unauthenticated == 0
    assert admission._per_source == {}


def test_a_connection_awaiting_its_proxy_header_counts_in_the_total_only() -> None:
    admission = Admission()
    for n in range(4):
        assert admission.admit(n, None, LIMITS) is None  # one balancer, four headers due
    assert admission.admit("fifth", "10.0.0.9", LIMITS) == MAX_UNAUTHENTICATED
    admission.release("fifth")
    assert admission.identify(0, "10.0.0.1", LIMITS) is None
    assert admission.identify(1, "10.0.0.1", LIMITS) is None
    assert admission.identify(2, "10.0.0.1", LIMITS) == MAX_PER_SOURCE
    assert admission.identify(0, "10.0.0.2", LIMITS) is None  # identified once only
    for n in range(4):
        admission.release(n)
    assert admission.unauthenticated == 0
    assert admission._per_source == {}


def test_identifying_a_connection_never_admitted_counts_nothing() -> None:
    admission = Admission()
    assert admission.identify("gone", "10.0.0.1", LIMITS) is None
    assert admission.unauthenticated == 0


@pytest.mark.parametrize(
    ("total", "from_source", "expected"),
    [
        (4, 2, None),
        (5, 1, MAX_UNAUTHENTICATED),
        (3, 3, MAX_PER_SOURCE),
        (5, 3, MAX_UNAUTHENTICATED),  # the total is named first
        (1, 0, None),  # a connection whose source is not known yet
    ],
)
def test_refusal_names_the_limit_broken(total: int, from_source: int, expected: str | None) -> None:
    assert refusal(total, from_source, LIMITS) == expected


@pytest.mark.parametrize(
    ("idle_timeout", "interval"),
    [(0, 30.0), (3, 1.0), (1, 1.0), (60, 20.0), (3600, 30.0)],
    ids=["never-idle", "small", "below-one-second", "a-minute", "an-hour"],
)
def test_keepalive_probes_a_few_times_per_idle_period(idle_timeout: int, interval: float) -> None:
    assert keepalive_interval(idle_timeout) == interval
    if idle_timeout >= 3:
        # A vanished client is let go about when an idle one would be, never much later.
        assert interval * KEEPALIVE_COUNT_MAX <= max(idle_timeout, 90)
