"""Who may do what in the forum, as pure predicates."""

from accounts.permissions import is_admin, is_staff
from accounts.standing import participates


def _signed_in(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active)


def can_ask(user) -> bool:
    return participates(user)


def can_reply(user, thread) -> bool:
    """Anyone signed in, in a visible thread that is neither closed nor locked; staff may still
    post in a closed or locked one (to say why, or to point to the answer). A thread merged into
    another takes no posts: its answers live in the other one now."""
    if not participates(user) or thread.state != "visible" or thread.merged_into_id is not None:
        return False
    return not (thread.is_locked or thread.closed_at is not None) or is_staff(user)


def can_see_urgent_reason(user, thread) -> bool:
    """Why a thread is urgent often holds account details: its asker and staff only."""
    return is_staff(user) or (_signed_in(user) and user.id == thread.author_id)


def can_edit_post(user, post) -> bool:
    """Staff edit any post; authors edit their own unless the thread is locked (a lock freezes
    what was said, or an author could rewrite the question under the answers)."""
    return participates(user) and _edits(user, post, is_staff(user))


def _edits(user, post, staff: bool) -> bool:
    return staff or (post.author_id == user.id and not post.thread.is_locked)


def can_delete_post(user, post) -> bool:
    """Staff delete anything; authors delete their own answer unless it is the accepted one,
    and their question only while it has no answers."""
    return participates(user) and _deletes(user, post, is_staff(user))


def _deletes(user, post, staff: bool) -> bool:
    if staff:
        return True
    if post.author_id != user.id:
        return False
    if post.is_question:
        return post.thread.reply_count == 0
    return post.thread.accepted_post_id != post.id


def can_accept(user, thread) -> bool:
    """The asker accepts; staff may accept on the asker's behalf."""
    return participates(user) and (thread.author_id == user.id or is_staff(user))


def can_vote(user, post) -> bool:
    """Signed-in people vote on others' answers, never on their own or on questions."""
    return participates(user) and _votes(user, post)


def _votes(user, post) -> bool:
    return not post.is_question and post.author_id != user.id


def post_rights(user, posts) -> dict[int, tuple[bool, bool, bool]]:
    """(can_vote, can_edit_post, can_delete_post) for each post a page shows, by post id; {} when
    `user` cannot take part. The same rules, with the standing and role looked at once rather than
    three times a post (a thread page shows up to 22)."""
    if not participates(user):
        return {}
    staff = is_staff(user)
    return {post.id: (_votes(user, post), _edits(user, post, staff), _deletes(user, post, staff))
            for post in posts}


def can_moderate(user) -> bool:
    """Lock, close, reopen, restore: staff."""
    return is_staff(user)


def can_manage_categories(user) -> bool:
    return is_admin(user)


# Who can_create_tags allows, as help text and messages name them.
TAG_CREATORS = "Staff"


def can_create_tags(user) -> bool:
    """Members pick from existing tags; staff create new ones by using them."""
    return is_staff(user)
