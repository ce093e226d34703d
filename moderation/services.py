"""Moderation rules: flagging, the review queue's decisions, and what moderators do to members
(warn, silence, suspend, lift, remove all their posts as spam).

Decisions that change a post go through the forum's state services (hide, unhide, delete), whose
events end the post's review item in the same transaction (moderation.rules); decisions that leave
the post as it is (dismissing flags) and member actions are written here, audited, and committed
once."""

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from accounts import audit
from accounts.models import ADMIN, ADVOCATE, User
from accounts.permissions import is_admin, is_staff
from accounts.standing import SILENCED, SUSPENDED, check_can_participate, restriction_in_force
from core import clock, jobs
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import db
from core.ids import possible_id
from core.text import clean_text
from escalation import services as escalation
from escalation.models import NEEDS_STAFF as ESCALATE_NEEDS_STAFF
from forum import jobs as forum_jobs
from forum import states, visibility
from forum.models import DELETED, HELD, HIDDEN, SPAM, Post
from moderation import settings
from moderation.models import (
    AGREED,
    AGREEING_DECISIONS,
    APPROVED,
    DISMISSED,
    FLAG_KINDS,
    FLAG_LABELS,
    FLAGGED,
    MESSAGE_MAX,
    NEEDS_STAFF,
    NOTE_MAX,
    OTHER,
    PENDING,
    REJECTED,
    SILENCE,
    SUSPENSION,
    WARNING,
    Flag,
    MemberAction,
    ReviewItem,
)

STAFF_FLAG_WEIGHT = 100.0  # a moderator's flag holds the post at once
MAX_RESTRICTION = timedelta(days=365)
UNITS = {"hours": timedelta(hours=1), "days": timedelta(days=1)}


# --- flags ----------------------------------------------------------------------------------------------


def flagger_weight(user: User) -> float:
    """How much a member's flag counts: 1 (an advocate 1.5), plus a quarter for each earlier flag
    moderators agreed with (up to +2), less a half for each they rejected; never under a quarter."""
    if is_staff(user):
        return STAFF_FLAG_WEIGHT
    agreed, rejected = db.session.execute(
        sa.select(sa.func.count(sa.case((Flag.outcome == AGREED, 1))),
                  sa.func.count(sa.case((Flag.outcome == REJECTED, 1))))
        .where(Flag.flagger_id == user.id)).one()
    base = 1.5 if user.role == ADVOCATE else 1.0
    return max(0.25, base + min(2.0, 0.25 * agreed) - 0.5 * rejected)


def _clean_note(note: str | None, *, required: bool, field: str = "note", what: str = "Say what is wrong.",
                limit: int = NOTE_MAX) -> str:
    note = clean_text(note or "")
    if required and not note:
        raise Invalid(what, field=field)
    if len(note) > limit:
        raise Invalid(f"Keep it under {limit} characters (this is {len(note)}).", field=field)
    return note


def pending_item(post_id: int, *, lock: bool = False) -> ReviewItem | None:
    query = sa.select(ReviewItem).where(ReviewItem.post_id == post_id, ReviewItem.status == PENDING)
    if lock:
        query = query.with_for_update()
    return db.session.scalar(query)


def open_item(post: Post, kind: str, reason: str = "") -> ReviewItem:
    """The post's pending review item, made now if it has none (of two at once, one makes it: a
    partial unique index, and the other joins it). Does not commit."""
    item = pending_item(post.id, lock=True)
    if item is not None:
        return item
    try:
        with db.session.begin_nested():
            item = ReviewItem(post_id=post.id, thread_id=post.thread_id, author_id=post.author_id, kind=kind,
                              reason=reason[:NOTE_MAX], created_at=clock.now())
            db.session.add(item)
        return item
    except IntegrityError:
        item = pending_item(post.id, lock=True)
        if item is None:
            raise
        return item


def flag_post(actor: User, post: Post, kind: str, note: str = "") -> Flag:
    """A member flags a post (one flag per member and post). Enough weight holds the post until a
    moderator decides; "needs staff" sends the thread to staff instead. Raises Forbidden, Invalid,
    NotFound or Conflict."""
    if not getattr(actor, "is_authenticated", False):
        raise Forbidden("Sign in to flag a post.")
    check_can_participate(actor)
    if not visibility.can_see_post(actor, post) or post.state == DELETED or post.thread.is_deleted:
        raise NotFound("There is no such post. It may have been deleted.")
    if post.author_id == actor.id:
        raise Forbidden("You cannot flag your own post; edit or delete it instead.")
    if kind not in FLAG_KINDS:
        raise Invalid(f"Choose what is wrong: {', '.join(FLAG_LABELS.values())}.", field="kind")
    note = _clean_note(note, required=kind == OTHER, what="Say what is wrong with this post.")
    if db.session.scalar(sa.select(Flag.id).where(Flag.post_id == post.id, Flag.flagger_id == actor.id)):
        raise Conflict("You have flagged this post already; moderators will look at it.")
    if not post.is_visible or not post.thread.is_visible:
        raise Conflict("This post is already waiting for a moderator.")
    flag = Flag(post_id=post.id, flagger_id=actor.id, kind=kind, note=note, created_at=clock.now(),
                weight=flagger_weight(actor))
    if kind == NEEDS_STAFF:
        _send_to_staff(actor, post, note)
        flag.outcome, flag.resolved_at = AGREED, clock.now()
    else:
        item = open_item(post, FLAGGED)
        flag.review_item_id = item.id
    db.session.add(flag)
    try:
        db.session.flush()
    except IntegrityError as exc:  # a double click raced the first flag
        db.session.rollback()
        raise Conflict("You have flagged this post already; moderators will look at it.") from exc
    if kind != NEEDS_STAFF:
        _hold_if_weighty(post, flag.review_item_id)
    db.session.commit()
    return flag


def _send_to_staff(actor: User, post: Post, note: str) -> None:
    thread = post.thread
    if not escalation.escalatable(thread):
        raise Conflict("This thread is closed or locked, so staff cannot take it up; choose another reason "
                       "if something is wrong with the post.")
    try:
        escalation.escalate(thread, ESCALATE_NEEDS_STAFF, by=actor,
                            note=note or f"Flagged by {actor.display_name} as needing staff.")
    except Conflict:  # staff have it for this reason already: the flag joins that
        pass


def _hold_if_weighty(post: Post, item_id: int) -> None:
    """Hold the post once the pending flags' weight reaches its category's threshold."""
    total = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Flag.weight), 0.0))
        .where(Flag.review_item_id == item_id, Flag.outcome.is_(None)))
    if total < settings.flag_threshold(post.thread.category_id):
        return
    labels = db.session.scalars(sa.select(Flag.kind).where(Flag.review_item_id == item_id).distinct())
    said = ", ".join(sorted(FLAG_LABELS.get(k, k).lower() for k in labels))
    states.hold_for_review(post, f"members flagged it ({said}).")


# --- the review queue's decisions -------------------------------------------------------------------------


def get_item(item_id) -> ReviewItem:
    """Raises NotFound."""
    item_id = possible_id(item_id)
    item = db.session.get(ReviewItem, item_id) if item_id is not None else None
    if item is None:
        raise NotFound("There is no such review item.")
    return item


def _require_staff(actor: User, doing: str = "moderate") -> None:
    if not is_staff(actor):
        raise Forbidden(f"Only staff {doing}.")


def _require_pending(item: ReviewItem) -> None:
    if item.status != PENDING:
        raise Conflict("Another moderator decided this one already.")


def decide(actor: User, item: ReviewItem, decision: str, reason: str = "") -> int:
    """One of the queue's decisions by name (approve, hide, spam, spam_all, delete); returns how
    many posts it changed. Raises Invalid for an unknown one, and what each decision raises."""
    if decision == "approve":
        approve(actor, item)
    elif decision == "hide":
        hide(actor, item, reason)
    elif decision in ("spam", "spam_all"):
        return mark_spam(actor, item, reason, everything=decision == "spam_all")
    elif decision == "delete":
        delete(actor, item, reason)
    else:
        raise Invalid("Choose what to do with the post.")
    return 1


def approve(actor: User, item: ReviewItem) -> ReviewItem:
    """The post may stay: a held one is shown to everyone, flags against a visible one are
    dismissed. Raises Forbidden or Conflict."""
    _require_staff(actor)
    _require_pending(item)
    post = item.post
    if item.post_state in (HELD, HIDDEN, SPAM):
        states.unhide_post(actor, post)  # its event ends the item (moderation.rules)
        return item
    if item.post_state == DELETED:
        raise Conflict("This post was deleted; restore it from the thread first.")
    end_item(item, DISMISSED, actor)
    audit.record(actor, "dismiss-flags", "post", post.id, before={"review": PENDING},
                 after={"review": DISMISSED})
    db.session.commit()
    return item


def hide(actor: User, item: ReviewItem, reason: str) -> ReviewItem:
    """Hide the post from members, saying why. Raises Forbidden, Invalid or Conflict."""
    _require_staff(actor)
    _require_pending(item)
    states.hide_post(actor, item.post, reason, HIDDEN)
    return item


def mark_spam(actor: User, item: ReviewItem, reason: str = "", *, everything: bool = False) -> int:
    """Remove the post as spam; `everything`: every post of its author with it. Returns how many
    posts were removed. Raises Forbidden, Invalid or Conflict."""
    _require_staff(actor)
    _require_pending(item)
    reason = reason.strip() or "Spam"
    if everything:
        return remove_all_as_spam(actor, item.author, reason)
    states.hide_post(actor, item.post, reason, SPAM)
    return 1


def delete(actor: User, item: ReviewItem, reason: str = "") -> ReviewItem:
    """Delete the post (for a question: its thread). Raises Forbidden or Conflict."""
    _require_staff(actor)
    _require_pending(item)
    states.delete_post(actor, item.post, reason)
    return item


def remove_all_as_spam(actor: User, member: User, reason: str) -> int:
    """Mark every post of `member` that others can see as spam, at once. Raises Forbidden or Invalid."""
    _require_staff(actor)
    if is_staff(member):
        raise Forbidden("Staff posts are not removed as spam; change the person's role first.")
    count = states.hide_all_by(actor, member, reason, SPAM)
    return count


def end_item(item: ReviewItem, decision: str, actor: User | None, note: str = "") -> None:
    """End a pending item with a decision: its flags agreed or rejected, the flaggers and (for a
    removal) the author told. Does not commit."""
    if item.status != PENDING:
        return
    now = clock.now()
    item.status, item.decided_at, item.decided_by_id = decision, now, getattr(actor, "id", None)
    item.decision_note = (note or "")[:NOTE_MAX]
    outcome = AGREED if decision in AGREEING_DECISIONS else REJECTED
    flaggers = list(db.session.scalars(
        sa.select(Flag.flagger_id).where(Flag.review_item_id == item.id, Flag.outcome.is_(None))))
    db.session.execute(sa.update(Flag).where(Flag.review_item_id == item.id, Flag.outcome.is_(None))
                       .values(outcome=outcome, resolved_at=now))
    if flaggers:
        kind = "flag_agreed" if outcome == AGREED else "flag_kept"
        jobs.enqueue(forum_jobs.notify, kind, flaggers, item.thread_id, None, f"r{item.id}", queue="mail")
    if item.author_id == getattr(actor, "id", None):
        return
    if decision in AGREEING_DECISIONS:
        jobs.enqueue(forum_jobs.notify, "post_removed", [item.author_id], item.thread_id, None,
                     f"r{item.id}", queue="mail")
    elif decision == APPROVED and item.kind != FLAGGED:  # it waited: its author hears it is out now
        jobs.enqueue(forum_jobs.notify, "post_approved", [item.author_id], item.thread_id, item.post_id,
                     f"r{item.id}", queue="mail")


# --- members --------------------------------------------------------------------------------------------


def get_member(username) -> User:
    """A person by username. Raises NotFound."""
    user = None
    if isinstance(username, str):
        user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise NotFound("There is no such member.")
    return user


def _check_target(actor: User, member: User, doing: str) -> None:
    _require_staff(actor, doing)
    if member.id == actor.id:
        raise Forbidden(f"You cannot {doing.split(' ')[0]} yourself.")
    if member.role == ADMIN:
        raise Forbidden("Admins cannot be silenced, suspended or warned; another admin can change their role "
                        "first.")
    if is_staff(member) and not is_admin(actor):
        raise Forbidden("Only admins act on staff accounts.")


def warn_member(actor: User, member: User, message: str, post_id=None) -> MemberAction:
    """Send a member a warning they see on every page until they dismiss it. Raises Forbidden or
    Invalid."""
    _check_target(actor, member, "warn members")
    message = _clean_note(message, required=True, field="reason", limit=MESSAGE_MAX,
                          what="Write the warning: the member reads exactly this.")
    post_id = possible_id(post_id)
    if post_id is not None and db.session.get(Post, post_id) is None:
        post_id = None  # the post the warning was about is gone: the warning stands on its own
    action = MemberAction(user_id=member.id, kind=WARNING, reason=message, created_by_id=actor.id,
                          created_at=clock.now(), post_id=post_id)
    db.session.add(action)
    member.has_warning = True
    db.session.flush()
    audit.record(actor, "warn", "user", member.id, after={"warning": action.id}, reason=message)
    jobs.enqueue(forum_jobs.notify, "mod_warning", [member.id], None, None, f"a{action.id}", queue="mail")
    db.session.commit()
    return action


def dismiss_warning(actor: User, action_id) -> MemberAction:
    """The member read their warning. Raises NotFound (not theirs) or Conflict (dismissed already)."""
    action = db.session.get(MemberAction, possible_id(action_id) or 0)
    if action is None or action.kind != WARNING or action.user_id != getattr(actor, "id", None):
        raise NotFound("There is no such warning.")
    if action.ended_at is not None:
        raise Conflict("You have dismissed this warning already.")
    action.ended_at, action.ended_by_id = clock.now(), actor.id
    db.session.flush()
    actor.has_warning = db.session.scalar(sa.select(sa.func.count()).select_from(MemberAction).where(
        MemberAction.user_id == actor.id, MemberAction.kind == WARNING, MemberAction.ended_at.is_(None))) > 0
    db.session.commit()
    return action


def clean_duration(amount, unit) -> timedelta:
    """A restriction's length: a whole number of hours or days, up to a year. Raises Invalid."""
    if unit not in UNITS:
        raise Invalid("Give the length in hours or days.", field="unit")
    try:
        number = int(str(amount).strip())
    except (TypeError, ValueError):
        raise Invalid("Give the length as a whole number.", field="amount") from None
    if number <= 0:
        raise Invalid("The length must be at least one hour or one day.", field="amount")
    if number > MAX_RESTRICTION / UNITS[unit]:
        raise Invalid("At most a year; to keep someone out for good, deactivate the account.", field="amount")
    return number * UNITS[unit]


def restrict_member(actor: User, member: User, kind: str, amount, unit: str, reason: str) -> MemberAction:
    """Silence (read-only) or suspend a member for a period, saying why; replaces a restriction in
    force. Raises Forbidden (yourself, an admin, staff unless you are an admin) or Invalid."""
    if kind not in (SILENCE, SUSPENSION):
        raise Invalid("Choose silence or suspension.", field="kind")
    _check_target(actor, member, "silence or suspend members")
    length = clean_duration(amount, unit)
    reason = _clean_note(reason, required=True, field="reason", limit=NOTE_MAX,
                         what="Say why: the member sees the reason.")
    now = clock.now()
    before = {"restriction": restriction_in_force(member), "until": _iso(member.restricted_until)}
    _end_restrictions(member, actor, now)
    action = MemberAction(user_id=member.id, kind=kind, reason=reason, created_by_id=actor.id, created_at=now,
                          ends_at=now + length)
    db.session.add(action)
    member.restriction = SILENCED if kind == SILENCE else SUSPENDED
    member.restricted_until, member.restriction_reason = action.ends_at, reason
    db.session.flush()
    audit.record(actor, "silence" if kind == SILENCE else "suspend", "user", member.id, before=before,
                 after={"restriction": member.restriction, "until": _iso(action.ends_at)}, reason=reason)
    jobs.enqueue(forum_jobs.notify, "mod_restricted", [member.id], None, None, f"a{action.id}", queue="mail")
    db.session.commit()
    return action


def lift_restriction(actor: User, member: User, note: str = "") -> User:
    """End a silence or suspension early. Raises Forbidden or Conflict (none in force)."""
    _require_staff(actor, "lift restrictions")
    if is_staff(member) and not is_admin(actor):
        raise Forbidden("Only admins act on staff accounts.")
    current = restriction_in_force(member)
    if current is None:
        raise Conflict("This member is not silenced or suspended.")
    note = _clean_note(note, required=False, field="note")
    before = {"restriction": current, "until": _iso(member.restricted_until)}
    _end_restrictions(member, actor, clock.now())
    member.restriction, member.restricted_until, member.restriction_reason = None, None, ""
    audit.record(actor, "lift", "user", member.id, before=before, after={"restriction": None}, reason=note)
    db.session.commit()
    return member


def _end_restrictions(member: User, actor: User, now) -> None:
    db.session.execute(sa.update(MemberAction).where(
        MemberAction.user_id == member.id, MemberAction.kind.in_((SILENCE, SUSPENSION)),
        MemberAction.ended_at.is_(None), sa.or_(MemberAction.ends_at.is_(None), MemberAction.ends_at > now))
        .values(ended_at=now, ended_by_id=actor.id))


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def pending_warnings(user: User) -> list[MemberAction]:
    """The warnings `user` has not dismissed yet (none without a query when there are none)."""
    if not getattr(user, "has_warning", False):
        return []
    return list(db.session.scalars(sa.select(MemberAction).where(
        MemberAction.user_id == user.id, MemberAction.kind == WARNING, MemberAction.ended_at.is_(None))
        .order_by(MemberAction.created_at)))


