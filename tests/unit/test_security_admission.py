"""What a stranger can hold open before authenticating, as properties of the gateway's
admission bookkeeping (sshgate/ssh_gateway/limits.py) and of its default limits.

The end-to-end twin is tests/e2e/test_abuse.py::
test_a_flood_of_half_open_connections_does_not_keep_a_user_out.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from sshgate.config import GatewayConfig
from sshgate.ssh_gateway.limits import Admission, Limits

SOURCES = [f"198.51.100.{n}" for n in range(6)]

operations = st.lists(
    st.tuples(
        st.sampled_from(["connect", "authenticate", "close"]),
        st.integers(0, 40),  # which connection
        st.sampled_from(SOURCES),
    ),
    max_size=200,
)


@settings(max_examples=500)
@given(
    operations,
    st.integers(1, 12),
    st.integers(1, 6),
)
def test_admitted_connections_never_exceed_either_limit(
    ops: list[tuple[str, int, str]], total: int, per_source: int
) -> None:
    limits = Limits(max_unauthenticated=total, max_per_source=per_source)
    admission = Admission()
    admitted: dict[int, str] = {}  # pending and let in
    known: set[int] = set()
    for op, conn, source in ops:
        if op == "connect" and conn not in known:
            known.add(conn)
            if admission.admit(conn, source, limits) is None:
                admitted[conn] = source
        elif op == "authenticate" and conn in known:
            admission.authenticated(conn)
            admitted.pop(conn, None)
        elif op == "close" and conn in known:
            admission.release(conn)
            admitted.pop(conn, None)
            known.discard(conn)
        assert len(admitted) <= total
        assert all(n <= per_source for n in Counter(admitted.values()).values())
    for conn in list(known):
        admission.release(conn)
    assert admission.unauthenticated == 0


@settings(max_examples=300)
@given(st.data())
def test_with_the_default_limits_a_flood_from_a_few_addresses_leaves_room_for_others(
    data: st.DataObject,
) -> None:
    defaults = GatewayConfig()
    limits = Limits(defaults.max_unauthenticated, defaults.max_per_source)
    # Fewer flooding addresses than it takes to fill every slot at the per-source limit.
    most = -(-defaults.max_unauthenticated // defaults.max_per_source) - 1
    flooders = data.draw(st.integers(1, most))
    flood = data.draw(st.integers(0, 2000))
    admission = Admission()
    for n in range(flood):
        if admission.admit(("flood", n), f"203.0.113.{n % flooders}", limits) is not None:
            admission.release(("flood", n))  # the gateway closes a refused one at once
    assert admission.admit("user", "192.0.2.1", limits) is None
