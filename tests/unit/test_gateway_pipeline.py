"""The request pipeline: decide on the live store -> audit -> refuse what could not be
audited -> track for live re-checks -> allow, for every request kind, on a real SQLite
store (no sshd: the pipeline has no I/O of its own besides the store)."""

from __future__ import annotations

import ast
import asyncio
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from sshgate.policy import (
    Decision,
    Endpoint,
    Environment,
    GatewaySettings,
    Identity,
    OrgRole,
    Project,
    ProjectRole,
    RequestKind,
)
from sshgate.ssh_gateway import forwarding
from sshgate.ssh_gateway.audit import AuditTrail
from sshgate.ssh_gateway.pipeline import (
    STORE_UNAVAILABLE,
    UNAUDITED,
    Allowed,
    Pipeline,
    Refused,
    Request,
    Who,
)
from sshgate.ssh_gateway.registry import LiveChannels
from sshgate.store import AuditEvent, SQLiteStore, StoreError

PROJECT = "abcdefg123456"
ENVIRONMENT = Environment(PROJECT, "main", "main-bvxea6i", "app", Endpoint("u", "127.0.0.1", 22))
SERVICE = ENVIRONMENT.service
SESSION_KINDS = (
    RequestKind.SHELL,
    RequestKind.EXEC,
    RequestKind.SUBSYSTEM,
    RequestKind.PORT_FORWARD,
    RequestKind.AGENT_FORWARD,
)
GIT_KINDS = (RequestKind.GIT_GREETING, RequestKind.GIT_PULL, RequestKind.GIT_PUSH)


class FlakyAudit(SQLiteStore):
    """The store, whose audit insert can be made to fail."""

    audit_fails = False

    async def audit(self, event: AuditEvent) -> int:
        if self.audit_fails:
            raise StoreError("audit table unavailable")
        return await super().audit(event)


@dataclass
class Channel:
    """A relayed channel as the registry sees it."""

    kind: RequestKind
    ended: bool = False
    closed_by: list[Decision] = field(default_factory=list)

    def idle_seconds(self, now: float) -> float:
        return 0.0

    def terminate(self, decision: Decision) -> None:
        self.closed_by.append(decision)

    def announce_and_close(self, line: str) -> None:
        self.ended = True

    def __hash__(self) -> int:
        return id(self)


@dataclass
class World:
    store: FlakyAudit
    channels: LiveChannels
    identity: Identity
    tasks: list[asyncio.Task[None]]

    def pipeline(self, requested: str = SERVICE) -> Pipeline:
        return Pipeline(
            Who(requested, "192.0.2.7"),
            self.identity,
            self.store,
            AuditTrail(self.store, self._spawn),
            self.channels,
            lambda: GatewaySettings(allow_port_forwarding=True),
        )

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self.tasks.append(asyncio.get_running_loop().create_task(work))

    async def settle(self) -> None:
        await asyncio.gather(*self.tasks)

    async def audited(self) -> list[AuditEvent]:
        return [r.event for r in sorted(await self.store.list_audit(), key=lambda r: r.id)]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    store = await FlakyAudit.open(str(tmp_path / "sshgate.db"))
    try:
        user = await store.create_user("bob", "bob@example.com", "x")
        await store.create_org("acme")
        await store.set_member("acme", user.id, OrgRole.MEMBER)
        await store.create_project(
            Project(PROJECT, "acme", "Acme", Endpoint("git", "127.0.0.1", 22), "/r.git")
        )
        await store.set_grant(PROJECT, user.id, ProjectRole.CONTRIBUTOR)
        await store.add_environment(ENVIRONMENT)
        await store.gateway_heartbeat("gateway-1", time.time())
        identity = Identity(
            user, 42, ("pwd",), int(time.time()), permit_port_forwarding=True,
            permit_agent_forwarding=True,
        )  # fmt: skip
        tasks: list[asyncio.Task[None]] = []

        def spawn(work: Coroutine[Any, Any, None]) -> None:
            tasks.append(asyncio.get_running_loop().create_task(work))

        world = World(store, LiveChannels(store, "gateway-1", spawn), identity, tasks)
        yield world
        await world.settle()
    finally:
        await store.close()


def _request(kind: RequestKind) -> Request:
    if kind is RequestKind.PORT_FORWARD:
        return Request(kind, "127.0.0.1:80", forwarding.narrowed_to("127.0.0.1"))
    return Request(kind)


@pytest.mark.parametrize("kind", SESSION_KINDS + GIT_KINDS, ids=lambda k: k.value)
async def test_every_request_kind_is_decided_audited_and_tracked(
    world: World, kind: RequestKind
) -> None:
    requested = PROJECT if kind in GIT_KINDS else SERVICE
    channel = Channel(kind)
    answer = await world.pipeline(requested).admit(_request(kind), channel)
    assert isinstance(answer, Allowed), answer
    [record] = await world.audited()
    assert (record.kind, record.decision, record.reason) == (kind.value, "allow", "allow")
    assert channel in world.channels


@pytest.mark.parametrize("kind", SESSION_KINDS + GIT_KINDS, ids=lambda k: k.value)
async def test_an_allowed_request_whose_audit_write_fails_is_refused(
    world: World, kind: RequestKind
) -> None:
    requested = PROJECT if kind in GIT_KINDS else SERVICE
    world.store.audit_fails = True
    channel = Channel(kind)
    answer = await world.pipeline(requested).admit(_request(kind), channel)
    assert answer == Refused(UNAUDITED, (STORE_UNAVAILABLE,), 1)
    assert channel not in world.channels


async def test_a_port_forward_counts_in_sessions_to_close(world: World) -> None:
    tunnel = Channel(RequestKind.PORT_FORWARD)
    answer = await world.pipeline().admit(_request(RequestKind.PORT_FORWARD), tunnel)
    assert isinstance(answer, Allowed)
    await world.settle()
    assert await world.store.count_sessions_without_mfa("acme", time.time()) == 1
    world.channels.untrack(tunnel)
    await world.settle()
    assert await world.store.count_sessions_without_mfa("acme", time.time()) == 0


async def test_a_decision_never_reuses_what_an_earlier_one_read(world: World) -> None:
    pipeline = world.pipeline()
    assert isinstance(await pipeline.admit(Request(RequestKind.EXEC), None), Allowed)
    await world.store.set_user_disabled(world.identity.user.id, True)
    answer = await pipeline.admit(Request(RequestKind.EXEC), None)
    assert isinstance(answer, Refused) and answer.rule == "user-disabled"


async def test_a_request_decided_while_the_policy_moved_is_decided_again(world: World) -> None:
    """The switch lands between the decision's read and the registration: the request saw
    the old policy, the re-check of open channels ran before it was tracked."""
    store = world.store
    channels = world.channels
    original = store.access_facts
    moved: list[bool] = []

    async def facts_then_switch(project_id: str, user_id: str) -> Any:
        facts = await original(project_id, user_id)
        if not moved:
            moved.append(True)
            await store.set_mfa_required("acme", True)
            channels.policy_moved()  # what the gateway's supervision does when it sees it
            assert await channels.recheck_all() == 0  # nothing tracked yet
        return facts

    store.access_facts = facts_then_switch  # type: ignore[method-assign]
    channel = Channel(RequestKind.SHELL)
    answer = await world.pipeline().admit(Request(RequestKind.SHELL), channel)
    assert isinstance(answer, Refused) and answer.rule == "mfa-required"
    assert channel not in channels
    decisions = [(r.decision, r.reason) for r in await world.audited()]
    assert decisions == [("allow", "allow"), ("close", "mfa-required")]


async def test_the_live_recheck_goes_through_the_pipeline_and_closes_with_the_message(
    world: World,
) -> None:
    tunnel, shell = Channel(RequestKind.PORT_FORWARD), Channel(RequestKind.SHELL)
    pipeline = world.pipeline()
    await pipeline.admit(_request(RequestKind.PORT_FORWARD), tunnel)
    await pipeline.admit(Request(RequestKind.SHELL), shell)
    await world.store.set_mfa_required("acme", True)
    world.channels.policy_moved()
    assert await world.channels.recheck_all() == 2
    assert [d.rule for d in tunnel.closed_by + shell.closed_by] == ["mfa-required"] * 2
    closes = [r for r in await world.audited() if r.decision == "close"]
    assert {r.kind for r in closes} == {"port-forward", "shell"}


async def test_a_store_that_does_not_answer_is_a_refusal(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sshgate.ssh_gateway import deadline

    monkeypatch.setattr(deadline, "STORE_DEADLINE", 0.2)

    async def black_hole(user_id: str) -> None:
        await asyncio.sleep(3600)

    world.store.get_user = black_hole  # type: ignore[assignment,method-assign]
    started = time.monotonic()
    answer = await world.pipeline().admit(Request(RequestKind.SHELL), Channel(RequestKind.SHELL))
    assert isinstance(answer, Refused) and answer.rule == "store-unavailable"
    assert time.monotonic() - started < 1.0


def test_nothing_in_the_gateway_decides_or_writes_the_audit_but_the_pipeline() -> None:
    """Every request kind goes through `Pipeline`: no other gateway module calls the policy
    decision or the store's audit insert."""
    package = Path(forwarding.__file__).parent
    deciders, auditors = set(), set()
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module in ("sshgate.policy", "sshgate.policy.decision")
                and any(alias.name == "decide" for alias in node.names)
            ):
                deciders.add(path.name)
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "audit"
                and "store" in ast.unparse(node.func.value)
            ):
                auditors.add(path.name)
    assert deciders == {"pipeline.py"}
    assert auditors == {"audit.py"}


async def test_an_identity_read_from_the_store_replaces_the_authenticated_one(
    world: World,
) -> None:
    pipeline = world.pipeline()
    pipeline.identity = replace(world.identity, user=replace(world.identity.user, disabled=True))
    assert isinstance(await pipeline.admit(Request(RequestKind.SHELL), None), Allowed)


async def test_a_channel_that_ended_while_it_was_decided_is_not_tracked(world: World) -> None:
    """A client that went away during the decision: tracking it would leave it counted (and
    re-checked) forever, since its end already passed."""
    gone = Channel(RequestKind.PORT_FORWARD, ended=True)
    answer = await world.pipeline().admit(_request(RequestKind.PORT_FORWARD), gone)
    assert isinstance(answer, Allowed)
    assert gone not in world.channels
