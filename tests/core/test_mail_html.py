"""core.mail.send with an HTML alternative and inline images: what mail clients need to show them."""

import pytest

from core import mail
from tests.conftest import outbox_messages

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


def test_plain_mail_stays_one_plain_part(app):
    mail.send("a@example.com", "Plain", "Just text.")
    (message,) = outbox_messages(app)
    assert message.get_content_type() == "text/plain"
    assert message.get_content().strip() == "Just text."


def test_html_with_inline_images_is_alternative_with_a_related_html_part(app):
    message_id = mail.send("a@example.com", "Charts", "Text version.",
                           html='<p>Chart:</p><img src="cid:trend@peerline" alt="Trend">',
                           inline_images={"trend@peerline": PNG})
    (message,) = outbox_messages(app)
    assert message["Message-ID"] == message_id
    assert message.get_content_type() == "multipart/alternative"
    plain, related = message.iter_parts()
    assert plain.get_content_type() == "text/plain" and "Text version." in plain.get_content()
    assert related.get_content_type() == "multipart/related"
    html, image = related.iter_parts()
    assert html.get_content_type() == "text/html" and 'src="cid:trend@peerline"' in html.get_content()
    assert image.get_content_type() == "image/png" and image["Content-ID"] == "<trend@peerline>"
    assert image.get_content() == PNG
    assert message.get_body(preferencelist=("html",)) is html
    # The staff outbox page still shows the text version.
    (listed,) = mail.outbox()
    assert listed.body.strip() == "Text version."


def test_html_without_images_and_bad_arguments(app):
    mail.send("a@example.com", "Both", "Text.", html="<p>HTML.</p>")
    (message,) = outbox_messages(app)
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    with pytest.raises(ValueError, match="HTML"):
        mail.send("a@example.com", "No HTML", "Text.", inline_images={"x": PNG})
    with pytest.raises(ValueError, match="content id"):
        mail.send("a@example.com", "Bad id", "Text.", html="<p></p>", inline_images={"a b>": PNG})
    assert len(outbox_messages(app)) == 1
