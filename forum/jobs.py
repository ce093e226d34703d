"""Forum jobs: notify followers, mail notices and the daily digests, remind askers, close abandoned threads,
flush view counts, repair reputation. Each takes ids and is safe to run twice."""

import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from accounts import services as account_services
from accounts.models import User
from core import clock, mail, markup, signals
from core.extensions import db, end_transaction
from forum import history, notices, reputation, uploads, viewcounts, visibility
from forum.models import (
    CLOSED_ABANDONED,
    QUESTION,
    Notification,
    NotificationPreference,
    Post,
    Subscription,
    Thread,
)

log = logging.getLogger(__name__)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="peerline-unsubscribe")


def unsubscribe_token(subscription_id: int) -> str:
    """The opaque one-click unsubscribe token mailed with every notice."""
    return _serializer().dumps(subscription_id)


def subscription_id_from(token: str) -> int | None:
    try:
        value = _serializer().loads(token or "")
    except BadSignature:
        return None
    return value if isinstance(value, int) else None


def notify(kind: str, user_ids: list[int], thread_id: int | None = None, post_id: int | None = None,
           key: str | None = None) -> None:
    """Give each person the notice of this event (once; `forum.notices.add_notices`), then mail
    every notice of it not mailed yet, all in this one job: a reply to a thread with 300 followers
    is one job, not 301. Packages above the forum enqueue it for their own kinds.
    Raises ValueError for an unknown kind (see add_notices)."""
    ids = notices.add_notices(kind, user_ids or (), thread_id=thread_id, post_id=post_id, key=key)
    db.session.commit()
    if not ids or not notices.kind_of(kind).mailed:
        return
    # Mailed now only to those who want it at once; `digest` waits for send_digests, `app` is listed only.
    rows = db.session.execute(
        sa.select(Notification.id, Notification.user_id).where(Notification.id.in_(ids),
                                                               Notification.mailed_at.is_(None))
        .order_by(Notification.id)).all()
    delivery = notices.deliveries_for(kind, [user_id for _id, user_id in rows])
    unmailed = [notification_id for notification_id, user_id in rows if delivery[user_id] == notices.MAIL]
    _mail_each(unmailed, send_notification_mail, "notice")


def _mail_each(ids: list[int], send, what: str) -> None:
    """`send(id)` for each id. One address the mail server refuses must not keep the others from
    their mail: each is tried, and the job fails at the end if any failed, so that a retry mails
    only those (what was sent records mailed_at)."""
    failed = []
    for one in ids:
        try:
            send(one)
        except Exception:
            db.session.rollback()
            log.warning("mailing %s %s failed", what, one, exc_info=True)
            failed.append(one)
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(ids)} {what}s could not be mailed: {failed[:20]}")


def _notify(user_ids, thread_id: int, post_id: int, kind: str, key: str | None = None) -> None:
    notify(kind, user_ids, thread_id, post_id, key)


def _followers(thread_id: int, exclude: int | None, since) -> list[int]:
    """Active followers who were following when the event happened (the job may run later)."""
    query = sa.select(Subscription.user_id).where(
        Subscription.thread_id == thread_id, Subscription.active.is_(True),
        Subscription.created_at <= since)
    if exclude is not None:
        query = query.where(Subscription.user_id != exclude)
    return list(db.session.scalars(query))


def notify_new_post(post_id: int) -> None:
    """Tell everyone following the thread (but the author) about a new post."""
    post = db.session.get(Post, post_id)
    if post is None or not post.is_visible or not post.thread.is_visible:
        return
    _notify(_followers(post.thread_id, post.author_id, post.created_at), post.thread_id, post.id,
            "answer")


def notify_mentions(post_id: int) -> None:
    """Tell the people a post mentions (its rendered @name links), but its author, once per post
    (the notice's key): an edit that adds a name tells only the new one. Nobody hears of a post, or
    a thread, that others cannot see."""
    post = db.session.get(Post, post_id)
    if post is None or not post.is_visible or not post.thread.is_visible:
        return
    people = [user.id for user in account_services.users_named(markup.mentioned(post.body_html))
              if user.id != post.author_id]
    _notify(people, post.thread_id, post.id, notices.MENTION.name)


def remove_unposted_uploads() -> None:
    """Delete attached files never posted, a day after they came (forum.uploads)."""
    removed = uploads.remove_unposted()
    if removed:
        log.info("removed %s files that were never posted", removed)


def notify_accepted(thread_id: int, post_id: int) -> None:
    """Tell followers (but whoever accepted) that an answer was accepted, if it still is."""
    thread = db.session.get(Thread, thread_id)
    if thread is None or thread.accepted_post_id != post_id:
        return
    _notify(_followers(thread_id, thread.accepted_by_id, thread.solved_at), thread_id, post_id,
            "accepted")


def send_notification_mail(notification_id: int) -> None:
    """Mail one notice to its recipient, once, in the words of its kind (forum.notices)."""
    notice = db.session.get(Notification, notification_id)
    if notice is None or notice.mailed_at is not None:
        return
    kind = notices.KINDS.get(notice.kind)
    user = db.session.get(User, notice.user_id)
    thread = notice.thread
    if kind is None:  # its package is gone: the notice stays in the list, unmailed
        log.warning("notice %s is of the unknown kind %r; not mailed", notice.id, notice.kind)
        return
    if user is None or not user.is_active or (thread is not None and not thread.is_visible):
        return
    post = db.session.get(Post, notice.post_id) if notice.post_id else None
    if post is not None and not post.is_visible:
        return  # hidden or deleted since: the notice stays in the app, the mail goes unsent
    target = notices.notice_target(notice)
    link = mail.external_url(target[0], **target[1]) if target else ""
    unsubscribe = _unsubscribe_link(thread.id if thread is not None else None, user.id)
    excerpt = (post.body[:600] + ("…" if len(post.body) > 600 else "")) if post else ""
    values = {"author": post.author.display_name if post else "", "excerpt": excerpt, "link": link}
    subject = notices.notice_text(notice, kind.subject or kind.summary, **values)
    body = notices.notice_text(notice, kind.mail_text, **values)
    if unsubscribe:
        body += f"\n\n--\nStop mail about this thread: {unsubscribe}\n"
    to = user.email
    end_transaction()  # no transaction stays open across the network call
    mail.send(to, subject, body, unsubscribe_url=unsubscribe)
    db.session.execute(sa.update(Notification).where(Notification.id == notification_id)
                       .values(mailed_at=clock.now()))
    db.session.commit()


def _unsubscribe_link(thread_id: int | None, user_id: int) -> str | None:
    """The one-click link that stops mail about a thread the person follows, if they do."""
    if thread_id is None:
        return None
    subscription_id = db.session.scalar(sa.select(Subscription.id).where(
        Subscription.thread_id == thread_id, Subscription.user_id == user_id))
    return mail.external_url("forum.unsubscribe", token=unsubscribe_token(subscription_id)) \
        if subscription_id else None


DIGEST_MAX_AGE = timedelta(days=7)  # older pending notices are stale news: they stay listed only
DIGEST_MAX_NOTICES = 50


def _pending_digest(user_id: int | None = None):
    """SQL: notices waiting for a digest: unmailed, unread, recent, about what is still visible, of
    a kind their recipient chose to get as a digest."""
    statement = (sa.select(Notification)
                 .join(NotificationPreference, sa.and_(NotificationPreference.user_id == Notification.user_id,
                                                       NotificationPreference.kind == Notification.kind))
                 .where(NotificationPreference.delivery == notices.DIGEST,
                        Notification.kind.in_([k.name for k in notices.KINDS.values() if k.mailed]),
                        Notification.mailed_at.is_(None), Notification.read_at.is_(None),
                        Notification.created_at >= clock.now() - DIGEST_MAX_AGE,
                        notices.about_what_is_visible()))
    return statement if user_id is None else statement.where(Notification.user_id == user_id)


def send_digests() -> None:
    """Once a day: mail each person who has notices waiting for a digest one mail listing them. A
    person's failure does not hold up the others; the job fails at the end, and a retry mails only
    those not mailed yet (each notice records mailed_at)."""
    people = list(db.session.scalars(
        _pending_digest().with_only_columns(Notification.user_id).distinct().order_by(Notification.user_id)))
    end_transaction()
    _mail_each(people, send_digest, "digest")


def send_digest(user_id: int) -> None:
    """Mail one person their pending digest notices in one message, then record them mailed."""
    user = db.session.get(User, user_id)
    if user is None or not user.is_active:
        return
    pending = db.session.scalars(
        _pending_digest(user_id).order_by(Notification.created_at, Notification.id)
        .limit(DIGEST_MAX_NOTICES).options(sa.orm.joinedload(Notification.thread))).all()
    if not pending:
        return
    site = current_app.config["PEERLINE_SITE_NAME"]
    lines, stops = [], {}
    for notice in pending:
        kind = notices.KINDS[notice.kind]
        target = notices.notice_target(notice)
        lines.append(f"- {notices.notice_text(notice, kind.summary)}"
                     + (f"\n  {mail.external_url(target[0], **target[1])}" if target else ""))
        if notice.thread_id is not None and notice.thread_id not in stops:
            stops[notice.thread_id] = (notice.thread.title, _unsubscribe_link(notice.thread_id, user.id))
    stops = {thread_id: stop for thread_id, stop in stops.items() if stop[1]}
    ids, to = [notice.id for notice in pending], user.email
    body = (f"Hello {user.display_name},\n\nWhat happened on {site} for you since your last digest:\n\n"
            + "\n".join(lines) + "\n\n--\n")
    for title, link in stops.values():
        body += f"Stop mail about “{title}”: {link}\n"
    settings = mail.external_url("forum.notification_settings")
    body += f"Choose how you get each kind of notification: {settings}\n"
    count = len(ids)
    subject = f"Your {site} digest: {count} {'notification' if count == 1 else 'notifications'}"
    only_stop = next(iter(stops.values()))[1] if len(stops) == 1 else None
    end_transaction()  # no transaction stays open across the network call
    mail.send(to, subject, body, unsubscribe_url=only_stop)
    db.session.execute(sa.update(Notification)
                       .where(Notification.id.in_(ids), Notification.mailed_at.is_(None))
                       .values(mailed_at=clock.now()))
    db.session.commit()


def remind_askers() -> None:
    """Nudge askers whose threads have answers but none accepted (after 3 days, then 1 week).

    A thread gets at most one reminder per run, of the latest stage it is due for: one whose
    first answer is older than a week when the job first sees it (loaded, imported, or the job
    was not running in between) is reminded once, not once per stage in the same second."""
    days = current_app.config["PEERLINE_REMINDER_DAYS"]
    now = clock.now()
    for stage in reversed(range(len(days))):
        rows = db.session.execute(
            sa.select(Thread.id, Thread.author_id, Post.id)
            .join(Post, sa.and_(Post.thread_id == Thread.id, Post.kind == QUESTION))
            .where(visibility.counted_threads(), Thread.solved_at.is_(None),
                   Thread.closed_at.is_(None), Thread.first_reply_at.is_not(None),
                   Thread.reminders_sent <= stage,
                   Thread.first_reply_at <= now - timedelta(days=days[stage]))
            .limit(500)
        ).all()
        for thread_id, author_id, question_id in rows:
            _notify([author_id], thread_id, question_id, notices.REMINDER.name, key=str(stage + 1))
            db.session.execute(sa.update(Thread).where(Thread.id == thread_id,
                                                      Thread.reminders_sent <= stage)
                               .values(reminders_sent=stage + 1))
            db.session.commit()


def _abandoned():
    """Answered, unsolved, open, visible threads that are not urgent. Never a thread nobody answered:
    it stays in the unanswered backlog (METRICS.md), and an urgent one waits for staff."""
    return sa.and_(visibility.counted_threads(), Thread.solved_at.is_(None), Thread.closed_at.is_(None),
                   Thread.first_reply_post_id.is_not(None), Thread.is_urgent.is_(False))


def close_abandoned_threads() -> None:
    """Close abandoned threads with no activity for PEERLINE_ABANDON_AFTER_DAYS, as the system, each
    with its history event (reason: abandoned)."""
    cutoff = clock.now() - timedelta(days=current_app.config["PEERLINE_ABANDON_AFTER_DAYS"])
    threads = db.session.scalars(
        sa.select(Thread).where(_abandoned(), Thread.last_activity_at < cutoff)
        .order_by(Thread.id).limit(1000).with_for_update()
    ).all()
    for thread in threads:  # locked and read as they are now: a reply or an accept may have won
        thread.closed_at, thread.close_reason, thread.closed_by_id = clock.now(), CLOSED_ABANDONED, None
        history.record(thread, history.CLOSED, None, reason=CLOSED_ABANDONED)
        signals.thread_closed.send(thread, actor=None, reason=CLOSED_ABANDONED)
    db.session.commit()


def flush_view_counts() -> None:
    """Add the buffered page views to the threads' view counts."""
    viewcounts.flush()


def recompute_reputation() -> None:
    """Sum everyone's reputation again from the votes and threads, repairing any drift."""
    changed = reputation.recompute()
    db.session.commit()
    if changed:
        current_app.logger.warning("Reputation drift repaired for %d people", changed)
