"""Asker satisfaction: the question is put once when a thread is solved or closed by staff, listed
and mailed; only the asker answers it, once, with a score from 1 to 5 and an optional comment."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from core import clock, jobs
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import db
from forum import jobs as forum_jobs
from forum import services, states
from forum.models import Notification
from insights import satisfaction
from insights.models import COMMENT_MAX, SatisfactionRating
from tests.conftest import outbox_links, outbox_messages
from tests.factories import make_answer, make_thread, make_user


def ratings() -> list[SatisfactionRating]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(SatisfactionRating).order_by(SatisfactionRating.id)))


def asks(user) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(
        Notification.user_id == user.id, Notification.kind == satisfaction.ASK)))


def mails_to(app, user) -> list:
    return [m for m in outbox_messages(app) if m["To"] == user.email]


def solved_by_peer(asker, title=None):
    thread = make_thread(asker, title=title)
    services.accept_answer(asker, make_answer(thread, make_user("advocate")))
    return thread


# --- putting the question ----------------------------------------------------------------------------


def test_accepting_asks_once_in_the_app_and_by_mail(app):
    asker, helper, staff = make_user(), make_user(), make_user("staff")
    thread = make_thread(asker, title="Invoice total is off by a penny")
    first, second = make_answer(thread, helper), make_answer(thread, staff)
    services.accept_answer(asker, first)
    [rating] = ratings()
    assert (rating.thread_id, rating.asker_id, rating.resolver) == (thread.id, asker.id, "peer")
    assert (rating.category_id, rating.score, rating.rated_at) == (thread.category_id, None, None)

    services.unaccept_answer(asker, thread)
    services.accept_answer(asker, second)  # accepted again: not asked again
    services.unaccept_answer(asker, thread)
    services.accept_answer(staff, first)  # staff on the asker's behalf: the asker is the one asked
    jobs.wait_idle()
    [rating] = ratings()
    assert rating.resolver == "peer"  # unanswered, it follows the latest resolution
    [notice] = asks(asker)
    assert notice.thread_id == thread.id and notice.mailed_at is not None
    assert asks(helper) == [] and asks(staff) == []
    [mail] = [m for m in mails_to(app, asker) if "solve your problem" in m["Subject"]]
    assert mail["Subject"] == "Did “Invoice total is off by a penny” solve your problem?"
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert "is solved now" in body and "1 (not at all) to 5 (completely)" in body
    assert f"http://peerline.test/t/{thread.id}/satisfaction" in outbox_links(app)


@pytest.mark.parametrize("who, resolver", [("asker", "self"), ("staff", "staff"), ("admin", "staff"),
                                           ("advocate", "peer")])
def test_the_question_says_who_solved_it(app, who, resolver):
    asker = make_user()
    thread = make_thread(asker)
    author = asker if who == "asker" else make_user(who)
    services.accept_answer(asker, make_answer(thread, author))
    assert [r.resolver for r in ratings()] == [resolver]


def test_a_staff_close_asks_and_a_later_acceptance_does_not_ask_again(app):
    asker, staff = make_user(), make_user("staff")
    thread = make_thread(asker, title="Duplicate of the VAT question")
    answer = make_answer(thread)
    states.close_thread(staff, thread, "duplicate", "See the VAT thread.")
    [rating] = ratings()
    assert rating.resolver == "closed" and rating.asker_id == asker.id
    jobs.wait_idle()
    [mail] = [m for m in mails_to(app, asker) if "solve your problem" in m["Subject"]]
    assert "is closed now" in mail.get_body(preferencelist=("plain",)).get_content()
    states.reopen_thread(staff, thread)
    services.accept_answer(asker, answer)
    states.close_thread(staff, thread, "other")
    jobs.wait_idle()
    [rating] = ratings()
    assert rating.resolver == "peer"
    assert len(asks(asker)) == 1
    assert len([m for m in mails_to(app, asker) if "solve your problem" in m["Subject"]]) == 1


def test_no_question_for_the_systems_close_or_staff_closing_their_own(app):
    asker = make_user()
    abandoned = make_thread(asker)
    answer = make_answer(abandoned)
    staff = make_user("staff")
    own = make_thread(staff)
    states.close_thread(staff, own, "outdated")
    clock.advance(days=31)
    forum_jobs.close_abandoned_threads()
    db.session.refresh(abandoned)
    assert abandoned.close_reason == "abandoned"
    assert ratings() == []
    services.accept_answer(asker, answer)  # they came back: now they are asked
    assert [(r.thread_id, r.resolver) for r in ratings()] == [(abandoned.id, "peer")]


def test_a_refused_change_leaves_no_question(app):
    asker, staff = make_user(), make_user("staff")
    thread = make_thread(asker)
    states.close_thread(staff, thread, "off-topic")
    with pytest.raises(Conflict):
        states.close_thread(staff, thread, "other")
    db.session.rollback()
    assert len(ratings()) == 1


# --- answering it: the service --------------------------------------------------------------------------


def test_rate_checks_who_what_and_when(app):
    asker, other, staff = make_user(), make_user(), make_user("staff")
    open_thread = make_thread(asker)
    with pytest.raises(NotFound, match="not solved or closed yet"):
        satisfaction.rate(asker, open_thread, 5, "")
    thread = solved_by_peer(asker)
    for person in (other, staff):
        with pytest.raises(Forbidden, match="Only the person who asked"):
            satisfaction.rate(person, thread, 5, "")
    for bad in (0, 6, -1, "x", "", None, True, 4.5, "4.5", "٤", "10"):
        with pytest.raises(Invalid, match="from 1 \\(not at all\\) to 5 \\(completely\\)"):
            satisfaction.rate(asker, thread, bad, "")
        db.session.rollback()
    with pytest.raises(Invalid, match=f"at most {COMMENT_MAX:,} characters"):
        satisfaction.rate(asker, thread, 4, "a" * (COMMENT_MAX + 1))
    db.session.rollback()
    assert ratings()[0].score is None

    clock.advance(hours=2)
    before = clock.now()
    rating = satisfaction.rate(asker, thread, " 4 ", "  Worked.\r\n\u202eThanks  ")
    assert (rating.score, rating.comment) == (4, "Worked.\nThanks")
    assert before <= clock.as_utc(rating.rated_at) <= clock.now()
    with pytest.raises(Conflict, match="given once, not twice"):
        satisfaction.rate(asker, thread, 1, "Changed my mind")
    db.session.rollback()
    [kept] = ratings()
    assert (kept.score, kept.comment) == (4, "Worked.\nThanks")


# --- answering it: the page -------------------------------------------------------------------------------


def test_the_asker_answers_on_the_page_and_the_thread_stops_asking(app, client, auth):
    asker = auth.as_role("member")
    thread = solved_by_peer(asker, title="Bank feed needs reauthorising")
    page = client.get(f"/t/{thread.id}").text
    assert f'href="/t/{thread.id}/satisfaction"' in page and "Did this solve your problem?" in page

    form = client.get(f"/t/{thread.id}/satisfaction")
    assert form.status_code == 200
    assert form.text.count('type="radio"') == 5
    assert "1 (not at all)" in form.text and "5 (completely)" in form.text
    response = client.post(f"/t/{thread.id}/satisfaction", data={"score": "5", "comment": "Spot on."})
    assert response.status_code == 302 and response.headers["Location"] == f"/t/{thread.id}"
    [rating] = ratings()
    assert (rating.score, rating.comment) == (5, "Spot on.")
    page = client.get(f"/t/{thread.id}").text
    assert "Thank you for telling us." in page
    assert f'href="/t/{thread.id}/satisfaction"' not in page

    shown = client.get(f"/t/{thread.id}/satisfaction")
    assert shown.status_code == 200 and "5 (completely)" in shown.text and "Spot on." in shown.text
    assert 'type="radio"' not in shown.text
    again = client.post(f"/t/{thread.id}/satisfaction", data={"score": "1", "comment": "No."})
    assert again.status_code == 409 and "given once, not twice" in again.text
    [kept] = ratings()
    assert (kept.score, kept.comment) == (5, "Spot on.")


@pytest.mark.parametrize("data", [{"score": "0"}, {"score": "6"}, {"score": "x"}, {},
                                  {"comment": "No score"}])
def test_a_bad_score_is_refused_with_a_message_and_nothing_saved(app, client, auth, data):
    asker = auth.as_role("member")
    thread = solved_by_peer(asker)
    response = client.post(f"/t/{thread.id}/satisfaction", data=data)
    assert response.status_code == 400
    assert "from 1 (not at all) to 5 (completely)" in response.text
    assert 'aria-describedby="score-error"' in response.text
    assert ratings()[0].score is None and ratings()[0].rated_at is None


def test_a_long_comment_is_refused_and_kept_in_the_form(app, client, auth):
    asker = auth.as_role("member")
    thread = solved_by_peer(asker)
    long = "b" * (COMMENT_MAX + 5)
    response = client.post(f"/t/{thread.id}/satisfaction", data={"score": "3", "comment": long})
    assert response.status_code == 400 and f"at most {COMMENT_MAX:,} characters" in response.text
    assert long in response.text and 'checked id="score-2"' in response.text
    assert ratings()[0].score is None


def test_unicode_and_html_in_the_comment_are_kept_as_text_and_shown_escaped(app, client, auth):
    asker = auth.as_role("member")
    thread = solved_by_peer(asker)
    comment = '<script>alert("x")</script> <b>Merci</b>, ça marche 👨‍👩‍👧 — 日本語'
    response = client.post(f"/t/{thread.id}/satisfaction", data={"score": "4", "comment": comment})
    assert response.status_code == 302
    assert ratings()[0].comment == comment
    page = client.get(f"/t/{thread.id}/satisfaction").text
    assert "<script>alert" not in page and "<b>Merci" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &lt;b&gt;Merci&lt;/b&gt;" in page
    assert ", ça marche 👨‍👩‍👧 — 日本語" in page


@pytest.mark.parametrize("who", ["member", "advocate", "staff", "admin"])
def test_someone_elses_thread_is_refused_with_a_reason(app, client, auth, who):
    thread = solved_by_peer(make_user())
    auth.as_role(who)
    for response in (client.get(f"/t/{thread.id}/satisfaction"),
                     client.post(f"/t/{thread.id}/satisfaction", data={"score": "1"})):
        assert response.status_code == 403
        assert "Only the person who asked this question" in response.text
    assert ratings()[0].score is None
    assert "/satisfaction" not in client.get(f"/t/{thread.id}").text


def test_anonymous_visitors_are_sent_to_sign_in(app, client):
    thread = solved_by_peer(make_user())
    for response in (client.get(f"/t/{thread.id}/satisfaction"),
                     client.post(f"/t/{thread.id}/satisfaction", data={"score": "5"})):
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/signin")
    assert ratings()[0].score is None


def test_no_question_no_page(app, client, auth):
    asker = auth.as_role("member")
    thread = make_thread(asker)
    response = client.get(f"/t/{thread.id}/satisfaction")
    assert response.status_code == 404 and "not solved or closed yet" in response.text
    assert "/satisfaction" not in client.get(f"/t/{thread.id}").text
    assert client.get("/t/999999/satisfaction").status_code == 404


def test_the_prompt_waits_while_the_thread_is_unsolved_again(app, client, auth):
    asker = auth.as_role("member")
    thread = solved_by_peer(asker)
    services.unaccept_answer(asker, thread)
    assert "/satisfaction" not in client.get(f"/t/{thread.id}").text
    # The mailed link still works: the question was put, and the asker may still answer it.
    assert client.get(f"/t/{thread.id}/satisfaction").status_code == 200


# --- the demo ------------------------------------------------------------------------------------------


def test_the_demo_has_ratings_over_the_last_30_days(app, runner):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    assert "Loaded the demo satisfaction ratings:" in result.output
    found = ratings()
    answered = [r for r in found if r.score is not None]
    assert len(answered) >= 5 and len(found) - len(answered) == 1
    now = clock.now()
    assert all(now - timedelta(days=30) <= clock.as_utc(r.rated_at) <= now for r in answered)
    assert {r.score for r in answered} >= {1, 4, 5}
    assert {r.resolver for r in found} <= {"peer", "self", "staff"} and "peer" in {r.resolver for r in found}
    assert all(r.thread.accepted_post_id is not None for r in found)

    again = runner.invoke(args=["demo", "load", "--if-empty"])
    assert again.exit_code == 0 and "Satisfaction ratings exist already" in again.output
    assert len(ratings()) == len(found)


def test_two_answers_at_once_one_wins(make_app):
    """PostgreSQL, where transactions overlap: both read the question unanswered, one answer is kept."""
    from accounts.models import User
    from forum.models import Thread
    from tests.forum.test_concurrency import run_together

    app = make_app("postgresql")
    with app.app_context():
        asker = make_user()
        ids = asker.id, solved_by_peer(asker).id

    def answering(score):
        def step(barrier):
            actor, thread = db.session.get(User, ids[0]), db.session.get(Thread, ids[1])
            assert satisfaction.question_for(actor, thread).score is None  # stale by the time we answer
            barrier.wait()
            satisfaction.rate(actor, thread, score, f"Gave {score}")
        return step

    errors = run_together(app, answering(2), answering(5))
    assert [type(e) for e in errors] == [Conflict]
    with app.app_context():
        [rating] = ratings()
        assert rating.score in (2, 5) and rating.comment == f"Gave {rating.score}"
