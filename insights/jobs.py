"""Background jobs of insights: the roll-ups of today and of the periods that have ended, and the
weekly summary mail."""

import logging
from datetime import date, timedelta

import sqlalchemy as sa

from accounts.models import User
from core import clock, jobs, mail
from core.extensions import db, end_transaction
from insights import measures, rollup, summary
from insights.models import ALL, DAY, Snapshot, SummaryMail

log = logging.getLogger(__name__)


def roll_up_today() -> None:
    """Today's and this week's snapshots, so far (every few minutes)."""
    today = measures.today()
    rollup.roll_up_day(today)
    rollup.roll_up_week(rollup.week_start(today))


def roll_up_closed_periods() -> None:
    """Once a day: yesterday, the last whole week, and the dashboard's named ranges. Runs every
    hour and does the work only when yesterday's snapshot predates the end of yesterday, so a
    worker that was down catches up and a second run is a no-op."""
    today = measures.today()
    yesterday = today - timedelta(days=1)
    computed = db.session.scalar(sa.select(Snapshot.computed_at).where(
        Snapshot.period == DAY, Snapshot.period_start == yesterday, Snapshot.dimension == ALL))
    if computed is not None and measures.as_site_time(computed).date() >= today:
        return
    rollup.roll_up_day(yesterday)
    rollup.roll_up_week(rollup.week_start(today) - timedelta(days=7))
    rollup.roll_up_ranges(today)


def send_weekly_summary(monday_iso: str | None = None) -> None:
    """Queue the weekly summary of a closed ISO week, one mail job per recipient (admins and team
    leads), each recorded so that it is queued once. Without `monday_iso` (the hourly cron run):
    the last closed week, only if its summary was not queued yet, so it goes out once, on the
    Monday after. With it: that week's, to the recipients who have not had it. Raises ValueError
    for a week that has not ended."""
    today = measures.today()
    if monday_iso is None:
        monday = rollup.week_start(today) - timedelta(days=7)
        if db.session.scalar(sa.select(SummaryMail.id).where(SummaryMail.week_start == monday).limit(1)):
            return
    else:
        monday = rollup.week_start(date.fromisoformat(monday_iso))
        if monday + timedelta(days=7) > today:
            raise ValueError(f"the week of {monday} has not ended yet (today is {today})")
    done = set(db.session.scalars(sa.select(SummaryMail.user_id).where(SummaryMail.week_start == monday)))
    rows = [SummaryMail(week_start=monday, user_id=user_id) for user_id in summary.recipients()
            if user_id not in done]
    if not rows:
        return
    db.session.add_all(rows)
    try:
        db.session.flush()
    except sa.exc.IntegrityError:  # another run queued them meanwhile
        db.session.rollback()
        return
    for row in rows:
        jobs.enqueue(mail_weekly_summaries, [row.id], queue="mail")
    db.session.commit()


@jobs.batched
def mail_weekly_summaries(summary_mail_ids: list[int]) -> None:
    """Mail each queued weekly summary not mailed yet, recording each as mailed, so that a retry
    mails only the rest. One run takes the other waiting summary mails with it and builds each
    week's summary once. Nothing goes to someone no longer active, admin or team lead. Raises
    RuntimeError after trying every one if any could not be sent."""
    queued = db.session.execute(
        sa.select(SummaryMail.id, SummaryMail.week_start, User.email)
        .join(User, User.id == SummaryMail.user_id)
        .where(SummaryMail.id.in_(summary_mail_ids), SummaryMail.mailed_at.is_(None),
               SummaryMail.user_id.in_(summary.recipients()))
        .order_by(SummaryMail.week_start, SummaryMail.id)).all()
    built: dict[date, tuple] = {}
    for _row_id, monday, _to in queued:
        if monday not in built:
            built[monday] = summary.build_weekly_summary(monday)
    end_transaction()  # no transaction stays open across the network calls
    failed = []
    for row_id, monday, to in queued:
        subject, text, html, images = built[monday]
        try:
            mail.send(to, subject, text, html=html, inline_images=images)
        except Exception:
            log.warning("mailing weekly summary %s failed", row_id, exc_info=True)
            failed.append(row_id)
            continue
        db.session.execute(sa.update(SummaryMail).where(SummaryMail.id == row_id)
                           .values(mailed_at=clock.now()))
        db.session.commit()
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(queued)} weekly summaries could not be mailed: "
                           f"{failed[:20]}")
