"""The one service layer: the rules for org security, accounts and the operator's commands,
called alike by the JSON API, the Console and the CLI (which reaches the API, or, for the
operator's `sshgate admin`, calls these services over the store it opens). Shells gather
inputs, call a service and render its answer; no rule is written in a shell.

* `OrgSecurity`: members with MFA status, the "MFA required" switch and its prerequisites,
  the count of sessions it will close (taken before the switch), the operator's switch;
* `Reminders`: remind one, several or all members without MFA, the one-hour rule;
* `user_access`: the caller's orgs, projects, services and git remotes;
* `member_org`, `missing_amr`: an org is reached through membership, and only by a login
  that meets its MFA requirement;
* `Operator`: `sshgate admin user ...` (with `check_new_user`, pure) and
  `sshgate admin org ...` but its MFA switch;
* `Projects`: `sshgate admin project ...` and `sshgate admin env ...`, with the pure checks
  of their input (`git_upstream`, `environment_upstream`, `pinned`,
  `check_environment_names`);
* accounts (login, password, MFA, recovery codes, tokens) are `sshgate.accounts.Accounts`,
  handed out here as `Services.accounts`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sshgate.accounts import Accounts, Principal
from sshgate.config import Config
from sshgate.services.access import (
    Access,
    OrgEntry,
    ProjectEntry,
    git_clone_command,
    git_remote,
    ssh_command,
    user_access,
)
from sshgate.services.cli_signin import DEVICE_PATH, CliSignIn, Consent, TokenAnswer
from sshgate.services.errors import (
    Forbidden,
    InvalidRequest,
    NotFound,
    OrgNotFound,
    OrgRequiresMFA,
    ServiceError,
)
from sshgate.services.operator import Operator, check_new_user
from sshgate.services.org_security import OrgSecurity, SecuritySettings, Switched
from sshgate.services.orgs import MemberOrg, member_org, missing_amr
from sshgate.services.projects import (
    Projects,
    check_environment_names,
    environment_upstream,
    git_upstream,
    pinned,
)
from sshgate.services.reminders import Reminded, Reminders
from sshgate.store import Store

__all__ = [
    "DEVICE_PATH",
    "Access",
    "CliSignIn",
    "Consent",
    "Forbidden",
    "InvalidRequest",
    "MemberOrg",
    "NotFound",
    "Operator",
    "OrgEntry",
    "OrgNotFound",
    "OrgRequiresMFA",
    "OrgSecurity",
    "ProjectEntry",
    "Projects",
    "Reminded",
    "Reminders",
    "SecuritySettings",
    "ServiceError",
    "Services",
    "Switched",
    "TokenAnswer",
    "check_environment_names",
    "check_new_user",
    "environment_upstream",
    "git_clone_command",
    "git_remote",
    "git_upstream",
    "member_org",
    "missing_amr",
    "pinned",
    "ssh_command",
    "user_access",
]


@dataclass(frozen=True)
class Services:
    """Every service over one store, configuration and clock."""

    config: Config
    store: Store
    accounts: Accounts
    now: Callable[[], float] = field(default=time.time)

    @property
    def org_security(self) -> OrgSecurity:
        return OrgSecurity(self.store, self.now)

    @property
    def reminders(self) -> Reminders:
        return Reminders(self.store, self.config.mail, self.config.api_public_url, self.now)

    @property
    def cli_signin(self) -> CliSignIn:
        return CliSignIn(self.store, self.accounts, self.config.api_public_url, self.now)

    @property
    def operator(self) -> Operator:
        return Operator(self.store, self.now)

    @property
    def projects(self) -> Projects:
        return Projects(self.store, self.now)

    async def access(self, principal: Principal, org: str | None = None) -> Access:
        config = self.config
        return await user_access(
            self.store, principal, config.gateway_public_host, config.gateway_public_port, org
        )
