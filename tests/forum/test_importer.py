"""The Stack Exchange importer on the real coffee sample, checked against the XML read here directly."""

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest
import sqlalchemy as sa
from markupsafe import Markup

from accounts.models import User
from core.clock import as_utc
from core.extensions import db
from forum import viewcounts
from forum.importer import import_stackexchange
from forum.models import ANSWER, QUESTION, Category, Post, Tag, Thread, thread_tags
from tests.core.test_markup import assert_safe
from tests.services import require_coffee_dump

# Stack Exchange user ids imported as staff: 262 and 8 answered questions of their own first
# (threads 418, 337 and 339), so the "not the asker" rule matters; 76 is a busy answerer.
STAFF_IDS = (8, 76, 262)


@pytest.fixture(autouse=True)
def no_views_left_buffered(app):
    """Page views wait in a process-wide buffer keyed by thread id; write ours before the next
    test's fresh database reuses the ids."""
    yield
    viewcounts.flush()


# --------------------------------------------------------------------------- the XML, read directly


@dataclass(frozen=True)
class Dump:
    questions: dict[str, dict]  # SE id -> row attributes
    answers: dict[str, dict]  # only answers whose ParentId is a question in the dump
    accepted: dict[str, str]  # question id -> accepted answer id, when that answer is in the dump

    def answers_to(self, question_id: str) -> list[dict]:
        return sorted((a for a in self.answers.values() if a["ParentId"] == question_id),
                      key=lambda a: (when(a["CreationDate"]), int(a["Id"])))

    @property
    def authors(self) -> set[str]:
        return {owner(row) for row in [*self.questions.values(), *self.answers.values()]}

    @property
    def tag_names(self) -> set[str]:
        return {name for row in self.questions.values() for name in xml_tags(row)}


def when(value: str) -> datetime:
    """A dump timestamp (UTC, without a zone) as an aware datetime."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def owner(row: dict) -> str:
    return row.get("OwnerUserId") or f"name:{row.get('OwnerDisplayName', '')}"


def xml_tags(row: dict) -> list[str]:
    """`<a><b>` (older dumps) or `|a|b|` (newer ones)."""
    raw = row.get("Tags") or ""
    return re.findall(r"<([^>]+)>", raw) or [name for name in raw.split("|") if name]


@cache
def read_dump(folder: Path) -> Dump:
    rows = [row.attrib for row in ET.parse(folder / "Posts.xml").getroot().iter("row")]
    questions = {row["Id"]: row for row in rows if row["PostTypeId"] == "1"}
    answers = {row["Id"]: row for row in rows
               if row["PostTypeId"] == "2" and row.get("ParentId") in questions}
    accepted = {qid: row["AcceptedAnswerId"] for qid, row in questions.items()
                if row.get("AcceptedAnswerId") in answers}
    return Dump(questions, answers, accepted)


def earliest_answer_time(dump: Dump, question_id: str, *, staff_only: bool = False) -> datetime | None:
    """The first answer by someone other than the asker (and, if asked, by a staff id)."""
    asker = owner(dump.questions[question_id])
    staff = {str(i) for i in STAFF_IDS}
    for answer in dump.answers_to(question_id):
        if owner(answer) == asker:
            continue
        if staff_only and answer.get("OwnerUserId") not in staff:
            continue
        return when(answer["CreationDate"])
    return None


# --------------------------------------------------------------------------- helpers on the database


def count(model_or_table) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model_or_table))


def table_counts() -> dict[str, int]:
    return {"users": count(User), "categories": count(Category), "threads": count(Thread),
            "posts": count(Post), "tags": count(Tag), "thread_tags": count(thread_tags)}


def threads_by_import_id() -> dict[str, Thread]:
    return {t.import_id: t for t in db.session.scalars(sa.select(Thread))}


def posts_by_import_id() -> dict[str, Post]:
    return {p.import_id: p for p in db.session.scalars(sa.select(Post))}


# --------------------------------------------------------------------------- what is stored


def test_import_stores_the_dump_as_the_xml_says(app):
    folder = require_coffee_dump()
    dump = read_dump(folder)
    report = import_stackexchange(folder, staff_user_ids=STAFF_IDS)

    assert (report.threads, report.answers, report.accepted) == (
        len(dump.questions), len(dump.answers), len(dump.accepted))
    assert report.skipped == []

    threads = threads_by_import_id()
    assert len(threads) == len(dump.questions)
    assert set(threads) == set(dump.questions)
    assert count(sa.select(Post).where(Post.kind == ANSWER).subquery()) == len(dump.answers)
    assert count(sa.select(Post).where(Post.kind == QUESTION).subquery()) == len(dump.questions)

    solved = {t.import_id for t in threads.values() if t.accepted_post_id is not None}
    assert solved == set(dump.accepted)
    posts = posts_by_import_id()
    for question_id, answer_id in dump.accepted.items():
        assert threads[question_id].accepted_post_id == posts[answer_id].id, question_id

    for se_id, thread in threads.items():
        row = dump.questions[se_id]
        assert thread.title == row["Title"], se_id
        assert sorted(tag.name for tag in thread.tags) == sorted(xml_tags(row)), se_id
        assert as_utc(thread.created_at) == when(row["CreationDate"]), se_id

    xml_posts = {**dump.questions, **dump.answers}
    assert set(posts) == set(xml_posts)
    authors: dict[str, set[int]] = {}
    for se_id, post in posts.items():
        row = xml_posts[se_id]
        assert post.score == int(row["Score"]), se_id
        assert as_utc(post.created_at) == when(row["CreationDate"]), se_id
        expected_thread = row["Id"] if row["PostTypeId"] == "1" else row["ParentId"]
        assert post.thread_id == threads[expected_thread].id, se_id
        authors.setdefault(owner(row), set()).add(post.author_id)
        if post.kind == QUESTION:
            assert threads[se_id].author_id == post.author_id, se_id

    # One account per Stack Exchange author, and different authors never share one.
    assert all(len(ids) == 1 for ids in authors.values()), authors
    assert len({next(iter(ids)) for ids in authors.values()}) == len(dump.authors)
    distinct_authors = db.session.scalar(sa.select(sa.func.count(sa.distinct(Post.author_id))))
    assert distinct_authors == len(dump.authors)
    assert report.users == len(dump.authors)  # no accounts for owners of tag wikis only
    assert count(Tag) == len(dump.tag_names)


def test_imported_bodies_are_sanitised_html_with_a_markdown_source(app):
    folder = require_coffee_dump()
    import_stackexchange(folder, staff_user_ids=STAFF_IDS)
    posts = list(db.session.scalars(sa.select(Post)))
    assert len(posts) == len(read_dump(folder).questions) + len(read_dump(folder).answers)
    for post in posts:
        assert "<script" not in post.body_html.lower(), post.import_id
        assert_safe(Markup(post.body_html))
        assert post.body.strip(), post.import_id
        assert post.body_html.strip(), post.import_id


# --------------------------------------------------------------------------- staff and thread times


def test_staff_user_ids_make_staff_posts_and_first_staff_replies(app):
    folder = require_coffee_dump()
    dump = read_dump(folder)
    import_stackexchange(folder, staff_user_ids=STAFF_IDS)
    staff = {str(i) for i in STAFF_IDS}

    xml_posts = {**dump.questions, **dump.answers}
    roles = {p.import_id: p.author_role for p in db.session.scalars(sa.select(Post))}
    expected_roles = {se_id: "staff" if row.get("OwnerUserId") in staff else "member"
                      for se_id, row in xml_posts.items()}
    assert roles == expected_roles
    assert sum(role == "staff" for role in roles.values()) > 0

    first_staff = {se_id: as_utc(t.first_staff_reply_at) for se_id, t in threads_by_import_id().items()}
    expected = {se_id: earliest_answer_time(dump, se_id, staff_only=True) for se_id in dump.questions}
    assert first_staff == expected
    # The sample has threads whose first staff answer is the asker's own, which never counts.
    assert expected["418"] is None and expected["337"] is None
    assert sum(v is not None for v in expected.values()) > 10


def test_first_reply_and_solved_at_come_from_the_answers(app):
    folder = require_coffee_dump()
    dump = read_dump(folder)
    import_stackexchange(folder, staff_user_ids=STAFF_IDS)
    threads = threads_by_import_id()

    first_reply = {se_id: as_utc(t.first_reply_at) for se_id, t in threads.items()}
    expected = {se_id: earliest_answer_time(dump, se_id) for se_id in dump.questions}
    assert first_reply == expected
    assert sum(v is None for v in expected.values()) > 0  # unanswered and self-answered threads

    # Dumps do not say when an answer was accepted: solved_at is the accepted answer's creation.
    solved_at = {se_id: as_utc(t.solved_at) for se_id, t in threads.items() if t.solved_at is not None}
    assert solved_at == {qid: when(dump.answers[aid]["CreationDate"]) for qid, aid in dump.accepted.items()}


def test_questions_closed_on_stack_exchange_are_closed_here_at_the_dumps_time(app):
    folder = require_coffee_dump()
    dump = read_dump(folder)
    report = import_stackexchange(folder, staff_user_ids=STAFF_IDS)
    threads = threads_by_import_id()
    closed = {qid: when(row["ClosedDate"]) for qid, row in dump.questions.items() if row.get("ClosedDate")}
    assert closed and report.closed == len(closed)
    assert {se_id: as_utc(t.closed_at) for se_id, t in threads.items() if t.closed_at} == closed
    from forum import history

    assert history.check() == []  # the history says the same as the columns


# --------------------------------------------------------------------------- a second run


def test_a_second_import_adds_nothing(app):
    folder = require_coffee_dump()
    first = import_stackexchange(folder, staff_user_ids=STAFF_IDS)
    assert first.threads > 0
    before = table_counts()
    second = import_stackexchange(folder, staff_user_ids=STAFF_IDS)
    assert (second.users, second.threads, second.answers, second.accepted, second.comments,
            second.tags) == (0, 0, 0, 0, 0, 0)
    assert second.skipped == []
    assert table_counts() == before


# --------------------------------------------------------------------------- the command, then the page


def test_cli_import_prints_the_counts_and_the_thread_page_shows_the_answer(app, runner, client):
    folder = require_coffee_dump()
    dump = read_dump(folder)
    users_before = count(User)
    result = runner.invoke(args=["import", "stackexchange", str(folder), "--staff-user-ids", "1,2"])
    assert result.exit_code == 0, result.output
    users_added = count(User) - users_before
    closed = sum(1 for question in dump.questions.values() if question.get("ClosedDate"))
    assert (f"{len(dump.questions)} questions, {len(dump.answers)} answers, "
            f"{len(dump.accepted)} accepted answers, {closed} closed questions, {users_added} authors, "
            f"{len(dump.tag_names)} new tags") in result.output
    assert count(Thread) == len(dump.questions)
    checked = runner.invoke(args=["history", "check"])  # accepted at the answer's own time
    assert checked.exit_code == 0, checked.output
    assert "agree" in checked.output

    # User 2 asks questions in the sample: the ids given on the command line reach the importer.
    by_user_2 = [se_id for se_id, row in dump.questions.items() if row.get("OwnerUserId") == "2"]
    assert by_user_2
    posts = posts_by_import_id()
    assert {posts[se_id].author_role for se_id in by_user_2} == {"staff"}

    question_id, answer_id = next(iter(dump.accepted.items()))
    thread = threads_by_import_id()[question_id]
    response = client.get(f"/t/{thread.id}")
    assert response.status_code == 200
    assert "Accepted answer" in response.text
    assert f'id="post-{posts[answer_id].id}"' in response.text


def test_cli_import_of_a_folder_without_posts_xml_fails_clearly(app, runner, tmp_path):
    folder = tmp_path / "not-a-dump"
    folder.mkdir()
    (folder / "Users.xml").write_text("<users />")
    result = runner.invoke(args=["import", "stackexchange", str(folder)])
    assert result.exit_code != 0
    assert "No Posts.xml" in result.output
    assert str(folder) in result.output
    assert count(Thread) == 0


def test_cli_import_rejects_staff_ids_that_are_not_numbers(app, runner):
    folder = require_coffee_dump()
    result = runner.invoke(args=["import", "stackexchange", str(folder), "--staff-user-ids", "abc"])
    assert result.exit_code == 2, result.output  # click's usage error
    assert "user ids separated by commas" in result.output
    assert count(Thread) == 0
