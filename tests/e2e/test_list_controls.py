"""In a real browser at phone width (390 px): sort and filter a list, follow a category, and open
"Unanswered in my topics, oldest first"."""

from accounts.models import ADMIN
from core import clock
from forum import categories, services
from tests import factories
from tests.e2e.test_forum_journey import TIMEOUT, sign_in

try:
    from playwright.sync_api import expect
except ImportError:  # the browser_page fixture then skips (or, in CI, fails) with the reason
    expect = None

PHONE = {"width": 390, "height": 844}


def _fits(page) -> bool:
    """Nothing on the page is wider than the window (no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_list_controls_and_following_at_phone_width(live_server, browser_page):
    base = live_server.url
    with live_server.app.app_context():
        admin = factories.make_user(ADMIN, username="ada_admin")
        devices = categories.save_category(admin, None, name="Devices", slug="devices")
        billing = categories.save_category(admin, None, name="Billing", slug="billing")
        asker = factories.make_user(username="asha_asker")
        factories.make_user("advocate", username="avi_advocate")
        for title, category in (("Old phone will not pair", devices), ("Invoice is late", billing),
                                ("New tablet will not charge", devices)):
            services.create_thread(asker, category.id, title, "Details of the problem.")
            clock.advance(hours=1)

    page = browser_page
    page.set_viewport_size(PHONE)
    sign_in(page, base, "avi_advocate")

    # Sort the site's list oldest first with the controls.
    controls = page.get_by_role("form", name="Sort and filter")
    expect(controls).to_be_visible(timeout=TIMEOUT)
    controls.get_by_label("Sort by").select_option("oldest")
    controls.get_by_role("button", name="Show").click()
    expect(page).to_have_url(f"{base}/threads/latest?sort=oldest", timeout=TIMEOUT)
    titles = page.locator("ol.thread-list h3 a")
    expect(titles).to_have_text(["Old phone will not pair", "Invoice is late", "New tablet will not charge"],
                                timeout=TIMEOUT)
    assert _fits(page)

    # Follow Devices from its list page.
    page.goto(f"{base}/c/devices")
    follow = page.get_by_role("button", name="Follow this category")
    expect(follow).to_be_visible(timeout=TIMEOUT)
    box = follow.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    follow.click()
    expect(page.get_by_text("You are following this category")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_role("button", name="Stop following")).to_be_visible(timeout=TIMEOUT)
    assert _fits(page)

    # The preset: unanswered questions in my topics, oldest first.
    page.get_by_role("link", name="Unanswered in my topics, oldest first").click()
    expect(titles).to_have_text(["Old phone will not pair", "New tablet will not charge"], timeout=TIMEOUT)
    expect(page.get_by_label("My topics")).to_be_checked(timeout=TIMEOUT)
    expect(page.get_by_label("Sort by")).to_have_value("oldest", timeout=TIMEOUT)
    assert _fits(page)

    # Urgent only, kept with the other choices.
    page.get_by_label("Urgent only").check()
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("No questions match these filters.")).to_be_visible(timeout=TIMEOUT)
    assert "urgent=1" in page.url and "mine=1" in page.url and "sort=oldest" in page.url
