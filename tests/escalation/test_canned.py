"""Canned replies: placeholders checked when saved and filled in for a thread, usage counted, and the
canned acknowledgement that stops an escalation's clock."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core import clock
from core.errors import Conflict, Invalid
from core.extensions import db
from escalation import canned, services
from escalation.models import CannedReply, Escalation
from forum.models import ANSWER, VISIBLE, Post
from tests.escalation.desk import escalated
from tests.factories import make_article, make_thread, make_user

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_an_unknown_placeholder_is_refused_with_the_known_ones(app):
    staff = make_user("staff")
    with pytest.raises(Invalid) as refused:
        canned.create(staff, "Looking into it", "Hi {asker}, {nope} is on it.")
    message = refused.value.message
    assert "{nope}" in message
    assert all(known in message for known in ("{asker}", "{staff}", "{title}", "{article:SLUG}"))
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CannedReply)) == 0


def test_a_link_to_an_article_that_does_not_exist_is_refused(app):
    staff = make_user("staff")
    with pytest.raises(Invalid, match="missing"):
        canned.create(staff, "See the guide", "Please read {article:missing}.")
    db.session.rollback()
    make_article(slug="reset-your-password", title="Reset your password")
    reply = canned.create(staff, "See the guide", "Please read {article:reset-your-password}.")
    assert reply.body == "Please read {article:reset-your-password}."


def test_fill_puts_in_the_askers_name_the_staff_members_and_the_article_link(app):
    staff = make_user("staff", display_name="Sam Support")
    asker = make_user(display_name="Rosa Diaz")
    thread = make_thread(asker, title="Card charged twice for March")
    make_article(slug="refunds", title="How refunds work")
    reply = canned.create(staff, "Refund", "Hi {asker}, about “{title}”: see {article:refunds}. — {staff}")
    # Outside any request too (a job or the shell), and at the site's address, not a request's Host.
    assert canned.fill(reply, thread, staff) == ("Hi Rosa Diaz, about “Card charged twice for March”: "
                                                 "see http://peerline.test/kb/refunds. — Sam Support")


def test_a_canned_acknowledgement_posts_publicly_stops_the_clock_and_counts_the_use(app, client):
    clock.set(START)
    staff = make_user("staff", display_name="Sam Support")
    asker = make_user(display_name="Rosa Diaz")
    ack = canned.create(staff, "We are on it", "Thanks {asker}, we are looking into this now.",
                        is_acknowledgement=True)
    escalation = escalated(make_thread(asker))
    clock.set(START + timedelta(minutes=7))
    post = services.acknowledge(staff, escalation, ack)
    assert (post.kind, post.state, post.author_role) == (ANSWER, VISIBLE, "staff")
    assert post.body == "Thanks Rosa Diaz, we are looking into this now."
    db.session.expire_all()
    escalation = db.session.get(Escalation, escalation.id)
    assert escalation.acknowledged_at.replace(tzinfo=UTC) == START + timedelta(minutes=7)
    assert escalation.first_response_at.replace(tzinfo=UTC) == START + timedelta(minutes=7)
    assert escalation.first_response_post_id == post.id
    assert escalation.response_business_s == 7 * 60
    assert db.session.get(CannedReply, ack.id).use_count == 1
    page = client.get(f"/t/{escalation.thread_id}")  # public: anyone reading the thread sees it
    assert "Thanks Rosa Diaz, we are looking into this now." in page.text

    posts_before = db.session.scalar(sa.select(sa.func.count()).select_from(Post))
    with pytest.raises(Conflict, match="acknowledged"):
        services.acknowledge(staff, escalation, ack)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Post)) == posts_before
    assert db.session.get(CannedReply, ack.id).use_count == 1
    assert db.session.get(Escalation, escalation.id).acknowledged_at.replace(tzinfo=UTC) == (
        START + timedelta(minutes=7))


def test_a_reply_started_from_a_canned_reply_counts_its_use(app):
    staff = make_user("staff")
    reply = canned.create(staff, "Logs", "Could you send us the log file, {asker}?")
    other = canned.create(staff, "Thanks", "Thanks for waiting.")
    escalation = escalated()
    services.reply(staff, escalation, canned.fill(reply, escalation.thread, staff), canned_id=reply.id)
    assert [(r.title, r.use_count) for r in canned.all_replies()] == [("Logs", 1), ("Thanks", 0)]
    assert other.use_count == 0
