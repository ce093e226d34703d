"""The demo community's moderation: members who have earned basic trust promoted, a few flagged
posts (one held by its flags), a newcomer's first question held for approval, and one silenced
member, all made through the services a person would use. `flask demo load` runs it after the
community."""

import secrets

import sqlalchemy as sa

from accounts.models import STAFF_ROLES, User
from accounts.services import username_key
from core.extensions import db
from forum import services as forum_services
from forum.demo import DEMO_EMAIL_DOMAIN
from forum.models import ANSWER, VISIBLE, Category, Post, Thread
from moderation import services, trust
from moderation.models import OFF_TOPIC, OTHER, SILENCE, MemberAction, ModerationSettings, ReviewItem

NEWCOMER = "fresh_start_co"


def is_empty() -> bool:
    return (db.session.scalar(sa.select(ReviewItem.id).limit(1)) is None
            and db.session.scalar(sa.select(MemberAction.id).limit(1)) is None)


def load_with_community(if_empty: bool) -> str:
    """The `flask demo load` extension. Raises RuntimeError when loaded already (unless `if_empty`)."""
    if not is_empty():
        if if_empty:
            return "Moderation has items already; the demo review queue is not loaded."
        raise RuntimeError("the demo moderation is loaded already")
    people = {u.username: u for u in db.session.scalars(
        sa.select(User).where(User.email.like(f"%@{DEMO_EMAIL_DOMAIN}")))}
    staff = next((u for u in people.values() if u.role in STAFF_ROLES), None)
    members = sorted((u for u in people.values() if u.role == "member"), key=lambda u: u.username)
    if staff is None or len(members) < 5:
        return "This forum is not the demo community, so the demo moderation is not loaded."
    counts = load(staff, members, people)
    return (f"Loaded the demo moderation: {counts['flags']} flags, {counts['items']} posts waiting in the "
            f"review queue, one silenced member.")


def _answers_by(author: User, exclude: set[int]) -> list[Post]:
    return list(db.session.scalars(
        sa.select(Post).join(Thread, Thread.id == Post.thread_id)
        .where(Post.author_id == author.id, Post.kind == ANSWER, Post.state == VISIBLE,
               Thread.state == VISIBLE, Post.id.not_in(exclude or {0}), Thread.accepted_post_id != Post.id)
        .order_by(Post.created_at.desc())))


def load(staff: User, members: list[User], people: dict[str, User]) -> dict[str, int]:
    """Write the demo's moderation (each step commits through its service)."""
    trust.evaluate()
    db.session.commit()
    flags = 0
    # Flagged answers: one by three members (held until a moderator decides), one by a single member.
    candidates = [post for author in members for post in _answers_by(author, set())][:2]
    for post, (kind, note), flaggers in zip(
            candidates,
            [(OFF_TOPIC, "This does not answer the question that was asked."),
             (OTHER, "It names a customer's bank details; should this be public?")],
            [3, 1], strict=False):
        others = [m for m in members if m.id not in (post.author_id, post.thread.author_id)][:flaggers]
        for flagger in others:
            services.flag_post(flagger, post, kind, note)
            flags += 1
    # A newcomer whose first question waits for approval (the demo site holds first posts).
    row = db.session.get(ModerationSettings, 1) or ModerationSettings(id=1, values={}, blocked_words="")
    row.values = {**(row.values or {}), "held_first_posts": 1}
    db.session.add(row)
    newcomer = User(email=f"{NEWCOMER}@{DEMO_EMAIL_DOMAIN}", username=NEWCOMER,
                    username_key=username_key(NEWCOMER), display_name="Fresh Start Co.",
                    role="member", password_hash=f"!demo-{secrets.token_hex(8)}")
    db.session.add(newcomer)
    db.session.commit()
    category = db.session.scalar(sa.select(Category).order_by(Category.position).limit(1))
    forum_services.create_thread(
        newcomer, category.id, "Can I import last year's invoices from a spreadsheet?",
        "We are moving to Tallybird from spreadsheets. Is there a way to bring last year's invoices in, "
        "so the reports cover the whole year? We have about 400 rows with date, customer, amount and VAT.")
    # A spam suspect: a post that uses one of the demo's blocked words.
    row.blocked_words = "casino\nfree money"
    spammer = members[-1]
    thread = db.session.scalar(
        sa.select(Thread).where(Thread.state == VISIBLE, Thread.author_id != spammer.id)
        .order_by(Thread.created_at.desc()).limit(1))
    forum_services.create_post(spammer, thread, "Tired of invoices? Win free money at our online casino, "
                                                "link in my profile.")
    # One silenced member.
    silenced = next(m for m in members if m.username not in (spammer.username,))
    services.restrict_member(staff, silenced, SILENCE, 3, "days",
                             "Several heated replies in a row; take a few days off, then come back.")
    items = db.session.scalar(sa.select(sa.func.count()).select_from(ReviewItem)
                              .where(ReviewItem.status == "pending"))
    return {"flags": flags, "items": items}

