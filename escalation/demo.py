"""The demo desk: two teams of the demo community's staff, response policies on its categories, canned
replies, and the escalations the demo's history would have made, open and ended, so that the desk
works out of the box (one overdue, one urgent, one assigned, one acknowledged). `flask demo load`
loads it after the community and its knowledge base.

Every escalation is written at the moment it would have happened, through the same services the
rules use (the clock is moved to each moment), so its thread's history, the audit log, the sweep
and the deadline check agree with it: the sweep and the check find nothing to do right after.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from accounts.models import STAFF_ROLES, User
from core import clock, jobs
from core.clock import as_utc
from core.errors import Invalid
from core.extensions import db
from escalation import canned, rules, services
from escalation.hours import Calendar
from escalation.models import (
    ANSWERED,
    HANDED_BACK,
    OPEN,
    SOLVED,
    UNANSWERED,
    URGENT,
    CannedReply,
    CategoryTeam,
    DeskProfile,
    Escalation,
    PeerCall,
    Policy,
    Team,
)
from forum.demo import DEMO_EMAIL_DOMAIN
from forum.demo import _post as demo_post
from forum.models import ANSWER, Category, Post, Subscription, Thread
from forum.services import refresh_thread_stats


@dataclass(frozen=True)
class TeamSpec:
    slug: str
    name: str
    members: tuple[str, ...]
    categories: tuple[str, ...]
    auto_assign: bool
    peer_window_s: int
    target_s: int
    urgent_target_s: int
    calendar: dict
    urgent_terms: str


TEAMS = (
    # Billing works office hours in Berlin, without German public holidays; its staff claim from the queue.
    TeamSpec("billing", "Billing", ("maren_tb", "priya_community"),
             ("getting-started", "mobile-apps", "invoicing-payments", "tax-reports"), auto_assign=False,
             peer_window_s=4 * 3600, target_s=3600, urgent_target_s=15 * 60,
             calendar=Calendar.build(timezone="Europe/Berlin", workdays=(0, 1, 2, 3, 4), opens="09:00",
                                     closes="18:00", holiday_country="DE").to_json(),
             urgent_terms="charged twice, double charge, outage, cannot pay, locked out"),
    # Integrations is on call around the clock (a broken webhook does not wait for Monday); the
    # system hands each escalation to the least-loaded member.
    TeamSpec("integrations", "Integrations", ("devon.tallybird", "maren_tb"),
             ("integrations-api", "bank-feeds"), auto_assign=True,
             peer_window_s=3 * 3600, target_s=2 * 3600, urgent_target_s=30 * 60,
             calendar=Calendar.build(timezone="UTC", around_the_clock=True).to_json(),
             urgent_terms="outage, data loss, security, leaked, api key"),
)

# Desk settings: (cap, schedule). Priya runs the community and gives the desk two afternoons a week.
PEOPLE = {"maren_tb": (12, ""), "devon.tallybird": (8, ""), "priya_community": (4, "Tue and Thu 14:00-17:00")}

ACKNOWLEDGEMENT = "We are looking into this"
# (title, body, is acknowledgement, times used). A reply naming an article the knowledge base does
# not have (it was not loaded) is left out.
CANNED = (
    (ACKNOWLEDGEMENT,
     "Thanks for flagging this, {asker}. We are looking into this and will post an update here as soon "
     "as we know more.\n\n{staff}, Tallybird support", True, 36),
    ("Ask for the details we need",
     "Hi {asker}, to look into this we need a little more: which app or browser you use, roughly when it "
     "last worked, and the invoice or transaction number it happens with. Please don't post account "
     "numbers here: if we need them, we'll move to a private conversation.", False, 21),
    ("Webhook signatures",
     "Hi {asker}, the signature is an HMAC-SHA256 of the raw request body, before any JSON parsing, with "
     "the webhook's signing secret. Our step-by-step guide, with a Flask example: "
     "{article:verify-webhook-signatures}", False, 9),
    ("Locked out by two-factor",
     "Sorry about the phone, {asker}. Here is how to get back in with a recovery code, or through us "
     "if you have none: {article:lost-your-two-factor-device}", False, 5),
)

# The demo threads that staff took, by title: why, and what happened since.
#   handed_back: escalated as unanswered, later handed back to the community by its holder;
#   overdue: escalated as unanswered, nobody has answered since;
#   claimed: escalated as unanswered, claimed by a member of its team a few minutes later;
#   acknowledged: escalated as unanswered, acknowledged with the canned reply by the person named;
#   urgent: escalated at once as urgent, waiting;
#   urgent_answered: escalated at once as urgent, answered by staff (then solved, or resolved).
STORIES = (
    ("Can a Harbour CRM deal moving to 'Won' create a draft invoice in Tallybird?", "handed_back",
     "A feature request: peers who built this with Harbour's automations can share how."),
    ("Can the customer payment page use our own domain?", "handed_back",
     "Custom domains are on the roadmap; peers who put a proxy in front can share their set-up."),
    ("Paywave payouts haven't reached my bank for five days", "urgent_answered", ""),
    ("Show a different bank account on invoices depending on currency?", "overdue", ""),
    ("Lost my phone and I'm locked out by two-factor. Invoices need to go out today", "urgent_answered", ""),
    ("Our API key was pushed to a public GitHub repo. What do we do right now?", "urgent_answered",
     "Key revoked and rotated with the customer; nothing was read with it."),
    ("Charged twice for my Pro plan renewal", "urgent_answered", "The duplicate charge was refunded."),
    ("Cash-basis VAT return leaves out a part-paid invoice once a credit note is applied", "claimed",
     "maren_tb"),
    ("Do bank rules apply to transactions that were already imported?", "overdue", ""),
    ("invoice.paid webhook arrives before the payment is visible through the API", "overdue", ""),
    ("iPad app: workspace switcher missing in Split View", "acknowledged", "priya_community"),
    ("Payment links say 'This invoice can't be paid online' since this morning", "urgent", ""),
)


def is_empty() -> bool:
    """No team, policy, canned reply or escalation yet: nothing an admin or the rules made."""
    return all(db.session.scalar(sa.select(model.id).limit(1)) is None
               for model in (Team, Policy, CannedReply, Escalation))


def _demo_people() -> dict[str, User]:
    return {u.username: u for u in db.session.scalars(
        sa.select(User).where(User.email.like(f"%@{DEMO_EMAIL_DOMAIN}")))}


def load_with_community(if_empty: bool) -> str:
    """The `flask demo load` extension: the desk, when the demo community is there and nothing of the
    desk is set up. Raises RuntimeError when loaded already (unless `if_empty`)."""
    if not is_empty():
        if if_empty:
            return "The escalation desk is set up already; the demo desk is not loaded."
        raise RuntimeError("the demo escalation desk is loaded already")
    people = _demo_people()
    if not any(user.role in STAFF_ROLES for user in people.values()):
        return "This forum is not the demo community, so the demo escalation desk is not loaded."
    counts = load()
    return (f"Loaded the demo escalation desk: {counts['teams']} teams, {counts['open']} open escalations "
            f"({counts['overdue']} overdue), {counts['ended']} ended, {counts['canned']} canned replies.")


@contextmanager
def _at(moment: datetime) -> Iterator[None]:
    """Run a block as if it were `moment` (the defaults of the rows it adds too: it flushes them)."""
    with clock.moved(seconds=(as_utc(moment) - clock.now()).total_seconds()):
        yield
        db.session.flush()


def load() -> dict[str, int]:
    """Write the demo desk in one transaction. Raises RuntimeError without the demo community or when
    the desk is set up already."""
    people = _demo_people()
    if not people:
        raise RuntimeError("load the demo community first: its staff work the desk")
    if not is_empty():
        raise RuntimeError("the demo escalation desk is loaded already")
    now = clock.now()
    categories = {c.slug: c for c in db.session.scalars(sa.select(Category))}
    teams = _teams(people, categories, now)
    replies = _canned(people, now)
    threads = {t.title: t for t in db.session.scalars(
        sa.select(Thread).where(Thread.title.in_([title for title, _, _ in STORIES]),
                                Thread.author_id.in_([p.id for p in people.values()])))}
    made: list[Escalation] = []
    stories = sorted((s for s in STORIES if s[0] in threads),
                     key=lambda s: _escalated_at(threads[s[0]], s[1]))
    for title, story, detail in stories:
        escalation = _tell(threads[title], story, detail, people, replies, now)
        if escalation is not None:
            made.append(escalation)
    _forget_announcements(made)
    db.session.commit()
    open_ones = [e for e in made if e.state == OPEN]
    return {"teams": len(teams), "canned": len(replies), "open": len(open_ones),
            "ended": len(made) - len(open_ones),
            "overdue": sum(e.first_response_at is None and as_utc(e.due_at) < now for e in open_ones)}


def _teams(people: dict[str, User], categories: dict[str, Category], now: datetime) -> list[Team]:
    made = []
    with _at(now - timedelta(days=60)):  # the desk was set up before the history it shows
        for spec in TEAMS:
            team = Team(slug=spec.slug, name=spec.name, auto_assign=spec.auto_assign,
                        members=[people[name] for name in spec.members if name in people])
            db.session.add(team)
            db.session.flush()
            for slug in spec.categories:
                if slug in categories:
                    db.session.add(CategoryTeam(category_id=categories[slug].id, team_id=team.id))
                    db.session.add(Policy(
                        category_id=categories[slug].id, peer_window_s=spec.peer_window_s,
                        target_s=spec.target_s, urgent_target_s=spec.urgent_target_s,
                        calendar=dict(spec.calendar), urgent_terms=spec.urgent_terms))
            made.append(team)
        for name, (cap, schedule) in PEOPLE.items():
            if name in people:
                db.session.add(DeskProfile(user_id=people[name].id, available=True, cap=cap,
                                           schedule=schedule))
    return made


def _canned(people: dict[str, User], now: datetime) -> dict[str, CannedReply]:
    author = people.get("priya_community") or next(u for u in people.values() if u.role in STAFF_ROLES)
    made = {}
    with _at(now - timedelta(days=45)):
        for title, body, acknowledgement, uses in CANNED:
            try:
                canned.check_placeholders(body)
            except Invalid:  # its article is not in this knowledge base
                continue
            made[title] = CannedReply(title=title, body=body, is_acknowledgement=acknowledgement,
                                      use_count=uses, created_by_id=author.id, updated_at=clock.now())
            db.session.add(made[title])
    return made


def _policy_of(thread: Thread) -> Policy:
    return services.policy_for(thread.category_id)


def _escalated_at(thread: Thread, story: str) -> datetime:
    """Urgent threads go to staff when they are asked; the others when their peer window ends."""
    created = as_utc(thread.created_at)
    if story.startswith("urgent"):
        return created
    return created + timedelta(seconds=_policy_of(thread).peer_window_s)


def _tell(thread: Thread, story: str, detail: str, people: dict[str, User],
          replies: dict[str, CannedReply], now: datetime) -> Escalation | None:
    """One thread's escalation, from its opening to where it stands now."""
    escalated = _escalated_at(thread, story)
    reason = URGENT if story.startswith("urgent") else UNANSWERED
    first_reply = as_utc(thread.first_reply_at)
    if escalated >= now or (reason == UNANSWERED and first_reply is not None and first_reply <= escalated):
        return None  # this forum's history went otherwise
    if reason == UNANSWERED:
        _peer_call(thread, as_utc(thread.created_at)
                   + timedelta(seconds=_policy_of(thread).peer_window_s * rules.PEER_CALL_SHARE))
    note = (thread.urgent_reason or "Marked urgent by the asker.") if reason == URGENT else ""
    with _at(escalated):
        escalation = services.escalate(thread, reason, note=note, at=escalated)
    if escalation is None:
        return None
    if story == "handed_back":
        holder = escalation.assignee or _staff_of(escalation, people)
        with _at(min(escalated + timedelta(hours=2, minutes=10), now - timedelta(minutes=1))):
            services._end(escalation, HANDED_BACK, holder, detail)
    elif story == "claimed" and detail in people and escalation.assignee_id is None:
        with _at(min(escalated + timedelta(minutes=7), now - timedelta(minutes=1))):
            services._set_assignee(escalation, people[detail].id, None, by=people[detail], action="claimed",
                                   now=clock.now())
    elif story == "acknowledged" and detail in people and ACKNOWLEDGEMENT in replies:
        _acknowledge(escalation, thread, people[detail], replies[ACKNOWLEDGEMENT],
                     min(escalated + timedelta(minutes=25), now - timedelta(minutes=2)))
    elif story == "urgent_answered":
        _answered(escalation, thread, detail, now)
    _deadlines(escalation, thread, now)
    return escalation


def _staff_of(escalation: Escalation, people: dict[str, User]) -> User | None:
    team = db.session.get(Team, escalation.team_id) if escalation.team_id else None
    members = [m for m in (team.members if team else []) if m.role in STAFF_ROLES]
    return members[-1] if members else next((u for u in people.values() if u.role in STAFF_ROLES), None)


def _peer_call(thread: Thread, at: datetime) -> None:
    """Peers were asked before staff stepped in (without sending the notices again now)."""
    if db.session.get(PeerCall, thread.id) is None:
        db.session.add(PeerCall(thread_id=thread.id, called_at=at,
                                advocates=len(rules.best_advocates(thread))))


def _acknowledge(escalation: Escalation, thread: Thread, staff: User, reply: CannedReply,
                 at: datetime) -> None:
    """The canned acknowledgement as a public staff post: the thread's first reply, which stops the clock."""
    with _at(at):
        post = demo_post(thread, staff, ANSWER, canned.fill(reply, thread, staff), at)
        db.session.add(post)
        db.session.flush()
        refresh_thread_stats(thread, backfill=True)  # the first (staff) reply, in the history at its time
        if db.session.scalar(sa.select(Subscription.id).where(
                Subscription.thread_id == thread.id, Subscription.user_id == staff.id)) is None:
            db.session.add(Subscription(thread_id=thread.id, user_id=staff.id))
        escalation.acknowledged_at = at
        services.stop_clock(escalation, post)


def _answered(escalation: Escalation, thread: Thread, note: str, now: datetime) -> None:
    """An urgent thread staff answered: the first staff post after escalation stopped the clock; the
    escalation ended when the asker accepted an answer, or when its holder resolved it."""
    post = db.session.scalar(
        sa.select(Post).where(Post.thread_id == thread.id, Post.kind == ANSWER,
                              Post.author_role.in_(sorted(STAFF_ROLES)),
                              Post.created_at >= escalation.escalated_at)
        .order_by(Post.created_at, Post.id).limit(1))
    if post is None:
        return
    services.stop_clock(escalation, post)
    if thread.accepted_post_id is not None and thread.solved_at is not None:
        accepter = db.session.get(User, thread.accepted_by_id) if thread.accepted_by_id else None
        with _at(max(as_utc(thread.solved_at), as_utc(post.created_at))):
            services._end(escalation, SOLVED, accepter)
    else:
        with _at(min(as_utc(post.created_at) + timedelta(hours=1), now - timedelta(minutes=1))):
            services._end(escalation, ANSWERED, post.author, note)


def _deadlines(escalation: Escalation, thread: Thread, now: datetime) -> None:
    """What the deadline check (every minute) would have done while the escalation waited: the 80%
    warning at its time, and the breach at the due time, in the history and the audit log."""
    waited_until = min(as_utc(t) for t in (now, escalation.first_response_at, escalation.resolved_at) if t)
    warn, due = as_utc(escalation.warn_at), as_utc(escalation.due_at)
    if escalation.warned_at is None and warn <= waited_until:
        escalation.warned_at = warn
    if escalation.breached_at is None and due <= waited_until:
        with _at(due):
            escalation.breached_at = due
            services.history.record(thread, services.BREACHED, None, at=due)
            services.audit.record(None, "escalation-breach", services.ESCALATION, escalation.id,
                                  after={"due_at": due.isoformat()})


def _forget_announcements(made: list[Escalation]) -> None:
    """These escalations were announced to their teams when they opened, in the demo's past: their
    announcement jobs are not run again now."""
    from escalation import jobs as escalation_jobs

    if made:
        db.session.execute(
            sa.delete(jobs.JobRecord).where(
                jobs.JobRecord.func == jobs.function_path(escalation_jobs.announce_escalation),
                jobs.JobRecord.status == jobs.PENDING,
                jobs.JobRecord.args.in_([json.dumps([e.id]) for e in made]))
            .execution_options(synchronize_session=False))
