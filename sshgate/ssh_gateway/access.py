"""Gathers what the policy decision needs from the live store: the I/O half of `decide()`."""

from __future__ import annotations

from dataclasses import replace

from sshgate.policy import GitRoute, Identity, ServiceRoute, Target, parse_route
from sshgate.store import Store


async def resolve_target(store: Store, requested: str, user_id: str) -> Target:
    """Look up the project, org, roles and environment the SSH user name names, now."""
    route = parse_route(requested)
    if route is None:
        return Target(requested, None, None, None, False, None, None)
    facts = await store.access_facts(route.project_id, user_id)
    environment = None
    if isinstance(route, ServiceRoute):
        environment = next(
            (
                env
                for env in facts.environments
                if env.machine_name == route.machine_name and env.app == route.app
            ),
            None,
        )
    return Target(
        requested=requested,
        project=facts.project,
        org=facts.org,
        environment=environment,
        is_git=isinstance(route, GitRoute),
        org_role=facts.org_role,
        project_role=facts.project_role,
    )


async def refresh_identity(store: Store, identity: Identity) -> Identity:
    """The same certificate, with the user and the ledger entry as they are now.

    A user or ledger entry that vanished counts as disabled or revoked: fail closed.
    """
    user = await store.get_user(identity.user.id)
    record = await store.get_certificate(identity.serial)
    revoked = record is not None and record.revoked_at is not None
    if user is None:
        return replace(identity, user=replace(identity.user, disabled=True), revoked=revoked)
    return replace(identity, user=user, revoked=revoked)
