"""In a real browser: sign up, sign out, sign in again, and a wrong password refused."""

import re

from tests import factories
from tests.e2e.test_forum_journey import sign_out

try:
    from playwright.sync_api import expect
except ImportError:  # the browser_page fixture then skips (or, in CI, fails) with the reason
    expect = None

TIMEOUT = 5_000  # ms, for every expect() below
DISPLAY_NAME = "Zoë Tester"
USERNAME = "zoe_tester"
EMAIL = "zoe@example.com"
PASSWORD = factories.PASSWORD


def header(page):
    return page.get_by_role("banner")


def expect_greeting(page, name: str) -> None:
    greeting = page.locator("p", has_text="You are signed in as")
    expect(greeting).to_be_visible(timeout=TIMEOUT)
    expect(greeting.locator("strong")).to_have_text(name, timeout=TIMEOUT)


def test_sign_up_sign_out_and_sign_in_again(live_server, browser_page, tmp_path):
    page = browser_page
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Latest questions", timeout=TIMEOUT)
    expect(page.get_by_text("Welcome to Peerline.")).to_be_visible(timeout=TIMEOUT)

    # The first Tab from a fresh page load reaches the skip link.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused(timeout=TIMEOUT)
    assert page.evaluate("document.activeElement.textContent").strip() == "Skip to content"

    header(page).get_by_role("link", name="Sign up", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/signup", timeout=TIMEOUT)
    # CSRF is on for this app, so the real form carries a token.
    expect(page.locator("form input[name=csrf_token]")).to_have_count(1, timeout=TIMEOUT)
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Username", exact=True).fill(USERNAME)
    page.get_by_label("Display name (optional)", exact=True).fill(DISPLAY_NAME)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    expect(page).to_have_url(f"{live_server.url}/", timeout=TIMEOUT)
    expect_greeting(page, DISPLAY_NAME)

    sign_out(page)
    expect(page.get_by_text("You are signed out.")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text("You are signed in as")).to_have_count(0, timeout=TIMEOUT)

    header(page).get_by_role("link", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/signin\b"), timeout=TIMEOUT)
    page.get_by_label("Email or username", exact=True).fill(USERNAME)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()

    expect(page).to_have_url(f"{live_server.url}/", timeout=TIMEOUT)
    expect_greeting(page, DISPLAY_NAME)

    screenshot = tmp_path / "home-signed-in.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.exists()
    assert screenshot.stat().st_size > 0


def test_wrong_password_is_refused(live_server, browser_page):
    with live_server.app.app_context():
        factories.make_user(username="wendy", display_name="Wendy")

    page = browser_page
    page.goto(f"{live_server.url}/signin")
    page.get_by_label("Email or username", exact=True).fill("wendy")
    page.get_by_label("Password", exact=True).fill("not the right password at all")
    page.get_by_role("button", name="Sign in", exact=True).click()

    expect(page.get_by_text("That email or username and password do not match an account.")).to_be_visible(
        timeout=TIMEOUT
    )
    expect(page).to_have_url(f"{live_server.url}/signin", timeout=TIMEOUT)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in", timeout=TIMEOUT)
    expect(page.get_by_text("You are signed in as")).to_have_count(0, timeout=TIMEOUT)
