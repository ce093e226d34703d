"""In a real browser: typing "@al" in an answer offers Alice, Enter puts "@alice " in the answer, and
once posted the answer links to her profile and she has a notice."""

import pytest
import sqlalchemy as sa

from core import jobs
from core.extensions import db
from forum.models import Notification
from tests import factories
from tests.e2e.test_forum_journey import TIMEOUT, billing_question, sign_in

try:
    from playwright.sync_api import expect
except ImportError:  # the browser_page fixture then skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.live_jobs  # the notice is made by a job, run as soon as it is committed


def test_pick_a_person_to_mention_with_the_keyboard(live_server, browser_page):
    base = live_server.url
    with live_server.app.app_context():
        factories.make_user(username="alice", display_name="Alice Archer")
    thread_id = billing_question(live_server.app, "Invoice numbering restarted at 1 this year",
                                 "After the new year our invoice numbers started again from 1.",
                                 helper="bo_helper")
    page = browser_page
    sign_in(page, base, "bo_helper")
    page.goto(f"{base}/t/{thread_id}")
    box = page.get_by_label("Your answer")
    box.click()
    box.press_sequentially("Same here, ask @al")
    option = page.get_by_role("option", name="@alice (Alice Archer)")
    expect(option).to_be_visible(timeout=TIMEOUT)
    page.keyboard.press("Enter")
    expect(box).to_have_value("Same here, ask @alice ", timeout=TIMEOUT)
    box.press_sequentially("who fixed it for her team.")
    page.get_by_role("button", name="Post your answer").click()
    mention = page.locator("article.post a.mention")
    expect(mention).to_have_text("@alice", timeout=TIMEOUT)
    expect(mention).to_have_attribute("href", "/u/alice")
    with live_server.app.app_context():
        jobs.wait_idle()  # the job runs after the commit, maybe still running on a busy machine
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
            Notification.kind == "mention")) == 1
