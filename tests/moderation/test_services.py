"""Moderation through its services: flags and their weight, the review queue's decisions, new-member
safeguards and spam checks, warnings, silences and suspensions, trust, and the settings' checks."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from accounts.models import BASIC, NEW
from accounts.standing import participates
from core import clock, jobs
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import db
from core.ratelimit import RateLimited
from escalation.models import Escalation
from forum import services as forum_services
from forum import states
from forum.models import HELD, HIDDEN, SPAM, VISIBLE, Notification, Post
from moderation import jobs as moderation_jobs
from moderation import services, settings, trust
from moderation.models import (
    AGREED,
    APPROVED,
    DISMISSED,
    FLAGGED,
    HELD_EDIT,
    HELD_POST,
    MARKED_SPAM,
    PENDING,
    REJECTED,
    SILENCE,
    SPAM_SUSPECT,
    SUSPENSION,
    Flag,
    ReviewItem,
)
from tests.factories import make_answer, make_category, make_thread, make_user

pytestmark = pytest.mark.live_jobs


def notices_of(user, kind: str) -> list[Notification]:
    db.session.commit()  # end the test's own transaction: on SQLite it would keep the jobs waiting
    jobs.wait_idle()
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id,
                                                                  Notification.kind == kind)))


def item_of(post) -> ReviewItem | None:
    return db.session.scalar(sa.select(ReviewItem).where(ReviewItem.post_id == post.id)
                             .order_by(ReviewItem.id.desc()))


def set_rules(**values) -> None:
    settings.update_settings(make_user("admin"), values)


# --- flags --------------------------------------------------------------------------------------------


def test_enough_flag_weight_holds_a_post_until_a_moderator_decides(app):
    answer = make_answer(make_thread(), body="Buy cheap followers at my shop.")
    flaggers = [make_user() for _ in range(3)]
    services.flag_post(flaggers[0], answer, "spam")
    services.flag_post(flaggers[1], answer, "spam")
    assert db.session.get(Post, answer.id).state == VISIBLE  # 2 of 3
    services.flag_post(flaggers[2], answer, "off_topic")
    post = db.session.get(Post, answer.id)
    assert post.state == HELD
    assert "off-topic, spam" in post.hidden_reason
    item = item_of(answer)
    assert (item.kind, item.status) == (FLAGGED, PENDING)
    flags = sa.select(sa.func.count()).select_from(Flag).where(Flag.review_item_id == item.id)
    assert db.session.scalar(flags) == 3


def test_a_category_can_hold_posts_sooner_and_advocates_weigh_more(app):
    category = make_category("Security")
    settings.set_category_threshold(make_user("admin"), category.id, "1.5")
    answer = make_answer(make_thread(category=category))
    services.flag_post(make_user("advocate"), answer, "abuse")
    assert db.session.get(Post, answer.id).state == HELD


def test_flagging_your_own_post_twice_or_a_removed_one_is_refused(app):
    author = make_user()
    answer = make_answer(make_thread(), author)
    with pytest.raises(Forbidden, match="your own post"):
        services.flag_post(author, answer, "spam")
    flagger = make_user()
    services.flag_post(flagger, answer, "spam")
    with pytest.raises(Conflict, match="already"):
        services.flag_post(flagger, answer, "abuse")
    with pytest.raises(Invalid, match="Choose what is wrong"):
        services.flag_post(make_user(), answer, "boring")
    with pytest.raises(Invalid, match="Say what is wrong"):
        services.flag_post(make_user(), answer, "other", "  ")
    states.delete_post(make_user("staff"), answer)
    with pytest.raises(NotFound):
        services.flag_post(make_user(), db.session.get(Post, answer.id), "spam")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Flag)) == 1


def test_needs_staff_opens_or_joins_an_escalation_instead_of_the_queue(app):
    thread = make_thread()
    answer = make_answer(thread)
    services.flag_post(make_user(), answer, "needs_staff", "They need their account looked up.")
    escalation = db.session.scalar(sa.select(Escalation).where(Escalation.thread_id == thread.id))
    assert escalation is not None and escalation.state == "open"
    assert item_of(answer) is None
    services.flag_post(make_user(), forum_services.question_of(thread), "needs_staff")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Escalation)) == 1


def test_a_flaggers_weight_grows_with_agreed_flags_and_shrinks_with_rejected_ones(app):
    flagger, staff = make_user(), make_user("staff")
    assert services.flagger_weight(flagger) == 1.0
    for _ in range(2):
        answer = make_answer(make_thread())
        services.flag_post(flagger, answer, "spam")
        services.hide(staff, item_of(answer), "Advertising")
    assert services.flagger_weight(flagger) == 1.5
    answer = make_answer(make_thread())
    services.flag_post(flagger, answer, "spam")
    services.approve(staff, item_of(answer))
    assert services.flagger_weight(flagger) == 1.0
    outcomes = [f.outcome for f in db.session.scalars(sa.select(Flag).order_by(Flag.id))]
    assert outcomes == [AGREED, AGREED, REJECTED]


# --- decisions ----------------------------------------------------------------------------------------


def test_hiding_from_the_queue_tells_the_author_and_the_flaggers(app):
    author, flagger, staff = make_user(), make_user(), make_user("staff")
    answer = make_answer(make_thread(), author, "You are all idiots.")
    services.flag_post(flagger, answer, "abuse")
    item = item_of(answer)
    services.hide(staff, item, "Name-calling is not allowed here.")
    db.session.refresh(item)
    assert (item.status, item.decided_by_id) == ("hidden", staff.id)
    assert item.decision_note == "Name-calling is not allowed here."
    assert db.session.get(Post, answer.id).state == HIDDEN
    assert len(notices_of(author, "post_removed")) == 1
    assert len(notices_of(flagger, "flag_agreed")) == 1
    with pytest.raises(Conflict, match="decided"):
        services.hide(staff, item, "again")


def test_approving_a_held_post_shows_it_and_dismissing_flags_keeps_a_visible_one(app):
    staff = make_user("staff")
    held = make_answer(make_thread())
    flaggers = [make_user() for _ in range(3)]
    for flagger in flaggers:
        services.flag_post(flagger, held, "spam")
    services.approve(staff, item_of(held))
    assert db.session.get(Post, held.id).state == VISIBLE
    assert item_of(held).status == APPROVED
    assert len(notices_of(flaggers[0], "flag_kept")) == 1
    visible = make_answer(make_thread())
    services.flag_post(flaggers[0], visible, "off_topic")
    services.approve(staff, item_of(visible))
    assert item_of(visible).status == DISMISSED
    assert db.session.get(Post, visible.id).state == VISIBLE


def test_marking_a_member_as_spam_removes_every_post_of_theirs_at_once(app):
    spammer, staff = make_user(), make_user("staff")
    own = make_thread(spammer)
    answers = [make_answer(make_thread(), spammer, f"Great deal number {n}") for n in range(3)]
    services.flag_post(make_user(), answers[0], "spam")
    count = services.mark_spam(staff, item_of(answers[0]), "Spam", everything=True)
    assert count == 4
    assert {db.session.get(Post, a.id).state for a in answers} == {SPAM}
    db.session.refresh(own)
    assert own.state == SPAM
    assert item_of(answers[0]).status == MARKED_SPAM
    with pytest.raises(Forbidden):
        services.remove_all_as_spam(staff, make_user("staff"), "Spam")


def test_members_cannot_decide(app):
    answer = make_answer(make_thread())
    services.flag_post(make_user(), answer, "spam")
    for role in ("member", "advocate"):
        with pytest.raises(Forbidden):
            services.hide(make_user(role), item_of(answer), "no")
    assert item_of(answer).status == PENDING


# --- new-member safeguards and spam checks -------------------------------------------------------------


def test_a_new_members_first_posts_wait_for_approval_when_admins_say_so(app):
    set_rules(held_first_posts=2)
    newcomer = make_user(trust_level=NEW)
    first = make_thread(newcomer)
    assert first.state == HELD
    assert item_of(forum_services.question_of(first)).kind == HELD_POST
    second = make_answer(make_thread(), newcomer, "Second post")
    assert second.state == HELD
    third = make_answer(make_thread(), newcomer, "Third post")
    assert third.state == VISIBLE
    established = make_user()
    assert make_thread(established).state == VISIBLE
    set_rules(held_first_posts=0)
    assert make_thread(make_user(trust_level=NEW)).state == VISIBLE


def test_new_members_have_fewer_links_and_posts_and_are_told_when_to_try_again(app):
    set_rules(new_member_posts_per_hour=2, new_member_links_per_post=1)
    newcomer = make_user(trust_level=NEW)
    thread = make_thread()
    with pytest.raises(Invalid, match="at most 1 link"):
        forum_services.create_post(newcomer, thread, "See https://a.example and https://b.example")
    make_answer(thread, newcomer, "One")
    clock.advance(minutes=10)
    make_answer(thread, newcomer, "Two")
    with pytest.raises(RateLimited, match="Try again in 50 minutes"):
        forum_services.create_post(newcomer, thread, "Three")
    clock.advance(minutes=51)
    assert make_answer(thread, newcomer, "Three").state == VISIBLE
    advocate = make_user("advocate")
    for n in range(4):
        make_answer(thread, advocate, f"Advocate answer {n}: https://a.example https://b.example")


def test_spam_suspects_wait_in_the_queue_never_silently_away(app):
    set_rules(link_heavy_first_post=2, duplicate_window_minutes=30)
    thread = make_thread()
    linker = make_user(trust_level=NEW)
    post = forum_services.create_post(linker, thread, "Deals: https://a.example https://b.example")
    assert post.state == HELD and item_of(post).kind == SPAM_SUSPECT
    repeater = make_user(trust_level=NEW)
    assert make_answer(thread, repeater, "Same words").state == VISIBLE
    again = make_answer(make_thread(), repeater, "Same words")
    assert again.state == HELD and "same text" in again.hidden_reason
    settings.update_settings(make_user("admin"), {}, "casino\nfree\\s+money")
    for author in (make_user(), make_user("advocate")):
        blocked = make_answer(thread, author, "Win FREE   money now")
        assert blocked.state == HELD and item_of(blocked).kind == SPAM_SUSPECT
    assert make_answer(thread, make_user("staff"), "No casino talk here").state == VISIBLE
    assert make_answer(thread, make_user(), "Casinos are fine as a word part? casinos").state == VISIBLE


def test_a_sign_up_burst_from_one_address_makes_their_posts_suspects(app, client):
    set_rules(signup_burst=3)
    for n in range(3):
        with app.test_request_context(environ_base={"REMOTE_ADDR": "203.0.113.9"}):
            user = make_user(username=f"burst{n}", trust_level=NEW)
    post = make_answer(make_thread(), db.session.get(type(user), user.id), "Hello there")
    assert post.state == HELD and "signed up from one address" in post.hidden_reason


def test_a_new_members_edit_that_adds_links_waits_for_review(app):
    newcomer = make_user(trust_level=NEW)
    answer = make_answer(make_thread(), newcomer, "Plain text")
    forum_services.edit_post(newcomer, answer, "Plain text, see https://shop.example")
    assert db.session.get(Post, answer.id).state == HELD
    assert item_of(answer).kind == HELD_EDIT


def test_blocked_words_must_be_valid_patterns_and_nothing_changes_otherwise(app):
    admin = make_user("admin")
    settings.update_settings(admin, {}, "casino")
    for bad, message in (("(unclosed", "Line 1"), ("ok\n.*", "matches empty text"), ("a" * 201, "longer"),
                         ("spam\n(a+)+$", "Line 2 .* repeats a group")):
        with pytest.raises(Invalid, match=message):
            settings.update_settings(admin, {"flag_threshold": "9"}, bad)
    assert settings.current().flag_threshold == 3.0
    assert [p.pattern for p in settings.blocked_patterns()] == [r"\bcasino\b"]
    with pytest.raises(Forbidden):
        settings.update_settings(make_user("staff"), {}, "x")
    with pytest.raises(Invalid):
        settings.update_settings(admin, {"new_member_posts_per_hour": "-1"})


# --- members ----------------------------------------------------------------------------------------


def test_a_warning_stays_until_the_member_dismisses_it(app):
    member, staff = make_user(), make_user("staff")
    warning = services.warn_member(staff, member, "Please keep it civil.")
    db.session.refresh(member)
    assert member.has_warning and [w.id for w in services.pending_warnings(member)] == [warning.id]
    assert len(notices_of(member, "mod_warning")) == 1
    with pytest.raises(NotFound):
        services.dismiss_warning(make_user(), warning.id)
    services.dismiss_warning(member, warning.id)
    assert not member.has_warning and services.pending_warnings(member) == []
    with pytest.raises(Conflict):
        services.dismiss_warning(member, warning.id)


def test_silenced_and_suspended_members_read_but_cannot_post_vote_or_flag(app):
    member, staff = make_user(), make_user("staff")
    thread = make_thread()
    answer = make_answer(thread)
    services.restrict_member(staff, member, SILENCE, 2, "days", "Cooling off")
    assert not participates(member)
    for attempt in (lambda: make_thread(member), lambda: make_answer(thread, member),
                    lambda: forum_services.vote(member, answer, 1),
                    lambda: services.flag_post(member, answer, "spam")):
        with pytest.raises(Forbidden, match="silenced until .*Cooling off"):
            attempt()
    clock.advance(days=2, minutes=1)
    assert participates(member)  # it lapsed by itself
    services.restrict_member(staff, member, SUSPENSION, 5, "hours", "Spam links")
    with pytest.raises(Forbidden, match="suspended"):
        make_answer(thread, member)
    services.lift_restriction(staff, member, "Talked it through")
    assert participates(member)
    with pytest.raises(Conflict):
        services.lift_restriction(staff, member)


@pytest.mark.parametrize("amount, unit, message", [
    ("-3", "days", "at least"), ("0", "hours", "at least"), ("400", "days", "At most a year"),
    ("9999999999999", "hours", "At most a year"), ("two", "days", "whole number"),
    ("3", "weeks", "hours or days"),
])
def test_restriction_lengths_must_be_sensible(app, amount, unit, message):
    member = make_user()
    with pytest.raises(Invalid, match=message):
        services.restrict_member(make_user("staff"), member, SUSPENSION, amount, unit, "why")
    db.session.refresh(member)
    assert member.restriction is None


def test_nobody_suspends_themselves_an_admin_or_without_the_role(app):
    staff, admin = make_user("staff"), make_user("admin")
    with pytest.raises(Forbidden, match="yourself"):
        services.restrict_member(staff, staff, SUSPENSION, 1, "days", "why")
    with pytest.raises(Forbidden, match="Admins cannot"):
        services.restrict_member(staff, admin, SUSPENSION, 1, "days", "why")
    with pytest.raises(Forbidden, match="Admins cannot"):
        services.restrict_member(make_user("admin"), admin, SUSPENSION, 1, "days", "why")
    with pytest.raises(Forbidden, match="Only admins"):
        services.restrict_member(staff, make_user("staff"), SILENCE, 1, "days", "why")
    with pytest.raises(Forbidden):
        services.restrict_member(make_user("advocate"), make_user(), SILENCE, 1, "days", "why")
    with pytest.raises(Invalid, match="Say why"):
        services.restrict_member(staff, make_user(), SILENCE, 1, "days", " ")


# --- trust ------------------------------------------------------------------------------------------


def test_basic_trust_comes_from_an_accepted_answer_or_from_time_and_reading(app):
    asker, helper, reader = make_user(), make_user(trust_level=NEW), make_user(trust_level=NEW)
    thread = make_thread(asker)
    answer = make_answer(thread, helper)
    forum_services.accept_answer(asker, answer)
    db.session.refresh(helper)
    assert helper.trust_level == BASIC
    set_rules(basic_trust_days=2, basic_trust_posts_read=5)
    trust.READS.record(reader.id, 3)
    moderation_jobs.update_trust()
    db.session.refresh(reader)
    assert reader.trust_level == NEW
    with clock.moved(days=3):
        trust.READS.record(reader.id, 2)
        moderation_jobs.update_trust()
    db.session.refresh(reader)
    assert reader.trust_level == BASIC and trust.posts_read(reader.id) == 5


def test_up_votes_earn_trust_too(app):
    newcomer = make_user(trust_level=NEW)
    answer = make_answer(make_thread(), newcomer)
    forum_services.vote(make_user(), answer, 1)
    db.session.refresh(newcomer)
    assert newcomer.trust_level == BASIC
    assert clock.now() - newcomer.created_at.replace(tzinfo=clock.now().tzinfo) < timedelta(hours=1)


def test_a_review_item_follows_its_post_when_staff_merge_the_thread(app):
    from forum import restructure

    staff = make_user("staff")
    source, target = make_thread(), make_thread()
    answer = make_answer(source, body="Flag this one")
    services.flag_post(make_user(), answer, "off_topic")
    restructure.merge_thread(staff, source, str(target.id))
    assert item_of(answer).thread_id == target.id
    services.hide(staff, item_of(answer), "Off-topic")
    assert db.session.get(Post, answer.id).state == HIDDEN


def test_the_author_of_a_held_post_hears_when_it_is_approved(app):
    set_rules(held_first_posts=1)
    newcomer = make_user(trust_level=NEW)
    held = make_answer(make_thread(), newcomer, "My first answer")
    assert held.state == HELD
    services.approve(make_user("staff"), item_of(held))
    assert len(notices_of(newcomer, "post_approved")) == 1
