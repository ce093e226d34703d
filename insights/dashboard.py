"""What the staff dashboard shows for a period: the headline figures beside the previous period's,
the trends by day or week, the breakdowns by category, team and staff member, and the breached
escalations; all read from the snapshots (computed and stored once when a period has none)."""

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from accounts.models import User
from core.errors import Invalid
from core.extensions import db
from escalation.models import Escalation, Policy, Team
from forum.models import Category, Thread
from insights import measures, rollup
from insights.models import ALL, CATEGORY, STAFF, TEAM

PRESETS = {"7d": "Last 7 days", "30d": "Last 30 days", "90d": "Last 90 days",
           "last-week": "Last week", "last-month": "Last month"}
DEFAULT_PRESET = "30d"
CUSTOM = "custom"
MAX_DAYS = 3653  # ten years
MAX_DAILY_POINTS = 92  # longer periods trend by week
MISSING_LIMIT = 40  # days or weeks without a snapshot computed on a page view; beyond, a gap

# The headline cards: which figure, its label, and whether a rise is good news.
CARDS = (
    ("peer_resolution_share", "Solved by peers", True),
    ("staff_first_response_median_s", "Staff first response, median", False),
    ("staff_first_response_p90_s", "Staff first response, p90", False),
    ("sla_attainment", "SLA attainment", True),
    ("backlog_open", "Backlog (open threads)", False),
    ("deflection_rate", "Deflection", True),
)
BREAKDOWN_COLUMNS = (
    ("threads_opened", "Opened"), ("threads_solved", "Solved"), ("peer_resolution_share", "By peers"),
    ("first_response_median_s", "First response (median)"),
    ("staff_first_response_median_s", "Staff first response (median)"),
    ("sla_attainment", "SLA met"), ("sla_breaches", "Breaches"), ("backlog_open", "Backlog"),
    ("backlog_escalations", "Open escalations"), ("csat", "Satisfaction"), ("deflection_rate", "Deflection"),
)
STAFF_COLUMNS = (
    ("staff_first_replies", "First staff replies"),
    ("staff_first_response_median_s", "Staff first response (median)"),
    ("threads_solved", "Solved by them"), ("escalation_responses", "Escalations answered"),
    ("escalation_response_median_s", "Escalation response (median)"), ("sla_attainment", "SLA met"),
    ("sla_breaches", "Breaches"), ("backlog_escalations", "Open escalations now held"),
)


@dataclass(frozen=True)
class Period:
    key: str  # a preset's key, or "custom"
    first: date
    last: date
    label: str

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def previous(self) -> tuple[date, date]:
        return rollup.previous(self.first, self.last)

    @property
    def query(self) -> dict:
        """The URL arguments that name this period."""
        if self.key == CUSTOM:
            return {"period": CUSTOM, "from": self.first.isoformat(), "to": self.last.isoformat()}
        return {"period": self.key}


def parse_period(args) -> Period:
    """The period a request asks for: a preset (default: the last 30 days) or a custom range.
    Raises Invalid for an unknown preset, dates that do not parse, a range that ends before it
    starts, or one longer than ten years."""
    key = (args.get("period") or DEFAULT_PRESET).strip()
    today = measures.today()
    if key in PRESETS:
        first, last = rollup.named_ranges(today)[key]
        return Period(key, first, last, PRESETS[key])
    if key != CUSTOM:
        raise Invalid(f"Choose one of the periods offered, not {key[:40]!r}.", field="period")
    days = []
    for name, label in (("from", "start"), ("to", "end")):
        value = (args.get(name) or "").strip()
        try:
            days.append(date.fromisoformat(value))
        except ValueError:
            raise Invalid(f"The {label} date {value[:40]!r} is not a date: write it as YYYY-MM-DD.",
                          field=name) from None
    first, last = days
    if last < first:
        raise Invalid(f"The range ends ({last}) before it starts ({first}).", field="to")
    if (last - first).days + 1 > MAX_DAYS:
        raise Invalid("Choose a range of ten years or less.", field="from")
    return Period(CUSTOM, first, last, f"{first:%d %b %Y} to {last:%d %b %Y}")


def figures(first: date, last: date, split: str = ALL) -> dict[int, dict]:
    """The measures of a period per split key, from its snapshot; a period that has none is
    computed, and stored when it has ended. A period that takes in today is computed each time:
    today's snapshot can be minutes old, and a person who just solved a thread looks for it."""
    if last >= measures.today():
        return measures.compute(first, last, split)
    found = rollup.find(first, last, split)
    if found is not None:
        return found
    if last < measures.today():
        rollup.store(rollup.period_kind(first, last), first, last)
        return rollup.find(first, last, split) or {}
    return measures.compute(first, last, split)


def headline(period: Period) -> dict:
    """The figures of the period and of the one before, with the cards' changes."""
    current = figures(period.first, period.last).get(0) or measures.empty(period.first, period.last)
    earlier = figures(*period.previous).get(0) or measures.empty(*period.previous)
    cards = []
    for key, label, rise_is_good in CARDS:
        now, before = current.get(key), earlier.get(key)
        change = None if now is None or before is None else now - before
        good = None if not change else (change > 0) == rise_is_good
        cards.append({"key": key, "label": label, "value": now, "previous": before, "change": change,
                      "good": good})
    return {"current": current, "previous": earlier, "cards": cards}


def trend(period: Period, by: str) -> list[dict]:
    """The overall figures of each day (or ISO week) of the period, oldest first. Days or weeks
    without a snapshot are computed (not stored: the roll-up jobs own them), up to MISSING_LIMIT;
    the rest are left as gaps (None)."""
    if by == "day":
        starts = [period.first + timedelta(days=n) for n in range(period.days)]
        spans = [(day, day) for day in starts]
        kind = "day"
    else:
        monday = rollup.week_start(period.first)
        spans = []
        while monday <= period.last:
            spans.append((monday, monday + timedelta(days=6)))
            monday += timedelta(days=7)
        kind = "week"
    stored = rollup.stored_series(kind, spans[0][0], spans[-1][1]) if spans else {}
    rows, computed = [], 0
    today = measures.today()
    for first, last in spans:
        values = stored.get(first) if last < today else None  # today's, and this week's, fresh
        if values is None and computed < MISSING_LIMIT:
            values = measures.compute(first, last, ALL)[0]
            computed += 1
        rows.append({"first": first, "last": last, "values": values})
    return rows


def breakdown(period: Period, split: str) -> list[dict]:
    """One row per category, team or staff member with figures in the period, named, largest first."""
    found = figures(period.first, period.last, split)
    names = _names(split, [key for key in found if key])
    rows = []
    for key, values in found.items():
        if split == CATEGORY and key == 0:
            continue
        fallback = {TEAM: "No team", STAFF: "Unassigned"}.get(split) if key == 0 else f"#{key}"
        name = names.get(key) or fallback
        rows.append({"id": key, "name": name, "values": values})
    order = "staff_first_replies" if split == STAFF else "threads_opened"
    rows.sort(key=lambda row: (-(row["values"].get(order) or 0), row["name"].lower()))
    return rows


def _names(split: str, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    if split == CATEGORY:
        statement = sa.select(Category.id, Category.name).where(Category.id.in_(ids))
    elif split == TEAM:
        statement = sa.select(Team.id, Team.name).where(Team.id.in_(ids))
    else:
        name = sa.func.coalesce(sa.func.nullif(User.display_name, ""), User.username)
        statement = sa.select(User.id, name).where(User.id.in_(ids))
    return dict(db.session.execute(statement).all())


def breached_escalations(period: Period, limit: int = 50) -> list[dict]:
    """The escalations due in the period that missed their due time: answered late, or still
    unanswered after it (when the period ended, or now). Newest due first."""
    window = measures.Window(period.first, period.last)
    answered = Escalation.first_response_at.is_not(None)
    late = sa.and_(answered, Escalation.first_response_at > Escalation.due_at)
    overdue = sa.and_(Escalation.first_response_at.is_(None), Escalation.due_at < window.moment,
                      sa.or_(Escalation.resolved_at.is_(None), Escalation.resolved_at > Escalation.due_at))
    rows = db.session.execute(
        sa.select(Escalation, Thread.title, Team.name, User)
        .join(Thread, Thread.id == Escalation.thread_id)
        .outerjoin(Team, Team.id == Escalation.team_id)
        .outerjoin(User, User.id == Escalation.assignee_id)
        .where(measures.counted_thread(unindexed=True), Escalation.due_at >= window.start,
               Escalation.due_at < window.end, sa.or_(late, overdue))
        .order_by(Escalation.due_at.desc()).limit(limit)
    ).all()
    return [{"escalation": e, "title": title, "team": team or "No team",
             "assignee": assignee.display_name if assignee else None} for e, title, team, assignee in rows]


def sla_target_s() -> int | None:
    """The site default's staff response target (seconds, business time), drawn on the charts."""
    return db.session.scalar(sa.select(Policy.target_s).where(Policy.category_id.is_(None)))
