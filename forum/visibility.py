"""Who may see a thread or a post: one rule over one moderation state, in Python and in SQL.

- visible: everyone.
- held (waiting for review): staff, and the author, who is told it waits.
- hidden (by a moderator, with who, when and why), spam, deleted: staff only, with a badge.

Counts, thread statistics, `last_activity_at`, search documents, notifications and mail, and profile
feeds count only what is visible to everyone (`counted_threads`, `counted_posts`), whoever looks:
they are public facts. Pages show what the viewer may see (`shown_threads`, `shown_posts`).
"""

import sqlalchemy as sa

from accounts.permissions import is_staff
from forum.models import HELD, STATE_BADGES, VISIBLE, Post, Thread


def _user_id(user) -> int | None:
    return user.id if getattr(user, "is_authenticated", False) else None


def may_see(user, state: str, author_id: int | None) -> bool:
    """Whether `user` may see a thread or post in `state` written by `author_id`."""
    if state == VISIBLE or is_staff(user):
        return True
    return state == HELD and author_id is not None and author_id == _user_id(user)


def can_see_thread(user, thread) -> bool:
    return may_see(user, thread.state, thread.author_id)


def can_see_post(user, post) -> bool:
    """The post and its thread both."""
    return can_see_thread(user, post.thread) and may_see(user, post.state, post.author_id)


def counted_threads():
    """SQL: threads that count in lists, statistics and search."""
    return Thread.state == VISIBLE


def listed_threads():
    """SQL: threads the lists, search and tag counts show: counted, and not merged into another
    (a merged thread's address leads to the one it went into)."""
    return sa.and_(counted_threads(), Thread.merged_into_id.is_(None))


def counted_posts(posts=Post):
    """SQL: posts that count as replies, in statistics, search, notices and feeds."""
    return posts.state == VISIBLE


STAFF, MEMBER, ANONYMOUS = "staff", "member", "anonymous"


def audience(user) -> str:
    """Which of the three kinds of viewer `user` is, for statements built once per kind."""
    if is_staff(user):
        return STAFF
    return MEMBER if _user_id(user) is not None else ANONYMOUS


def shown_posts_clause(audience_: str, viewer_id, posts=Post):
    """SQL: the posts an audience may see (None: no condition, for staff); `viewer_id` is the
    member's id, or a bind parameter standing for it."""
    if audience_ == STAFF:
        return None
    if audience_ == ANONYMOUS:
        return posts.state == VISIBLE
    return sa.or_(posts.state == VISIBLE, sa.and_(posts.state == HELD, posts.author_id == viewer_id))


def shown_posts(user, posts=Post):
    """SQL: the posts `user` may see (None: no condition, for staff)."""
    return shown_posts_clause(audience(user), _user_id(user), posts)


def badge(state: str) -> str | None:
    """The label staff (and a held post's author) see on a post or thread that is not visible."""
    return STATE_BADGES.get(state)
