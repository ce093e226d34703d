"""Following threads, and notices: the registry of their kinds, creating them once, reading them.

A kind says how its notices read in the list and in mail, and whether it needs a thread. The
forum registers its own kinds here (`answer`, `accepted`, `reminder`); the packages above it
(escalation, moderation) call `register_kind` from their `init_app`, since the forum imports
none of them. A notice of an unknown kind is refused.
"""

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app, url_for
from sqlalchemy.dialects import postgresql, sqlite

from accounts.models import User
from core import clock
from core.errors import Forbidden, Invalid, NotFound
from core.extensions import db, read
from forum import visibility
from forum.models import Notification, NotificationPreference, Post, Subscription, Thread

KIND_RE = re.compile(r"[a-z][a-z0-9_-]{0,19}")  # fits Notification.kind
KEY_RE = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


@dataclass(frozen=True)
class NoticeKind:
    """How the notices of one kind read.

    `summary` is the line in the notifications list and `subject` the mail's subject (the summary
    when empty); `mail_text` is the mail's body. They are format strings over `title` (the
    thread's), `author` and `excerpt` (the post's, when there is one), `link` (mail only), `site`,
    and whatever `values(notice)` adds; a name none of those gives reads as "". A kind that
    `needs_thread` cannot be created without one. Links go to the thread (at the post when
    `link_to_post`), or where `link(notice)` says: `(endpoint, url values)`, or None for no link.
    `mailed`: whether its notices can be mailed as well as listed (by default they are, at once;
    each person chooses per kind: `DELIVERIES`). `label` names the kind on the notification
    settings page; `staff_only` kinds are offered there to staff only, `advocates_only` ones to
    advocates and staff. A `required` kind cannot be turned off (a member hears when moderators
    act on them; staff hear of escalations): it is listed at least.
    """

    name: str
    summary: str
    mail_text: str
    subject: str = ""
    needs_thread: bool = True
    link_to_post: bool = True
    mailed: bool = True
    link: Callable[[Notification], tuple[str, dict] | None] | None = None
    values: Callable[[Notification], dict] | None = None
    label: str = ""
    staff_only: bool = False
    advocates_only: bool = False
    required: bool = False


KINDS: dict[str, NoticeKind] = {}


def register_kind(kind: NoticeKind) -> NoticeKind:
    """Add a kind of notice. Registering the same kind again changes nothing (create_app runs
    once per app); raises ValueError for a malformed name, or another kind under a taken one."""
    if not isinstance(kind.name, str) or not KIND_RE.fullmatch(kind.name):
        raise ValueError(f"a notice kind is named with up to 20 lowercase letters, digits, - and _, "
                         f"not {kind.name!r}")
    known = KINDS.get(kind.name)
    if known is not None and known != kind:
        raise ValueError(f"another notice kind is registered as {kind.name!r} already")
    KINDS[kind.name] = kind
    return kind


def kind_of(name: str) -> NoticeKind:
    """The registered kind `name`. Raises ValueError for a kind nobody registered."""
    kind = KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise ValueError(f"unknown notice kind {name!r}; the registered kinds are "
                         f"{', '.join(sorted(KINDS)) or 'none'}")
    return kind


ANSWER = register_kind(NoticeKind(
    "answer", summary="New answer in “{title}”", label="New answers in threads you follow",
    mail_text="{author} answered a thread you follow:\n\n{excerpt}\n\nRead it: {link}"))
ACCEPTED = register_kind(NoticeKind(
    "accepted", summary="An answer was accepted in “{title}”", subject="“{title}” is solved",
    label="An answer accepted in a thread you follow",
    mail_text="An answer was accepted in a thread you follow:\n\n{excerpt}\n\nRead it: {link}"))
MENTION = register_kind(NoticeKind(
    "mention", summary="You were mentioned in “{title}”", subject="{author} mentioned you in “{title}”",
    label="Someone mentions you",
    mail_text="{author} mentioned you:\n\n{excerpt}\n\nRead it: {link}"))
REMINDER = register_kind(NoticeKind(
    "reminder", summary="Did an answer solve “{title}”?", link_to_post=False,
    label="Reminders to accept an answer to your question",
    mail_text="Your question has answers. If one of them solved it, please accept it so that others "
              "with the same problem find it. If something is still missing, reply and say what:"
              "\n\n{link}"))


# --- how each person wants each kind ---------------------------------------------------------------

APP, MAIL, DIGEST, NONE = "app", "mail", "digest", "none"
DELIVERIES = {
    APP: "In the app only",
    MAIL: "In the app, and by mail at once",
    DIGEST: "In the app, and in a daily digest mail",
    NONE: "Not at all",
}


def default_delivery(kind: NoticeKind) -> str:
    """A kind's delivery for whoever has not chosen: mailed at once if it is mailed, else listed."""
    return MAIL if kind.mailed else APP


def deliveries_of(kind: NoticeKind) -> tuple[str, ...]:
    """The deliveries a person may choose for `kind`: a kind that is never mailed is listed or not;
    a required kind is at least listed."""
    offered = tuple(DELIVERIES) if kind.mailed else (APP, NONE)
    return tuple(d for d in offered if d != NONE) if kind.required else offered


def kinds_for(user) -> list[NoticeKind]:
    """The kinds `user` may receive and so choose for: staff-only kinds for staff, advocates-only
    kinds for advocates and staff; by label."""
    staff = bool(getattr(user, "is_staff", False))
    advocate = staff or bool(getattr(user, "is_advocate", False))
    return sorted((k for k in KINDS.values()
                   if (staff or not k.staff_only) and (advocate or not k.advocates_only)),
                  key=lambda k: (k.staff_only, (k.label or k.name).lower()))


def deliveries_for(kind: str, user_ids: Iterable[int]) -> dict[int, str]:
    """How each of these people gets notices of `kind` (their choice or the kind's default), in one
    query. Raises ValueError for an unknown kind."""
    spec = kind_of(kind)
    people = list(dict.fromkeys(int(uid) for uid in user_ids))
    chosen = dict(db.session.execute(
        sa.select(NotificationPreference.user_id, NotificationPreference.delivery)
        .where(NotificationPreference.kind == kind, NotificationPreference.user_id.in_(people)))
        .all()) if people else {}
    allowed = deliveries_of(spec)
    return {uid: chosen[uid] if chosen.get(uid) in allowed else default_delivery(spec) for uid in people}


@dataclass(frozen=True)
class PreferenceLine:
    """One kind as the notification settings page shows it."""

    kind: str
    label: str
    delivery: str
    choices: tuple[str, ...]
    staff_only: bool


def preferences_for(user: User) -> list[PreferenceLine]:
    """Every kind `user` may receive with how they get it now (one query)."""
    chosen = dict(db.session.execute(
        sa.select(NotificationPreference.kind, NotificationPreference.delivery)
        .where(NotificationPreference.user_id == user.id)).all())
    lines = []
    for kind in kinds_for(user):
        choices = deliveries_of(kind)
        delivery = chosen.get(kind.name)
        lines.append(PreferenceLine(kind.name, kind.label or kind.name, delivery if delivery in choices
                                    else default_delivery(kind), choices, kind.staff_only))
    return lines


def set_preferences(actor: User, choices: dict[str, str]) -> int:
    """Save how `actor` wants each kind named in `choices` (kind name to delivery); a choice equal to
    the kind's default keeps no row. Returns how many kinds changed. Raises Forbidden (not signed
    in) or Invalid (an unknown kind, one `actor` cannot receive, a delivery that kind does not
    offer), writing nothing."""
    if not getattr(actor, "is_authenticated", False):
        raise Forbidden("Sign in to choose your notifications.")
    offered = {kind.name: kind for kind in kinds_for(actor)}
    for name, delivery in choices.items():
        kind = offered.get(name)
        if kind is None:
            raise Invalid("There is no such kind of notification to choose.", field="kind")
        if delivery not in deliveries_of(kind):
            raise Invalid(f"Choose how to get “{kind.label or kind.name}”: "
                          f"{', '.join(DELIVERIES[d].lower() for d in deliveries_of(kind))}.", field=name)
    rows = {row.kind: row for row in db.session.scalars(
        sa.select(NotificationPreference).where(NotificationPreference.user_id == actor.id))}
    changed = 0
    for name, delivery in choices.items():
        row, default = rows.get(name), default_delivery(offered[name])
        if (row.delivery if row is not None and row.delivery in deliveries_of(offered[name])
                else default) != delivery:
            changed += 1
        if delivery == default:
            if row is not None:
                db.session.delete(row)
        elif row is None:
            db.session.add(NotificationPreference(user_id=actor.id, kind=name, delivery=delivery))
        else:
            row.delivery = delivery
    db.session.commit()
    return changed


def dedupe_key(kind: str, thread_id: int | None, post_id: int | None, key: str | None) -> str:
    """What makes a notice of one event unique for its recipient: its kind, thread, post, and the
    creator's key (a reminder's stage, an escalation's id), with "-" for what it has not."""
    parts = [kind, "-" if thread_id is None else str(int(thread_id)),
             "-" if post_id is None else str(int(post_id))]
    if key is not None:
        parts.append(key)
    return ":".join(parts)


def add_notices(kind: str, user_ids: Iterable[int], *, thread_id: int | None = None,
                post_id: int | None = None, key: str | None = None) -> list[int]:
    """Give each person the notice of this event unless they have it already (also when another
    job is adding it at this moment); returns the ids of this event's notices for them, oldest
    first. Writes in the caller's transaction. Raises ValueError: an unknown kind, a kind that
    needs a thread without one, a malformed key, or an event with neither thread, post nor key
    (every such notice of the person would be the same one). Whoever chose to get no notices of
    this kind (`none`) gets none."""
    spec = kind_of(kind)
    if spec.needs_thread and thread_id is None:
        raise ValueError(f"a {kind!r} notice needs a thread")
    if key is not None and (not isinstance(key, str) or not KEY_RE.fullmatch(key)):
        raise ValueError(f"a notice key is up to 100 letters, digits and ._:-, not {key!r}")
    if thread_id is None and post_id is None and key is None:
        raise ValueError(f"a {kind!r} notice with no thread and no post needs a key naming its event")
    people = [uid for uid, delivery in deliveries_for(kind, user_ids).items() if delivery != NONE]
    if not people:
        return []
    event_key = dedupe_key(kind, thread_id, post_id, key)
    now = clock.now()
    rows = [{"user_id": uid, "thread_id": thread_id, "post_id": post_id, "kind": kind,
             "dedupe_key": event_key, "created_at": now} for uid in people]
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[db.session.get_bind().dialect.name]
    db.session.execute(insert(Notification).values(rows)
                       .on_conflict_do_nothing(index_elements=["user_id", "dedupe_key"]))
    return list(db.session.scalars(
        sa.select(Notification.id).where(Notification.dedupe_key == event_key,
                                         Notification.user_id.in_(people))
        .order_by(Notification.id)))


def follow(user_id: int, thread_id: int) -> None:
    """Subscribe unless the person unsubscribed from this thread before (that choice stands)."""
    exists = db.session.scalar(
        sa.select(Subscription.id).where(Subscription.thread_id == thread_id,
                                         Subscription.user_id == user_id)
    )
    if exists is None:
        db.session.add(Subscription(thread_id=thread_id, user_id=user_id, active=True))


def follow_all(user_ids: Iterable[int], thread_id: int) -> None:
    """follow() for many people at once (a merge's followers, a split's authors): whoever follows
    the thread already, or unfollowed it, is left as they are; the others are subscribed."""
    people = set(user_ids)
    if not people:
        return
    known = set(db.session.scalars(
        sa.select(Subscription.user_id).where(Subscription.thread_id == thread_id,
                                              Subscription.user_id.in_(people))))
    db.session.add_all(Subscription(thread_id=thread_id, user_id=user_id, active=True)
                       for user_id in sorted(people - known))


def active_followers(thread_id: int) -> list[int]:
    """The ids of the people who follow a thread now."""
    return list(db.session.scalars(
        sa.select(Subscription.user_id).where(Subscription.thread_id == thread_id, Subscription.active)))


def move_answer_notices(post_ids: Iterable[int], thread_id: int) -> None:
    """Notices of new answers follow their answers to another thread (a merge, a split), so that
    they lead there, and opening that thread reads them. Their keys stay: the event is the same."""
    post_ids = list(post_ids)
    if post_ids:
        db.session.execute(sa.update(Notification).where(
            Notification.kind == ANSWER.name, Notification.post_id.in_(post_ids)).values(thread_id=thread_id))


def set_following(actor: User, thread: Thread, following: bool) -> Subscription:
    """Follow or unfollow a thread explicitly. Raises Forbidden."""
    if not getattr(actor, "is_authenticated", False):
        raise Forbidden("Sign in to follow threads.")
    subscription = db.session.scalar(
        sa.select(Subscription).where(Subscription.thread_id == thread.id,
                                      Subscription.user_id == actor.id)
    )
    if subscription is None:
        subscription = Subscription(thread_id=thread.id, user_id=actor.id)
        db.session.add(subscription)
    subscription.active = following
    db.session.commit()
    return subscription


def unsubscribe(subscription_id: int) -> Subscription:
    """One-click unsubscribe from a mailed link (the link itself is the credential). Raises NotFound."""
    subscription = db.session.get(Subscription, subscription_id)
    if subscription is None:
        raise NotFound("That subscription no longer exists.")
    subscription.active = False
    db.session.commit()
    return subscription


def is_following(user, thread: Thread) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if getattr(thread, "viewer_follows", None) is not None:  # read with the thread (queries.thread_view)
        return thread.viewer_follows
    return bool(read(_FOLLOWING, {"thread_id": thread.id, "user_id": user.id}).scalar())


_FOLLOWING = sa.select(Subscription.active).where(Subscription.thread_id == sa.bindparam("thread_id"),
                                                  Subscription.user_id == sa.bindparam("user_id"))


class _Blank(dict):
    def __missing__(self, _name):
        return ""


def notice_text(notice: Notification, template: str, **values) -> str:
    """`template` (a kind's summary, subject or mail text) filled in for `notice`."""
    kind = KINDS.get(notice.kind)
    filled = _Blank(title=notice.thread.title if notice.thread is not None else "",
                    site=current_app.config["PEERLINE_SITE_NAME"], **values)
    if kind is not None and kind.values is not None:
        filled.update(kind.values(notice))
    return template.format_map(filled)


def notice_target(notice: Notification) -> tuple[str, dict] | None:
    """Where a notice leads: (endpoint, url values), or None."""
    kind = KINDS.get(notice.kind)
    if kind is not None and kind.link is not None:
        return kind.link(notice)
    if notice.thread_id is None:
        return None
    anchor = None
    if notice.post_id is not None and (kind is None or kind.link_to_post):
        anchor = f"post-{notice.post_id}"
    return "forum.view_thread", {"thread_id": notice.thread_id, "_anchor": anchor}


@dataclass(frozen=True)
class NoticeLine:
    """One notice as the notifications page shows it."""

    id: int
    text: str
    url: str | None
    created_at: datetime
    unread: bool


def about_what_is_visible():
    """Notices about a thread or post that was hidden or deleted since are no longer shown or
    counted (forum.visibility): the notice stays, and comes back if the content does."""
    return sa.and_(
        sa.or_(Notification.thread_id.is_(None), sa.exists().where(
            Thread.id == Notification.thread_id, visibility.counted_threads())),
        sa.or_(Notification.post_id.is_(None), sa.exists().where(
            Post.id == Notification.post_id, visibility.counted_posts())),
    )


def notifications_for(user: User, limit: int = 50) -> list[NoticeLine]:
    """A person's newest notices, with their threads, in one query; read in a request."""
    lines = []
    for notice in db.session.scalars(
        sa.select(Notification).where(Notification.user_id == user.id, about_what_is_visible())
        .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
        .options(sa.orm.joinedload(Notification.thread))
    ):
        kind = KINDS.get(notice.kind)
        # A kind whose package is gone (uninstalled) still shows, plainly.
        text = notice_text(notice, kind.summary) if kind is not None else "A notice"
        # Through open_notice, which reads it on the way: a notice that leads elsewhere than its
        # thread (an escalation, the moderation page) or to no thread at all is read when opened.
        lines.append(NoticeLine(notice.id, text, url_for("forum.open_notice", notice_id=notice.id),
                                notice.created_at, notice.read_at is None))
    return lines


def open_notice(user: User, notice_id) -> tuple[str | None, bool]:
    """Where one of `user`'s notices leads (a path, or None when it leads nowhere), and whether it
    is unread. Raises NotFound for a notice that is not theirs, or is about something no longer
    shown. Writes nothing: mark_notice_read does, so that a failed write costs only the mark."""
    notice = db.session.scalar(
        sa.select(Notification).where(Notification.id == notice_id, Notification.user_id == user.id,
                                      about_what_is_visible()))
    if notice is None:
        raise NotFound("That notification does not exist.")
    target = notice_target(notice)
    return (url_for(target[0], **target[1]) if target else None), notice.read_at is None


def mark_notice_read(user: User, notice_id: int) -> None:
    """Mark one of `user`'s notices read (they opened it from the list)."""
    db.session.execute(sa.update(Notification).where(
        Notification.id == notice_id, Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=clock.now()))
    db.session.commit()


def unread_counts(user: User, thread_id: int | None = None) -> tuple[int, int]:
    """How many unread notices `user` has, and how many of those are about `thread_id`: one query,
    so that a thread page knows whether it has any to mark read without writing."""
    total, here = read(_unread_statement(), {"user_id": user.id, "thread_id": thread_id}).one()
    return total, here


def unread_total(user: User) -> int:
    """How many unread notices `user` has: as loaded with them for this request (no query), or counted."""
    figures = user.session_figures
    if figures is not None and UNREAD_FIGURE in figures:
        return int(figures[UNREAD_FIGURE] or 0)
    return unread_counts(user)[0]


UNREAD_FIGURE = "unread_notices"


def unread_figure():
    """The unread count as a figure loaded with the signed-in person (accounts.services.SESSION_FIGURES)."""
    return (sa.select(sa.func.count()).select_from(Notification)
            .where(Notification.user_id == User.id, Notification.read_at.is_(None), about_what_is_visible())
            .correlate(User).scalar_subquery())


@functools.cache
def _unread_statement():
    """Built once (with bind parameters): it runs on every signed-in page, and building it cost
    more than running it. No thread (None) matches no notice's thread."""
    return (sa.select(sa.func.count(), sa.func.count(sa.case(
        (Notification.thread_id == sa.bindparam("thread_id", type_=sa.Integer), 1))))
        .where(Notification.user_id == sa.bindparam("user_id"), Notification.read_at.is_(None),
               about_what_is_visible()))


def mark_thread_read(user: User, thread_id: int) -> int:
    """Mark read the notices of `user` about one thread (they opened it); returns how many."""
    count = db.session.execute(
        sa.update(Notification).where(Notification.user_id == user.id, Notification.thread_id == thread_id,
                                      Notification.read_at.is_(None))
        .values(read_at=clock.now())
    ).rowcount
    db.session.commit()
    return count


def mark_notifications_read(user: User) -> int:
    """Mark every unread notice of `user` read; returns how many."""
    count = db.session.execute(
        sa.update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=clock.now())
    ).rowcount
    db.session.commit()
    return count
