"""In a real browser: an empty question comes back with a focused summary of every problem; Enter in
the title moves on instead of posting; a tag is picked from the suggestions with the keyboard alone."""

import sqlalchemy as sa

from accounts.models import ADMIN
from core.extensions import db
from forum import categories
from forum.models import Tag, Thread
from tests import factories

try:
    from playwright.sync_api import expect
except ImportError:  # the browser_page fixture then skips (or, in CI, fails) with the reason
    expect = None

TIMEOUT = 5_000  # ms


def test_the_ask_form_shows_every_problem_and_suggests_tags(live_server, browser_page):
    base = live_server.url
    with live_server.app.app_context():
        admin = factories.make_user(ADMIN, username="ada_admin")
        categories.save_category(admin, None, name="Billing", slug="billing")
        db.session.add_all([Tag(name="invoices"), Tag(name="invoice-pdf"), Tag(name="bank-feeds")])
        db.session.commit()
        factories.make_user(username="mo_member")

    page = browser_page
    page.goto(f"{base}/signin")
    page.get_by_label("Email or username", exact=True).fill("mo_member")
    page.get_by_label("Password", exact=True).fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(f"{base}/", timeout=TIMEOUT)

    # Submitting the empty form: one answer with every problem, the summary focused.
    page.goto(f"{base}/ask")
    page.get_by_role("button", name="Post your question").click()
    summary = page.get_by_role("region", name="There are 3 problems with your question")
    expect(summary).to_be_focused(timeout=TIMEOUT)
    links = summary.get_by_role("link")
    expect(links).to_have_text(["Write a title that says what the problem is.",
                                "Choose one of the categories.",
                                "Write something: the text is empty."])
    # A link in the summary takes the keyboard to its field.
    page.keyboard.press("Tab")
    expect(links.first).to_be_focused()
    page.keyboard.press("Enter")
    title = page.get_by_label("Title", exact=True)
    expect(title).to_be_focused()

    # Enter in the title moves to the next field; nothing is posted.
    title.fill("Invoice PDF shows the wrong logo")
    title.press("Enter")
    expect(page.get_by_label("Category", exact=True)).to_be_focused()
    expect(page).to_have_url(f"{base}/ask")
    page.get_by_label("Category", exact=True).select_option(label="Billing")
    page.get_by_label("Details", exact=True).fill("Since yesterday every PDF shows our old logo.")

    # Tags: type part of one, move to a suggestion with Down, pick it with Enter.
    tags = page.get_by_role("combobox", name="Tags (optional)")
    tags.press_sequentially("inv", delay=30)
    listbox = page.get_by_role("listbox", name="Existing tags")
    expect(listbox).to_be_visible(timeout=TIMEOUT)
    expect(listbox.get_by_role("option")).to_have_count(2)
    expect(tags).to_have_attribute("aria-expanded", "true")
    expect(listbox.get_by_role("option")).to_have_text(["invoice-pdf 0 threads", "invoices 0 threads"])
    tags.press("ArrowDown")
    tags.press("ArrowDown")
    second = listbox.get_by_role("option").nth(1)
    expect(second).to_have_attribute("aria-selected", "true")
    expect(tags).to_have_attribute("aria-activedescendant", second.get_attribute("id"))
    tags.press("Enter")
    expect(tags).to_have_value("invoices, ")
    expect(listbox).to_be_hidden()
    expect(tags).to_have_attribute("aria-expanded", "false")
    # Escape closes the list without changing the field.
    tags.press_sequentially("ban", delay=30)
    expect(listbox.get_by_role("option")).to_have_text(["bank-feeds 0 threads"], timeout=TIMEOUT)
    tags.press("Escape")
    expect(listbox).to_be_hidden()
    expect(tags).to_have_value("invoices, ban")
    tags.press("ArrowDown")  # opens it again
    expect(listbox).to_be_visible(timeout=TIMEOUT)
    tags.press("ArrowDown")
    tags.press("Tab")  # picks the option moved to, and goes on
    expect(tags).to_have_value("invoices, bank-feeds, ")
    # Enter in the tags field (no option chosen) does not post either.
    tags.focus()
    tags.press("Enter")
    expect(page).to_have_url(f"{base}/ask")
    with live_server.app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Thread)) == 0

    # The button posts, by keyboard.
    button = page.get_by_role("button", name="Post your question")
    button.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Your question is posted.")).to_be_visible(timeout=TIMEOUT)
    with live_server.app.app_context():
        thread = db.session.scalar(sa.select(Thread))
        assert thread.title == "Invoice PDF shows the wrong logo"
        assert [tag.name for tag in thread.tags] == ["bank-feeds", "invoices"]
