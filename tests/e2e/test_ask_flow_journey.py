"""In a real browser: typing a question title offers a KB article; opening it is recorded, and
leaving without posting counts as a deflection once an hour has passed; someone not signed in is
recorded too, and signing in to post carries their flow on."""

from datetime import timedelta

import sqlalchemy as sa

from accounts.models import ADMIN
from core import clock, jobs
from core.extensions import db
from forum import askflows, categories
from forum.models import AskFlow
from kb import services as kb_services
from tests import factories

try:
    from playwright.sync_api import expect
except ImportError:  # the browser_page fixture then skips (or, in CI, fails) with the reason
    expect = None

TIMEOUT = 5_000  # ms


def test_a_suggested_article_is_offered_opened_and_recorded(live_server, browser_page):
    base = live_server.url
    with live_server.app.app_context():
        admin = factories.make_user(ADMIN, username="ada_admin")
        category = categories.save_category(admin, None, name="Payroll", slug="payroll")
        kb_services.create_article(admin, category.id, "Fix overtime missing from the payroll export",
                                   "Turn on **Extended columns** in Settings, then export again.",
                                   status="published")
        factories.make_user(username="mo_member")
        jobs.wait_idle()  # the article reaches the index through its job

    page = browser_page
    page.goto(f"{base}/signin")
    page.get_by_label("Email or username", exact=True).fill("mo_member")
    page.get_by_label("Password", exact=True).fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(f"{base}/", timeout=TIMEOUT)

    page.goto(f"{base}/ask")
    title = page.get_by_label("Title", exact=True)
    title.press_sequentially("payroll export overtime", delay=30)
    suggestion = page.get_by_role("link", name="Fix overtime missing from the payroll export")
    expect(suggestion).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#suggestion-list .badge-kb")).to_have_text("Article")

    # Keyboard: Down from the title reaches the suggestion; Enter opens it in a new tab.
    title.press("ArrowDown")
    expect(suggestion).to_be_focused()
    with page.context.expect_page(timeout=TIMEOUT) as opened:
        page.keyboard.press("Enter")
    article_tab = opened.value
    article_tab.wait_for_load_state()
    expect(article_tab.get_by_text("Extended columns")).to_be_visible(timeout=TIMEOUT)
    article_tab.close()

    with live_server.app.app_context():
        flow = None
        for _ in range(50):  # the beacon is sent asynchronously
            flow = db.session.scalar(sa.select(AskFlow))
            if flow is not None:
                break
            page.wait_for_timeout(100)
        assert flow is not None, "opening the suggestion was not recorded"
        assert flow.opened_count == 1 and flow.last_opened_doc.startswith("article:")
        assert flow.thread_id is None
        now = clock.now()
        window = (now - timedelta(hours=1), now + timedelta(minutes=1))
        assert askflows.deflection(*window)["in_progress"] == 1  # they may still ask
        clock.advance(hours=1, minutes=1)
        assert askflows.deflection(*window)["deflected"] == 1


def test_a_visitor_not_signed_in_opens_a_suggestion_then_signs_in_and_posts(live_server, browser_page):
    """The flow of someone not signed in is recorded with nothing but its random token; signing in
    to post takes it (and the title and category) along, and the question ends it."""
    base = live_server.url
    with live_server.app.app_context():
        admin = factories.make_user(ADMIN, username="ada_admin")
        category = categories.save_category(admin, None, name="Payroll", slug="payroll")
        category_id = category.id
        kb_services.create_article(admin, category.id, "Fix overtime missing from the payroll export",
                                   "Turn on **Extended columns** in Settings, then export again.",
                                   status="published")
        factories.make_user(username="vi_visitor")
        jobs.wait_idle()

    page = browser_page
    page.goto(f"{base}/ask")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ask the community", timeout=TIMEOUT)
    expect(page.get_by_label("Details", exact=True)).to_have_count(0)
    assert page.context.cookies() == []  # nothing but the flow's token in the page
    page.get_by_label("Category", exact=True).select_option(label="Payroll")
    title = page.get_by_label("Title", exact=True)
    title.press_sequentially("payroll export overtime", delay=30)
    suggestion = page.get_by_role("link", name="Fix overtime missing from the payroll export")
    expect(suggestion).to_be_visible(timeout=TIMEOUT)
    with page.context.expect_page(timeout=TIMEOUT) as opened:
        suggestion.click()
    opened.value.close()

    with live_server.app.app_context():
        flow = None
        for _ in range(50):  # the beacon is sent asynchronously
            flow = db.session.scalar(sa.select(AskFlow))
            if flow is not None:
                break
            page.wait_for_timeout(100)
        assert flow is not None, "opening the suggestion was not recorded"
        assert (flow.user_id, flow.category_id, flow.opened_count) == (None, category_id, 1)
        token = flow.token

    # Not answered: sign in to post, and come back to the form as it was.
    page.get_by_role("button", name="Sign in to post your question").click()
    page.get_by_label("Email or username", exact=True).fill("vi_visitor")
    page.get_by_label("Password", exact=True).fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_label("Details", exact=True)).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_label("Title", exact=True)).to_have_value("payroll export overtime")
    expect(page.get_by_label("Category", exact=True)).to_have_value(str(category_id))
    assert page.locator("input[name=flow]").get_attribute("value") == token
    page.get_by_label("Title", exact=True).fill("Payroll export still misses overtime")
    page.get_by_label("Details", exact=True).fill("Extended columns are on; overtime is still missing.")
    page.get_by_role("button", name="Post your question").click()
    expect(page.get_by_text("Your question is posted.")).to_be_visible(timeout=TIMEOUT)

    with live_server.app.app_context():
        flow = db.session.scalar(sa.select(AskFlow).where(AskFlow.token == token))
        assert flow.thread_id is not None and flow.user_id is not None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AskFlow)) == 1
        now = clock.now()
        assert askflows.deflection(now - timedelta(hours=1), now + timedelta(minutes=1))["deflected"] == 0
