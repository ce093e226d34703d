"""The pages of the three journeys (a customer, an advocate, staff), on the demo community: what the
accessibility checks walk (tests/e2e/test_accessibility.py) and what `make screenshots` shoots.

`build_community()` loads the demo community as `make run` does and adds one person per role who can
sign in; `pages(role)` names the pages that role's journey goes through, each as (label, path).
"""

import sqlalchemy as sa
from flask import url_for

from accounts.models import ADMIN, ADVOCATE, MEMBER, STAFF, User
from core import jobs
from core.extensions import db
from forum import demo
from forum.models import Category, Post, Tag, Thread

PEOPLE = {  # role: username; each signs in with tests.factories.PASSWORD
    MEMBER: "mira_member",
    ADVOCATE: "ada_advocate",
    STAFF: "sam_staff",
    ADMIN: "alex_admin",
}
ROLES = ("visitor", MEMBER, ADVOCATE, STAFF, ADMIN)


def build_community() -> None:
    """The demo community (with its KB, escalations, flags and history), and the people of PEOPLE.
    Call in an app context on an empty database."""
    from tests import factories

    demo.load()
    for extension in demo.EXTENSIONS:
        extension(False)
    jobs.wait_idle()
    for role, username in PEOPLE.items():
        factories.make_user(role, username=username, display_name=username.split("_")[0].title()
                            + " " + username.split("_")[1].title())
    member = db.session.scalar(sa.select(User).where(User.username == PEOPLE[MEMBER]))
    from forum import follows, services

    title = "Bank feed stopped importing after the update"
    thread = services.create_thread(member, _first(Category.id), title,
                                    "Since Tuesday my **bank feed** shows no new transactions.\n\n"
                                    "```\nError: feed token expired (code 401)\n```")
    advocate = db.session.scalar(sa.select(User).where(User.username == PEOPLE[ADVOCATE]))
    services.create_post(advocate, thread, "Reconnect the feed under *Settings → Bank feeds*; the token "
                                           "lasts 90 days. See [the guide](https://example.com/guide).")
    question = db.session.get(Post, _question(thread.id))
    services.edit_post(member, question, question.body + "\n\nI use the Business plan.",
                       summary="Added my plan")
    follows.follow_topic(advocate, category=db.session.get(Category, thread.category_id))
    jobs.wait_idle()


def _first(column):
    return db.session.scalar(sa.select(column).order_by(column).limit(1))


def pages(role: str) -> list[tuple[str, str]]:
    """(label, path) of the pages `role` goes through. Call in a request context of the app."""
    solved = db.session.scalar(sa.select(Thread.id).where(Thread.accepted_post_id.is_not(None))
                               .order_by(Thread.id).limit(1))
    mine = db.session.scalar(sa.select(Thread.id).join(User, User.id == Thread.author_id)
                             .where(User.username == PEOPLE[MEMBER]).limit(1))
    unanswered = db.session.scalar(sa.select(Thread.id).where(Thread.reply_count == 0,
                                                              Thread.state == "visible")
                                   .order_by(Thread.id).limit(1))
    category = db.session.scalar(sa.select(Category.slug).order_by(Category.position, Category.id).limit(1))
    tag = db.session.scalar(sa.select(Tag.name).order_by(Tag.name).limit(1))
    from kb.models import Article

    article = db.session.scalar(sa.select(Article.slug).where(Article.status == "published")
                                .order_by(Article.id).limit(1))
    reading = [
        ("home", url_for("forum.index")),
        ("solved thread", url_for("forum.view_thread", thread_id=solved)),
        ("search", url_for("search.search_page", q="invoice")),
        ("knowledge base", url_for("kb.index")),
        ("kb article", url_for("kb.view_article", slug=article)),
        ("category", url_for("forum.view_category", slug=category)),
        ("tags", url_for("forum.list_tags")),
        ("tag", url_for("forum.view_tag", name=tag)),
    ]
    if role == "visitor":
        return reading + [("ask", url_for("forum.ask")), ("sign in", url_for("accounts.sign_in")),
                          ("sign up", url_for("accounts.sign_up"))]
    if role == MEMBER:
        return reading + [
            ("ask", url_for("forum.ask")),
            ("own thread", url_for("forum.view_thread", thread_id=mine)),
            ("my questions", url_for("forum.my_questions")),
            ("notifications", url_for("forum.notifications")),
            ("profile", url_for("accounts.view_profile", username=PEOPLE[MEMBER])),
            ("settings", url_for("accounts.edit_profile")),
            ("moderation record", url_for("moderation.my_moderation")),
            ("account settings", url_for("accounts.account_settings")),
            ("notification settings", url_for("forum.notification_settings")),
            ("edit own question", url_for("forum.edit_post", post_id=_question(mine))),
            ("revisions", url_for("forum.post_revisions", post_id=_question(mine))),
        ]
    if role == ADVOCATE:
        return [
            ("unanswered", url_for("forum.list_threads", which="unanswered")),
            ("unanswered in my topics",
             url_for("forum.list_threads", which="unanswered", sort="oldest", mine=1)),
            ("my topics", url_for("forum.my_topics")),
            ("unanswered thread", url_for("forum.view_thread", thread_id=unanswered)),
            ("thread to answer", url_for("forum.view_thread", thread_id=mine)),
            ("flag", url_for("moderation.flag_post", post_id=_first_answer(mine))),
            ("profile", url_for("accounts.view_profile", username=PEOPLE[ADVOCATE])),
        ]
    staff = [
        ("queues", url_for("escalation.queues_index")),
        ("urgent queue", url_for("escalation.queue", name="urgent")),
        ("escalation", url_for("escalation.view", escalation_id=_first_escalation())),
        ("thread with staff tools", url_for("forum.view_thread", thread_id=solved)),
        ("review queue", url_for("moderation.review_queue")),
        ("member standing", url_for("moderation.view_member", username=PEOPLE[MEMBER])),
        ("audit log", url_for("moderation.audit_log")),
        ("insights", url_for("insights.view_dashboard")),
        ("canned replies", url_for("escalation.canned_replies")),
        ("kb article editor", url_for("kb.edit_article", slug=article)),
        ("mail outbox", url_for("accounts.list_mail")),
    ]
    if role == STAFF:
        return staff
    return [
        ("users", url_for("accounts.list_users")),
        ("categories", url_for("forum.manage_categories")),
        ("escalation settings", url_for("escalation.admin")),
        ("moderation settings", url_for("moderation.edit_settings")),
        ("attachment settings", url_for("forum.attachment_settings")),
        ("kb settings", url_for("kb.manage_settings")),
        ("leaderboard", url_for("insights.view_leaderboard")),
    ]


def _question(thread_id: int) -> int:
    from forum.models import QUESTION

    return db.session.scalar(sa.select(Post.id).where(Post.thread_id == thread_id, Post.kind == QUESTION))


def _first_answer(thread_id: int) -> int:
    from forum.models import ANSWER

    return db.session.scalar(sa.select(Post.id).where(Post.thread_id == thread_id, Post.kind == ANSWER)
                             .order_by(Post.id).limit(1))


def _first_escalation() -> int:
    from escalation.models import Escalation

    return db.session.scalar(sa.select(Escalation.id).order_by(Escalation.id).limit(1))


def sign_in(page, base_url: str, role: str) -> None:
    """Sign `role`'s person in through the form (the visitor stays signed out)."""
    if role == "visitor":
        return
    from tests.factories import PASSWORD

    page.goto(f"{base_url}{'/signin'}")
    page.get_by_label("Email or username", exact=True).fill(PEOPLE[role])
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(lambda url: "/signin" not in url)
