"""`sshgate admin`: the operator's commands, run on a server host against the store."""

from __future__ import annotations

import click

from sshgate.cli._help import Group
from sshgate.cli.admin.audit import audit
from sshgate.cli.admin.keys import ca, cert
from sshgate.cli.admin.orgs import org
from sshgate.cli.admin.projects import env, project
from sshgate.cli.admin.users import user


@click.group(cls=Group)
def admin() -> None:
    """Operator commands (users, orgs, projects, environments, keys, audit)."""


for command in (user, org, project, env, ca, cert, audit):
    admin.add_command(command)

__all__ = ["admin"]
