"""The connection limits shared by several gateway processes (shared_admission): the same
decisions as one process counting everything, exact under concurrent processes, and a dead
process's counts forgotten."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sshgate.ssh_gateway.limits import MAX_PER_SOURCE, MAX_UNAUTHENTICATED, Admission, Limits
from sshgate.ssh_gateway.shared_admission import (
    AdmissionTable,
    AdmissionTableError,
    SharedAdmission,
    source_key,
)

LIMITS = Limits(max_unauthenticated=6, max_per_source=3)


def processes(folder: Path, count: int, capacity: int = 64) -> list[SharedAdmission]:
    """`count` gateway processes' views of one table, each through its own file (as in
    separate processes: the lock is per open file)."""
    AdmissionTable.create(folder, count, capacity)
    return [SharedAdmission(AdmissionTable.attach(folder), i) for i in range(count)]


def test_one_source_cannot_exceed_max_per_source_across_processes(tmp_path: Path) -> None:
    a, b = processes(tmp_path, 2)
    answers = [(a if n % 2 else b).admit(n, "10.0.0.1", LIMITS) for n in range(5)]
    assert answers == [None, None, None, MAX_PER_SOURCE, MAX_PER_SOURCE]
    assert b.admit("other", "10.0.0.2", LIMITS) is None


def test_the_total_holds_across_processes(tmp_path: Path) -> None:
    a, b, c = processes(tmp_path, 3)
    views = [a, b, c]
    answers = [views[n % 3].admit(n, f"10.0.0.{n}", LIMITS) for n in range(8)]
    assert answers == [None] * 6 + [MAX_UNAUTHENTICATED] * 2


def test_released_and_authenticated_connections_stop_counting_everywhere(tmp_path: Path) -> None:
    a, b = processes(tmp_path, 2)
    for n in range(3):
        assert a.admit(n, "10.0.0.1", LIMITS) is None
    assert b.admit("x", "10.0.0.1", LIMITS) == MAX_PER_SOURCE
    b.release("x")
    a.authenticated(0)
    a.release(1)
    a.release(1)  # idempotent
    assert b.admit("y", "10.0.0.1", LIMITS) is None
    assert b.admit("z", "10.0.0.1", LIMITS) is None
    assert b.admit("w", "10.0.0.1", LIMITS) == MAX_PER_SOURCE


def test_a_connection_awaiting_its_proxy_header_counts_in_the_total_then_at_its_source(
    tmp_path: Path,
) -> None:
    a, b = processes(tmp_path, 2)
    for n in range(6):
        assert a.admit(n, None, LIMITS) is None  # the balancer's connections, headers due
    assert b.admit("late", "10.0.0.9", LIMITS) == MAX_UNAUTHENTICATED
    b.release("late")
    for n in range(3):
        assert a.identify(n, "10.0.0.1", LIMITS) is None
    assert a.identify(3, "10.0.0.1", LIMITS) == MAX_PER_SOURCE
    assert a.identify(0, "10.0.0.1", LIMITS) is None  # counted once, whatever is repeated


def test_a_dead_processs_counts_are_cleared(tmp_path: Path) -> None:
    a, b = processes(tmp_path, 2)
    for n in range(3):
        assert b.admit(n, "10.0.0.1", LIMITS) is None
    assert a.admit("x", "10.0.0.1", LIMITS) == MAX_PER_SOURCE
    a.release("x")
    AdmissionTable.attach(tmp_path).clear(1)  # what the main process does when b exits
    assert a.admit("y", "10.0.0.1", LIMITS) is None


def test_a_full_table_refuses_rather_than_forgets(tmp_path: Path) -> None:
    (a,) = processes(tmp_path, 1, capacity=2)
    limits = Limits(100, 100)
    assert a.admit(1, "10.0.0.1", limits) is None
    assert a.admit(2, "10.0.0.2", limits) is None
    assert a.admit(3, "10.0.0.3", limits) == MAX_UNAUTHENTICATED
    a.release(3)
    a.release(1)
    assert a.admit(4, "10.0.0.3", limits) is None


def test_a_file_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AdmissionTableError):
        AdmissionTable.attach(tmp_path)
    (tmp_path / "admission").write_bytes(b"not a table")
    with pytest.raises(AdmissionTableError):
        AdmissionTable.attach(tmp_path)


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("192.0.2.1", "::ffff:192.0.2.1", True),
        ("2001:db8::1", "2001:DB8:0::1", True),
        ("192.0.2.1", "192.0.2.2", False),
        ("", "::", False),
        ("not-an-address", "::", False),
    ],
)
def test_source_keys(one: str, other: str, same: bool) -> None:
    assert (source_key(one) == source_key(other)) is same
    assert source_key(one) != bytes(16)


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["admit", "admit-unknown", "identify", "release"]),
        st.integers(0, 2),  # which process
        st.integers(0, 11),  # which connection
        st.sampled_from(["10.0.0.1", "10.0.0.2", "2001:db8::1"]),
    ),
    max_size=60,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(OPERATIONS)
def test_processes_sharing_a_table_decide_as_one_process_counting_everything(
    tmp_path_factory: pytest.TempPathFactory, operations: list[tuple[str, int, int, str]]
) -> None:
    views = processes(tmp_path_factory.mktemp("table"), 3)
    one = Admission()
    owner: dict[int, int] = {}  # connection -> the process that admitted it
    for action, process, conn, source in operations:
        if action.startswith("admit"):
            if conn in owner:
                continue
            owner[conn] = process
            known = None if action == "admit-unknown" else source
            assert views[process].admit(conn, known, LIMITS) == one.admit(conn, known, LIMITS)
        elif conn in owner:
            view = views[owner[conn]]
            if action == "identify":
                assert view.identify(conn, source, LIMITS) == one.identify(conn, source, LIMITS)
            else:
                view.release(conn)
                one.release(conn)
                del owner[conn]


def _hammer(folder: str, index: int, rounds: int, held: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    view = SharedAdmission(AdmissionTable.attach(folder), index)
    kept = 0
    for n in range(rounds):
        if view.admit(n, "10.0.0.1", LIMITS) is None:
            kept += 1  # held until the end
        else:
            view.release(n)
    held.put(kept)


def test_concurrent_processes_never_admit_more_than_the_limit(tmp_path: Path) -> None:
    count = 4
    AdmissionTable.create(tmp_path, count, 64)
    context = multiprocessing.get_context("fork")
    held: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    workers = [
        context.Process(target=_hammer, args=(str(tmp_path), i, 300, held)) for i in range(count)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert sum(held.get(timeout=10) for _ in workers) == LIMITS.max_per_source
