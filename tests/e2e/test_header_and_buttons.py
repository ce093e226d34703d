"""The header at 1280 and 390 px for a member and for an admin, the look of secondary buttons, and
destructive actions that ask before they act."""

import sqlalchemy as sa

from accounts.models import ADMIN
from core.extensions import db
from forum import categories, services
from forum.models import Post, Thread
from tests import factories
from tests.e2e.test_forum_journey import TIMEOUT, sign_in

try:
    from playwright.sync_api import expect
except ImportError:  # the browser_page fixture then skips (or, in CI, fails) with the reason
    expect = None

WHITE = "rgb(255, 255, 255)"
BRAND = "rgb(29, 78, 216)"


def _community(app):
    with app.app_context():
        admin = factories.make_user(ADMIN, username="ada_admin", display_name="Ada Admin")
        billing = categories.save_category(admin, None, name="Billing", slug="billing")
        asker = factories.make_user(username="mia_member", display_name="Mia Member")
        thread = services.create_thread(asker, billing.id, "Refund shows twice on the statement",
                                        "The refund of 12 March appears twice in the bank feed.")
        answer = services.create_post(factories.make_user(username="sol_member"), thread,
                                      "Undo the second match in the reconciliation screen.")
        return thread.id, answer.id


def _header_height(page) -> float:
    return page.locator(".site-header").bounding_box()["height"]


def test_the_header_is_one_row_wide_and_folds_into_a_menu_narrow(live_server, chromium):
    thread_id, _ = _community(live_server.app)
    base = live_server.url
    for username in ("mia_member", "ada_admin"):
        context = chromium.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        sign_in(page, base, username)
        header = page.get_by_role("banner")
        # Wide: every link in one row of one height; the staff pages sit in one menu, closed.
        assert _header_height(page) <= 72
        tops = {round(box["y"]) for box in (link.bounding_box() for link in
                header.get_by_role("navigation", name="Main").get_by_role("link").all())}
        assert len(tops) == 1, f"the main links wrap onto {len(tops)} rows"
        expect(header.get_by_role("link", name="Ask a question")).to_be_visible(timeout=TIMEOUT)
        staff_menu = header.get_by_role("navigation", name="Staff tools")
        if username == "ada_admin":
            expect(staff_menu.get_by_role("link", name="Review")).to_be_hidden(timeout=TIMEOUT)
            staff_menu.locator("summary").click()
            for name in ("Queues", "Review", "Insights", "Audit log", "Users", "Moderation settings"):
                expect(staff_menu.get_by_role("link", name=name, exact=True)).to_be_visible(timeout=TIMEOUT)
            page.keyboard.press("Escape")
            expect(staff_menu.get_by_role("link", name="Review")).to_be_hidden(timeout=TIMEOUT)
            expect(staff_menu.locator("summary")).to_be_focused(timeout=TIMEOUT)
        else:
            expect(staff_menu).to_have_count(0)

        # Narrow: brand, Menu, Ask and the notices in one short bar; Menu opens the rest.
        page.set_viewport_size({"width": 390, "height": 800})
        page.goto(f"{base}/t/{thread_id}")
        assert _header_height(page) <= 64
        expect(header.get_by_role("link", name="Questions")).to_be_hidden(timeout=TIMEOUT)
        menu = header.get_by_role("button", name="Menu")
        expect(menu).to_have_attribute("aria-expanded", "false")
        menu.click()
        expect(menu).to_have_attribute("aria-expanded", "true")
        expect(header.get_by_role("link", name="Questions")).to_be_visible(timeout=TIMEOUT)
        expect(header.get_by_role("searchbox", name="Search the community")).to_be_visible(timeout=TIMEOUT)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        header.get_by_role("link", name="Unanswered").click()
        expect(page).to_have_url(f"{base}/threads/unanswered", timeout=TIMEOUT)
        expect(menu).to_have_attribute("aria-expanded", "false")  # a new page starts folded
        context.close()


def _background(locator) -> str:
    return locator.evaluate("el => getComputedStyle(el).backgroundColor")


def test_secondary_buttons_look_secondary_and_destructive_ones_ask_first(live_server, browser_page):
    thread_id, answer_id = _community(live_server.app)
    base = live_server.url
    page = browser_page
    sign_in(page, base, "ada_admin")
    page.goto(f"{base}/t/{thread_id}")
    tools = page.locator(".thread-tools")
    assert _background(tools.get_by_role("button", name="Follow")) == WHITE
    assert _background(tools.locator("summary", has_text="Move")) == WHITE
    assert _background(page.get_by_role("button", name="Post your answer")) == BRAND

    # Lock asks first: the summary opens the question; nothing is locked until the real button.
    tools.locator("summary", has_text="Lock").click()
    expect(tools.get_by_text("Lock this thread?")).to_be_visible(timeout=TIMEOUT)
    with live_server.app.app_context():
        assert db.session.get(Thread, thread_id).is_locked is False
    tools.get_by_role("button", name="Lock the thread").click()
    expect(page.locator("h1 .badge-closed")).to_have_text("Locked", timeout=TIMEOUT)

    # Delete asks first too.
    answer = page.locator(f"#post-{answer_id}")
    answer.locator("summary", has_text="Delete").click()
    expect(answer.get_by_text("Delete this answer?")).to_be_visible(timeout=TIMEOUT)
    with live_server.app.app_context():
        assert db.session.scalar(sa.select(Post.state).where(Post.id == answer_id)) == "visible"
    answer.get_by_role("button", name="Yes, delete it").click()
    deleted = page.locator(f"#post-{answer_id}")
    expect(deleted.get_by_text("only staff see this")).to_be_visible(timeout=TIMEOUT)
