"""The measures of METRICS.md over a range of days, computed in SQL that runs on SQLite and
PostgreSQL, overall or split by category, team or staff member.

Figures come from the thread history (thread_events) and the posts as they are now: an acceptance
counts in the period it happened when no other acceptance was in force, a thread counts in the
category it had when the event happened, and removed threads and replies count nowhere. Only the
last step of a percentile (interpolating between the two closest ranks SQL picked) and the shares
are done in Python, on one row per split.
"""

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace as _Bounds
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased

from accounts.models import STAFF_ROLES
from core import clock
from core.extensions import db
from escalation.models import CategoryTeam, Escalation
from forum import history
from forum.models import ANSWER, VISIBLE, AskFlow, Post, Thread, ThreadEvent
from insights.models import ALL, CATEGORY, PEER, SELF, STAFF, STAFF_SOLVED, TEAM, SatisfactionRating

# METRICS.md's names, in its order: every figure object has exactly these keys.
KEYS = (
    "period_start", "period_end", "threads_opened", "threads_solved", "threads_closed",
    "peer_resolution_share", "self_resolution_share", "staff_resolution_share", "peer_answer_share",
    "first_response_median_s", "first_response_p90_s", "staff_first_response_median_s",
    "staff_first_response_p90_s", "escalation_response_median_s", "escalation_response_p90_s",
    "sla_attainment", "sla_breaches", "time_to_resolution_median_s", "time_to_resolution_p90_s",
    "backlog_open", "backlog_unanswered", "backlog_escalations", "csat", "deflection_rate",
)
# Beside them, what the dashboard also shows: the counts behind the shares, and the satisfaction
# split by who solved the thread.
DETAIL_KEYS = (
    "threads_solved_peer", "threads_solved_self", "threads_solved_staff", "first_replies",
    "first_replies_peer", "staff_first_replies", "escalation_responses", "sla_met", "csat_ratings",
    "csat_peer", "csat_self", "csat_staff", "csat_closed", "deflection_flows",
)
COUNT_KEYS = ("threads_opened", "threads_solved", "threads_closed", "sla_breaches", "backlog_open",
              "backlog_unanswered", "backlog_escalations")

_ACCEPT_KINDS = (history.ACCEPTED, history.UNACCEPTED)
_CLOSE_KINDS = (history.CLOSED, history.REOPENED)
_HIDE_KINDS = (history.HELD_EVENT, history.HIDDEN_EVENT, history.SPAM_EVENT, history.UNHIDDEN)
_DELETE_KINDS = (history.DELETED_EVENT, history.RESTORED)
_STATE_KINDS = _ACCEPT_KINDS + _CLOSE_KINDS + _HIDE_KINDS + _DELETE_KINDS
_STAFF = sorted(STAFF_ROLES)
# Aliases made once: building them per statement cost more than running the statements.
_MOVED = aliased(ThreadEvent, name="moved")
_EARLIER = aliased(ThreadEvent, name="earlier")
_LATER = aliased(ThreadEvent, name="later")
_OTHER_THREAD = aliased(Thread, name="other_thread")


def site_zone() -> ZoneInfo:
    """The site's time zone (PEERLINE_TIMEZONE): periods are its calendar days and ISO weeks."""
    try:
        return ZoneInfo(current_app.config.get("PEERLINE_TIMEZONE") or "UTC")
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def day_start(day: date) -> datetime:
    """The moment `day` begins in the site's time zone."""
    return datetime.combine(day, time(), site_zone())


def as_site_time(moment: datetime) -> datetime:
    """A stored moment in the site's time zone."""
    return clock.as_utc(moment).astimezone(site_zone())


def today() -> date:
    """Today in the site's time zone."""
    return clock.now().astimezone(site_zone()).date()


@dataclass(frozen=True)
class Window:
    """A range of days (both included) as moments: [start, end), and `moment`, the end or now if
    sooner (what the backlog is measured at)."""

    first: date
    last: date

    # In UTC: SQLite compares stored UTC text, and a bound time in another zone loses its offset.
    @property
    def start(self) -> datetime:
        return day_start(self.first).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return day_start(self.last + timedelta(days=1)).astimezone(UTC)

    @property
    def moment(self) -> datetime:
        """The end, or now for a period not over: what happened at this very moment included."""
        return min(self.end, clock.now() + timedelta(microseconds=1))


# --- SQL pieces ---------------------------------------------------------------------------------------


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def seconds_between(earlier, later):
    """SQL: `later - earlier` in seconds, as a float, on either database."""
    if _dialect() == "sqlite":
        return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0
    return sa.func.extract("epoch", later - earlier)


def category_at(thread_id, at):
    """SQL: the category thread `thread_id` was in at moment `at`: where its last move before then
    took it, else where its first move took it from, else where it is (it never moved)."""
    moved = _MOVED
    last_move = (sa.select(moved.category_id)
                 .where(moved.thread_id == thread_id, moved.kind == history.MOVED, moved.at <= at)
                 .order_by(moved.at.desc(), moved.id.desc()).limit(1)
                 .correlate_except(moved).scalar_subquery())
    first_from = (sa.select(moved.from_category_id)
                  .where(moved.thread_id == thread_id, moved.kind == history.MOVED)
                  .order_by(moved.at, moved.id).limit(1).correlate_except(moved).scalar_subquery())
    if thread_id is Thread.id:
        current = Thread.category_id
    else:
        thread = _OTHER_THREAD
        current = sa.select(thread.category_id).where(thread.id == thread_id).correlate_except(thread) \
            .scalar_subquery()
    return sa.func.coalesce(last_move, first_from, current)


def team_of(category_id):
    """SQL: the team that answers `category_id` (0: no team)."""
    return sa.func.coalesce(
        sa.select(CategoryTeam.team_id).where(CategoryTeam.category_id == category_id)
        .correlate_except(CategoryTeam).scalar_subquery(), 0)


def _dim(split: str, category, staff=None, team=None):
    """SQL for the split key of a row: 0 overall; its category; its team (given, or the category's);
    its staff member (None: this measure is not split by staff)."""
    if split == ALL:
        return sa.literal(0)
    if split == CATEGORY:
        return category
    if split == TEAM:
        return team if team is not None else team_of(category)
    return staff


def _latest_kind(thread_id, kinds, before):
    """SQL: the kind of the thread's latest event among `kinds` before moment `before`."""
    event = _EARLIER
    return (sa.select(event.kind)
            .where(event.thread_id == thread_id, event.kind.in_(kinds), event.at < before)
            .order_by(event.at.desc(), event.id.desc()).limit(1).correlate_except(event).scalar_subquery())


_ASSIGNEE = sa.func.coalesce(Escalation.assignee_id, 0)  # 0: unassigned
_ESCALATION_TEAM = sa.func.coalesce(Escalation.team_id, 0)  # 0: no team


def _event_category(event):
    return sa.func.coalesce(event.category_id, Thread.category_id).label("category_id")


def counted_thread(unindexed: bool = False):
    """SQL: the thread counts (it is visible). `unindexed` keeps SQLite, which has no statistics,
    from starting at the state's index when a time range on another column should lead."""
    return (Thread.state + "" if unindexed else Thread.state) == VISIBLE


def _reply_post(post):
    """A post that is a reply now (METRICS.md): a visible answer (removed content counts nowhere)."""
    return sa.and_(post.kind == ANSWER, post.state == VISIBLE)


# --- the facts each measure is computed over -----------------------------------------------------


def acceptances(window: Window):
    """The acceptances that count in the window, with who solved it and how long it took: columns
    thread_id, category_id, resolver, staff_id, author_id, seconds. An acceptance counts when no
    other is in force; a thread solved, un-accepted and solved again within the window counts
    once, by its first."""
    event, previous = ThreadEvent, _EARLIER
    previous_kind = (
        sa.select(previous.kind)
        .where(previous.thread_id == event.thread_id, previous.kind.in_(_ACCEPT_KINDS),
               sa.or_(previous.at < event.at, sa.and_(previous.at == event.at, previous.id < event.id)))
        .order_by(previous.at.desc(), previous.id.desc()).limit(1)
        .correlate_except(previous).scalar_subquery())
    resolver = sa.case((Post.author_id == Thread.author_id, SELF),
                       (Post.author_role.in_(_STAFF), STAFF_SOLVED), else_=PEER)
    counted = (
        sa.select(event.thread_id, _event_category(event), resolver.label("resolver"),
                  sa.func.row_number().over(partition_by=event.thread_id, order_by=(event.at, event.id))
                  .label("nth"),
                  sa.case((Post.author_role.in_(_STAFF), Post.author_id)).label("staff_id"),
                  Post.author_id.label("author_id"),
                  seconds_between(Thread.created_at, event.at).label("seconds"))
        .select_from(event).join(Thread, Thread.id == event.thread_id).join(Post, Post.id == event.post_id)
        .where(event.kind == history.ACCEPTED, event.at >= window.start, event.at < window.end,
               counted_thread(unindexed=True), _reply_post(Post),
               sa.func.coalesce(previous_kind, "") != history.ACCEPTED)
        .subquery()
    )
    kept = [column for column in counted.c if column.name != "nth"]
    return sa.select(*kept).where(counted.c.nth == 1).subquery()


def _closes(window: Window):
    """Threads closed in the window: thread_id, category_id."""
    event = ThreadEvent
    return (
        sa.select(event.thread_id, _event_category(event))
        .select_from(event).join(Thread, Thread.id == event.thread_id)
        .where(event.kind == history.CLOSED, event.at >= window.start, event.at < window.end,
               counted_thread(unindexed=True))
    )


# --- computing --------------------------------------------------------------------------------------


def percentile_statement(facts, split_col, value_col):
    """SQL ranking `value_col` per `split_col` and picking the two neighbours of the median's and
    the 90th percentile's positions; `interpolate` finishes the job on its rows."""
    ranked = sa.select(
        split_col.label("dim"), value_col.label("v"),
        (sa.func.row_number().over(partition_by=split_col, order_by=value_col) - 1).label("i"),
        sa.func.count().over(partition_by=split_col).label("n"),
    ).subquery()
    columns = [ranked.c.dim, sa.func.max(ranked.c.n)]
    for pct in _PERCENTS:
        low = (ranked.c.n - 1) * pct // 100
        columns += [sa.func.max(sa.case((ranked.c.i == low, ranked.c.v))),
                    sa.func.max(sa.case((ranked.c.i == low + 1, ranked.c.v)))]
    return sa.select(*columns).group_by(ranked.c.dim)


_PERCENTS = (50, 90)


def interpolate(rows) -> dict:
    """{split key: (n, median, p90)} from percentile_statement's rows, by linear interpolation
    between the closest ranks (PostgreSQL's percentile_cont, numpy's default)."""
    found = {}
    for dim, n, *neighbours in rows:
        values = []
        for index, pct in enumerate(_PERCENTS):
            low, high = neighbours[2 * index:2 * index + 2]
            fraction = ((n - 1) * pct % 100) / 100
            value = float(low)
            if high is not None and fraction:
                value += fraction * (float(high) - value)
            values.append(round(value, 3))
        found[dim] = (n, *values)
    return found


def percentiles_of(facts, split_col, value_col, params: dict | None = None) -> dict:
    """{split key: (n, median, p90)} of `value_col` per `split_col`."""
    return interpolate(db.session.execute(percentile_statement(facts, split_col, value_col), params or {}))


def _share(part, whole):
    return part / whole if whole else None


# The statements of a split are built once per database kind, with the period's bounds as
# parameters: building SQLAlchemy expressions cost more than running them on a day's rows.
_BOUNDS = _Bounds(
    start=sa.bindparam("start", type_=sa.DateTime(timezone=True)),
    end=sa.bindparam("end", type_=sa.DateTime(timezone=True)),
    moment=sa.bindparam("moment", type_=sa.DateTime(timezone=True)),
)
_STALE = sa.bindparam("stale", type_=sa.DateTime(timezone=True))  # flows quiet since are over
GROUPED, PERCENTILES = "grouped", "percentiles"
# Counts add up: the overall, category and team splits of a count come from one statement grouped
# by category and team together. Percentiles and distinct counts do not: each split has its own.
MERGED = "merged"
_ADDITIVE_SPLITS = (ALL, CATEGORY, TEAM)


def compute(first: date, last: date, split: str = ALL) -> dict[int, dict]:
    """Every measure of METRICS.md over the days `first`..`last` (both included, the site's time
    zone), per split key (0 overall; else category, team or staff member ids, 0 for none).

    Each value is a flat dict with KEYS and DETAIL_KEYS; a split key appears when any measure has
    a row for it."""
    return compute_splits(first, last, (split,))[split]


def compute_splits(first: date, last: date, splits=(ALL, CATEGORY, TEAM, STAFF), *,
                   backlog: bool = True) -> dict[str, dict[int, dict]]:
    """compute() for several splits at once, sharing the statements they can share. Without
    `backlog`, the backlog is left out (insights.backlog sweeps it for many periods at once)."""
    from forum.askflows import IN_PROGRESS

    window = Window(first, last)
    dialect = _dialect()
    if dialect == "postgresql":
        # The JIT compiles these statements anew each time and made one 2.3x slower.
        db.session.execute(sa.text("SET LOCAL jit = off"))
    params = {"start": window.start, "end": window.end, "moment": window.moment,
              "stale": clock.now() - IN_PROGRESS}
    found: dict[str, dict[int, dict]] = {split: {} for split in splits}

    def keep_row(split, key, values):
        if key is not None:
            found[split].setdefault(int(key), {}).update(values)

    additive = [split for split in splits if split in _ADDITIVE_SPLITS]
    if additive:
        for statement, _kind, keep in _plan(MERGED, dialect, backlog):
            sums: dict[tuple, list] = {}
            for category, team, *counts in db.session.execute(statement, params):
                for split, key in ((ALL, 0), (CATEGORY, category), (TEAM, team)):
                    if split in additive and key is not None:
                        total = sums.setdefault((split, key), [0] * len(counts))
                        for index, count in enumerate(counts):
                            total[index] += count or 0
            for (split, key), counts in sums.items():
                keep_row(split, key, keep(*counts))
    for split in splits:
        for statement, kind, keep in _plan(split, dialect, backlog):
            result = db.session.execute(statement, params)
            rows = interpolate(result) if kind == PERCENTILES else {row[0]: tuple(row[1:]) for row in result}
            for key, values in rows.items():
                keep_row(split, key, keep(*values))
    for split, rows in found.items():
        for values in rows.values():
            _finish(values, window, split)
        if split == ALL and 0 not in rows:
            rows[0] = _finish({}, window)
    return found


def _keyed(split: str, category, *aggregates, staff=None, team=None):
    """SELECT the split key (for MERGED: the category and the team) and `aggregates`, grouped by
    the key; None when the measure has no such split (a staff member's, say)."""
    if split == MERGED:
        keys = [category.label("dim"), (team if team is not None else team_of(category)).label("team")]
    else:
        dim = _dim(split, category, staff=staff, team=team)
        if dim is None:
            return None
        keys = [dim.label("dim")]
    return sa.select(*keys, *aggregates).group_by(*[sa.literal_column(key.name) for key in keys])


@functools.lru_cache(maxsize=16)
def _plan(split: str, dialect: str, backlog: bool = True) -> tuple:
    """The statements of a split, each with how its rows are read (grouped counts, or percentiles)
    and the measures a row gives: (statement, kind, row values -> {measure: value}). MERGED has the
    additive counts of the overall, category and team splits; those splits have the rest."""
    b = _BOUNDS
    plan = []

    def add(statement, kind, keep, additive=False):
        wanted = split == STAFF or additive == (split == MERGED)
        if statement is not None and wanted:
            plan.append((statement, kind, keep))

    # Threads opened: in the category they were created in.
    add(_keyed(split, category_at(Thread.id, Thread.created_at), sa.func.count())
        .select_from(Thread)
        .where(counted_thread(), Thread.created_at >= b.start, Thread.created_at < b.end)
        if split != STAFF else None,
        GROUPED, lambda n: {"threads_opened": n}, additive=True)

    # Threads solved, who solved them, and how long it took.
    accepted = acceptances(b)
    add(_keyed(split, accepted.c.category_id, sa.func.count(),
               sa.func.count(sa.case((accepted.c.resolver == PEER, 1))),
               sa.func.count(sa.case((accepted.c.resolver == SELF, 1))),
               sa.func.count(sa.case((accepted.c.resolver == STAFF_SOLVED, 1))), staff=accepted.c.staff_id),
        GROUPED, lambda n, peer, own, staff: {"threads_solved": n, "threads_solved_peer": peer,
                                              "threads_solved_self": own, "threads_solved_staff": staff},
        additive=True)
    if split != MERGED:
        dim = _dim(split, accepted.c.category_id, staff=accepted.c.staff_id)
        add(percentile_statement(accepted, dim, accepted.c.seconds), PERCENTILES,
            lambda n, median, p90: {"time_to_resolution_median_s": median, "time_to_resolution_p90_s": p90})

    if split != STAFF:
        # Threads solved or closed: a thread both solved and closed counts once (not additive: a
        # thread moved between the two counts in both categories).
        ended = sa.union(sa.select(accepted.c.thread_id, accepted.c.category_id), _closes(b)).subquery()
        add(_keyed(split, ended.c.category_id, sa.func.count(sa.distinct(ended.c.thread_id))),
            GROUPED, lambda n: {"threads_closed": n})

        # First replies: who gave them and how long they took, in the category the thread had then.
        # The state test must not pick the index: on SQLite it would walk every visible thread.
        in_window = sa.and_(counted_thread(unindexed=True), Thread.first_reply_at >= b.start,
                            Thread.first_reply_at < b.end)
        category = category_at(Thread.id, Thread.first_reply_at)
        add(_keyed(split, category, sa.func.count(),
                   sa.func.count(sa.case((~Post.author_role.in_(_STAFF), 1))))
            .select_from(Thread).join(Post, Post.id == Thread.first_reply_post_id).where(in_window),
            GROUPED, lambda n, peers: {"first_replies": n, "first_replies_peer": peers}, additive=True)
        if split != MERGED:
            first = (sa.select(_dim(split, category).label("dim"),
                               seconds_between(Thread.created_at, Thread.first_reply_at).label("seconds"))
                     .where(in_window).subquery())
            add(percentile_statement(first, first.c.dim, first.c.seconds), PERCENTILES,
                lambda n, median, p90: {"first_response_median_s": median, "first_response_p90_s": p90})

    # First staff replies, per staff member by who wrote them.
    if split != MERGED:
        staff_first = (
            sa.select(_dim(split, category_at(Thread.id, Thread.first_staff_reply_at), staff=Post.author_id)
                      .label("dim"),
                      seconds_between(Thread.created_at, Thread.first_staff_reply_at).label("seconds"))
            .select_from(Thread).join(Post, Post.id == Thread.first_staff_reply_post_id)
            .where(counted_thread(unindexed=True), Thread.first_staff_reply_at >= b.start,
                   Thread.first_staff_reply_at < b.end)
            .subquery())
        add(percentile_statement(staff_first, staff_first.c.dim, staff_first.c.seconds), PERCENTILES,
            lambda n, median, p90: {"staff_first_replies": n, "staff_first_response_median_s": median,
                                    "staff_first_response_p90_s": p90})

    _escalation_measures(split, add)
    if backlog:
        _backlog(split, add)
    if split != STAFF:
        _satisfaction(split, add)
        _deflection(split, add)
    return tuple(plan)


def _escalation_measures(split: str, add) -> None:
    """Escalation response time (business seconds, as the escalation's policy counted them) and
    SLA attainment: of the escalations due in the window or first answered in it, the share
    answered by their due time; unanswered ones past due by the window's end are breaches."""
    b = _BOUNDS
    if split != MERGED:
        responder = sa.func.coalesce(
            sa.select(Post.author_id).where(Post.id == Escalation.first_response_post_id)
            .correlate_except(Post).scalar_subquery(),
            Escalation.assignee_id)
        responded = (
            sa.select(_dim(split, category_at(Escalation.thread_id, Escalation.first_response_at),
                           staff=responder, team=_ESCALATION_TEAM).label("dim"),
                      Escalation.response_business_s.label("seconds"))
            .select_from(Escalation).join(Thread, Thread.id == Escalation.thread_id)
            .where(counted_thread(unindexed=True), Escalation.first_response_at >= b.start,
                   Escalation.first_response_at < b.end, Escalation.response_business_s.is_not(None))
            .subquery())
        add(percentile_statement(responded, responded.c.dim, responded.c.seconds), PERCENTILES,
            lambda n, median, p90: {"escalation_responses": n, "escalation_response_median_s": median,
                                    "escalation_response_p90_s": p90})

    answered = Escalation.first_response_at.is_not(None)
    met = sa.and_(answered, Escalation.first_response_at <= Escalation.due_at)
    late = sa.and_(answered, Escalation.first_response_at > Escalation.due_at)
    # Unanswered and past due when the window ends, and not ended (resolved, handed back) in time.
    overdue = sa.and_(~answered, Escalation.due_at < b.moment,
                      sa.or_(Escalation.resolved_at.is_(None), Escalation.resolved_at > Escalation.due_at))
    in_window = sa.or_(sa.and_(Escalation.due_at >= b.start, Escalation.due_at < b.end),
                       sa.and_(Escalation.first_response_at >= b.start, Escalation.first_response_at < b.end))
    add(_keyed(split, category_at(Escalation.thread_id, Escalation.escalated_at),
               sa.func.count(sa.case((met, 1))), sa.func.count(sa.case((sa.or_(late, overdue), 1))),
               staff=_ASSIGNEE, team=_ESCALATION_TEAM)
        .select_from(Escalation).join(Thread, Thread.id == Escalation.thread_id)
        .where(counted_thread(unindexed=True), in_window),
        GROUPED, lambda met_n, breached: {"sla_met": met_n, "sla_breaches": breached}, additive=True)


def _backlog(split: str, add) -> None:
    """At the window's end (or now): the threads created by then and neither solved, closed,
    hidden nor deleted then, the unanswered among them, and the open escalations. A thread whose
    state has not changed since is judged by its columns; the others by their history."""
    moment = _BOUNDS.moment
    later = _LATER
    changed_since = (sa.select(later.id).where(later.thread_id == Thread.id, later.kind.in_(_STATE_KINDS),
                                               later.at >= moment).correlate_except(later).exists())
    open_now = sa.and_(Thread.accepted_post_id.is_(None), Thread.closed_at.is_(None), ~changed_since)
    open_then = sa.and_(
        changed_since,
        sa.func.coalesce(_latest_kind(Thread.id, _ACCEPT_KINDS, moment), "") != history.ACCEPTED,
        sa.func.coalesce(_latest_kind(Thread.id, _CLOSE_KINDS, moment), "") != history.CLOSED,
        sa.func.coalesce(_latest_kind(Thread.id, _HIDE_KINDS, moment), history.UNHIDDEN) == history.UNHIDDEN,
        sa.func.coalesce(_latest_kind(Thread.id, _DELETE_KINDS, moment), "") != history.DELETED_EVENT,
    )
    unanswered = sa.or_(Thread.first_reply_at.is_(None), Thread.first_reply_at >= moment)
    add(_keyed(split, category_at(Thread.id, moment), sa.func.count(),
               sa.func.count(sa.case((unanswered, 1))))
        .select_from(Thread)
        .where(counted_thread(), Thread.created_at < moment, sa.or_(open_now, open_then))
        if split != STAFF else None,
        GROUPED, lambda n, quiet: {"backlog_open": n, "backlog_unanswered": quiet}, additive=True)
    add(_keyed(split, category_at(Escalation.thread_id, Escalation.escalated_at), sa.func.count(),
               staff=_ASSIGNEE, team=_ESCALATION_TEAM)
        .select_from(Escalation).join(Thread, Thread.id == Escalation.thread_id)
        .where(counted_thread(unindexed=True), Escalation.escalated_at < moment,
               sa.or_(Escalation.resolved_at.is_(None), Escalation.resolved_at >= moment)),
        GROUPED, lambda n: {"backlog_escalations": n}, additive=True)


_RESOLVERS = ("peer", "self", "staff", "closed")


def _satisfaction(split: str, add) -> None:
    """Of the ratings given in the window, the share of 4 and 5, overall and by who solved it."""
    b, rating = _BOUNDS, SatisfactionRating
    good = rating.score >= 4
    columns = [sa.func.count(), sa.func.count(sa.case((good, 1)))]
    for resolver in _RESOLVERS:
        columns += [sa.func.count(sa.case((rating.resolver == resolver, 1))),
                    sa.func.count(sa.case((sa.and_(rating.resolver == resolver, good), 1)))]

    def keep(n, happy, *by):
        found = {"csat_ratings": n, "csat": _share(happy, n)}
        for index, resolver in enumerate(_RESOLVERS):
            found[f"csat_{resolver}"] = _share(by[2 * index + 1], by[2 * index])
        return found

    add(_keyed(split, rating.category_id, *columns)
        .select_from(rating).join(Thread, Thread.id == rating.thread_id)
        .where(counted_thread(unindexed=True), rating.score.is_not(None), rating.rated_at >= b.start,
               rating.rated_at < b.end),
        GROUPED, keep, additive=True)


def _deflection(split: str, add) -> None:
    """Of the ask flows whose first suggestion was opened in the window and that have ended, the
    share that ended without a question (forum.askflows: a flow with an event in the last hour may
    still end in one, and counts neither way yet)."""
    b = _BOUNDS
    in_progress = sa.and_(AskFlow.thread_id.is_(None), AskFlow.last_event_at > _STALE)
    add(_keyed(split, AskFlow.category_id, sa.func.count(), sa.func.count(AskFlow.thread_id))
        .select_from(AskFlow)
        .where(AskFlow.first_opened_at >= b.start, AskFlow.first_opened_at < b.end, ~in_progress),
        GROUPED, lambda n, posted: {"deflection_flows": n, "deflection_rate": _share(n - posted, n)},
        additive=True)


def empty(first: date, last: date, split: str = ALL) -> dict:
    """The figures of a period where nothing was measured."""
    return _finish({}, Window(first, last), split)


# What a staff member's figures hold: the replies, solutions and escalations that were theirs. The
# rest (threads opened, the backlog, satisfaction...) belongs to no one person and is None.
STAFF_KEYS = frozenset({
    "period_start", "period_end", "threads_solved", "staff_resolution_share", "staff_first_response_median_s",
    "staff_first_response_p90_s", "escalation_response_median_s", "escalation_response_p90_s",
    "sla_attainment", "sla_breaches", "time_to_resolution_median_s", "time_to_resolution_p90_s",
    "backlog_escalations", "threads_solved_staff", "staff_first_replies", "escalation_responses", "sla_met",
})


def _finish(values: dict, window: Window, split: str = ALL) -> dict:
    """Fill in the shares and the keys nothing measured (counts 0, the rest None), in KEYS order;
    for a staff member, None where a figure is nobody's in particular."""
    solved = values.get("threads_solved", 0)
    values["peer_resolution_share"] = _share(values.get("threads_solved_peer", 0), solved)
    values["self_resolution_share"] = _share(values.get("threads_solved_self", 0), solved)
    values["staff_resolution_share"] = _share(values.get("threads_solved_staff", 0), solved)
    values["peer_answer_share"] = _share(values.get("first_replies_peer", 0), values.get("first_replies", 0))
    met, breaches = values.get("sla_met", 0), values.get("sla_breaches", 0)
    values["sla_attainment"] = _share(met, met + breaches)
    values["period_start"], values["period_end"] = window.first.isoformat(), window.last.isoformat()
    for key in COUNT_KEYS + tuple(k for k in DETAIL_KEYS if not k.startswith("csat_") or k == "csat_ratings"):
        values.setdefault(key, 0)
    ordered = {key: values.get(key) for key in KEYS + DETAIL_KEYS
               if split != STAFF or key in STAFF_KEYS}
    ordered.update({key: None for key in KEYS + DETAIL_KEYS if key not in ordered})
    ordered = {key: ordered[key] for key in KEYS + DETAIL_KEYS}
    values.clear()
    values.update(ordered)
    return values
