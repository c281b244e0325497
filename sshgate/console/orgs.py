"""Organization menu → org → Projects and Security. Security: User security settings (who
has MFA; More → Remind, the row checkboxes and Remind, the Name checkbox for everyone
without MFA) and MFA required with its Enable MFA toggle, which is disabled with the missing
prerequisite named, and asks to confirm with the count of sessions it will close.

The rules are the service layer's (`OrgSecurity`, `Reminders`, `user_access`); an org whose
MFA requirement the caller's login does not meet answers every page here with the 403 page.
"""

from __future__ import annotations

from fastapi import Response
from markupsafe import Markup, escape

from sshgate.console._web import ConsolePage, Form, iso, redirect
from sshgate.console.pages import Page, console_router
from sshgate.policy import MFALevel, closing_tail
from sshgate.services import Reminded, git_clone_command, member_org, ssh_command
from sshgate.store import MemberSecurity

__all__ = ["factor_label", "member_rows", "router"]

router = console_router()
MAX_SELECTED = 1000
# The Remind form carries a row box per member ticked: sized for MAX_SELECTED of them
# (`user=` + a username of at most 39 characters + `&`), plus csrf, all, force and only.
REMIND_FORM_FIELDS = MAX_SELECTED + 8
REMIND_FORM_BYTES = 49152


FACTOR_NAMES = {"totp": "Authenticator app", "webauthn": "Security key or passkey"}


def factor_label(member: MemberSecurity) -> str:
    """The Factor column of User security settings: the member's second factors."""
    if not member.mfa or not member.factors:
        return "None"
    return ", ".join(FACTOR_NAMES.get(f, f) for f in member.factors)


def member_rows(members: list[MemberSecurity]) -> Markup:
    """The rows of User security settings. The one loop of the Console that runs a thousand
    times a page, so it is one f-string rather than a template loop (about ten times
    faster); every value is escaped here. The cells are the header's, in order."""
    rows = []
    for m in members:
        name, mfa = escape(m.username), "on" if m.mfa else "off"
        rows.append(
            f'<tr data-username="{name}"><td class="select"><label><input type="checkbox"'
            f' name="user" value="{name}" data-mfa="{mfa}"> {name}</label></td>'
            f"<td>{escape(m.email)}</td><td>{escape(m.role.value)}</td>"
            f'<td><span class="badge {mfa}">{mfa.capitalize()}</span></td>'
            f"<td>{escape(factor_label(m))}</td><td>{iso(m.mfa_since) or '—'}</td>"
            f"<td>{iso(m.last_reminded) or '—'}</td>"
            f'<td><details class="menu more"><summary aria-label="More for {name}">More'
            f'</summary><div class="menu-list"><button type="submit" name="only"'
            f' value="{name}" class="link" aria-label="Remind {name}">Remind</button>'
            f"</div></details></td></tr>\n"
        )
    return Markup("".join(rows))


@router.get("/orgs/{org}")
async def org_home(org: str, page: Page) -> Response:
    return await projects_page(page, org)


@router.get("/projects")
async def all_projects(page: Page) -> Response:
    return await projects_page(page, None)


async def projects_page(page: ConsolePage, org: str | None) -> Response:
    principal = page.me()
    if org is not None:
        await member_org(page.services.store, principal, org)  # 404 / the MFA page
    access = await page.services.access(principal, org)
    config = page.services.config
    host, port = config.gateway_public_host, config.gateway_public_port
    return await page.render(
        "projects.html",
        org=org,
        access=access,
        ssh=lambda service: ssh_command(service, host, port),
        clone=git_clone_command,
    )


async def security_page(
    page: ConsolePage, org: str, status: int = 200, **values: object
) -> Response:
    principal = page.me()
    service = page.services.org_security
    values.setdefault("reminded", None)
    values.setdefault("error", "")
    settings = await service.overview(principal, org)
    return await page.render(
        "security.html",
        status,
        org=settings.org,
        members=settings.members,
        rows=None if settings.members is None else member_rows(settings.members),
        cannot_switch=settings.cannot_switch,
        refused=settings.refused,
        **values,
    )


@router.get("/orgs/{org}/security")
async def security(org: str, page: Page) -> Response:
    return await security_page(page, org)


def _selection(form: Form) -> list[str] | str | None:
    """Who the Remind form is about: one user (More → Remind), everyone without MFA (the
    Name checkbox, whatever row boxes come with it), the ticked rows, or a message when
    nothing was chosen."""
    only = form.get("only")
    if only:
        return [only[:64]]
    if form.get("all") == "without-mfa":
        return None
    chosen = [name[:64] for name in form.all("user")[:MAX_SELECTED]]
    return chosen or "Select the members to remind first."


@router.post("/orgs/{org}/reminders")
async def remind(org: str, page: Page) -> Response:
    form = await page.form(REMIND_FORM_BYTES, REMIND_FORM_FIELDS)
    principal = page.me()
    selection = _selection(form)
    if isinstance(selection, str):
        return await security_page(page, org, 400, error=selection)
    reminded: Reminded = await page.services.reminders.remind(
        principal, org, selection, force=form.get("force") == "yes"
    )
    return await security_page(page, org, reminded=reminded)


@router.post("/orgs/{org}/mfa-required")
async def mfa_required(org: str, page: Page) -> Response:
    """Off switches at once; on first shows how many sessions will close and asks to
    confirm (the form then carries confirm=yes)."""
    form = await page.form()
    principal = page.me()
    service = page.services.org_security
    turn_on = form.get("required") == "on"
    level = _level(form.get("level"))
    if turn_on and form.get("confirm") != "yes":
        closing = await service.sessions_to_close(principal, org, level)
        return await page.render(
            "confirm_mfa.html",
            org=org,
            closing=closing,
            closing_tail=closing_tail(closing, level),
            level=level.value,
        )
    await service.switch(principal, org, turn_on, page.client, level)
    return redirect(page, f"/orgs/{org}/security")


def _level(value: str) -> MFALevel:
    """The level chosen beside the toggle: any, unless phishing-resistant was chosen."""
    return MFALevel.PHISHING_RESISTANT if value == "phishing-resistant" else MFALevel.ANY
