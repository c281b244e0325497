"""Who may switch an organization's "MFA required" on or off. Pure.

Switching on needs three things, checked in this order so the refusal names the first one
missing: the switcher is an owner or admin, the org has the advanced-user-management
add-on, and the switcher has MFA on their own account (so they cannot lock themselves
out). At level phishing-resistant a fourth: the switcher's own login used a security key or
passkey (`hwk`), the proof that they can still get in afterwards. Switching off needs only
the role.
"""

from __future__ import annotations

from dataclasses import dataclass

from sshgate.policy.model import ADVANCED_USER_MANAGEMENT, MFALevel, Organization, OrgRole

NOT_OWNER_OR_ADMIN = "only an owner or admin of {org} can change its MFA requirement"
NO_ADDON = "{org} needs the advanced-user-management add-on before it can require MFA"
SWITCHER_WITHOUT_MFA = (
    "enable MFA on your own account first (sshgate mfa setup, then sshgate login -f), "
    "then switch MFA required on for {org}"
)
SWITCHER_WITHOUT_KEY = (
    "sign in with a security key or passkey first (add one in My profile, Authentication"
    " Settings, then sign in with it or run sshgate login --web), then switch {org} to"
    " phishing-resistant"
)
NOT_ALLOWED_TO_VIEW = "only an owner or admin of {org} can see its members' MFA status"
NOT_ALLOWED_TO_REMIND = "only an owner or admin of {org} can send MFA reminders"
MAY_ADMINISTER = (OrgRole.OWNER, OrgRole.ADMIN)


@dataclass(frozen=True)
class SwitchRefusal:
    rule: str  # "role" | "addon" | "switcher-mfa" | "switcher-key"
    message: str


def may_switch_mfa_required(
    org: Organization,
    role: OrgRole | None,
    switcher_has_mfa: bool,
    turn_on: bool,
    level: MFALevel = MFALevel.ANY,
    switcher_has_key: bool = False,
) -> SwitchRefusal | None:
    """None when the switch may happen; else the first missing prerequisite."""
    if role not in MAY_ADMINISTER:
        return SwitchRefusal("role", NOT_OWNER_OR_ADMIN.format(org=org.name))
    if not turn_on:
        return None
    if ADVANCED_USER_MANAGEMENT not in org.addons:
        return SwitchRefusal("addon", NO_ADDON.format(org=org.name))
    if not switcher_has_mfa:
        return SwitchRefusal("switcher-mfa", SWITCHER_WITHOUT_MFA.format(org=org.name))
    if level is MFALevel.PHISHING_RESISTANT and not switcher_has_key:
        return SwitchRefusal("switcher-key", SWITCHER_WITHOUT_KEY.format(org=org.name))
    return None


def closing_words(closing: int, level: str) -> str:
    """How many open sessions switching on will close, in the words of the CLI's switches and
    the Console's confirm step: "1 open session of users without MFA will be closed"."""
    return f"{closing} {closing_tail(closing, level)}"


def closing_tail(closing: int, level: str) -> str:
    """`closing_words` after the count (the Console sets the count in bold)."""
    sessions = "session" if closing == 1 else "sessions"
    lacking = "a security key or passkey" if level == MFALevel.PHISHING_RESISTANT else "MFA"
    return f"open {sessions} of users without {lacking} will be closed"


def may_view_security(role: OrgRole | None) -> bool:
    """The member list with MFA status, and reminders, are for owners and admins."""
    return role in MAY_ADMINISTER


def switch_detail(
    before: bool,
    after: bool,
    level_before: MFALevel = MFALevel.ANY,
    level_after: MFALevel = MFALevel.ANY,
) -> str:
    """How the audit log shows a change of the switch: `off->on`, or with a level that is not
    any, `on->on:phishing-resistant`."""
    return f"{_on_off(before, level_before)}->{_on_off(after, level_after)}"


def _on_off(value: bool, level: MFALevel) -> str:
    if not value:
        return "off"
    return "on" if level is MFALevel.ANY else f"on:{level.value}"
