"""Escalation jobs: the sweep and the deadline check (periodic), the announcement of a new
escalation to its team (mail and a signed webhook) and deadline notices. Each takes ids and is
safe to run twice."""

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request

import sqlalchemy as sa

from accounts.models import STAFF_ROLES, User
from core import clock, mail
from core.clock import as_utc
from core.extensions import db, end_transaction
from escalation import rules
from escalation.models import (
    DeskProfile,
    Escalation,
    InternalNote,
    Team,
    WebhookDelivery,
    team_members,
)

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT = 10


def sweep() -> None:
    counts = rules.sweep()
    log.info("escalation sweep: %s", counts)


def check_deadlines() -> None:
    counts = rules.check_deadlines()
    log.info("escalation deadlines: %s", counts)


def team_member_ids(team_id: int | None) -> list[int]:
    """The active staff of a team; with no team, every active staff member."""
    query = sa.select(User.id).where(User.role.in_(sorted(STAFF_ROLES)), User.is_active_account.is_(True))
    if team_id is not None:
        query = (query.join(team_members, team_members.c.user_id == User.id)
                 .where(team_members.c.team_id == team_id))
    return list(db.session.scalars(query.order_by(User.id)))


def notify_deadline(escalation_id: int, kind: str) -> None:
    """The 80% warning or the breach notice: to the holder, or to the team when nobody has it."""
    from forum import jobs as forum_jobs

    escalation = db.session.get(Escalation, escalation_id)
    if escalation is None or escalation.state != "open" or escalation.first_response_at is not None:
        return
    holder = db.session.get(User, escalation.assignee_id) if escalation.assignee_id else None
    profile = db.session.get(DeskProfile, holder.id) if holder is not None else None
    can_act = (holder is not None and holder.is_active_account and holder.role in STAFF_ROLES
               and (profile is None or profile.available))
    # A holder who left, lost the staff role or is away cannot act on it: the team is told instead.
    people = [holder.id] if can_act else team_member_ids(escalation.team_id)
    forum_jobs.notify(kind, people, escalation.thread_id, None, f"e{escalation.id}")


def payload(escalation: Escalation) -> dict:
    """What a help desk receives about a new escalation (no internal notes, no assignee's notes)."""
    thread = escalation.thread
    return {
        "event": "escalation.opened", "escalation_id": escalation.id, "thread_id": thread.id,
        "title": thread.title, "url": mail.external_url("forum.view_thread", thread_id=thread.id),
        "reasons": escalation.reason_codes, "queue": escalation.queue, "priority": escalation.priority,
        "escalated_at": as_utc(escalation.escalated_at).isoformat(),
        "due_at": as_utc(escalation.due_at).isoformat(),
        "asker": {"id": thread.author_id, "name": thread.author.display_name},
    }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>" with the team's secret, hex: what a receiver checks."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def notify_note_mentions(note_id: int) -> None:
    """Tell the staff an internal note mentions (its rendered @name links), but its author, once per
    note. A member mentioned in a note hears nothing: notes are for staff."""
    from accounts import services as account_services
    from core import markup
    from forum import jobs as forum_jobs

    note = db.session.get(InternalNote, note_id)
    if note is None:
        return
    staff = [user.id for user in account_services.users_named(markup.mentioned(note.body_html))
             if user.role in STAFF_ROLES and user.id != note.author_id]
    forum_jobs.notify("note_mention", staff, note.thread_id, None, f"n{note.id}")


def announce_escalation(escalation_id: int) -> None:
    """Tell the escalation's team: staff notices (listed and mailed), the team's mailbox, and its
    webhook. The webhook is a job of its own so that its retries repeat nothing else."""
    from core import jobs
    from forum import jobs as forum_jobs

    escalation = db.session.get(Escalation, escalation_id)
    if escalation is None:
        return
    team = db.session.get(Team, escalation.team_id) if escalation.team_id else None
    if team is not None and team.webhook_url:
        exists = db.session.scalar(sa.select(WebhookDelivery.id).where(
            WebhookDelivery.team_id == team.id, WebhookDelivery.escalation_id == escalation.id))
        if exists is None:
            db.session.add(WebhookDelivery(team_id=team.id, escalation_id=escalation.id,
                                           url=team.webhook_url))
            db.session.flush()
            jobs.enqueue(deliver_webhook, team.id, escalation.id)
            db.session.commit()
    forum_jobs.notify("esc_new", team_member_ids(escalation.team_id), escalation.thread_id, None,
                      f"e{escalation.id}")
    if team is not None and team.notify_email:
        data = payload(escalation)
        to = team.notify_email
        end_transaction()
        mail.send(to, f"[{team.name}] New escalation: {data['title']}",
                  f"A thread needs staff ({', '.join(data['reasons'])}), due {data['due_at']}.\n\n"
                  f"{data['url']}\n")


def deliver_webhook(team_id: int, escalation_id: int) -> None:
    """POST the escalation to the team's webhook, signed. A failure raises, and the job queue tries
    again with back-off; each attempt is recorded for admins."""
    delivery = db.session.scalar(sa.select(WebhookDelivery).where(
        WebhookDelivery.team_id == team_id, WebhookDelivery.escalation_id == escalation_id))
    escalation = db.session.get(Escalation, escalation_id)
    team = db.session.get(Team, team_id)
    if delivery is None or escalation is None or team is None or delivery.status == "sent":
        return
    body = json.dumps(payload(escalation), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    if urllib.parse.urlsplit(delivery.url).scheme.lower() not in ("http", "https"):  # never file:
        _record_attempt(delivery.id, None, "the webhook URL is not http(s)")
        raise RuntimeError(f"webhook {delivery.url!r} is not http(s)")
    request = urllib.request.Request(delivery.url, data=body, method="POST", headers={  # noqa: S310
        "Content-Type": "application/json", "User-Agent": "Peerline-Webhook/1",
        "X-Peerline-Timestamp": timestamp, "X-Peerline-Event": "escalation.opened",
        "X-Peerline-Signature": "sha256=" + signature(team.webhook_secret, timestamp, body)})
    delivery_id = delivery.id
    end_transaction()  # no transaction stays open across the network call
    status, error = None, ""
    try:
        with _OPENER.open(request, timeout=WEBHOOK_TIMEOUT) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status, error = exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        error = str(getattr(exc, "reason", exc))[:500]
    ok = status is not None and 200 <= status < 300
    _record_attempt(delivery_id, status, "" if ok else error or f"HTTP {status}")
    if not ok:
        raise RuntimeError(f"webhook {delivery.url} for escalation {escalation_id} failed: {error or status}")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook answers where it was configured: a redirect is a failure, never followed."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _record_attempt(delivery_id: int, status: int | None, error: str) -> None:
    ok = not error
    db.session.execute(sa.update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(
        attempts=WebhookDelivery.attempts + 1, response_status=status, last_error=error[:500],
        last_attempt_at=clock.now(), status="sent" if ok else "failing"))
    db.session.commit()
