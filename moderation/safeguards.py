"""The checks every question, answer and edit passes before the forum writes it
(`forum.hooks.post_checks`): new members' limits and held first posts, and the spam heuristics.

A check refuses (raises with a message; nothing is saved) or returns a reason to hold the post for
review, never drops it silently. The reason's opening words say which queue item it becomes
(`kind_of_reason`). Staff skip every check; members who earned basic trust and advocates skip all
but the blocked words; the limits and the other spam heuristics are for new members."""

import hashlib
import hmac
import re
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, has_request_context

from accounts.models import User
from accounts.permissions import is_staff
from accounts.standing import check_can_participate, is_new_member
from core import clock
from core.clock import as_utc
from core.errors import Invalid
from core.extensions import db
from core.ratelimit import RateLimited, client_address, wait_text
from forum.hooks import Draft
from forum.models import Post
from moderation import settings
from moderation.models import HELD_EDIT, HELD_POST, SPAM_SUSPECT, SignupAddress

SPAM_REASON = "Spam suspect: "
EDIT_REASON = "An edit by a new member that adds links waits for review."
FIRST_POSTS_REASON = "A new member's first posts wait for a moderator's approval."

# A link as people write one: a URL with a scheme, or a bare www. address.
_LINK_RE = re.compile(r"(?i)\b(?:https?://|ftp://|www\.)[^\s<>()\[\]]+")


def count_links(text: str | None) -> int:
    return len(_LINK_RE.findall(text or ""))


def kind_of_reason(reason: str) -> str:
    """Which review-queue item a hold reason makes."""
    if reason.startswith(SPAM_REASON):
        return SPAM_SUSPECT
    if reason == EDIT_REASON:
        return HELD_EDIT
    return HELD_POST


def check_post(draft: Draft) -> str | None:
    """The forum's pre-write check. Raises Forbidden (a silenced or suspended author), Invalid (too
    many links for a new member) or RateLimited (a new member's posts per hour); returns a reason to
    hold the post, or None."""
    actor = draft.actor
    check_can_participate(actor)
    if is_staff(actor):
        return None
    rules = settings.current()
    new = is_new_member(actor)
    editing = draft.post_id is not None
    links = count_links(draft.body)
    if new:
        if links > rules.new_member_links_per_post:
            allowed = rules.new_member_links_per_post
            plural = "s" if allowed != 1 else ""
            raise Invalid(f"New members may put at most {allowed} link{plural} in a post "
                          f"(this one has {links}). Remove some, or describe where to look instead.",
                          field="body")
        if not editing:
            _check_hourly(actor, rules.new_member_posts_per_hour)
    text = f"{draft.title or ''}\n{draft.body}"
    for pattern in settings.blocked_patterns():
        found = pattern.search(text)
        if found:
            return f"{SPAM_REASON}it uses the blocked word “{found.group(0)[:40]}”."
    if not new:  # basic trust and advocates: past the spam heuristics, as past the limits
        return None
    if editing:
        before = db.session.scalar(sa.select(Post.body).where(Post.id == draft.post_id))
        return EDIT_REASON if links > count_links(before) else None
    written = db.session.scalar(
        sa.select(sa.func.count()).select_from(Post).where(Post.author_id == actor.id))
    if rules.link_heavy_first_post and written == 0 and links >= rules.link_heavy_first_post:
        return f"{SPAM_REASON}a first post with {links} links."
    if rules.duplicate_window_minutes and _posted_again(actor, draft.body, rules.duplicate_window_minutes):
        return f"{SPAM_REASON}the same text was posted in the last {rules.duplicate_window_minutes} minutes."
    if rules.signup_burst:
        burst = _signup_burst(actor)
        if burst >= rules.signup_burst:
            return f"{SPAM_REASON}one of {burst} accounts that signed up from one address within a day."
    if written < rules.held_first_posts:
        return FIRST_POSTS_REASON
    return None


def _check_hourly(actor, allowed: int) -> None:
    """A new member's posts in the last hour, whatever became of them, against their limit. Their
    row is locked first, so that two posts at once are counted one after the other (PostgreSQL)."""
    db.session.execute(sa.select(User.id).where(User.id == actor.id).with_for_update())
    since = clock.now() - timedelta(hours=1)
    recent = db.session.execute(
        sa.select(sa.func.count(), sa.func.min(Post.created_at))
        .where(Post.author_id == actor.id, Post.created_at > since)).one()
    if recent[0] >= allowed:
        wait = (as_utc(recent[1]) + timedelta(hours=1) - clock.now()).total_seconds()
        raise RateLimited(f"New members may write {allowed} posts an hour. Try again in {wait_text(wait)}.",
                          max(1, int(wait)), field="body")


def _posted_again(actor, body: str, minutes: int) -> bool:
    since = clock.now() - timedelta(minutes=minutes)
    return db.session.scalar(
        sa.select(Post.id).where(Post.author_id == actor.id, Post.created_at > since, Post.body == body)
        .limit(1)) is not None


def address_hash(address: str) -> str:
    """An address keyed with the site's secret: equal addresses match, and the table reveals none."""
    return hmac.new(current_app.config["SECRET_KEY"].encode(), address.encode("utf-8", "replace"),
                    hashlib.sha256).hexdigest()


def record_signup(user, **_extra) -> None:
    """Subscriber of `user_signed_up`: where the account signed up from (in the same transaction)."""
    if has_request_context():
        db.session.add(SignupAddress(user_id=user.id, address_hash=address_hash(client_address()),
                                     created_at=clock.now()))


def _signup_burst(actor) -> int:
    """How many accounts signed up from the actor's address within a day of the actor (0: unknown)."""
    mine = db.session.get(SignupAddress, actor.id)
    if mine is None:
        return 0
    at = as_utc(mine.created_at)
    return db.session.scalar(sa.select(sa.func.count()).select_from(SignupAddress).where(
        SignupAddress.address_hash == mine.address_hash,
        SignupAddress.created_at.between(at - timedelta(days=1), at + timedelta(days=1))))
