"""The Console's whole story in a real Chromium (Debian's, driven by Playwright), against a
real deployment (`sshgate serve`, a real sshd environment, a real SMTP server):

an owner signs in, sets up the authenticator (the secret read from the page, codes from
pyotp), Verify & save, sees the recovery codes once; opens the org's Security page and sees
who lacks MFA; reminds one user (More → Remind), two (the row checkboxes), all (the Name
checkbox; members with MFA skipped), each email arriving; switches MFA required on (the
confirm step shows the count of open sessions it will close, and closes them). Then a
developer without MFA is refused over ssh with the documented message, sets up MFA in the
Console, runs `sshgate login -f`, and gets in.

The owner's story runs twice, with JavaScript on (olga, org acme) and off (oscar, org
initech), and the developer's with JavaScript off. axe-core checks every page it meets.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import pyotp
import pytest

from tests.e2e.conftest import PASSWORD, Deployment
from tests.e2e.test_login_flow import User
from tests.e2e.test_org_security import Inbox, start_mail_deployment
from tests.support.deployment import Client, open_session, wait_until

playwright_sync = pytest.importorskip("playwright.sync_api")
axe_sync = pytest.importorskip("axe_playwright_python.sync_playwright")

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NEXT_STEP = "Refresh your SSH credentials: run sshgate login -f"
MFA_PAGE = "Multifactor authentication (MFA) is required by this organization"
SERIOUS = ("serious", "critical")

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)


@dataclass
class World:
    d: Deployment
    inbox: Inbox
    people: Path
    url: str
    browser: object
    bob: Client  # a certificate without mfa
    checked: dict[str, list[str]] = field(default_factory=dict)  # page title -> violations
    without_js: list[object] = field(default_factory=list)  # pages of contexts without JS


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    d, smtp, inbox = start_mail_deployment(tmp_path_factory.mktemp("console"))
    try:
        # Before Playwright: its sync API keeps an event loop running in this thread.
        _people(d)
        bob = d.client("bob")
        d.issue(bob, "bob", ("pwd",))
        playwright = playwright_sync.sync_playwright().start()
    except BaseException:
        d.server.stop()
        d.env.stop()
        smtp.stop()
        raise
    try:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        try:
            url = f"http://127.0.0.1:{d.api_port}"
            yield World(d, inbox, tmp_path_factory.mktemp("people"), url, browser, bob)
        finally:
            browser.close()
    finally:
        playwright.stop()
        d.server.stop()
        d.env.stop()
        smtp.stop()


def _people(d: Deployment) -> None:
    """acme (whose MFA requirement starts off here): olga owner; alice, bob, carol, erin,
    frank members without MFA; dave with MFA. initech: oscar owner, the same members.
    umbrella: carol member, erin admin. plain (no add-on): erin owner."""
    d.admin("org", "mfa-required", "acme", "off")
    for name in ("olga", "oscar", "dave", "erin", "frank"):
        d.add_user(name)
    d.enable_mfa("dave")
    d.admin("org", "add", "initech", "--addon", "advanced-user-management")
    d.admin("org", "add", "umbrella", "--addon", "advanced-user-management")
    d.admin("org", "add", "plain")
    d.admin("org", "member", "acme", "olga", "--role", "owner")
    d.admin("org", "member", "initech", "oscar", "--role", "owner")
    d.admin("org", "member", "umbrella", "carol", "--role", "member")
    d.admin("org", "member", "umbrella", "erin", "--role", "admin")
    d.admin("org", "member", "plain", "erin", "--role", "owner")
    for name in ("alice", "bob", "carol", "dave", "erin", "frank"):
        d.admin("org", "member", "acme", name, "--role", "member")
        d.admin("org", "member", "initech", name, "--role", "member")


@pytest.fixture
def js_page(world: World) -> Iterator[object]:
    context = world.browser.new_context(java_script_enabled=True)  # type: ignore[attr-defined]
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def no_js_page(world: World) -> Iterator[object]:
    context = world.browser.new_context(java_script_enabled=False)  # type: ignore[attr-defined]
    try:
        page = context.new_page()
        world.without_js.append(page)
        yield page
    finally:
        context.close()


# helpers


class Codes:
    """TOTP codes of one secret, each from a later time step than the last (the server never
    takes a step that is not later than the last it accepted): the current step, or the next
    one (within the ±1 window); beyond that, wait for time to catch up."""

    def __init__(self) -> None:
        self.secret = ""
        self.last = 0

    def next(self) -> str:
        now_step = int(time.time() // 30)
        step = max(now_step, self.last + 1)
        assert wait_until(lambda: step <= int(time.time() // 30) + 1, 40)
        self.last = step
        return str(pyotp.TOTP(self.secret).at(step * 30))


def accessible(world: World, page: object, what: str) -> None:
    """axe-core on the page as it is: no serious or critical violation. axe is a script: a
    page of a context without JavaScript is checked as a copy, its HTML served at its own
    address (so its stylesheet loads) to a page of a context with JavaScript."""
    if page in world.without_js:
        url = str(page.url).split("#")[0]  # type: ignore[attr-defined]
        html = str(page.content())  # type: ignore[attr-defined]
        context = world.browser.new_context()  # type: ignore[attr-defined]
        try:
            probe = context.new_page()
            probe.route(url, lambda route: route.fulfill(body=html, content_type="text/html"))
            probe.goto(url)
            _no_serious_violation(world, probe, what)
        finally:
            context.close()
        return
    _no_serious_violation(world, page, what)


def _no_serious_violation(world: World, page: object, what: str) -> None:
    results = axe_sync.Axe().run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in SERIOUS
    ]
    world.checked[what] = bad
    assert bad == [], f"{what}: {bad}"


def text_of(page: object, selector: str) -> str:
    return str(page.locator(selector).inner_text()).strip()  # type: ignore[attr-defined]


def sign_in(world: World, page: object, username: str, code: str | None = None) -> None:
    page.goto(world.url + "/")  # type: ignore[attr-defined]
    page.get_by_label("Username").fill(username)  # type: ignore[attr-defined]
    page.get_by_label("Password").fill(PASSWORD)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    if code is not None:
        page.get_by_role("heading", name="Authentication code").wait_for()  # type: ignore[attr-defined]
        accessible(world, page, "Authentication code")
        page.get_by_label("Authentication code").fill(code)  # type: ignore[attr-defined]
        page.get_by_role("button", name="Verify").click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name="Projects").wait_for()  # type: ignore[attr-defined]


def sign_out(page: object) -> None:
    page.locator("details.user-menu summary").click()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign out").click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name="Sign in").wait_for()  # type: ignore[attr-defined]


def set_up_authenticator(world: World, page: object, codes_of: Codes) -> list[str]:
    """User menu → My profile → Authentication Settings → Set up application → Verify & save.
    Keeps the secret (read from the page) in `codes_of`; returns the recovery codes shown."""
    page.locator("details.user-menu summary").click()  # type: ignore[attr-defined]
    page.get_by_role("link", name="My profile").click()  # type: ignore[attr-defined]
    page.get_by_role("link", name="Authentication Settings").wait_for()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Set up application").click()  # type: ignore[attr-defined]
    secret = text_of(page, "#totp-secret").replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32,}", secret), secret
    assert page.locator(".qr-code svg").count() == 1  # type: ignore[attr-defined]
    uri = page.locator("#otpauth-uri").text_content()  # type: ignore[attr-defined]
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    codes_of.secret = secret
    accessible(world, page, "Set up application")
    page.get_by_label("Code from the app").fill(codes_of.next())  # type: ignore[attr-defined]
    page.get_by_role("button", name="Verify & save").click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name="MFA is on").wait_for()  # type: ignore[attr-defined]
    codes = [c.strip() for c in page.locator("#recovery-codes code").all_inner_texts()]  # type: ignore[attr-defined]
    assert len(codes) == 10 and all(
        re.fullmatch(r"[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}", c) for c in codes
    )
    assert text_of(page, "#next-step") == NEXT_STEP
    assert page.get_by_role("button", name="Download").count() == 1  # type: ignore[attr-defined]
    accessible(world, page, "Recovery codes")
    # Shown once: My profile no longer has them.
    page.goto(world.url + "/profile")  # type: ignore[attr-defined]
    html = str(page.content())  # type: ignore[attr-defined]
    assert not any(code in html for code in codes)
    assert "MFA on" in html
    return codes


def remind_result(page: object) -> str:
    return text_of(page, "#remind-result")


def row_checkbox(page: object, username: str) -> object:
    return page.locator(f'input[name="user"][value="{username}"]')  # type: ignore[attr-defined]


# the stories


def owner_story(world: World, page: object, owner: str, org: str, held: int) -> None:
    inbox, codes = world.inbox, Codes()
    sign_in(world, page, owner)
    accessible(world, page, "Projects")
    set_up_authenticator(world, page, codes)
    sign_out(page)
    sign_in(world, page, owner, codes.next())

    # Organization menu (upper left) → org → Security.
    page.locator("details.org-menu summary").click()  # type: ignore[attr-defined]
    page.locator("details.org-menu").get_by_role("link", name=org, exact=True).click()  # type: ignore[attr-defined]
    page.get_by_role("link", name="Security").click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name="User security settings").wait_for()  # type: ignore[attr-defined]
    accessible(world, page, "Security")
    without = {
        str(b.get_attribute("value"))
        for b in page.locator('input[name="user"][data-mfa="off"]').all()  # type: ignore[attr-defined]
    }
    assert without == {"alice", "bob", "carol", "erin", "frank"}
    assert row_checkbox(page, "dave").get_attribute("data-mfa") == "on"  # type: ignore[attr-defined]
    assert row_checkbox(page, owner).get_attribute("data-mfa") == "on"  # type: ignore[attr-defined]

    # More → Remind, for one member.
    before = len(inbox.messages)
    row = page.locator('tr[data-username="alice"]')  # type: ignore[attr-defined]
    row.locator("summary").click()
    row.get_by_role("button", name="Remind alice").click()
    assert "Reminders sent: alice." in remind_result(page)
    # Two through the row checkboxes and Remind.
    row_checkbox(page, "bob").check()  # type: ignore[attr-defined]
    row_checkbox(page, "carol").check()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Remind", exact=True).click()  # type: ignore[attr-defined]
    assert "Reminders sent: bob, carol." in remind_result(page)
    # Everyone without MFA through the Name checkbox: members with MFA are skipped, and so
    # are those reminded within the hour. With JavaScript Name ticks every row without MFA,
    # yet the row boxes stay out of the form (a large org's would overflow its bounds).
    page.get_by_label("Name", exact=True).check()  # type: ignore[attr-defined]
    with page.expect_request(  # type: ignore[attr-defined]
        lambda request: request.method == "POST" and request.url.endswith("/reminders")
    ) as sent:
        page.get_by_role("button", name="Remind", exact=True).click()  # type: ignore[attr-defined]
    posted = parse_qs(sent.value.post_data or "")
    assert posted["all"] == ["without-mfa"] and "user" not in posted
    result = remind_result(page)
    assert "Reminders sent: erin, frank." in result
    assert (
        "Skipped dave: has MFA already" in result and f"Skipped {owner}: has MFA already" in result
    )
    assert "Skipped alice: reminded less than an hour ago" in result
    assert wait_until(lambda: len(inbox.messages) == before + 5, 20)
    for name in ("alice", "bob", "carol", "erin", "frank"):
        assert any(
            org in body and "sshgate login -f" in body for body in inbox.to(f"{name}@example.com")
        )
    assert not any(org in body for body in inbox.to("dave@example.com"))
    last = page.locator('tr[data-username="erin"] td').nth(6).inner_text()  # type: ignore[attr-defined]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", last.strip())

    # MFA required → Enable MFA: first the count, then the confirmation.
    page.get_by_role("switch", name="Enable MFA").click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name=f"Require MFA for {org}?").wait_for()  # type: ignore[attr-defined]
    sessions = "session" if held == 1 else "sessions"
    assert (
        text_of(page, "#closing-count")
        == f"{held} open {sessions} of users without MFA will be closed."
    )
    accessible(world, page, "Confirm MFA required")
    page.get_by_role("button", name="Confirm: enable MFA").click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name="User security settings").wait_for()  # type: ignore[attr-defined]
    assert page.get_by_role("switch", name="Enable MFA").get_attribute("aria-checked") == "true"  # type: ignore[attr-defined]


def test_the_owner_story_with_javascript(world: World, js_page: object) -> None:
    held = open_session(world.bob, world.d.service, "sleep 120")
    try:
        owner_story(world, js_page, "olga", "acme", held=1)
        # bob's open session without MFA is closed with the MFA message.
        assert held.wait(timeout=30) == 1
        assert held.stderr is not None and b"Multifactor authentication (MFA)" in held.stderr.read()
    finally:
        if held.poll() is None:
            held.kill()
            held.wait()


def test_the_owner_story_without_javascript(world: World, no_js_page: object) -> None:
    owner_story(world, no_js_page, "oscar", "initech", held=0)


def test_a_developer_without_mfa_is_refused_then_sets_it_up_in_the_console_and_gets_in(
    world: World, no_js_page: object
) -> None:
    d, page = world.d, no_js_page
    org = d.admin("org", "mfa-required", "acme", "on")  # already on after the owner's story
    assert org["mfa_required"] is True
    frank = User(d, "frank", world.people)
    d.admin("project", "grant", d.project, "frank", "--role", "contributor")
    frank.json("login", "--user", "frank", "--password-stdin", stdin=PASSWORD + "\n")
    denied = frank.ssh(d.service, "echo hi")
    assert denied.returncode == 1
    assert denied.stderr.startswith(
        f"Error: Access denied\nService: {d.service}\nUser: frank ({d.users['frank']})\n"
        'Parameters: {"amr":["mfa"]}\nDetail: Additional authentication is required:\n'
        "\t - Multifactor authentication (MFA)\n"
    )

    sign_in(world, page, "frank")
    page.goto(f"{world.url}/orgs/acme")  # type: ignore[attr-defined]
    assert MFA_PAGE in str(page.content())  # type: ignore[attr-defined]
    accessible(world, page, "MFA required (403)")
    page.get_by_role("link", name="Set up application").click()  # type: ignore[attr-defined]
    codes = Codes()
    recovery = set_up_authenticator(world, page, codes)

    login = frank.json(
        "login", "-f", "--password-stdin", "--totp", codes.next(),
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert login["amr"] == ["pwd", "otp", "mfa"]
    allowed = frank.ssh(d.service, "echo hi")
    assert (allowed.returncode, allowed.stdout) == (0, "hi\n"), allowed.stderr

    # The Projects page gives the exact commands; a recovery code signs in too.
    sign_out(page)
    sign_in(world, page, "frank", recovery[0])
    html = str(page.content())  # type: ignore[attr-defined]
    port = d.gateway_port
    assert f"ssh -p {port} {d.service}@127.0.0.1" in html
    assert f"git clone ssh://{d.project}@127.0.0.1:{port}/{d.project}.git" in html
    accessible(world, page, "Projects (developer)")
    page.locator("details.user-menu summary").click()  # type: ignore[attr-defined]
    page.get_by_role("link", name="API tokens").click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name="Create a token").wait_for()  # type: ignore[attr-defined]
    accessible(world, page, "API tokens")


def test_each_missing_prerequisite_is_shown_and_a_member_has_no_working_toggle(
    world: World, js_page: object
) -> None:
    """In umbrella (add-on): carol is a member, erin an admin without MFA on her account;
    in plain (no add-on) erin is the owner."""
    page = js_page
    sign_in(world, page, "carol")
    page.goto(f"{world.url}/orgs/umbrella/security")  # type: ignore[attr-defined]
    assert page.get_by_role("switch", name="Enable MFA").is_disabled()  # type: ignore[attr-defined]
    assert "Only an owner or admin" in text_of(page, "#toggle-reason")
    assert page.locator("table.members").count() == 0  # type: ignore[attr-defined]
    accessible(world, page, "Security (member)")
    sign_out(page)

    sign_in(world, page, "erin")
    page.goto(f"{world.url}/orgs/umbrella/security")  # type: ignore[attr-defined]
    assert page.get_by_role("switch", name="Enable MFA").is_disabled()  # type: ignore[attr-defined]
    assert "Your own account has no MFA" in text_of(page, "#toggle-reason")
    link = page.locator("#toggle-reason a")  # type: ignore[attr-defined]
    assert link.get_attribute("href") == "/profile#set-up-application"
    page.goto(f"{world.url}/orgs/plain/security")  # type: ignore[attr-defined]
    assert page.get_by_role("switch", name="Enable MFA").is_disabled()  # type: ignore[attr-defined]
    assert "Advanced User Management add-on is missing" in text_of(page, "#toggle-reason")
    sign_out(page)


def test_signing_in_and_reminding_work_by_keyboard_alone(world: World, no_js_page: object) -> None:
    """erin, admin of umbrella: the sign-in form, then More → Remind for carol, with Tab,
    typing and Enter only (and no JavaScript)."""
    page = no_js_page
    page.goto(world.url + "/sign-in")  # type: ignore[attr-defined]
    keyboard = page.keyboard  # type: ignore[attr-defined]
    tab_to(page, "id", "username")
    keyboard.type("erin")
    keyboard.press("Tab")
    keyboard.type(PASSWORD)
    keyboard.press("Enter")
    page.get_by_role("heading", name="Projects").wait_for()  # type: ignore[attr-defined]
    page.goto(world.url + "/orgs/umbrella/security")  # type: ignore[attr-defined]
    tab_to(page, "aria-label", "More for carol")
    keyboard.press("Enter")
    keyboard.press("Tab")
    assert _focused(page, "aria-label", "Remind carol")
    keyboard.press("Enter")
    assert "Reminders sent: carol." in remind_result(page)


def _focused(page: object, attribute: str, value: str) -> bool:
    """Whether the element whose `attribute` is `value` has the keyboard focus (found by
    Playwright's own selector engine: the page may run no script)."""
    focused = page.locator(":focus")  # type: ignore[attr-defined]
    return bool(focused.count()) and focused.first.get_attribute(attribute) == value


def tab_to(page: object, attribute: str, value: str) -> None:
    for _ in range(80):
        if _focused(page, attribute, value):
            return
        page.keyboard.press("Tab")  # type: ignore[attr-defined]
    raise AssertionError(f"Tab never reached [{attribute}={value!r}]")
