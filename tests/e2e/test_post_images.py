"""In a real browser: a huge image in a post stays inside the post and within a screenful."""

from tests import factories

WIDE = '<img src="/static/img/favicon.svg" alt="wide" width="10000" height="10000">'
TALL = '<img src="/static/img/favicon.svg" alt="tall" width="100" height="10000">'


def test_huge_images_in_a_post_do_not_break_the_layout(live_server, browser_page):
    with live_server.app.app_context():
        thread = factories.make_thread(title="Screenshot of the error",
                                       body=f"Here is what I see:\n\n{WIDE}\n\nand scrolled down:\n\n{TALL}")
        thread_id = thread.id
    page = browser_page
    page.set_viewport_size({"width": 1000, "height": 800})
    page.goto(f"{live_server.url}/t/{thread_id}")
    body = page.locator(".post-body").first.bounding_box()
    root_font = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    for alt in ("wide", "tall"):
        image = page.get_by_alt_text(alt)
        assert image.get_attribute("loading") == "lazy"
        box = image.bounding_box()
        assert box["width"] <= body["width"] + 0.5, (alt, box, body)
        assert box["height"] <= 40 * root_font + 0.5, (alt, box)
    # Nothing wider than the window: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1000
