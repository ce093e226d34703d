"""Asking, answering and accepting with the keyboard alone: every step is reached with Tab from the
top of the page, each focused control shows where focus is, and Enter or Space acts on it."""

import re

from accounts.models import ADVOCATE
from forum import categories
from tests import factories
from tests.e2e.test_forum_journey import TIMEOUT

try:
    from playwright.sync_api import expect
except ImportError:  # the browser_page fixture then skips (or, in CI, fails) with the reason
    expect = None

TITLE = "Recurring invoice skipped the November run"
BODY = "My monthly recurring invoice for client Acme was not created on 1 November. Others were."
ANSWER = "Open the schedule: a recurring invoice pauses when its card payment failed. Resume it there."
MOST_TABS = 80  # more stops than that before a control would be a problem in itself


def tab_to(page, selector: str) -> None:
    """Press Tab until the element matching `selector` has focus, checking that focus is visible."""
    for _ in range(MOST_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            ring = page.evaluate("""() => { const style = getComputedStyle(document.activeElement);
                return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0
                    || style.boxShadow !== 'none'; }""")
            assert ring, f"{selector} has focus but shows no focus ring"
            return
    raise AssertionError(f"{MOST_TABS} presses of Tab never reached {selector}")


def sign_in_by_keyboard(page, base: str, username: str) -> None:
    page.goto(f"{base}/signin")
    tab_to(page, "#login")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(factories.PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_text("You are signed in as")).to_be_visible(timeout=TIMEOUT)


def test_ask_answer_and_accept_with_the_keyboard_only(live_server, browser_page):
    base = live_server.url
    with live_server.app.app_context():
        admin = factories.make_user("admin", username="ada_admin")
        categories.save_category(admin, None, name="Invoicing", slug="invoicing")
        factories.make_user(username="kim_member", display_name="Kim Member")
        factories.make_user(ADVOCATE, username="ava_advocate", display_name="Ava Advocate")
    page = browser_page

    # Kim asks: from the home page, Tab to "Ask a question" in the header, fill the form, post.
    sign_in_by_keyboard(page, base, "kim_member")
    tab_to(page, ".header-ask")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{base}/ask", timeout=TIMEOUT)
    tab_to(page, "#title")
    page.keyboard.type(TITLE)
    tab_to(page, "#category_id")
    page.keyboard.press("ArrowDown")  # from "Choose a category" to Invoicing
    expect(page.locator("#category_id option:checked")).to_have_text("Invoicing", timeout=TIMEOUT)
    tab_to(page, "#body")
    page.keyboard.type(BODY)
    tab_to(page, "#ask-form button[type=submit]:not([name])")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text(TITLE, timeout=TIMEOUT)
    thread_url = page.url
    assert re.search(r"/t/\d+", thread_url)

    # Ava answers: on the thread, Tab to the answer box, write, Tab to the button, Enter.
    page.context.clear_cookies()
    sign_in_by_keyboard(page, base, "ava_advocate")
    page.goto(thread_url)
    tab_to(page, "textarea[name=body]")
    page.keyboard.type(ANSWER)
    tab_to(page, ".reply button[type=submit]:not([name])")
    page.keyboard.press("Enter")
    expect(page.locator("article.post").filter(has_text=ANSWER)).to_be_visible(timeout=TIMEOUT)

    # Kim accepts it with Space on "Accept this answer".
    page.context.clear_cookies()
    sign_in_by_keyboard(page, base, "kim_member")
    page.goto(thread_url)
    tab_to(page, ".button-accept")
    page.keyboard.press("Space")
    expect(page.locator("h1 .badge-solved")).to_have_text("Solved", timeout=TIMEOUT)
    expect(page.locator("article.post-accepted")).to_contain_text(ANSWER, timeout=TIMEOUT)
