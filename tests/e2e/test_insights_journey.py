"""In a real browser, wide (1280 px) and narrow (390 px): a member asks, an advocate answers, the
member accepts and answers the satisfaction question from the thread page's prompt; a staff member
opens Insights (cards, charts with their tables, the presets, a custom range and a wrong one, the
CSV export) and then the advocate leaderboard, which lists the advocate. Today's data is read
through a custom range ending today (the presets are whole days ending yesterday)."""

import csv
import io
import re
from datetime import timedelta

import pytest

from accounts.models import ADMIN, ADVOCATE, STAFF, User
from core.extensions import db
from forum import categories
from forum import services as forum_services
from insights import measures
from tests import factories
from tests.e2e.test_forum_journey import TIMEOUT, sign_in, sign_out, staff_tool

try:
    from playwright.sync_api import expect
except ImportError:  # the browser_page fixture then skips (or, in CI, fails) with the reason
    expect = None

WIDTHS = [1280, 390]
MEMBER, MEMBER_NAME = "mira_member", "Mira Member"
ADVOCATE_USER, ADVOCATE_NAME = "ava_advocate", "Ava Advocate"
STAFF_USER = "stan_staff"
TITLE = "Exported timesheet drops the overtime column"
DETAILS = "Since the last update the CSV export of a timesheet has no overtime column any more."
ANSWER = "Turn on Extended columns under Settings, then export again: overtime comes back."
COMMENT = "Quick and exactly right, thank you."
CHARTS = ("Threads opened and solved", "Threads solved by peers, askers and staff",
          "First response and staff first response (median)", "Backlog at the end of each period")


def assert_no_horizontal_overflow(page, width: int, where: str) -> None:
    """Nothing wider than the viewport, except what scrolls inside its own box (.table-scroll)."""
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    if scroll_width > width + 1:
        culprits = page.evaluate("""(width) => [...document.querySelectorAll('body *')]
            .filter(el => !el.closest('.table-scroll') && el.getBoundingClientRect().right > width + 1)
            .slice(0, 5)
            .map(el => `${el.tagName}.${el.className} ${Math.round(el.getBoundingClientRect().right)}`)
        """, width)
        pytest.fail(f"{where}: the page is {scroll_width} px wide at {width} px; widest: {culprits}")


def shot(page, tmp_path, width: int, name: str) -> None:
    path = tmp_path / f"{width}-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0


@pytest.mark.parametrize("width", WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def test_satisfaction_then_insights_dashboard_and_leaderboard(live_server, browser_page, tmp_path, width):
    base = live_server.url
    with live_server.app.app_context():
        admin = factories.make_user(ADMIN, username="ada_admin")
        categories.save_category(admin, None, name="Timesheets", slug="timesheets")
        factories.make_user(username=MEMBER, display_name=MEMBER_NAME)
        advocate_id = factories.make_user(ADVOCATE, username=ADVOCATE_USER, display_name=ADVOCATE_NAME).id
        factories.make_user(STAFF, username=STAFF_USER, display_name="Stan Staff")
        today = measures.today()
    yesterday = today - timedelta(days=1)

    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})

    # 1. The member asks; the advocate answers; the member accepts, and is asked whether it solved it.
    sign_in(page, base, MEMBER)
    page.goto(f"{base}/ask")
    page.get_by_label("Title", exact=True).fill(TITLE)
    page.get_by_label("Category", exact=True).select_option(label="Timesheets")
    page.get_by_label("Details", exact=True).fill(DETAILS)
    page.get_by_role("button", name="Post your question").click()
    expect(page.get_by_text("Your question is posted.")).to_be_visible(timeout=TIMEOUT)
    thread_url = page.url
    thread_id = int(thread_url.rsplit("/", 1)[1])
    with live_server.app.app_context():
        advocate = db.session.get(User, advocate_id)
        thread = forum_services.get_thread(advocate, thread_id)
        forum_services.create_post(advocate, thread, ANSWER)

    page.reload()
    expect(page.get_by_text("Did this solve your problem?")).to_have_count(0)  # not solved yet
    answer_card = page.get_by_role("article", name=f"Answer by {ADVOCATE_NAME}", exact=True)
    expect(answer_card).to_contain_text(ANSWER, timeout=TIMEOUT)
    answer_card.get_by_role("button", name="Accept this answer").click()
    expect(page.get_by_text("Accepted. The thread is marked solved.")).to_be_visible(timeout=TIMEOUT)
    prompt = page.locator(".thread-notice").filter(has_text="Did this solve your problem?")
    expect(prompt).to_be_visible(timeout=TIMEOUT)
    assert_no_horizontal_overflow(page, width, "thread page")
    prompt.get_by_role("link", name="Tell us in one click").click()

    expect(page).to_have_url(f"{base}/t/{thread_id}/satisfaction", timeout=TIMEOUT)
    expect(page.get_by_role("heading", level=1)).to_have_text("Did this solve your problem?", timeout=TIMEOUT)
    scores = page.get_by_role("group", name="How well did it solve your problem?").get_by_role("radio")
    expect(scores).to_have_count(5, timeout=TIMEOUT)
    page.get_by_role("radio", name="5 (completely)").check()
    page.get_by_label("Anything you would like to add? (optional)").fill(COMMENT)
    assert_no_horizontal_overflow(page, width, "satisfaction page")
    shot(page, tmp_path, width, "satisfaction")
    page.get_by_role("button", name="Send").click()

    expect(page).to_have_url(thread_url, timeout=TIMEOUT)
    expect(page.get_by_text("Thank you for telling us.")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Solved {TITLE}", timeout=TIMEOUT)
    expect(prompt).to_have_count(0)  # asked once
    page.goto(f"{base}/t/{thread_id}/satisfaction")
    expect(page.get_by_text("5 (completely)")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text(COMMENT)).to_be_visible(timeout=TIMEOUT)
    sign_out(page)

    # 2. A staff member opens Insights from the header.
    sign_in(page, base, STAFF_USER)
    staff_tool(page, "Insights").click()
    expect(page).to_have_url(f"{base}/staff/insights", timeout=TIMEOUT)
    expect(page.get_by_role("heading", level=1)).to_have_text("Insights", timeout=TIMEOUT)
    cards = page.locator("ul.cards > li.card")
    expect(cards).to_have_count(6, timeout=TIMEOUT)
    for label in ("Solved by peers", "Staff first response, median", "SLA attainment",
                  "Backlog (open threads)", "Deflection"):
        expect(cards.filter(has_text=label)).to_be_visible(timeout=TIMEOUT)
    assert_charts_loaded_with_tables(page)
    assert_no_horizontal_overflow(page, width, "dashboard (last 30 days)")
    for name in ("From", "To"):  # each date label stays on the line of its input, however narrow
        label = page.locator("form.period-picker label").filter(has_text=re.compile(rf"^{name}$"))
        label = label.bounding_box()
        field = page.get_by_label(name, exact=True).bounding_box()
        assert abs((label["y"] + label["height"] / 2) - (field["y"] + field["height"] / 2)) < 8, name
        assert label["x"] < field["x"], name
    shot(page, tmp_path, width, "insights-30d")

    picker = page.get_by_role("group", name="Period")
    picker.get_by_role("link", name="Last 7 days").click()
    expect(page).to_have_url(f"{base}/staff/insights?period=7d", timeout=TIMEOUT)
    expect(picker.get_by_role("link", name="Last 7 days")).to_have_attribute("aria-current", "page")
    start = today - timedelta(days=7)
    expect(page.get_by_text(f"Last 7 days: {start:%a %d %b %Y} to {yesterday:%a %d %b %Y}")) \
        .to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_label("From", exact=True)).to_have_value(start.isoformat())
    expect(page.get_by_label("To", exact=True)).to_have_value(yesterday.isoformat())
    assert_charts_loaded_with_tables(page)

    # A custom range of today: the question, its peer solution and its rating are counted.
    page.get_by_label("From", exact=True).fill(today.isoformat())
    page.get_by_label("To", exact=True).fill(today.isoformat())
    page.get_by_role("button", name="Show range").click()
    expect(page).to_have_url(re.compile(rf"period=custom&from={today}&to={today}$"), timeout=TIMEOUT)
    expect(page.get_by_text(f"{today:%d %b %Y} to {today:%d %b %Y}: {today:%a %d %b %Y}")) \
        .to_be_visible(timeout=TIMEOUT)
    expect(cards.filter(has_text="Solved by peers").locator(".card-value")).to_have_text("100.0%")
    expect(page.get_by_text("1 thread opened, 1 solved")).to_contain_text(
        "Asker satisfaction: 100.0% of 1 rating.", timeout=TIMEOUT)
    activity = page.locator("figure.chart").filter(has_text=CHARTS[0])
    expect(activity.locator("tbody tr")).to_have_count(1)
    expect(activity.locator("tbody tr").first).to_have_text(re.compile(rf"{today:%d %b}\s*1\s*1"))
    assert_charts_loaded_with_tables(page)
    assert_no_horizontal_overflow(page, width, "dashboard (custom range)")
    shot(page, tmp_path, width, "insights-today")

    with page.expect_download(timeout=TIMEOUT) as downloading:
        page.locator("p.exports").get_by_role("link", name="CSV").first.click()
    download = downloading.value
    assert download.suggested_filename == f"peerline-summary-{today}-{today}.csv"
    with open(download.path(), encoding="utf-8") as file:
        text = file.read()
    header = text.splitlines()[0].split(",")
    assert "period_start" in header and "threads_opened" in header
    (row,) = csv.DictReader(io.StringIO(text))
    assert [row["period_start"], row["threads_opened"], row["threads_solved"]] == [str(today), "1", "1"]

    # 3. From today's range, the leaderboard lists the advocate (before a wrong range resets it).
    page.get_by_role("link", name="Advocate leaderboard").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/leaderboard\?period=custom"), timeout=TIMEOUT)
    expect(page.get_by_role("heading", level=1)).to_have_text("Community leaderboard", timeout=TIMEOUT)
    expect(page.locator("p.lead")).to_have_text(
        f"The members and advocates who answered questions: {today:%d %b %Y} to {today:%d %b %Y}.")
    leader = page.locator("table.breakdown tbody tr").filter(
        has=page.get_by_role("link", name=ADVOCATE_NAME, exact=True))
    expect(leader).to_have_count(1, timeout=TIMEOUT)
    expect(leader.locator(".badge")).to_have_text("Advocate")
    expect(leader.locator("td")).to_have_text(["1", "1", "1", "100.0%", re.compile(r".+")])
    assert_no_horizontal_overflow(page, width, "leaderboard")
    shot(page, tmp_path, width, "leaderboard")

    # A range that ends before it starts: the error, and the default period shown instead.
    page.get_by_role("link", name="Insights dashboard").click()
    expect(page.get_by_label("From", exact=True)).to_have_value(today.isoformat(), timeout=TIMEOUT)
    page.get_by_label("To", exact=True).fill(yesterday.isoformat())
    page.get_by_role("button", name="Show range").click()
    alert = page.get_by_role("alert")
    expect(alert).to_have_text(
        f"The range ends ({yesterday}) before it starts ({today}). Showing last 30 days instead.",
        timeout=TIMEOUT)
    expect(cards).to_have_count(6)
    assert_no_horizontal_overflow(page, width, "dashboard (wrong range)")


def assert_charts_loaded_with_tables(page) -> None:
    """Each trend chart's image has loaded (they load lazily: scrolled to first) beside its table."""
    figures = page.locator("figure.chart")
    expect(figures).to_have_count(len(CHARTS), timeout=TIMEOUT)
    for title in CHARTS:
        figure = figures.filter(has=page.get_by_role("heading", name=title, exact=True))
        image = figure.get_by_role("img", name=f"Chart: {title}; its figures are in the table beside it.")
        image.scroll_into_view_if_needed()
        page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle(),
                               timeout=TIMEOUT)
        table = figure.get_by_role("table")
        expect(table).to_have_count(1)
        expect(table.locator("tbody tr").first).to_be_attached()
    page.evaluate("window.scrollTo(0, 0)")
