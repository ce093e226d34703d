"""In a real browser: a member writes Markdown in the answer box, previews it (bold and code shown,
a script and a javascript: link neutralised), goes back to writing with the text intact and posts;
staff then accept the answer for the asker, and the thread says who accepted it."""

from accounts.models import STAFF
from forum import services
from tests import factories
from tests.e2e.test_forum_journey import TIMEOUT, sign_in

try:
    from playwright.sync_api import expect
except ImportError:  # the browser_page fixture then skips (or, in CI, fails) with the reason
    expect = None

ANSWER = ("**Restart** the sync service first.\n\n```\nsync --force\n```\n\n"
          "<script>window.pwned = 1</script>\n\n[the guide](javascript:window.pwned=2)")


def test_preview_an_answer_post_it_and_staff_accept_it_for_the_asker(live_server, browser_page, chromium):
    base = live_server.url
    with live_server.app.app_context():
        factories.make_user(STAFF, username="sam_staff", display_name="Sam Staff")
        category = factories.make_category("Sync")
        asker = factories.make_user(username="ada_asker", display_name="Ada Asker")
        factories.make_user(username="max_member", display_name="Max Member")
        thread_id = services.create_thread(asker, category.id, "Sync stuck at 99 percent",
                                           "It never finishes.").id

    page = browser_page
    sign_in(page, base, "max_member")
    page.goto(f"{base}/t/{thread_id}")
    box = page.get_by_label("Your answer")
    box.fill(ANSWER)
    write_tab = page.get_by_role("tab", name="Write")
    preview_tab = page.get_by_role("tab", name="Preview")
    expect(write_tab).to_have_attribute("aria-selected", "true")
    preview_tab.click()
    panel = page.get_by_role("tabpanel", name="Preview")
    expect(panel.locator("strong")).to_have_text("Restart", timeout=TIMEOUT)
    expect(panel.locator("pre")).to_contain_text("sync --force")
    expect(page.locator("[data-preview-status]")).to_have_text("Preview shown.")
    expect(preview_tab).to_have_attribute("aria-selected", "true")
    expect(box).to_be_hidden()
    assert panel.locator("script").count() == 0
    link = panel.get_by_text("the guide")
    assert "javascript" not in (link.get_attribute("href") or "")
    link.click()
    assert page.evaluate("typeof window.pwned") == "undefined"

    # Back to Write by keyboard (Left from the selected tab): the text is as it was typed.
    preview_tab.focus()
    page.keyboard.press("ArrowLeft")
    expect(write_tab).to_have_attribute("aria-selected", "true")
    expect(box).to_be_visible()
    expect(box).to_have_value(ANSWER)
    expect(panel).to_be_hidden()
    page.get_by_role("button", name="Post your answer").click()
    expect(page.get_by_text("Your answer is posted.")).to_be_visible(timeout=TIMEOUT)
    posted = page.locator("article.post").filter(has_text="sync --force")
    expect(posted.locator("strong")).to_have_text("Restart")

    staff_context = chromium.new_context()
    try:
        staff = staff_context.new_page()
        sign_in(staff, base, "sam_staff")
        staff.goto(f"{base}/t/{thread_id}")
        answer = staff.locator("article.post").filter(has_text="sync --force")
        expect(answer.get_by_role("button", name="Accept this answer")).to_have_count(0)
        accept = answer.get_by_role("button", name="Accept for the asker, Ada Asker")
        expect(accept).to_have_text("Accept for the asker")
        expect(accept).to_have_attribute(
            "title", "Accept this answer on behalf of Ada Asker, who asked the question")
        accept.click()
        expect(staff.get_by_text("Accepted for the asker.", exact=False)).to_be_visible(timeout=TIMEOUT)
        expect(staff.locator(".solution")).to_contain_text("Accepted by Sam Staff (staff) for the asker.")
    finally:
        staff_context.close()

    page.reload()
    expect(page.locator(".solution .accepted-by")).to_have_text(
        "Accepted by Sam Staff (staff) for the asker.", timeout=TIMEOUT)
