"""Two requests at once on PostgreSQL (where transactions overlap): votes, acceptances and deletions
apply one after the other, so stored reputation always equals a full recount."""

import threading

import sqlalchemy as sa

from accounts.models import User
from core.extensions import db
from forum import reputation, services, states
from forum.models import Post, Reputation
from tests.factories import make_answer, make_thread, make_user


def run_together(app, *steps):
    """Each step in its own thread and app context; all reach the barrier, then act at once."""
    barrier = threading.Barrier(len(steps))
    errors = []

    def run(step):
        with app.app_context():
            try:
                step(barrier)
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(step,)) for step in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def assert_reputation_matches_a_recount(app):
    with app.app_context():
        stored = {uid: pts for uid, pts in db.session.execute(
            sa.select(Reputation.user_id, Reputation.points)) if pts}
        assert stored == {uid: pts for uid, pts in reputation.computed().items() if pts}


def acting(user_id, post_id, action):
    def step(barrier):
        actor, post = db.session.get(User, user_id), db.session.get(Post, post_id)
        assert post.thread.id  # thread loaded before the other request acts: stale by the time we do
        barrier.wait()
        action(actor, post)
    return step


def test_two_people_accepting_different_answers_at_once(make_app):
    app = make_app("postgresql")
    with app.app_context():
        asker, staff = make_user(), make_user("staff")
        thread = make_thread(asker)
        first, second = make_answer(thread, make_user()), make_answer(thread, make_user())
        ids = asker.id, staff.id, first.id, second.id
    errors = run_together(app, acting(ids[0], ids[2], services.accept_answer),
                          acting(ids[1], ids[3], services.accept_answer))
    assert errors == []
    assert_reputation_matches_a_recount(app)


def test_one_voter_changing_their_vote_twice_at_once(make_app):
    app = make_app("postgresql")
    with app.app_context():
        voter = make_user()
        answer = make_answer(make_thread(), make_user())
        services.vote(voter, answer, 1)
        ids = voter.id, answer.id
    errors = run_together(app, acting(*ids, lambda actor, post: services.vote(actor, post, -1)),
                          acting(*ids, lambda actor, post: services.vote(actor, post, 0)))
    assert all(type(e).__name__ == "Conflict" for e in errors)
    assert_reputation_matches_a_recount(app)
    with app.app_context():
        votes = db.session.execute(sa.text("SELECT coalesce(sum(value), 0) FROM votes")).scalar()
        assert db.session.get(Post, ids[1]).score == votes


def test_a_vote_landing_while_staff_delete_the_answer(make_app):
    app = make_app("postgresql")
    with app.app_context():
        voter, staff = make_user(), make_user("staff")
        answer = make_answer(make_thread(), make_user())
        ids = voter.id, staff.id, answer.id
    errors = run_together(app, acting(ids[0], ids[2], lambda actor, post: services.vote(actor, post, 1)),
                          acting(ids[1], ids[2], states.delete_post))
    assert all(type(e).__name__ == "Invalid" for e in errors)  # the vote may find the answer gone
    assert_reputation_matches_a_recount(app)
