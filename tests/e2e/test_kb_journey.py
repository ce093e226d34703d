"""In a real browser: staff promote a solved thread to an article and publish it, readers see the
thread point to it, and staff link an article into a reply with the keyboard-only picker."""

import re

from accounts.models import ADMIN, STAFF
from forum import categories
from forum import services as forum_services
from kb import services as kb_services
from tests import factories

try:
    from playwright.sync_api import expect
except ImportError:  # the browser_page fixture then skips (or, in CI, fails) with the reason
    expect = None

TIMEOUT = 5_000  # ms
THREAD_TITLE = "Bank feed imported everything twice"
ARTICLE_TITLE = "Undo a duplicate bank feed import"


def sign_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/signin")
    page.get_by_label("Email or username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(f"{base_url}/", timeout=TIMEOUT)


def test_promote_publish_and_link_an_article_from_a_reply(live_server, browser_page):
    base = live_server.url
    with live_server.app.app_context():
        admin = factories.make_user(ADMIN, username="ada_admin")
        factories.make_user(STAFF, username="sam_staff", display_name="Sam Staff")
        category = categories.save_category(admin, None, name="Bank feeds", slug="bank-feeds")
        asker = factories.make_user(username="asha_asker")
        solved = forum_services.create_thread(asker, category.id, THREAD_TITLE, "Every line is there twice.")
        answer = forum_services.create_post(factories.make_user(), solved,
                                            "Use **Undo import** on the batch.")
        forum_services.accept_answer(asker, answer)
        open_thread = forum_services.create_thread(asker, category.id, "Duplicates again after reconnecting",
                                                   "Same problem as last month.")
        kb_services.create_article(admin, category.id, "Bank rules for fuel cards", "Rules.",
                                   status="published")
        solved_id, open_id = solved.id, open_thread.id

    page = browser_page
    sign_in(page, base, "sam_staff")

    # Promote the solved thread: the draft is prefilled from the question and the accepted answer.
    page.goto(f"{base}/t/{solved_id}")
    page.get_by_role("link", name="Promote it to a knowledge-base article").click()
    expect(page.get_by_text("Use **Undo import** on the batch.")).to_be_visible(timeout=TIMEOUT)
    page.get_by_role("button", name="Create the draft article").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/kb/[a-z0-9-]+/edit$"), timeout=TIMEOUT)
    page.get_by_label("Title", exact=True).fill(ARTICLE_TITLE)
    page.get_by_label("Address (optional)", exact=True).fill("undo-a-duplicate-import")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(f"{base}/kb/undo-a-duplicate-import", timeout=TIMEOUT)
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_text("Published: everyone can read it now")).to_be_visible(timeout=TIMEOUT)

    # The thread now points readers to the article.
    page.goto(f"{base}/t/{solved_id}")
    notice = page.locator(".thread-notice")
    expect(notice).to_contain_text("This answer is now a KB article", timeout=TIMEOUT)
    expect(notice.get_by_role("link", name=ARTICLE_TITLE)).to_have_attribute(
        "href", "/kb/undo-a-duplicate-import", timeout=TIMEOUT)

    # In another thread, link the article into a reply with the keyboard only.
    page.goto(f"{base}/t/{open_id}")
    reply = page.get_by_role("textbox", name="Your answer")
    reply.fill("Hello! See  for the steps.")
    reply.evaluate("(el) => el.setSelectionRange(11, 11)")  # between the two spaces
    picker = page.get_by_role("combobox", name="Link a knowledge-base article")
    picker.focus()
    picker.press_sequentially("duplicate imp")
    listbox = page.get_by_role("listbox", name="Matching articles")
    expect(listbox.get_by_role("option")).to_have_count(1, timeout=TIMEOUT)
    expect(listbox.get_by_role("option").first).to_have_text(ARTICLE_TITLE, timeout=TIMEOUT)
    expect(picker).to_have_attribute("aria-expanded", "true", timeout=TIMEOUT)
    picker.press("ArrowDown")
    expect(picker).to_have_attribute("aria-activedescendant", re.compile(r"-option-0$"), timeout=TIMEOUT)
    picker.press("Enter")
    expect(reply).to_have_value(
        f"Hello! See [{ARTICLE_TITLE}](/kb/undo-a-duplicate-import) for the steps.", timeout=TIMEOUT)
    expect(listbox).to_be_hidden(timeout=TIMEOUT)
    expect(reply).to_be_focused(timeout=TIMEOUT)
    assert page.url.endswith(f"/t/{open_id}")  # Enter chose the article; it did not post the answer

    # Escape closes the list without inserting anything.
    picker.focus()
    picker.press_sequentially("fuel")
    expect(listbox.get_by_role("option")).to_have_text(["Bank rules for fuel cards"], timeout=TIMEOUT)
    picker.press("Escape")
    expect(listbox).to_be_hidden(timeout=TIMEOUT)

    page.get_by_role("button", name="Post your answer").click()
    expect(page.get_by_text("Your answer is posted.")).to_be_visible(timeout=TIMEOUT)
    link = page.locator(".post-body a", has_text=ARTICLE_TITLE)
    expect(link).to_have_attribute("href", "/kb/undo-a-duplicate-import", timeout=TIMEOUT)
