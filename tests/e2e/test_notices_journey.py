"""In a real browser: a member gets a notice, opens it from the notifications page, and the header
count drops; back on the list (also by the Back button) the notice shows read. A follower reads that
they follow the thread, with a quiet way to stop."""

import re

from accounts.models import ADMIN
from core import jobs
from core.extensions import db
from forum import categories, services
from tests import factories

try:
    from playwright.sync_api import expect
except ImportError:  # the browser_page fixture then skips (or, in CI, fails) with the reason
    expect = None

TIMEOUT = 5_000
TITLE = "Invoice charged twice after changing plan"


def unread_count(page):
    return page.locator('a[href="/notifications"] .count')


def test_opening_a_notice_reads_it_and_the_count_drops(live_server, browser_page):
    base = live_server.url
    with live_server.app.app_context():
        admin = factories.make_user(ADMIN, username="ada_admin")
        category = categories.save_category(admin, None, name="Billing", slug="billing")
        asker = factories.make_user(username="asha_asker")
        answerer = factories.make_user(username="ben_answerer")
        thread = services.create_thread(asker, category.id, TITLE, "The yearly plan charged me twice today.")
        services.create_post(answerer, thread, "Ask billing to refund the duplicate charge.")
        db.session.commit()
        thread_id = thread.id
        jobs.wait_idle()

    page = browser_page
    page.goto(f"{base}/signin")
    page.get_by_label("Email or username", exact=True).fill("asha_asker")
    page.get_by_label("Password", exact=True).fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(unread_count(page)).to_have_text("1", timeout=TIMEOUT)

    page.goto(f"{base}/notifications")
    notice = page.locator("ul.notices > li").filter(has_text=TITLE)
    expect(notice).to_have_class(re.compile(r"\bunread\b"), timeout=TIMEOUT)
    expect(notice.locator(".notice-state")).to_have_text("Unread", timeout=TIMEOUT)
    notice.get_by_role("link", name=f"New answer in “{TITLE}”").click()

    expect(page).to_have_url(re.compile(rf"/t/{thread_id}#post-\d+$"), timeout=TIMEOUT)
    expect(page.get_by_role("heading", level=1)).to_contain_text(TITLE, timeout=TIMEOUT)
    expect(unread_count(page)).to_have_count(0, timeout=TIMEOUT)
    # The asker follows their thread: told so, with a quiet way to stop rather than a big button.
    expect(page.get_by_text("You are following this thread.")).to_be_visible(timeout=TIMEOUT)
    stop = page.get_by_role("button", name="Stop following")
    expect(stop).to_have_class(re.compile(r"\blink-button\b"), timeout=TIMEOUT)

    page.go_back()  # what the walker did: the list must not come back from the browser's cache
    expect(page).to_have_url(f"{base}/notifications", timeout=TIMEOUT)
    notice = page.locator("ul.notices > li").filter(has_text=TITLE)
    expect(notice).to_have_class(re.compile(r"\bread\b"), timeout=TIMEOUT)
    expect(notice.locator(".notice-state")).to_have_count(0, timeout=TIMEOUT)
    expect(unread_count(page)).to_have_count(0, timeout=TIMEOUT)

    page.goto(f"{base}/t/{thread_id}")
    page.get_by_role("button", name="Stop following").click()
    expect(page.get_by_role("button", name="Follow", exact=True)).to_be_visible(timeout=TIMEOUT)
