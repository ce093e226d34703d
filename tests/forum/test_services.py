"""Forum services on SQLite and PostgreSQL: ask, answer, accept, vote, edit, delete, lists."""

import pytest
import sqlalchemy as sa

from core.errors import Conflict, Forbidden, Invalid
from core.extensions import db
from forum import askflows, categories, notices, permissions, queries, reputation, services, states
from forum.models import Post, PostRevision, Subscription, Tag, Thread
from tests.factories import make_answer, make_category, make_thread, make_user

ZALGO = "Z" + "\u0301\u0302\u0303\u0308" * 48  # one letter under 192 combining marks


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_asking_stores_the_question_as_the_first_post(app):
    asker, category = make_user(), make_category("Billing")
    thread = services.create_thread(asker, category.id, "  Invoice   total is wrong  ",
                                    "The **total** is off by one cent.", [])
    question = db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id))
    assert thread.title == "Invoice total is wrong"
    assert (question.kind, question.author_role) == ("question", "member")
    assert "<strong>total</strong>" in question.body_html
    assert thread.first_reply_at is None and thread.reply_count == 0
    assert notices.is_following(asker, thread)


@pytest.mark.parametrize(
    ("title", "body", "field", "message"),
    [
        ("", "body", "title", "Write a title"),
        ("   \t  ", "body", "title", "Write a title"),
        ("x" * 201, "body", "title", r"at most 200 characters \(this one has 201\)"),
        ("A fine title", "", "body", "text is empty"),
        ("A fine title", " \n\n ", "body", "text is empty"),
        ("A fine title", "b" * 50_001, "body", "at most 50,000 characters"),
        ("\u200b\u200c\u200d\u2060\ufeff", "body", "title", "Write a title"),
        ("\u3164 \u2800", "body", "title", "Write a title"),
        ("A fine title", "\u200b\n\u2060\u2062\n\ufeff", "body", "text is empty"),
        (ZALGO, "body", "title", "A title has a letter with more than 6 accents"),
        ("A fine title", "It fails: " + ZALGO, "body", "A post has a letter with more than 6 accents"),
    ],
)
def test_bad_questions_are_refused_and_nothing_is_saved(app, title, body, field, message):
    asker, category = make_user(), make_category()
    with pytest.raises(Invalid, match=message) as caught:
        services.create_thread(asker, category.id, title, body, [])
    assert caught.value.field == field
    assert count(Thread) == 0 and count(Post) == 0


@pytest.mark.parametrize("category_id", [999_999, "abc", None, ""])
def test_unknown_category_is_refused(app, category_id):
    with pytest.raises(Invalid, match="Choose one of the categories"):
        services.create_thread(make_user(), category_id, "A fine title", "Body text", [])


def test_members_pick_existing_tags_and_staff_create_new_ones(app):
    category = make_category()
    db.session.add(Tag(name="invoices"))
    db.session.commit()
    with pytest.raises(Invalid, match="Unknown tag: “no-such-tag”"):
        services.create_thread(make_user(), category.id, "Title here", "Body", ["invoices", "no-such-tag"])
    thread = services.create_thread(make_user(), category.id, "Title here", "Body", "Invoices, invoices")
    assert [t.name for t in thread.tags] == ["invoices"]
    staff_thread = services.create_thread(make_user("staff"), category.id, "Staff", "Body", ["new-tag"])
    assert [t.name for t in staff_thread.tags] == ["new-tag"]
    with pytest.raises(Invalid, match="at most 5 tags"):
        services.create_thread(make_user("staff"), category.id, "T", "B", ["a", "b", "c", "d", "e", "f"])
    with pytest.raises(Invalid, match="not a valid tag"):
        services.create_thread(make_user("staff"), category.id, "T", "B", ["<script>"])


def test_urgent_needs_a_reason(app):
    category = make_category()
    with pytest.raises(Invalid, match="why this is urgent"):
        services.create_thread(make_user(), category.id, "Down", "All down", [], urgent=True)
    thread = services.create_thread(make_user(), category.id, "Down", "All down", [], urgent=True,
                                    urgent_reason="Customers cannot pay")
    assert thread.is_urgent and thread.urgent_reason == "Customers cannot pay"


def test_answers_set_first_reply_and_first_staff_reply_times(app):
    asker = make_user()
    thread = make_thread(asker)
    make_answer(thread, asker, "Some more detail from me")  # the asker's own follow-up is no reply
    assert thread.first_reply_at is None and thread.reply_count == 1
    peer = make_answer(thread, make_user("advocate"))
    staff = make_answer(thread, make_user("staff"))
    assert thread.first_reply_post_id == peer.id
    assert thread.first_reply_at == peer.created_at
    assert thread.first_staff_reply_at == staff.created_at
    assert (peer.author_role, staff.author_role) == ("advocate", "staff")


def test_role_at_time_of_writing_is_kept(app):
    author = make_user()
    answer = make_answer(make_thread(), author)
    author.role = "staff"
    db.session.commit()
    db.session.refresh(answer)
    assert answer.author_role == "member"


def test_deleting_the_first_reply_moves_first_reply_to_the_next(app):
    thread = make_thread()
    first = make_answer(thread)
    second = make_answer(thread)
    states.delete_post(make_user("staff"), first)
    assert thread.first_reply_post_id == second.id
    assert thread.reply_count == 1


def test_accepting_marks_the_thread_solved_and_can_be_undone(app):
    asker = make_user()
    thread = make_thread(asker)
    answer, other = make_answer(thread), make_answer(thread)
    services.accept_answer(asker, answer)
    assert thread.is_solved and thread.solved_at is not None and thread.accepted_by_id == asker.id
    services.accept_answer(asker, other)  # re-accept another
    assert thread.accepted_post_id == other.id
    services.unaccept_answer(asker, thread)
    assert not thread.is_solved and thread.solved_at is None


def test_staff_accept_on_the_askers_behalf_but_others_cannot(app):
    asker, staff, stranger = make_user(), make_user("staff"), make_user()
    thread = make_thread(asker)
    answer = make_answer(thread)
    with pytest.raises(Forbidden, match="Only the person who asked"):
        services.accept_answer(stranger, answer)
    services.accept_answer(staff, answer)
    assert thread.accepted_by_id == staff.id


def test_the_question_itself_cannot_be_accepted(app):
    asker = make_user()
    thread = make_thread(asker)
    question = db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id))
    with pytest.raises(Invalid):
        services.accept_answer(asker, question)


def test_votes_change_the_score_once_per_person(app):
    author, voter = make_user(), make_user()
    answer = make_answer(make_thread(), author)
    services.vote(voter, answer, 1)
    assert answer.score == 1
    with pytest.raises(Conflict, match="already up-voted"):
        services.vote(voter, answer, 1)
    services.vote(voter, answer, -1)
    assert answer.score == -1
    services.vote(voter, answer, 0)
    assert answer.score == 0
    with pytest.raises(Forbidden, match="your own post"):
        services.vote(author, answer, 1)
    with pytest.raises(Invalid):
        services.vote(voter, answer, 5)


def test_reputation_counts_votes_and_accepted_answers_from_others(app):
    asker, helper, voter = make_user(), make_user(), make_user()
    thread = make_thread(asker)
    answer = make_answer(thread, helper)
    services.vote(voter, answer, 1)
    services.vote(asker, answer, 1)
    services.accept_answer(asker, answer)
    own_thread = make_thread(helper)
    services.accept_answer(helper, make_answer(own_thread, helper))  # self-solved: no points
    expected = 2 * reputation.UPVOTE_POINTS + reputation.ACCEPTED_POINTS
    assert queries.reputation_for([helper.id]) == {helper.id: expected}
    answers, accepted, per_tag = queries.answer_record(helper)
    assert (answers, accepted) == (1, 1)


def test_editing_keeps_every_revision(app):
    asker = make_user()
    thread = make_thread(asker, title="Old title", body="Old body")
    question = db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id))
    services.edit_post(asker, question, "New body", title="New title")
    staff = make_user("staff")
    services.edit_post(staff, question, "Staff fixed the formatting")
    history = services.revisions(question)
    assert [(r.number, r.title, r.body) for r in history] == [
        (3, "New title", "Staff fixed the formatting"), (2, "New title", "New body"),
        (1, "Old title", "Old body")]
    assert question.edited_by_id == staff.id and thread.title == "New title"


def test_editing_someone_elses_post_is_refused_and_changes_nothing(app):
    answer = make_answer(make_thread(), make_user(), "Original")
    with pytest.raises(Forbidden):
        services.edit_post(make_user(), answer, "Vandalised")
    with pytest.raises(Invalid):
        services.edit_post(answer.author, answer, "   ")
    db.session.refresh(answer)
    assert answer.body == "Original" and count(PostRevision) == 2  # question and answer


def test_authors_may_not_edit_in_a_locked_thread_but_staff_may(app):
    asker, helper, staff = make_user(), make_user(), make_user("staff")
    thread = make_thread(asker, title="Old title", body="Old body")
    question = db.session.scalar(sa.select(Post).where(Post.thread_id == thread.id))
    answer = make_answer(thread, helper, "Original answer")
    states.set_locked(staff, thread, True)
    for author, post in ((asker, question), (helper, answer)):
        assert not permissions.can_edit_post(author, post)
        with pytest.raises(Forbidden, match="This thread is locked: its posts can no longer be edited."):
            services.edit_post(author, post, "Rewritten after the lock", title="New title")
    db.session.refresh(question)
    db.session.refresh(answer)
    assert (thread.title, question.body, answer.body) == ("Old title", "Old body", "Original answer")
    with pytest.raises(Forbidden, match="your own posts"):  # not the author: the usual message
        services.edit_post(make_user(), answer, "Vandalised")
    assert permissions.can_edit_post(staff, answer)
    services.edit_post(staff, answer, "Staff fixed a typo")
    states.set_locked(staff, thread, False)
    services.edit_post(helper, answer, "Edited again once unlocked")
    assert answer.body == "Edited again once unlocked"


def test_askers_delete_their_thread_only_before_answers(app):
    asker = make_user()
    lonely = make_thread(asker)
    states.delete_thread(asker, lonely)
    assert lonely.is_deleted
    answered = make_thread(asker)
    make_answer(answered)
    with pytest.raises(Forbidden, match="has answers now"):
        states.delete_thread(asker, answered)
    states.delete_thread(make_user("staff"), answered)
    assert answered.is_deleted


def test_deleted_content_leaves_lists_but_staff_still_see_it(app):
    staff = make_user("staff")
    thread = make_thread()
    states.delete_thread(staff, thread)
    page, counts = queries.list_threads("latest")
    assert page.items == [] and counts["latest"] == 0
    assert services.get_thread(staff, thread.id) is thread
    with pytest.raises(Exception, match="no such thread"):
        services.get_thread(make_user(), thread.id)


def test_posting_into_a_locked_or_deleted_thread_is_refused(app):
    staff = make_user("staff")
    thread = make_thread()
    states.set_locked(staff, thread, True)
    with pytest.raises(Forbidden, match="locked"):
        services.create_post(make_user(), thread, "Let me in")
    make_answer(thread, staff, "Staff may still post")
    states.delete_thread(staff, thread)
    with pytest.raises(Forbidden, match="deleted"):
        services.create_post(staff, thread, "Too late")


def test_the_accepted_answer_cannot_be_deleted_by_its_author(app):
    asker, helper = make_user(), make_user()
    thread = make_thread(asker)
    answer = make_answer(thread, helper)
    services.accept_answer(asker, answer)
    with pytest.raises(Forbidden, match="accepted answer"):
        states.delete_post(helper, answer)
    states.delete_post(make_user("staff"), answer)
    assert not thread.is_solved


def test_lists_put_each_thread_where_it_belongs(app):
    asker = make_user()
    unanswered = make_thread(asker, title="Nobody answered this yet")
    answered = make_thread(asker, title="Answered but open")
    make_answer(answered)
    solved = make_thread(asker, title="Solved one")
    services.accept_answer(asker, make_answer(solved))
    titles = {which: {t.title for t in queries.list_threads(which)[0].items} for which in queries.LISTS}
    assert titles["latest"] == {unanswered.title, answered.title, solved.title}
    assert titles["unanswered"] == {unanswered.title}
    assert titles["unsolved"] == {unanswered.title, answered.title}
    assert titles["solved"] == {solved.title}
    _page, counts = queries.list_threads("latest")
    assert counts == {"latest": 3, "unanswered": 1, "unsolved": 2, "solved": 1}
    mine, _ = queries.list_threads("latest", author=make_user())
    assert mine.total == 0


def test_lists_paginate(app):
    category = make_category()
    asker = make_user()
    for n in range(7):
        make_thread(asker, category=category, title=f"Question {n}")
    first, _ = queries.list_threads("latest", page=1, per_page=3)
    last, _ = queries.list_threads("latest", page=99, per_page=3)
    assert (first.total, first.pages, len(first.items)) == (7, 3, 3)
    assert (last.page, len(last.items)) == (3, 1)
    assert first.items[0].title == "Question 6"


def test_a_thread_page_puts_the_accepted_answer_first_and_pages_the_rest(app):
    staff = make_user("staff")
    asker, helper = make_user(), make_user()
    make_thread(staff, tags=["billing", "api"])  # staff bring the tags into use
    thread = make_thread(asker, tags=["billing", "api"])
    answers = [make_answer(thread, body=f"Answer {n:02d}") for n in range(24)]
    solution = make_answer(thread, helper, body="The solution")
    services.vote(asker, solution, 1)
    services.accept_answer(asker, solution)
    states.delete_post(staff, answers[0])

    view = queries.thread_view(thread.id)
    assert [tag.name for tag in view.tags] == ["api", "billing"]
    first = queries.thread_page(view, asker)
    assert first.question.is_question and first.accepted.id == solution.id
    assert [p.body_html for p in first.answers.items] == [f"<p>Answer {n:02d}</p>" for n in range(1, 21)]
    assert (first.answers.total, first.answers.pages) == (23, 2)
    assert first.reputation[helper.id] == reputation.UPVOTE_POINTS + reputation.ACCEPTED_POINTS
    past_the_end = queries.thread_page(view, asker, page=99)
    assert past_the_end.answers.page == 2
    assert [p.body_html for p in past_the_end.answers.items] == ["<p>Answer 21</p>", "<p>Answer 22</p>",
                                                                 "<p>Answer 23</p>"]
    for_staff = queries.thread_page(view, staff)  # staff also see the deleted answer
    assert for_staff.answers.total == 24 and for_staff.answers.items[0].id == answers[0].id
    row = queries.list_threads("latest")[0].items[0]
    assert [tag.name for tag in row.tags] == ["api", "billing"]


def test_a_category_includes_its_sub_categories(app):
    parent = make_category("Apps")
    child = make_category("iOS")
    child.parent = parent
    db.session.commit()
    make_thread(category=child, title="In the child")
    page, _ = queries.list_threads("latest", category=parent)
    assert [t.title for t in page.items] == ["In the child"]


def test_suggestions_offer_solved_threads_sharing_title_words(app):
    asker = make_user()
    solved = make_thread(asker, title="Recurring invoice skipped a month")
    services.accept_answer(asker, make_answer(solved))
    make_thread(asker, title="Recurring invoice question without answer")
    found = askflows.similar_solved_threads("Why did my recurring invoice skip?")
    assert [t.id for t in found] == [solved.id]
    assert askflows.similar_solved_threads("") == []
    assert askflows.similar_solved_threads("%_%") == []


def test_following_is_automatic_and_unfollowing_sticks(app):
    asker, helper = make_user(), make_user()
    thread = make_thread(asker)
    make_answer(thread, helper)
    assert notices.is_following(helper, thread)
    notices.set_following(helper, thread, False)
    make_answer(thread, helper, "One more thought")
    assert not notices.is_following(helper, thread)
    assert count(Subscription) == 2


def test_categories_are_managed_by_admins_only(app):
    admin = make_user("admin")
    with pytest.raises(Forbidden):
        categories.save_category(make_user("staff"), None, name="Nope", slug="nope")
    parent = categories.save_category(admin, None, name="Billing & Plans", slug="")
    assert parent.slug == "billing-plans"
    child = categories.save_category(admin, None, name="Refunds", slug="refunds", parent_id=parent.id)
    with pytest.raises(Conflict):
        categories.save_category(admin, None, name="Again", slug="refunds")
    with pytest.raises(Invalid, match="inside itself"):
        categories.save_category(admin, parent, name=parent.name, slug=parent.slug, parent_id=child.id)
    make_thread(category=child)
    with pytest.raises(Conflict, match="has threads"):
        categories.delete_category(admin, child)


@pytest.mark.parametrize("position", [99_999_999_999, 2**63, -10_001, 10_001, "first", 1.5e300, float("inf")])
def test_a_category_position_out_of_range_is_refused(app, position):
    admin = make_user("admin")
    category = categories.save_category(admin, None, name="Billing", slug="billing", position=3)
    with pytest.raises(Invalid, match="from -10,000 to 10,000") as refused:
        categories.save_category(admin, category, name="Billing", slug="billing", position=position)
    assert refused.value.field == "position"
    db.session.rollback()
    db.session.refresh(category)
    assert category.position == 3
    for fine in (-10_000, 10_000, "7", None):
        assert categories.save_category(admin, category, name="Billing", slug="billing",
                                      position=fine).position == int(fine or 0)


def test_stored_reputation_follows_every_event_and_matches_a_full_recount(app):
    asker, helper, other, voter = make_user(), make_user(), make_user(), make_user()
    thread = make_thread(asker)
    first, second = make_answer(thread, helper), make_answer(thread, other)

    def points(user):
        return queries.reputation_for([user.id])[user.id]

    services.vote(voter, first, 1)
    services.vote(asker, first, -1)
    assert points(helper) == reputation.UPVOTE_POINTS + reputation.DOWNVOTE_POINTS
    services.vote(asker, first, 1)  # changed their mind
    assert points(helper) == 2 * reputation.UPVOTE_POINTS
    services.vote(voter, first, 0)  # withdrawn
    assert points(helper) == reputation.UPVOTE_POINTS
    services.accept_answer(asker, first)
    assert points(helper) == reputation.UPVOTE_POINTS + reputation.ACCEPTED_POINTS
    services.accept_answer(asker, second)  # re-accepting moves the points
    assert points(helper) == reputation.UPVOTE_POINTS
    assert points(other) == reputation.ACCEPTED_POINTS
    services.unaccept_answer(asker, thread)
    assert points(other) == 0
    services.accept_answer(asker, second)
    staff = make_user(role="staff")
    states.delete_thread(staff, thread)
    assert points(other) == 0
    states.restore_thread(staff, thread)
    with pytest.raises(Conflict, match="not deleted"):  # twice is refused and changes nothing
        states.restore_thread(staff, thread)
    db.session.rollback()
    assert points(other) == reputation.ACCEPTED_POINTS
    states.hide_thread(staff, thread, "Checking")  # hiding takes the acceptance points; unhiding returns them
    assert points(other) == 0
    states.unhide_thread(staff, thread)
    assert points(other) == reputation.ACCEPTED_POINTS
    states.delete_post(staff, first)
    assert points(helper) == 0
    states.restore_post(staff, first)
    assert points(helper) == reputation.UPVOTE_POINTS
    states.delete_post(staff, second)  # the accepted answer: acceptance and points go
    assert points(other) == 0
    assert reputation.computed([helper.id, other.id]) == {helper.id: reputation.UPVOTE_POINTS}
    assert reputation.recompute() == 0  # nothing drifted


def test_reputation_recount_repairs_drift(app):
    helper, voter = make_user(), make_user()
    answer = make_answer(make_thread(), helper)
    services.vote(voter, answer, 1)
    reputation.add(helper.id, 1000)  # e.g. a lost race or a manual edit
    db.session.commit()
    assert queries.reputation_for([helper.id]) == {helper.id: 1010}
    assert reputation.recompute() == 1
    db.session.commit()
    assert queries.reputation_for([helper.id]) == {helper.id: reputation.UPVOTE_POINTS}
