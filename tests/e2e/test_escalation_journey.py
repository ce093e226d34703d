"""In a real browser: the asker of an urgent thread sees that staff have it (and no internal note);
a staff member opens the urgent queue, claims the overdue thread, sends the acknowledgement,
replies, resolves, and it leaves the queue."""

from datetime import timedelta

from accounts.models import ADMIN, STAFF
from core import clock
from escalation import canned
from escalation import services as desk
from forum import categories, services
from tests import factories
from tests.e2e.test_forum_journey import TIMEOUT, sign_in, sign_out, staff_tool

try:
    from playwright.sync_api import expect
except ImportError:  # the browser_page fixture then skips (or, in CI, fails) with the reason
    expect = None

TITLE = "Checkout charges customers twice"
NOTE = "Internal: payment provider incident PX-42"


def test_staff_work_an_overdue_urgent_thread_from_the_queue(live_server, browser_page):
    base = live_server.url
    with live_server.app.app_context():
        staff = factories.make_user(STAFF, username="sam_staff", display_name="Sam Staff")
        billing = categories.save_category(factories.make_user(ADMIN), None, name="Billing", slug="billing")
        asker = factories.make_user(username="mia_member", display_name="Mia Member")
        clock.set(clock.now() - timedelta(hours=1))  # asked an hour ago: past the 15-minute urgent target
        try:
            thread = services.create_thread(asker, billing.id, TITLE, "Every order is charged twice.",
                                            urgent=True, urgent_reason="Customers are double charged")
        finally:
            clock.reset()
        canned.create(staff, "We are looking into it", "Hello {asker}, we are looking into this now.", True)
        desk.add_note(staff, thread, NOTE)
        thread_id = thread.id

    page = browser_page
    sign_in(page, base, "mia_member")
    page.goto(f"{base}/t/{thread_id}")
    notice = page.get_by_text("Our staff have this question and aim to answer by")
    expect(notice).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text(NOTE)).to_have_count(0)
    expect(page.get_by_text("Sam Staff")).to_have_count(0)
    sign_out(page)

    sign_in(page, base, "sam_staff")
    staff_tool(page, "Queues").click()
    row = page.locator(".queue-row").filter(has_text=TITLE)
    expect(row).to_contain_text("overdue", timeout=TIMEOUT)
    row.get_by_role("link", name=TITLE).click()
    expect(page.get_by_text(NOTE)).to_be_visible(timeout=TIMEOUT)
    page.get_by_role("button", name="Claim it").click()
    expect(page.get_by_text("You have it now.")).to_be_visible(timeout=TIMEOUT)
    page.get_by_role("button", name="Send acknowledgement").click()
    expect(page.get_by_text("Acknowledgement posted")).to_be_visible(timeout=TIMEOUT)
    page.get_by_label("Public reply").fill("Fixed: the duplicate charges are refunded automatically.")
    page.get_by_role("button", name="Post reply").click()
    expect(page.get_by_text("Your reply is posted on the thread.")).to_be_visible(timeout=TIMEOUT)
    page.get_by_role("button", name="Resolve").click()
    expect(page.get_by_text("Resolved: it has left the queue.")).to_be_visible(timeout=TIMEOUT)

    page.goto(f"{base}/staff/queues/urgent")
    expect(page.get_by_text("no open escalations in this queue")).to_be_visible(timeout=TIMEOUT)
    page.goto(f"{base}/t/{thread_id}")
    expect(page.get_by_text("Hello Mia Member, we are looking into this now.")).to_be_visible(timeout=TIMEOUT)

    # Canned replies work in any staff reply box: inserted, filled in for this thread, and counted.
    page.get_by_label("Canned reply").select_option(label="We are looking into it")
    page.get_by_role("button", name="Insert").click()
    expect(page.get_by_label("Your answer")).to_have_value("Hello Mia Member, we are looking into this now.")
    page.goto(f"{base}/staff/canned-replies")
    expect(page.locator("tr").filter(has_text="We are looking into it")).to_contain_text("2", timeout=TIMEOUT)
