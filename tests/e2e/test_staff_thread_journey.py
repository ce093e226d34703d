"""In a real browser: staff close a thread as a duplicate with a note, move it and hide an answer;
a member then sees who closed it and why, cannot answer, and never sees the hidden answer."""

from accounts.models import ADMIN, STAFF
from forum import categories, services
from tests import factories
from tests.e2e.test_forum_journey import TIMEOUT, sign_in, sign_out

try:
    from playwright.sync_api import expect
except ImportError:  # the browser_page fixture then skips (or, in CI, fails) with the reason
    expect = None

TITLE = "Bank feed stopped importing on Monday"
RUDE = "This is a rude answer that staff will hide"


def test_staff_close_move_and_hide_and_a_member_sees_the_outcome(live_server, browser_page):
    base = live_server.url
    with live_server.app.app_context():
        admin = factories.make_user(ADMIN, username="ada_admin", display_name="Ada Admin")
        billing = categories.save_category(admin, None, name="Billing", slug="billing")
        categories.save_category(admin, None, name="Bank feeds", slug="bank-feeds")
        factories.make_user(STAFF, username="sam_staff", display_name="Sam Staff")
        asker = factories.make_user(username="mia_member", display_name="Mia Member")
        thread = services.create_thread(asker, billing.id, TITLE, "No transactions since Monday morning.")
        services.create_post(factories.make_user(), thread, RUDE)
        thread_id = thread.id

    page = browser_page
    sign_in(page, base, "sam_staff")
    page.goto(f"{base}/t/{thread_id}")
    answer = page.locator("article.post").filter(has_text=RUDE)
    answer.get_by_text("Hide", exact=True).click()
    answer.get_by_label("Why hide it?").fill("Insults another member")
    answer.get_by_role("button", name="Hide from members").click()
    expect(page.get_by_text("Hidden: only staff see it now.")).to_be_visible(timeout=TIMEOUT)
    hidden = page.locator("article.post").filter(has_text=RUDE)
    expect(hidden.get_by_text("Insults another member")).to_be_visible(timeout=TIMEOUT)

    page.get_by_text("Move…").click()
    page.get_by_label("Move to").select_option(label="Bank feeds")
    page.get_by_role("button", name="Move the thread").click()
    expect(page.get_by_text("Thread moved.")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator(".breadcrumbs")).to_have_text("Bank feeds", timeout=TIMEOUT)

    page.get_by_text("Close…").click()
    page.get_by_label("Why close it?").select_option(label="A duplicate of another question")
    page.get_by_label("Note for readers (optional)", exact=False).fill("See the pinned bank feed thread.")
    page.get_by_role("button", name="Close the thread").click()
    expect(page.get_by_text("Thread closed.")).to_be_visible(timeout=TIMEOUT)

    sign_out(page)
    sign_in(page, base, "mia_member")
    page.goto(f"{base}/t/{thread_id}")
    banner = page.locator(".thread-closed")
    expect(banner).to_contain_text("by Sam Staff", timeout=TIMEOUT)
    expect(banner).to_contain_text("a duplicate of another question")
    expect(banner).to_contain_text("See the pinned bank feed thread.")
    expect(banner.get_by_role("link", name="Ask a new question")).to_be_visible()
    expect(page.get_by_role("button", name="Post your answer")).to_have_count(0)
    expect(page.get_by_text(RUDE)).to_have_count(0)
