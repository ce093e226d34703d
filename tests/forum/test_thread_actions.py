"""Staff thread actions on SQLite and PostgreSQL: pinning, merging a thread into another, splitting
answers off into a new thread; through their services and their pages, with every refusal."""

import pytest
import sqlalchemy as sa

import search
from accounts.models import AuditEntry
from core import jobs
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import db
from forum import history, notices, queries, reputation, restructure, services, states
from forum.models import Notification, Post, PostRevision, Subscription, Tag, Thread, ThreadEvent, Vote
from tests.factories import PASSWORD, make_answer, make_category, make_thread, make_user
from tests.forum.test_query_counts import LISTING_MAX_QUERIES, describe, page_and_queries


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def question_of(thread) -> Post:
    return db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id, Post.kind == "question"))


def forum_kinds(thread) -> list[str]:
    return [e.kind for e in history.events_for(thread.id) if e.kind in history.FORUM_KINDS]


def event_of(thread, kind) -> ThreadEvent:
    return next(e for e in history.events_for(thread.id) if e.kind == kind)


def audit_actions(thread) -> list[str]:
    return list(db.session.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.subject_type == "thread", AuditEntry.subject_id == thread.id).order_by(AuditEntry.id)))


def snapshot() -> tuple:
    """Everything a refused action must leave as it was."""
    return (
        [tuple(r) for r in db.session.execute(
            sa.select(Post.id, Post.thread_id, Post.kind, Post.score).order_by(Post.id))],
        [tuple(r) for r in db.session.execute(
            sa.select(Thread.id, Thread.closed_at, Thread.close_reason, Thread.merged_into_id,
                      Thread.accepted_post_id, Thread.pinned_at, Thread.reply_count,
                      Thread.first_reply_post_id).order_by(Thread.id))],
        [tuple(r) for r in db.session.execute(
            sa.select(Subscription.thread_id, Subscription.user_id, Subscription.active)
            .order_by(Subscription.id))],
        dict(db.session.execute(sa.text("SELECT user_id, points FROM reputations")).all()),
        count(ThreadEvent), count(AuditEntry), count(PostRevision), count(Notification),
    )


def hit_ids(query: str) -> list[str]:
    return [hit.doc_id for hit in search.search(query).hits]


def sign_in(client, user) -> None:
    client.post("/signout")
    if user is not None:
        response = client.post("/signin", data={"login": user.username, "password": PASSWORD})
        assert response.status_code == 302, response.text


def reputation_is_a_recount() -> None:
    stored = {uid: points for uid, points in db.session.execute(
        sa.text("SELECT user_id, points FROM reputations")).all() if points}
    assert stored == {uid: points for uid, points in reputation.computed().items() if points}


# --------------------------------------------------------------------------- pinning


def titles(which="latest", **scope) -> list[str]:
    return [row.title for row in queries.list_threads(which, **scope)[0].items]


def test_pinned_threads_come_first_in_the_latest_lists_and_nowhere_else(app):
    staff, asker = make_user("staff"), make_user()
    db.session.add(Tag(name="vat"))
    db.session.commit()
    billing, other = make_category("Billing"), make_category("Other")
    oldest = make_thread(asker, category=billing, title="Oldest", tags=["vat"])
    middle = make_thread(asker, category=billing, title="Middle", tags=["vat"])
    elsewhere = make_thread(asker, category=other, title="Elsewhere")
    newest = make_thread(asker, category=billing, title="Newest", tags=["vat"])
    assert titles() == ["Newest", "Elsewhere", "Middle", "Oldest"]

    states.pin_thread(staff, oldest)
    states.pin_thread(staff, middle)
    assert titles() == ["Middle", "Oldest", "Newest", "Elsewhere"]  # the pinned ones by activity
    assert titles(category=billing) == ["Middle", "Oldest", "Newest"]
    rows = queries.list_threads("latest")[0].items
    assert [row.is_pinned for row in rows] == [True, True, False, False]
    # Every other list keeps its order, and shows no pin.
    for which in ("unanswered", "unsolved"):
        assert titles(which) == ["Newest", "Elsewhere", "Middle", "Oldest"], which
    assert titles(tag=db.session.scalar(sa.select(Tag))) == ["Newest", "Middle", "Oldest"]
    assert titles(author=asker) == ["Newest", "Elsewhere", "Middle", "Oldest"]
    assert not any(row.is_pinned for row in queries.list_threads("unanswered")[0].items)

    assert forum_kinds(oldest)[-1] == "pinned" and event_of(oldest, "pinned").actor_id == staff.id
    assert audit_actions(oldest) == ["pin"]
    assert (oldest.pinned_by_id, oldest.is_pinned) == (staff.id, True)
    states.unpin_thread(staff, oldest)
    assert titles() == ["Middle", "Newest", "Elsewhere", "Oldest"]
    assert forum_kinds(oldest)[-1] == "unpinned" and audit_actions(oldest) == ["pin", "unpin"]
    assert oldest.pinned_at is None and oldest.pinned_by_id is None
    assert (elsewhere.pinned_at, newest.pinned_at) == (None, None)


def test_pinned_threads_page_like_any_others(app):
    staff, category = make_user("staff"), make_category()
    threads = [make_thread(category=category, title=f"Question {n}") for n in range(8)]
    for n in (1, 4, 6):
        states.pin_thread(staff, threads[n])
    pages = [queries.list_threads("latest", page=n, per_page=3)[0] for n in (1, 2, 3)]
    assert [[row.title for row in page.items] for page in pages] == [
        ["Question 6", "Question 4", "Question 1"],
        ["Question 7", "Question 5", "Question 3"],
        ["Question 2", "Question 0"],
    ]
    assert [page.total for page in pages] == [8, 8, 8]
    second = queries.list_threads("latest", page=2, per_page=2)[0]
    assert [row.title for row in second.items] == ["Question 1", "Question 7"]  # the seam


def test_pinning_twice_or_unpinning_an_unpinned_thread_is_a_conflict_that_writes_nothing(app):
    staff, member = make_user("staff"), make_user()
    thread = make_thread()
    before = snapshot()
    with pytest.raises(Conflict, match="This thread is not pinned."):
        states.unpin_thread(staff, thread)
    assert snapshot() == before
    states.pin_thread(staff, thread)
    before = snapshot()
    with pytest.raises(Conflict, match="This thread is already pinned."):
        states.pin_thread(staff, thread)
    assert snapshot() == before
    for action in (states.pin_thread, states.unpin_thread):
        with pytest.raises(Forbidden, match="Only staff"):
            action(member, thread)
    assert snapshot() == before
    deleted = make_thread()
    states.delete_thread(staff, deleted)
    with pytest.raises(Conflict, match="Only a visible thread can be pinned"):
        states.pin_thread(staff, deleted)


def test_pin_and_unpin_through_the_thread_page(app, client, auth):
    thread = make_thread(title="Read this before asking")
    make_thread(title="A newer question")
    auth.as_role("staff")
    page = client.get(f"/t/{thread.id}").text
    assert f'action="/t/{thread.id}/pin"' in page
    response = client.post(f"/t/{thread.id}/pin", follow_redirects=True)
    assert response.status_code == 200 and "Pinned: it comes first" in response.text
    assert f'action="/t/{thread.id}/unpin"' in response.text
    again = client.post(f"/t/{thread.id}/pin")
    assert again.status_code == 409 and "already pinned" in again.text
    home = client.get("/").text
    assert home.index("Read this before asking") < home.index("A newer question")
    assert 'class="badge badge-pinned">Pinned<' in home
    assert client.post(f"/t/{thread.id}/unpin").status_code == 302
    assert client.post(f"/t/{thread.id}/unpin").status_code == 409
    home = client.get("/").text
    assert home.index("A newer question") < home.index("Read this before asking")
    assert "badge-pinned" not in home
    auth.sign_out()
    auth.as_role("member")
    assert client.post(f"/t/{thread.id}/pin").status_code == 403
    assert f'action="/t/{thread.id}/pin"' not in client.get(f"/t/{thread.id}").text


def test_lists_with_pinned_threads_keep_their_query_counts(app, client, auth):
    staff = make_user("staff")
    category = make_category("Devices", slug="devices")
    auth.as_role("member")

    def add(n, start=0):
        for i in range(start, start + n):
            thread = make_thread(category=category, title=f"Question number {i}")
            if i % 4 == 0:
                states.pin_thread(staff, thread)

    measured = {}
    for how_many, start in ((3, 0), (27, 3)):
        add(how_many, start)
        for url in ("/", "/c/devices", "/threads/unanswered"):
            for who, viewer in (("anonymous", app.test_client()), ("member", client)):
                page, statements = page_and_queries(viewer, url)
                assert page.count('class="thread-row') == min(start + how_many, 30), (url, who)
                measured.setdefault((url, who), []).append(statements)
    for key, (few, many) in measured.items():
        assert len(few) == len(many), f"{key}:\n{describe(few)}\n\n{describe(many)}"
        assert len(few) <= LISTING_MAX_QUERIES, f"{key}:\n{describe(few)}"


# --------------------------------------------------------------------------- merging


@pytest.fixture
def duplicate_pair(app):
    """A (a duplicate, answered, solved, followed) and B (the thread it repeats, solved as well)."""
    staff = make_user("staff")
    asker_a, asker_b, helper, other_helper, voter = (make_user(username=name) for name in (
        "asker_a", "asker_b", "helper", "other_helper", "voter"))
    a = make_thread(asker_a, title="Payouts arrive a day late")
    a_answers = [make_answer(a, helper, "Check the zanzibar cut-off time."),
                 make_answer(a, other_helper, "Payouts on holidays move to the next day.")]
    services.edit_post(helper, a_answers[0], "Check the zanzibar cut-off time in Settings.")
    services.vote(voter, a_answers[0], 1)
    services.vote(asker_a, a_answers[1], -1)
    services.accept_answer(asker_a, a_answers[0])
    b = make_thread(asker_b, title="Why is my payout late?")
    b_answer = make_answer(b, other_helper, "Bank holidays delay payouts.")
    services.vote(voter, b_answer, 1)
    services.accept_answer(asker_b, b_answer)
    return {"staff": staff, "a": a, "b": b, "a_answers": a_answers, "b_answer": b_answer,
            "asker_a": asker_a, "asker_b": asker_b, "helper": helper, "voter": voter}


def test_merging_moves_the_answers_with_their_votes_and_leaves_a_closed_signpost(duplicate_pair):
    d = duplicate_pair
    a, b, staff = d["a"], d["b"], d["staff"]
    moved = d["a_answers"]
    before = {p.id: (p.author_id, p.created_at, p.score, p.body) for p in moved}
    revisions = {p.id: count(PostRevision, PostRevision.post_id == p.id) for p in moved}
    votes = count(Vote)
    points = reputation.for_users([d["helper"].id, d["voter"].id])
    reputation_is_a_recount()

    assert restructure.merge_thread(staff, a, f"#{b.id}") is b

    for post in moved:
        db.session.refresh(post)
        assert post.thread_id == b.id
        assert (post.author_id, post.created_at, post.score, post.body) == before[post.id]
        assert count(PostRevision, PostRevision.post_id == post.id) == revisions[post.id]
    assert count(Vote) == votes
    assert question_of(a).thread_id == a.id  # the question stays, for staff to read
    # A loses its acceptance (and the helper the points it was worth); B keeps its own.
    assert (a.accepted_post_id, a.solved_at) == (None, None)
    assert b.accepted_post_id == d["b_answer"].id
    helper_points = points[d["helper"].id] - reputation.ACCEPTED_POINTS
    assert reputation.for_users([d["helper"].id])[d["helper"].id] == helper_points
    reputation_is_a_recount()
    # A is closed as a duplicate, naming B, and leads there.
    assert (a.close_reason, a.closed_by_id, a.merged_into_id) == ("duplicate", staff.id, b.id)
    assert a.close_note == f"Merged into #{b.id}: Why is my payout late?"
    # Both threads' figures follow their answers.
    assert (a.reply_count, a.first_reply_post_id) == (0, None)
    assert b.reply_count == 3 and b.first_reply_at >= b.created_at
    assert b.last_activity_at >= max(p.created_at for p in moved)
    # History and audit on both.
    merged_into, merged_from = event_of(a, "merged_into"), event_of(b, "merged_from")
    assert (merged_into.other_thread_id, merged_into.actor_id) == (b.id, staff.id)
    assert merged_into.note == "2 answers"
    assert (merged_from.other_thread_id, merged_from.actor_id) == (a.id, staff.id)
    assert event_of(a, "unaccepted").reason == "merged"
    assert forum_kinds(a)[-3:] == ["unaccepted", "merged_into", "closed"]
    assert audit_actions(a) == ["merge"]
    assert history.check([a.id, b.id]) == []


def test_merging_takes_the_followers_along_unless_they_left_the_other_thread(duplicate_pair):
    d = duplicate_pair
    a, b = d["a"], d["b"]
    stays_away, newcomer, gone = make_user(), make_user(), make_user()
    for person in (stays_away, newcomer, gone):
        notices.set_following(person, a, True)
    notices.set_following(stays_away, b, False)  # unsubscribed from B: that choice stands
    notices.set_following(gone, a, False)  # no longer follows A: not taken along
    restructure.merge_thread(d["staff"], a, str(b.id))
    following_b = set(notices.active_followers(b.id))
    assert {d["asker_a"].id, d["helper"].id, newcomer.id, d["asker_b"].id} <= following_b
    assert stays_away.id not in following_b and gone.id not in following_b
    assert count(Subscription, Subscription.thread_id == b.id, Subscription.user_id == stays_away.id) == 1


@pytest.mark.parametrize("reference", ["{b}", "#{b}", " # {b} ", "/t/{b}", "https://peerline.test/t/{b}/why-late",
                                       "http://localhost:5000/forum/t/{b}?page=2#post-3"])
def test_the_thread_to_merge_into_is_named_by_its_number_or_its_address(duplicate_pair, reference):
    d = duplicate_pair
    assert restructure.merge_target(d["staff"], d["a"], reference.format(b=d["b"].id)) is d["b"]


def _then(*steps):
    """A set-up: run each step on the fixture's dict; the last one gives what the action is given."""
    def run(d):
        result = None
        for step in steps:
            result = step(d)
        return result
    return run


def _b(d) -> str:
    return str(d["b"].id)


BAD_MERGES = {  # set-up giving the reference, the error, its message; each refused, writing nothing
    "itself": (lambda d: str(d["a"].id), Invalid, "cannot be merged into itself"),
    "missing": (lambda d: "424242", NotFound, "There is no thread #424242"),
    "garbage": (lambda d: "the one about payouts", Invalid, "Give the number of the thread"),
    "deleted target": (_then(lambda d: states.delete_thread(d["staff"], d["b"]), _b),
                       Conflict, "is deleted: merge into a thread members can read"),
    "hidden target": (_then(lambda d: states.hide_thread(d["staff"], d["b"], "Spam"), _b),
                      Conflict, "is hidden from members"),
    "locked source": (_then(lambda d: states.set_locked(d["staff"], d["a"], True), _b),
                      Conflict, "This thread is locked: unlock it before merging"),
    "locked target": (_then(lambda d: states.set_locked(d["staff"], d["b"], True), _b),
                      Conflict, "is locked: unlock it before merging into it"),
    "already merged": (_then(lambda d: restructure.merge_thread(d["staff"], d["a"], _b(d)),
                             lambda d: str(make_thread().id)),
                       Conflict, "This thread was merged into"),
    "merged target": (_then(lambda d: restructure.merge_thread(d["staff"], d["b"], str(make_thread().id)),
                            _b),
                      Conflict, "merge into that one instead"),
}


@pytest.mark.parametrize("case", BAD_MERGES)
def test_bad_merges_are_refused_with_a_message_and_change_nothing(duplicate_pair, case):
    d = duplicate_pair
    setup, error, message = BAD_MERGES[case]
    reference = setup(d)
    before = snapshot()
    with pytest.raises(error, match=message):
        restructure.merge_thread(d["staff"], d["a"], reference)
    assert snapshot() == before
    db.session.rollback()


def test_only_staff_merge(duplicate_pair):
    d = duplicate_pair
    before = snapshot()
    for person in (d["asker_a"], make_user("advocate")):
        with pytest.raises(Forbidden, match="Only staff merge threads"):
            restructure.merge_thread(person, d["a"], str(d["b"].id))
        with pytest.raises(Forbidden):
            restructure.merge_target(person, d["a"], str(d["b"].id))
    assert snapshot() == before


def test_a_merged_thread_leads_members_and_visitors_to_the_other_one(duplicate_pair, client):
    d = duplicate_pair
    a, b = d["a"], d["b"]
    restructure.merge_thread(d["staff"], a, str(b.id))
    for viewer in (None, d["asker_a"], make_user("advocate")):
        sign_in(client, viewer)
        response = client.get(f"/t/{a.id}/payouts-arrive-a-day-late")
        assert response.status_code == 301, viewer
        assert response.headers["Location"] == f"/t/{b.id}"
        page = client.get(response.headers["Location"]).text
        assert "zanzibar cut-off" in page and "Bank holidays delay payouts" in page
        assert "Payouts arrive a day late" not in client.get("/").text  # it left the lists
        assert client.post(f"/t/{a.id}/reply", data={"body": "Me too"}).status_code == (
            302 if viewer is None else 403)
    sign_in(client, d["staff"])
    page = client.get(f"/t/{a.id}")
    assert page.status_code == 200
    link = f'<a href="/t/{b.id}">#{b.id} “Why is my payout late?”</a>'
    assert f"This thread was merged into {link}" in page.text
    assert "It fails with an error when I try." in page.text  # its question, for staff
    assert f'action="/t/{a.id}/reply"' not in page.text  # nobody answers there any more
    assert f'action="/t/{a.id}/reopen"' not in page.text and f'action="/t/{a.id}/pin"' not in page.text
    with pytest.raises(Forbidden, match="merged into another one"):
        services.create_post(d["staff"], a, "Staff cannot post here either")
    with pytest.raises(Conflict, match="it stays closed"):
        states.reopen_thread(d["staff"], a)
    with pytest.raises(Conflict, match="mark that one urgent instead"):
        states.set_urgent(d["asker_a"], a, True, "Still late")
    with pytest.raises(Conflict, match="pin that one instead"):
        states.pin_thread(d["staff"], a)


def test_a_closed_or_pinned_or_unanswered_thread_merges_too(app):
    staff, target = make_user("staff"), make_thread(title="The one to keep")
    closed, pinned, lonely = (make_thread(title=title) for title in ("Closed", "Pinned", "Lonely"))
    make_answer(closed)
    states.close_thread(staff, closed, "off-topic", "Not about us")
    states.pin_thread(staff, pinned)
    for thread in (closed, pinned, lonely):
        restructure.merge_thread(staff, thread, str(target.id))
        assert thread.merged_into_id == target.id and thread.is_closed
    # One closed before keeps that close (and its place in the figures), and is not closed again.
    assert (closed.close_reason, closed.close_note) == ("off-topic", "Not about us")
    assert forum_kinds(closed).count("closed") == 1
    assert (pinned.pinned_at, forum_kinds(pinned)[-3:]) == (None, ["unpinned", "merged_into", "closed"])
    assert lonely.close_reason == "duplicate" and event_of(lonely, "merged_into").note == "0 answers"
    assert target.reply_count == 1 and titles() == ["The one to keep"]
    assert history.check() == []


def test_opening_a_merged_thread_reads_its_notices_and_answer_notices_follow_their_answers(
        duplicate_pair, client):
    d = duplicate_pair
    a, b, follower = d["a"], d["b"], make_user()
    notices.set_following(follower, a, True)
    answer = make_answer(a, make_user(), "One more idea: check the zanzibar calendar.")
    jobs.wait_idle()  # the follower's notice of the new answer
    restructure.merge_thread(d["staff"], a, str(b.id))
    notice = db.session.scalar(sa.select(Notification).where(Notification.user_id == follower.id))
    assert (notice.thread_id, notice.post_id) == (b.id, answer.id)  # it leads where the answer is
    sign_in(client, follower)
    assert notices.unread_counts(follower, b.id) == (1, 1)
    client.get(f"/t/{b.id}")
    assert notices.unread_counts(follower) == (0, 0)
    asker_notice = notices.add_notices("accepted", [follower.id], thread_id=a.id)  # any notice about A
    db.session.commit()
    assert asker_notice and notices.unread_counts(follower)[0] == 1
    assert client.get(f"/t/{a.id}").status_code == 301
    assert notices.unread_counts(follower)[0] == 0


def test_search_finds_the_merged_answers_under_the_other_thread(duplicate_pair):
    d = duplicate_pair
    a, b = d["a"], d["b"]
    jobs.wait_idle()
    assert hit_ids("zanzibar") == [f"thread:{a.id}"]
    assert hit_ids("arrive") == [f"thread:{a.id}"]
    restructure.merge_thread(d["staff"], a, str(b.id))
    jobs.wait_idle()
    assert hit_ids("zanzibar") == [f"thread:{b.id}"]
    assert hit_ids("arrive") == []  # the merged thread left the index; its answers are found at B
    assert hit_ids("holidays") == [f"thread:{b.id}"]


def test_merging_refreshes_the_cached_pages_of_both_threads(make_app):
    from accounts.models import User

    app = make_app("sqlite", PEERLINE_PAGE_CACHE_SECONDS=30)
    client = app.test_client()
    with app.app_context():
        staff, a, b = make_user("staff"), make_thread(title="Duplicate"), make_thread(title="Original")
        make_answer(a, body="The answer that moves")
        staff_id, ids = staff.id, (a.id, b.id)
    assert "The answer that moves" not in client.get(f"/t/{ids[1]}").text
    assert "Duplicate" in client.get("/").text
    with app.app_context():
        restructure.merge_thread(db.session.get(User, staff_id), db.session.get(Thread, ids[0]), str(ids[1]))
    assert "The answer that moves" in client.get(f"/t/{ids[1]}").text
    assert "Duplicate" not in client.get("/").text
    assert client.get(f"/t/{ids[0]}").status_code == 301


def test_merging_through_its_pages(duplicate_pair, client, auth):
    d = duplicate_pair
    a, b = d["a"], d["b"]
    sign_in(client, d["staff"])
    assert f'href="/t/{a.id}/merge"' in client.get(f"/t/{a.id}").text
    form = client.get(f"/t/{a.id}/merge")
    assert form.status_code == 200 and 'name="target"' in form.text
    for target, status, message in ((str(a.id), 400, "cannot be merged into itself"),
                                    ("nonsense", 400, "Give the number of the thread"),
                                    ("424242", 404, "There is no thread #424242")):
        response = client.post(f"/t/{a.id}/merge", data={"target": target})
        assert (response.status_code, message in response.text) == (status, True), target
    preview = client.post(f"/t/{a.id}/merge", data={"target": f"http://peerline.test/t/{b.id}"})
    assert preview.status_code == 200 and "Why is my payout late?" in preview.text
    assert 'name="confirm" value="yes"' in preview.text
    assert a.merged_into_id is None  # a preview writes nothing
    states.set_locked(d["staff"], b, True)
    locked = client.post(f"/t/{a.id}/merge", data={"target": str(b.id), "confirm": "yes"})
    assert locked.status_code == 409 and "is locked" in locked.text
    states.set_locked(d["staff"], b, False)
    done = client.post(f"/t/{a.id}/merge", data={"target": str(b.id), "confirm": "yes"})
    assert done.status_code == 302 and done.headers["Location"] == f"/t/{b.id}"
    assert "are here now" in client.get(done.headers["Location"]).text
    db.session.refresh(a)
    assert a.merged_into_id == b.id
    again = client.post(f"/t/{a.id}/merge", data={"target": str(b.id), "confirm": "yes"})
    assert again.status_code == 409 and "merged into" in again.text
    sign_in(client, d["asker_a"])
    assert client.get(f"/t/{b.id}/merge").status_code == 403
    assert client.post(f"/t/{b.id}/merge", data={"target": str(a.id), "confirm": "yes"}).status_code == 403


# --------------------------------------------------------------------------- splitting


@pytest.fixture
def mixed_thread(app):
    """A thread whose answers turned into two conversations: an accepted answer about exports, and
    a side question about printing, with its own answers and votes."""
    staff, asker, voter = make_user("staff"), make_user(username="asker"), make_user(username="voter")
    side_asker, printer_expert, export_expert = (make_user(username=name) for name in (
        "side_asker", "printer_expert", "export_expert"))
    thread = make_thread(asker, title="Exports fail at midnight")
    export_answer = make_answer(thread, export_expert, "Move the export to 01:00.")
    side_question = make_answer(thread, side_asker, "Also my quokka printer prints blank pages?")
    side_answer = make_answer(thread, printer_expert, "Update the quokka driver.")
    services.vote(voter, side_question, 1)
    services.vote(voter, side_answer, 1)
    services.accept_answer(asker, side_answer)  # accepted by mistake: it answers the side question
    return {"staff": staff, "thread": thread, "export_answer": export_answer, "side_question": side_question,
            "side_answer": side_answer, "side_asker": side_asker, "printer_expert": printer_expert,
            "asker": asker, "voter": voter}


def test_splitting_makes_the_oldest_answer_a_question_and_moves_the_rest(mixed_thread):
    d = mixed_thread
    thread, staff = d["thread"], d["staff"]
    other = make_category("Printing")
    side_question, side_answer = d["side_question"], d["side_answer"]
    created_at = side_question.created_at
    reputation_is_a_recount()
    side_points = reputation.for_users([d["side_asker"].id])[d["side_asker"].id]

    new = restructure.split_thread(staff, thread, [str(side_answer.id), side_question.id],
                                   "  Quokka printer prints blank pages ", other.id)

    assert (new.title, new.category_id, new.author_id) == (
        "Quokka printer prints blank pages", other.id, d["side_asker"].id)
    assert question_of(new).id == side_question.id and side_question.kind == "question"
    assert side_question.created_at == created_at and side_answer.thread_id == new.id
    assert side_answer.score == 1  # votes stay with their answer
    assert (new.reply_count, new.first_reply_post_id, new.accepted_post_id) == (1, side_answer.id, None)
    assert new.first_reply_at >= new.created_at  # no negative response time for an older answer
    # The old thread keeps its own answer, and loses the acceptance that moved.
    assert (thread.reply_count, thread.accepted_post_id, thread.first_reply_post_id) == (
        1, None, d["export_answer"].id)
    # Votes on what is now a question no longer count, as on any question.
    assert reputation.for_users([d["side_asker"].id])[d["side_asker"].id] == side_points - 10
    reputation_is_a_recount()
    assert set(notices.active_followers(new.id)) == {d["side_asker"].id, d["printer_expert"].id}
    assert forum_kinds(new)[:2] == ["created", "split_from"]
    assert event_of(new, "split_from").other_thread_id == thread.id
    split_to = event_of(thread, "split_to")
    assert (split_to.other_thread_id, split_to.note) == (new.id, "2 posts")
    assert event_of(thread, "unaccepted").reason == "split"
    assert audit_actions(thread) == ["split"]  # the asker's own acceptance is no staff action
    assert services.revisions(side_question)[0].title == "Quokka printer prints blank pages"
    assert history.check([thread.id, new.id]) == []


def test_splitting_without_a_category_keeps_the_threads_own(mixed_thread):
    d = mixed_thread
    new = restructure.split_thread(d["staff"], d["thread"], [d["export_answer"].id], "Exports at night", "")
    assert new.category_id == d["thread"].category_id and new.reply_count == 0
    assert new.author_id == d["export_answer"].author_id


def _export(d) -> list[int]:
    return [d["export_answer"].id]


BAD_SPLITS = {  # set-up giving the ids picked, the title, the error, its message
    "the question": (lambda d: [question_of(d["thread"]).id], "Title", Invalid, "The question stays"),
    "nothing picked": (lambda d: [], "Title", Invalid, "Pick at least one answer"),
    "not a number": (lambda d: ["seven"], "Title", Invalid, "is not the number of an answer"),
    "another thread's": (lambda d: [make_answer(make_thread()).id], "Title", Invalid,
                         "Only answers of this thread"),
    "missing": (lambda d: [424242], "Title", Invalid, "#424242 is not one of them"),
    "deleted": (_then(lambda d: states.delete_post(d["staff"], d["export_answer"]), _export),
                "Title", Invalid, r"export_expert \(#\d+\) is deleted: restore it first"),
    "hidden": (_then(lambda d: states.hide_post(d["staff"], d["export_answer"], "Rude"), _export),
               "Title", Invalid, "is hidden from members"),
    "empty title": (_export, "  \u200b ", Invalid, "Write a title"),
    "long title": (_export, "x" * 201, Invalid, "A title has at most 200"),
    "unknown category": (_export, "Title", Invalid, "Choose one of the categories"),
    "locked thread": (_then(lambda d: states.set_locked(d["staff"], d["thread"], True), _export),
                      "Title", Conflict, "This thread is locked"),
}


@pytest.mark.parametrize("case", BAD_SPLITS)
def test_bad_splits_are_refused_with_a_message_and_change_nothing(mixed_thread, case):
    d = mixed_thread
    picked, title, error, message = BAD_SPLITS[case]
    ids = picked(d)
    category = 424242 if case == "unknown category" else None
    before = snapshot()
    with pytest.raises(error, match=message):
        restructure.split_thread(d["staff"], d["thread"], ids, title, category)
    assert snapshot() == before
    db.session.rollback()


def test_only_staff_split(mixed_thread):
    d = mixed_thread
    before = snapshot()
    for person in (d["asker"], make_user("advocate")):
        with pytest.raises(Forbidden, match="Only staff split threads"):
            restructure.split_thread(person, d["thread"], [d["side_question"].id], "Side question")
    assert snapshot() == before


def test_search_and_lists_find_a_split_thread(mixed_thread):
    d = mixed_thread
    jobs.wait_idle()
    assert hit_ids("quokka") == [f"thread:{d['thread'].id}"]
    new = restructure.split_thread(d["staff"], d["thread"], [d["side_question"].id, d["side_answer"].id],
                                   "Printer prints blank pages")
    jobs.wait_idle()
    assert hit_ids("quokka") == [f"thread:{new.id}"]
    assert hit_ids("midnight") == [f"thread:{d['thread'].id}"]
    assert titles()[0] == "Printer prints blank pages"
    assert titles("unanswered") == []  # the new thread has its answer, the old one keeps its own


def test_splitting_through_its_pages(mixed_thread, client):
    d = mixed_thread
    thread = d["thread"]
    sign_in(client, d["staff"])
    assert f'href="/t/{thread.id}/split"' in client.get(f"/t/{thread.id}").text
    form = client.get(f"/t/{thread.id}/split")
    assert form.status_code == 200
    for post in (d["export_answer"], d["side_question"], d["side_answer"]):
        assert f'name="post_ids" value="{post.id}"' in form.text
    assert "Also my quokka printer prints blank pages?" in form.text
    empty = client.post(f"/t/{thread.id}/split", data={"title": "Printing"})
    assert empty.status_code == 400 and "Pick at least one answer" in empty.text
    side_id = d["side_question"].id
    untitled = client.post(f"/t/{thread.id}/split", data={"title": "", "post_ids": [str(side_id)]})
    assert untitled.status_code == 400 and "Write a title" in untitled.text
    assert f'value="{side_id}" id="pick-{side_id}" checked' in untitled.text
    done = client.post(f"/t/{thread.id}/split", data={
        "title": "Quokka printer prints blank pages", "category_id": str(thread.category_id),
        "post_ids": [str(d["side_question"].id), str(d["side_answer"].id)]})
    assert done.status_code == 302
    page = client.get(done.headers["Location"]).text
    assert "Quokka printer prints blank pages" in page and "Split off: 2 posts" in page
    assert "Update the quokka driver." in page
    sign_in(client, d["asker"])
    assert client.get(f"/t/{thread.id}/split").status_code == 403
    assert client.post(f"/t/{thread.id}/split", data={
        "title": "Mine now", "post_ids": [str(d["export_answer"].id)]}).status_code == 403


# --------------------------------------------------------------------------- at once, on PostgreSQL


def _figures_agree_with_a_recount(app, *thread_ids) -> None:
    with app.app_context():
        reputation_is_a_recount()
        assert history.check(list(thread_ids)) == []
        for thread in db.session.scalars(sa.select(Thread).where(Thread.id.in_(thread_ids))):
            visible = count(Post, Post.thread_id == thread.id, Post.kind == "answer", Post.state == "visible")
            assert thread.reply_count == visible, thread.id
            if thread.accepted_post_id is not None:
                assert db.session.get(Post, thread.accepted_post_id).thread_id == thread.id


@pytest.mark.parametrize("action", ["hide", "delete", "accept"])
def test_an_answer_changed_while_its_thread_is_merged_lands_in_one_thread(make_app, action):
    """Whichever goes first, the answer's change is made in the thread it is in by then."""
    from accounts.models import User
    from tests.forum.test_concurrency import run_together

    app = make_app("postgresql")
    with app.app_context():
        staff, asker = make_user("staff"), make_user()
        a, b = make_thread(asker), make_thread()
        answer = make_answer(a, make_user())
        services.vote(make_user(), answer, 1)
        make_answer(b)
        ids = staff.id, asker.id, a.id, b.id, answer.id

    def merge(barrier):
        actor, thread = db.session.get(User, ids[0]), db.session.get(Thread, ids[2])
        barrier.wait()
        restructure.merge_thread(actor, thread, str(ids[3]))

    def change(barrier):
        post = db.session.get(Post, ids[4])
        assert post.thread.id == ids[2]  # loaded before the merge: stale by the time it acts
        barrier.wait()
        if action == "hide":
            states.hide_post(db.session.get(User, ids[0]), post, "Off topic")
        elif action == "delete":
            states.delete_post(db.session.get(User, ids[0]), post)
        else:
            services.accept_answer(db.session.get(User, ids[1]), post)

    errors = run_together(app, merge, change)
    # Accepting after the merge is refused: the answer is in someone else's thread by then.
    assert all(isinstance(e, Forbidden) for e in errors) and (action == "accept" or not errors), errors
    _figures_agree_with_a_recount(app, ids[2], ids[3])
    with app.app_context():
        assert db.session.get(Post, ids[4]).thread_id == ids[3]
        assert db.session.get(Thread, ids[2]).accepted_post_id is None
