"""In a real browser: a member flags a rude answer, a moderator hides it from the review queue, the
author sees the notice and the reason, and the flagger sees the outcome of their flag."""

import pytest

from accounts.models import STAFF
from forum import categories, services
from tests import factories
from tests.e2e.test_forum_journey import TIMEOUT, sign_in, sign_out, staff_tool

try:
    from playwright.sync_api import expect
except ImportError:  # the browser_page fixture then skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.live_jobs

TITLE = "Payroll export misses the overtime column"
RUDE = "Did you even read the manual? Obviously not."


def test_a_flag_reaches_the_queue_and_everyone_hears_the_outcome(live_server, browser_page):
    base = live_server.url
    with live_server.app.app_context():
        admin = factories.make_user("admin", username="ada_admin")
        payroll = categories.save_category(admin, None, name="Payroll", slug="payroll")
        factories.make_user(STAFF, username="sam_staff", display_name="Sam Staff")
        asker = factories.make_user(username="mia_member", display_name="Mia Member")
        thread = services.create_thread(asker, payroll.id, TITLE, "Overtime hours are not in the CSV.")
        services.create_post(factories.make_user(username="rude_rob", display_name="Rob"), thread, RUDE)
        thread_id = thread.id

    page = browser_page
    sign_in(page, base, "mia_member")
    page.goto(f"{base}/t/{thread_id}")
    page.locator("article.post").filter(has_text=RUDE).get_by_role("link", name="Flag").click()
    page.get_by_label("Abusive, rude or harassing").check()
    page.get_by_label("Tell the moderators more", exact=False).fill("Talking down to me instead of helping.")
    page.get_by_role("button", name="Send to moderators").click()
    expect(page.get_by_text("moderators will look at it")).to_be_visible(timeout=TIMEOUT)
    sign_out(page)

    sign_in(page, base, "sam_staff")
    staff_tool(page, "Review").click()
    item = page.locator(".review-item").filter(has_text=RUDE)
    expect(item.get_by_text("Talking down to me instead of helping.")).to_be_visible(timeout=TIMEOUT)
    item.get_by_text("Hide…").click()
    item.get_by_label("Why hide it?").fill("Please answer the question, kindly.")
    item.get_by_role("button", name="Hide from members").click()
    expect(page.get_by_text("Nothing waits for review")).to_be_visible(timeout=TIMEOUT)
    sign_out(page)

    sign_in(page, base, "rude_rob")
    page.get_by_role("link", name="Notifications").click()
    page.get_by_role("link", name="A moderator removed your post", exact=False).click()
    expect(page.get_by_text("Please answer the question, kindly.")).to_be_visible(timeout=TIMEOUT)
    sign_out(page)

    sign_in(page, base, "mia_member")
    page.get_by_role("link", name="Notifications").click()
    page.get_by_role("link", name="Moderators acted on a post you flagged", exact=False).click()
    expect(page.get_by_text("moderators agreed and acted")).to_be_visible(timeout=TIMEOUT)
    page.goto(f"{base}/t/{thread_id}")
    expect(page.get_by_text(RUDE)).to_have_count(0)
