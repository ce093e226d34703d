"""In a real browser: a screenshot pasted into the answer box is uploaded at once and written into the
answer; once posted, the answer shows its thumbnail, and a click opens the full image. A file chosen
with the "Attach files" button goes the same way, and a bad one says why in the box's status."""

import base64
import io

import sqlalchemy as sa
from PIL import Image

from core.extensions import db
from forum.models import Upload
from tests.e2e.test_forum_journey import TIMEOUT, billing_question, sign_in

try:
    from playwright.sync_api import expect
except ImportError:  # the browser_page fixture then skips (or, in CI, fails) with the reason
    expect = None

PASTE = """([data, name, type]) => {
  const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, {type}));
  const box = document.querySelector("textarea[name=body]");
  box.focus();
  box.dispatchEvent(new ClipboardEvent("paste", {clipboardData: transfer, bubbles: true, cancelable: true}));
}"""


def screenshot_png() -> bytes:
    image = Image.new("RGB", (1400, 900), (245, 245, 245))
    image.paste((200, 30, 30), (100, 100, 1300, 300))  # a red error banner
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_paste_a_screenshot_into_an_answer_and_see_its_thumbnail(live_server, browser_page, tmp_path):
    base = live_server.url
    thread_id = billing_question(live_server.app, "Export to CSV fails with error 502",
                                 "Every export since Monday ends with a gateway error page.",
                                 helper="bo_helper")
    page = browser_page
    sign_in(page, base, "bo_helper")
    page.goto(f"{base}/t/{thread_id}")
    box = page.get_by_label("Your answer")
    box.fill("I get the same error, see:")
    box.press("End")
    page.evaluate(PASTE, [base64.b64encode(screenshot_png()).decode(), "image.png", "image/png"])
    expect(box).to_have_value(
        __import__("re").compile(r"see:\n!\[image\.png\]\(/uploads/[A-Za-z0-9_-]{22}\)$"), timeout=TIMEOUT)
    expect(page.locator("[data-attach-status]")).to_contain_text("image.png is attached", timeout=TIMEOUT)

    # A file chosen with the button that is not a picture: the status says why; the text is untouched.
    fake = tmp_path / "error.png"
    fake.write_text("<svg><script>alert(1)</script></svg>")
    before = box.input_value()
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach files").click()
    chooser.value.set_files(str(fake))
    expect(page.locator("[data-attach-status]")).to_contain_text("not a picture Peerline can read",
                                                                  timeout=TIMEOUT)
    expect(box).to_have_value(before)

    page.get_by_role("button", name="Post your answer").click()
    thumb = page.locator("article.post a.attachment img")
    expect(thumb).to_be_visible(timeout=TIMEOUT)
    expect(thumb).to_have_attribute("alt", "image.png")
    assert thumb.evaluate("img => img.complete && img.naturalWidth") == 800  # the thumbnail, not the full
    with live_server.app.app_context():
        [row] = db.session.scalars(sa.select(Upload)).all()
        assert row.holder == "post" and (row.width, row.height) == (1400, 900)
    page.locator("article.post a.attachment").click()
    page.wait_for_url(f"{base}/uploads/*", timeout=TIMEOUT)
    size = page.evaluate("() => [document.images[0].naturalWidth, document.images[0].naturalHeight]")
    assert size == [1400, 900]
