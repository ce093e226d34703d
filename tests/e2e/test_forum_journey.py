"""In a real browser: ask a question, a second member answers, the asker accepts, the list shows it solved."""

import re

from accounts.models import ADMIN
from forum import categories, services
from tests import factories

try:
    from playwright.sync_api import expect
except ImportError:  # the browser_page fixture then skips (or, in CI, fails) with the reason
    expect = None

TIMEOUT = 5_000  # ms, for every expect() below
PASSWORD = factories.PASSWORD
ASKER, ASKER_NAME = "asha_asker", "Asha Asker"
ANSWERER, ANSWERER_NAME = "ben_answerer", "Ben Answerer"
EXISTING_TITLE = "Recurring invoice skipped a month"
TITLE = "Recurring invoice charged twice after changing plan"
DETAILS = "I moved from the monthly plan to the yearly one and the recurring invoice was charged twice."
ANSWER = "Open Billing, then Invoices, and ask for a refund of the duplicate: it is reversed within a day."


def sign_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/signin")
    page.get_by_label("Email or username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(f"{base_url}/", timeout=TIMEOUT)
    expect(page.get_by_text("You are signed in as")).to_be_visible(timeout=TIMEOUT)


def sign_out(page) -> None:
    """Sign out from the account menu in the header (opening the narrow screen's Menu first)."""
    open_header_menu(page, ".account-menu")
    page.get_by_role("navigation", name="Account").get_by_role("button", name="Sign out").click()


def open_header_menu(page, menu: str) -> None:
    """Open one of the header's drop-down menus (".account-menu", ".staff-menu")."""
    toggle = page.locator(".menu-toggle")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    page.locator(f"{menu} > summary").click()


def staff_tool(page, name: str):
    """The link to a staff page in the header's "Staff tools" menu, opened."""
    open_header_menu(page, ".staff-menu")
    return page.get_by_role("navigation", name="Staff tools").get_by_role("link", name=name, exact=True)


def billing_question(app, title: str, body: str, *, helper: str) -> int:
    """A question from mo_member in a new Billing category, and a member called `helper` to answer
    it: the id of its thread."""
    with app.app_context():
        admin = factories.make_user(ADMIN, username="ada_admin")
        billing = categories.save_category(admin, None, name="Billing", slug="billing")
        thread = services.create_thread(factories.make_user(username="mo_member"), billing.id, title, body)
        factories.make_user(username=helper)
        return thread.id


def thread_row(page, title: str):
    """The list item of the thread titled `title` in a thread list."""
    link = page.get_by_role("link", name=title, exact=True)
    return page.locator("ol.thread-list > li").filter(has=link)


def lists_tab(page, label: str):
    return page.get_by_role("navigation", name="Lists").get_by_role("link", name=re.compile(rf"^{label}\b"))


def test_ask_answer_accept_and_solved_in_the_list(live_server, browser_page, tmp_path):
    base = live_server.url
    with live_server.app.app_context():
        admin = factories.make_user(ADMIN, username="ada_admin", display_name="Ada Admin")
        category = categories.save_category(admin, None, name="Billing", slug="billing")
        asker = factories.make_user(username=ASKER, display_name=ASKER_NAME)
        answerer = factories.make_user(username=ANSWERER, display_name=ANSWERER_NAME)
        # An earlier solved thread, for the ask flow to suggest.
        existing = services.create_thread(asker, category.id, EXISTING_TITLE,
                                          "My monthly invoice for March never came.")
        answer = services.create_post(answerer, existing, "It was held by a failed card payment; retry it.")
        services.accept_answer(asker, answer)

    # The asker signs in and asks, seeing the earlier solved thread suggested while typing the title.
    page = browser_page
    sign_in(page, base, ASKER)
    page.get_by_role("banner").get_by_role("link", name="Ask a question").click()
    expect(page).to_have_url(f"{base}/ask", timeout=TIMEOUT)
    expect(page.get_by_role("heading", level=1)).to_have_text("Ask the community", timeout=TIMEOUT)
    suggestions = page.locator("#suggestions")
    expect(suggestions).to_be_hidden(timeout=TIMEOUT)
    page.get_by_label("Title", exact=True).press_sequentially(TITLE)
    expect(suggestions).to_be_visible(timeout=TIMEOUT)
    expect(suggestions.get_by_role("heading")).to_have_text("These may already answer it", timeout=TIMEOUT)
    suggestion = suggestions.get_by_role("listitem").filter(
        has=page.get_by_role("link", name=EXISTING_TITLE, exact=True))
    expect(suggestion).to_have_count(1, timeout=TIMEOUT)
    expect(suggestion.locator(".badge-solved")).to_have_text("Solved", timeout=TIMEOUT)

    page.get_by_label("Category", exact=True).select_option(label="Billing")
    page.get_by_label("Details", exact=True).fill(DETAILS)
    page.get_by_role("button", name="Post your question").click()

    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/t/\d+$"), timeout=TIMEOUT)
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE, timeout=TIMEOUT)
    expect(page.get_by_text("Your question is posted.")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text("No answers yet.")).to_be_visible(timeout=TIMEOUT)
    thread_url = page.url

    # The second member answers, in a browser context of their own.
    other = page.context.browser.new_context()
    try:
        page2 = other.new_page()
        sign_in(page2, base, ANSWERER)
        page2.goto(thread_url)
        expect(page2.get_by_role("heading", level=1)).to_have_text(TITLE, timeout=TIMEOUT)
        page2.get_by_role("textbox", name="Your answer").fill(ANSWER)
        page2.get_by_role("button", name="Post your answer").click()
        expect(page2).to_have_url(re.compile(rf"^{re.escape(thread_url)}#post-\d+$"), timeout=TIMEOUT)
        expect(page2.get_by_text("Your answer is posted.")).to_be_visible(timeout=TIMEOUT)
        posted = page2.get_by_role("article", name=f"Answer by {ANSWERER_NAME}", exact=True)
        expect(posted).to_contain_text(ANSWER, timeout=TIMEOUT)
        # Only the asker (or staff) may accept.
        expect(page2.get_by_role("button", name="Accept this answer")).to_have_count(0, timeout=TIMEOUT)
    finally:
        other.close()

    # The asker sees the answer and accepts it.
    page.reload()
    answer_card = page.get_by_role("article", name=f"Answer by {ANSWERER_NAME}", exact=True)
    expect(answer_card).to_contain_text(ANSWER, timeout=TIMEOUT)
    answer_card.get_by_role("button", name="Accept this answer").click()

    expect(page.get_by_text("Accepted. The thread is marked solved.")).to_be_visible(timeout=TIMEOUT)
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(f"Solved {TITLE}", timeout=TIMEOUT)
    expect(heading.locator(".badge-solved")).to_have_text("Solved", timeout=TIMEOUT)
    solution = page.get_by_role("region", name="Accepted answer", exact=True)
    expect(solution).to_be_visible(timeout=TIMEOUT)
    expect(solution.get_by_role("article", name=f"Accepted answer by {ANSWERER_NAME}", exact=True)) \
        .to_contain_text(ANSWER, timeout=TIMEOUT)
    expect(solution.get_by_role("button", name="Withdraw acceptance")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_role("button", name="Accept this answer")).to_have_count(0, timeout=TIMEOUT)

    screenshot = tmp_path / "thread-solved.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.exists()
    assert screenshot.stat().st_size > 0

    # The home page (latest) and the Solved list show it solved; Unanswered does not list it.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Questions", exact=True).click()
    expect(page).to_have_url(f"{base}/", timeout=TIMEOUT)
    expect(page.get_by_role("heading", level=1)).to_have_text("Latest questions", timeout=TIMEOUT)
    expect(thread_row(page, TITLE).locator(".badge-solved")).to_have_text("Solved", timeout=TIMEOUT)

    lists_tab(page, "Solved").click()
    expect(page).to_have_url(f"{base}/threads/solved", timeout=TIMEOUT)
    expect(page.get_by_role("heading", level=1)).to_have_text("Solved questions", timeout=TIMEOUT)
    expect(lists_tab(page, "Solved")).to_have_attribute("aria-current", "page", timeout=TIMEOUT)
    expect(thread_row(page, TITLE).locator(".badge-solved")).to_have_text("Solved", timeout=TIMEOUT)
    expect(thread_row(page, EXISTING_TITLE).locator(".badge-solved")).to_have_text("Solved", timeout=TIMEOUT)

    lists_tab(page, "Unanswered").click()
    expect(page).to_have_url(f"{base}/threads/unanswered", timeout=TIMEOUT)
    expect(page.get_by_role("heading", level=1)).to_have_text("Unanswered questions", timeout=TIMEOUT)
    expect(page.get_by_role("link", name=TITLE, exact=True)).to_have_count(0, timeout=TIMEOUT)
