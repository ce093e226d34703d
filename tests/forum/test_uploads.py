"""Attachments end to end through HTTP: a screenshot uploaded into an answer box belongs to its author
until posted, then shows (as a thumbnail linking the full image) to whoever may see the post and to
nobody else; bad files, too many files and uploads by people who cannot write there are refused
with a message and store nothing; files never posted are removed by the periodic job."""

import io
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from core import clock
from core.extensions import db
from forum import services, states, uploads
from forum.models import Post, Upload
from moderation import services as moderation
from tests.factories import PASSWORD, make_article, make_thread, make_user


def png(size=(64, 48), colour=(30, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def send(client, data: bytes, name="screenshot.png", place="thread", target="", have=0):
    return client.post("/uploads", data={"file": (io.BytesIO(data), name), "place": place,
                                         "target": str(target), "have": str(have)},
                       content_type="multipart/form-data")


def stored_files(app) -> list[Path]:
    root = Path(app.config["UPLOADS_DIR"])
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def upload_rows() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Upload))


def sign_in(client, user):
    client.post("/signout")
    response = client.post("/signin", data={"login": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.text


def test_a_screenshot_belongs_to_its_author_until_posted_then_shows_with_the_post(app, client):
    asker, helper, other, staff = make_user(), make_user(), make_user(), make_user("staff")
    thread = make_thread(asker)
    sign_in(client, helper)
    response = send(client, png(size=(1600, 1000)), "Screen Shot.png", target=thread.id)
    assert response.status_code == 201, response.text
    answer = response.json
    assert answer["markdown"].startswith("![Screen-Shot.png](/uploads/") and answer["kind"] == "image"
    url = answer["url"]

    own = client.get(url)
    assert own.status_code == 200 and own.mimetype == "image/png"
    assert own.headers["X-Content-Type-Options"] == "nosniff"
    assert own.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert "sandbox" in own.headers["Content-Security-Policy"]
    with Image.open(io.BytesIO(own.data)) as image:
        assert image.size == (1600, 1000)

    # Nobody else sees a file that is not posted yet, signed in or not: as if there were none.
    sign_in(client, other)
    assert client.get(url).status_code == 404
    client.post("/signout")
    assert client.get(url).status_code == 404

    sign_in(client, helper)
    posted = client.post(f"/t/{thread.id}/reply",
                         data={"body": "It is this setting:\n\n" + answer["markdown"]})
    assert posted.status_code == 302
    post = db.session.scalars(sa.select(Post).where(Post.thread_id == thread.id)
                              .order_by(Post.id.desc())).first()
    assert f'<a class="attachment" href="{url}"' in post.body_html and f'src="{url}/thumb"' in post.body_html
    row = db.session.scalar(sa.select(Upload).where(Upload.key == url.rsplit("/", 1)[1]))
    assert (row.holder, row.holder_id) == ("post", post.id)

    client.post("/signout")
    page = client.get(f"/t/{thread.id}").text
    assert f'src="{url}/thumb"' in page
    thumb = client.get(url + "/thumb")
    assert thumb.status_code == 200 and thumb.mimetype == "image/webp"
    with Image.open(io.BytesIO(thumb.data)) as image:
        assert image.width <= 800 and image.height <= 600
    assert client.get(url).status_code == 200  # the full image, for everyone who sees the post

    # A hidden post hides its attachments from all but staff; so does a deleted one.
    states.hide_post(staff, post, "Shows a customer's invoice number")
    assert client.get(url).status_code == 404 and client.get(url + "/thumb").status_code == 404
    sign_in(client, staff)
    assert client.get(url).status_code == 200
    states.unhide_post(staff, post)
    states.delete_post(staff, post, "Posted twice")
    sign_in(client, other)
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("name,data,status,message", [
    ("diagram.png", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', 400,
     "not a picture Peerline can read"),
    ("page.png", b"<html><script>alert(document.cookie)</script></html>", 400, "not a picture"),
    ("notes.pdf", b"%PDF-1.7 a pdf", 400, "PNG, JPEG, GIF or WebP image"),
    ("huge.png", png(size=(1200, 1200), colour=None), 413, "attachments may be at most 16 KB"),
])
def test_bad_files_are_refused_with_a_message_and_nothing_is_stored(app, client, name, data, status, message):
    admin, writer = make_user("admin"), make_user()
    uploads.update_settings(admin, {"image_kb": 16})
    thread = make_thread()
    sign_in(client, writer)
    if name == "huge.png":
        noise = Image.effect_noise((400, 400), 80).convert("RGB")  # incompressible: well over 16 KB
        out = io.BytesIO()
        noise.save(out, format="PNG")
        data = out.getvalue()
    response = send(client, data, name, target=thread.id)
    assert response.status_code == status and message in response.json["error"]
    assert upload_rows() == 0 and stored_files(app) == []


def test_an_image_bomb_is_refused(app, client):
    import zlib

    def chunk(kind, body):
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", (50_000).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0]))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))
    thread = make_thread()
    sign_in(client, make_user())
    response = send(client, bomb, "bomb.png", target=thread.id)
    assert response.status_code == 413 and "million pixels" in response.json["error"]
    assert upload_rows() == 0 and stored_files(app) == []


def test_too_many_files_are_refused_at_upload_and_when_posting(app, client):
    admin, writer = make_user("admin"), make_user()
    uploads.update_settings(admin, {"per_post": 2})
    thread = make_thread()
    sign_in(client, writer)
    links = [send(client, png(colour=(n, 0, 0)), target=thread.id, have=n).json["markdown"] for n in range(2)]
    refused = send(client, png(), target=thread.id, have=2)
    assert refused.status_code == 400 and "2 attachments already" in refused.json["error"]
    assert upload_rows() == 2

    # A third file written in by hand (a link copied from elsewhere) is refused when posting.
    third = uploads.upload(writer, "thread", thread.id, "third.png", png(colour=(9, 9, 9)))
    body = "\n\n".join([*links, uploads.markdown_for(third)])
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Post))
    response = client.post(f"/t/{thread.id}/reply", data={"body": body})
    assert response.status_code == 400 and "at most 2 attachments; this one has 3" in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Post)) == before
    posted = sa.select(sa.func.count()).select_from(Upload).where(Upload.holder.is_not(None))
    assert db.session.scalar(posted) == 0


def test_uploads_by_people_who_cannot_write_there_are_refused(app, client):
    asker, staff, member = make_user(), make_user("staff"), make_user()
    thread = make_thread(asker)
    other_post = db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id))
    sign_in(client, member)
    assert send(client, png(), place="post", target=other_post.id).status_code == 403  # not theirs
    assert send(client, png(), place="thread", target=999_999).status_code == 404
    assert send(client, png(), place="thread", target="'; drop table uploads").status_code == 404
    assert send(client, png(), place="settings", target=1).status_code == 404
    assert send(client, png(), place="article", target="").status_code == 403  # members write no articles
    states.set_locked(staff, thread, True)
    locked = send(client, png(), target=thread.id)
    assert locked.status_code == 403 and "locked" in locked.json["error"]
    states.set_locked(staff, thread, False)
    moderation.restrict_member(make_user("admin"), member, "suspension", 2, "days", "Spam")
    suspended = send(client, png(), target=thread.id)
    assert suspended.status_code == 403
    client.post("/signout")
    assert send(client, png(), target=thread.id).status_code == 302  # to sign in
    assert upload_rows() == 0 and stored_files(app) == []


def test_someone_elses_unposted_file_cannot_be_claimed_or_seen(app, client):
    owner, thief = make_user(), make_user()
    thread = make_thread()
    row = uploads.upload(owner, "thread", thread.id, "mine.png", png())
    post = services.create_post(thief, thread, "Look: " + uploads.markdown_for(row))
    db.session.refresh(row)
    assert row.holder is None  # still the owner's alone
    sign_in(client, thief)
    assert client.get(f"/uploads/{row.key}").status_code == 404
    assert post.is_visible


def test_files_never_posted_are_removed_after_a_day(app):
    writer = make_user()
    thread = make_thread()
    kept = uploads.upload(writer, "thread", thread.id, "kept.png", png(size=(1200, 900)))
    services.create_post(writer, thread, uploads.markdown_for(kept))
    dropped = uploads.upload(writer, "thread", thread.id, "dropped.png", png(size=(1200, 900)))
    kept_key, dropped_key = kept.key, dropped.key
    assert len(stored_files(app)) == 4  # each with its thumbnail
    assert uploads.remove_unposted() == 0  # too early
    with clock.moved(hours=25):
        from forum import jobs as forum_jobs

        forum_jobs.remove_unposted_uploads()
        forum_jobs.remove_unposted_uploads()  # safe to run twice
    assert db.session.scalars(sa.select(Upload.key)).all() == [kept_key]
    names = [p.name for p in stored_files(app)]
    assert kept_key in names and dropped_key not in names and len(names) == 2


def test_a_text_log_is_served_as_plain_text(app, client):
    writer = make_user()
    thread = make_thread()
    sign_in(client, writer)
    response = send(client, b"<script>alert(1)</script>\nERROR 42\n", "server.log", target=thread.id)
    assert response.status_code == 201 and response.json["markdown"].startswith("[server.log](/uploads/")
    served = client.get(response.json["url"])
    assert served.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.data == b"<script>alert(1)</script>\nERROR 42\n"


def test_files_in_an_article_show_with_the_article(app, client):
    staff = make_user("staff")
    sign_in(client, staff)
    response = send(client, png(), "steps.png", place="article", target="")
    assert response.status_code == 201
    article = make_article(staff, body="Do this:\n\n" + response.json["markdown"], status="draft")
    url = response.json["url"]
    client.post("/signout")
    assert client.get(url).status_code == 404  # a draft: its writers only
    from kb import services as kb_services

    kb_services.set_status(staff, article, "published")
    assert client.get(url).status_code == 200


def test_admins_set_the_limits_and_others_cannot(app, client):
    sign_in(client, make_user("staff"))
    assert client.get("/admin/attachments").status_code == 403
    sign_in(client, make_user("admin"))
    assert client.get("/admin/attachments").status_code == 200
    bad = client.post("/admin/attachments", data={"image_kb": "lots", "text_kb": "512", "per_post": "5"})
    assert bad.status_code == 400 and "Largest image, in KB: give a whole number." in bad.text
    assert client.post("/admin/attachments", data={"image_kb": "20480", "text_kb": "99999",
                                                   "per_post": "5"}).status_code == 400
    ok = client.post("/admin/attachments", data={"image_kb": "8192", "text_kb": "256", "per_post": "0"})
    assert ok.status_code == 302
    assert uploads.current() == uploads.Settings(image_kb=8192, text_kb=256, per_post=0)
    thread = make_thread()
    off = send(client, png(), target=thread.id)
    assert off.status_code == 403 and "turned off" in off.json["error"]


def test_the_demo_community_has_a_thread_with_a_screenshot(app, runner, client):
    assert runner.invoke(args=["demo", "load"]).exit_code == 0
    [row] = db.session.scalars(sa.select(Upload)).all()
    post = db.session.get(Post, row.holder_id)
    assert row.holder == "post" and post.is_question and (row.width, row.height) == (1280, 720)
    page = client.get(f"/t/{post.thread_id}").text
    assert f'<a class="attachment" href="/uploads/{row.key}"' in page
    assert client.get(f"/uploads/{row.key}/thumb").mimetype == "image/webp"
    assert client.get(f"/uploads/{row.key}").mimetype == "image/png"


def test_a_large_screenshot_gets_past_the_anti_forgery_check(make_app, backend):
    """The anti-forgery check reads the form before any view: it must not refuse a file larger than
    the site's usual request limit but within the admins' limit for images."""
    import re

    app = make_app(backend, WTF_CSRF_ENABLED=True)
    with app.app_context():
        client = app.test_client()
        writer = make_user()
        thread = make_thread(writer)
        hidden = r'name="csrf_token" type="hidden" value="([^"]+)"'
        token = re.search(hidden, client.get("/signin").text).group(1)
        assert client.post("/signin", data={"login": writer.username, "password": PASSWORD,
                                            "csrf_token": token}).status_code == 302
        page = client.get(f"/t/{thread.id}").text
        token = re.search(hidden, page).group(1)
        noise = Image.effect_noise((1100, 1000), 90).convert("RGB")
        out = io.BytesIO()
        noise.save(out, format="PNG")
        data = out.getvalue()
        assert 2 * 1024 * 1024 < len(data) < 4 * 1024 * 1024
        sent = client.post("/uploads", data={"file": (io.BytesIO(data), "big.png"), "place": "thread",
                                             "target": str(thread.id), "csrf_token": token},
                           content_type="multipart/form-data")
        assert sent.status_code == 201, sent.text
        forged = client.post("/uploads", data={"file": (io.BytesIO(data), "big.png"), "place": "thread",
                                               "target": str(thread.id)}, content_type="multipart/form-data")
        assert forged.status_code == 400
        huge = client.post("/uploads", data={"file": (io.BytesIO(b"x" * (22 * 1024 * 1024)), "huge.png"),
                                             "place": "thread", "target": str(thread.id),
                                             "csrf_token": token},
                           content_type="multipart/form-data")
        assert huge.status_code == 413
