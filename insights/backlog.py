"""The backlog at many moments at once, for recomputing a range: one pass over the threads' state
changes instead of one over every thread asked so far for each day.

SQL replays each thread's history (window functions over its state events, its creation and its
first reply) into the moments it joined or left the backlog, in the category it had then, and
adds those steps up per category and quarter-hour; Python adds the quarter-hours up to each
moment. The figures are those of insights.measures' backlog at each moment (a test holds the two
to the same numbers); moments must fall on a quarter-hour, as the days of every time zone do.
"""

from bisect import bisect_left
from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa

from core.clock import as_utc
from core.extensions import db
from escalation.models import CategoryTeam, Escalation
from forum import history
from forum.models import Thread, ThreadEvent
from insights import measures
from insights.models import ALL, CATEGORY, STAFF, TEAM

BUCKET_S = 900
_CREATED, _REPLIED = "+created", "+replied"


def aligned(moment: datetime) -> bool:
    """Whether the sweep can measure at `moment` (a quarter-hour)."""
    return as_utc(moment).timestamp() % BUCKET_S == 0


def _bucket(column):
    """SQL: the quarter-hour (seconds since 1970 // 900) a stored time falls in, exactly."""
    if measures._dialect() == "sqlite":
        seconds = sa.cast(sa.func.strftime("%s", column), sa.BigInteger)
    else:
        seconds = sa.cast(sa.func.floor(sa.func.extract("epoch", column)), sa.BigInteger)
    return seconds // BUCKET_S


def _thread_steps():
    """SQL: (bucket, category, change of the open backlog, change of the unanswered backlog)."""
    counted = measures.counted_thread()
    no_category = sa.cast(sa.null(), sa.Integer)
    steps = sa.union_all(
        sa.select(ThreadEvent.thread_id.label("t"), ThreadEvent.at.label("at"), ThreadEvent.id.label("seq"),
                  ThreadEvent.kind.label("kind"), ThreadEvent.category_id.label("cat"))
        .join(Thread, Thread.id == ThreadEvent.thread_id)
        .where(counted, ThreadEvent.kind.in_(measures._STATE_KINDS + (history.MOVED,))),
        sa.select(Thread.id, Thread.created_at, sa.literal(0), sa.literal(_CREATED), no_category)
        .where(counted),
        sa.select(Thread.id, Thread.first_reply_at, sa.literal(0), sa.literal(_REPLIED), no_category)
        .where(counted, Thread.first_reply_at.is_not(None)),
    ).subquery()
    order = (steps.c.at, steps.c.seq)
    groups = {"acc": measures._ACCEPT_KINDS, "cls": measures._CLOSE_KINDS, "hid": measures._HIDE_KINDS,
              "del": measures._DELETE_KINDS, "mov": (history.MOVED,), "rep": (_REPLIED,)}
    # How many events of each group so far: a thread's state in a group is its latest such event.
    counts = sa.select(steps, *[
        sa.func.count(sa.case((steps.c.kind.in_(kinds), 1)))
        .over(partition_by=steps.c.t, order_by=order, rows=(None, 0)).label(f"n_{name}")
        for name, kinds in groups.items()]).subquery()
    order = (counts.c.at, counts.c.seq)

    def latest(name, column):
        return sa.func.first_value(column).over(partition_by=(counts.c.t, counts.c[f"n_{name}"]),
                                                order_by=order)

    moved = measures._MOVED
    original = sa.func.coalesce(
        sa.select(moved.from_category_id).where(moved.thread_id == counts.c.t, moved.kind == history.MOVED)
        .order_by(moved.at, moved.id).limit(1).correlate_except(moved).scalar_subquery(),
        sa.select(Thread.category_id).where(Thread.id == counts.c.t).correlate_except(Thread)
        .scalar_subquery())
    latest_kinds = sa.select(
        counts.c.t, counts.c.at, counts.c.seq, counts.c.n_acc, counts.c.n_cls, counts.c.n_hid, counts.c.n_del,
        counts.c.n_mov, counts.c.n_rep, latest("acc", counts.c.kind).label("k_acc"),
        latest("cls", counts.c.kind).label("k_cls"), latest("hid", counts.c.kind).label("k_hid"),
        latest("del", counts.c.kind).label("k_del"), latest("mov", counts.c.cat).label("k_cat"),
        original.label("original")).subquery()
    k = latest_kinds.c
    is_open = sa.and_(sa.or_(k.n_acc == 0, k.k_acc != history.ACCEPTED),
                      sa.or_(k.n_cls == 0, k.k_cls != history.CLOSED),
                      sa.or_(k.n_hid == 0, k.k_hid == history.UNHIDDEN),
                      sa.or_(k.n_del == 0, k.k_del != history.DELETED_EVENT))
    state = sa.select(
        k.t, k.at, k.seq, sa.case((is_open, 1), else_=0).label("open"),
        sa.case((sa.and_(is_open, k.n_rep == 0), 1), else_=0).label("quiet"),
        sa.case((k.n_mov == 0, k.original), else_=k.k_cat).label("cat")).subquery()
    order = (state.c.at, state.c.seq)
    before = sa.select(
        state.c.at, state.c.open, state.c.quiet, state.c.cat,
        sa.func.lag(state.c.open, 1, 0).over(partition_by=state.c.t, order_by=order).label("was_open"),
        sa.func.lag(state.c.quiet, 1, 0).over(partition_by=state.c.t, order_by=order).label("was_quiet"),
        sa.func.lag(state.c.cat).over(partition_by=state.c.t, order_by=order).label("was_cat")).subquery()
    c = before.c
    moved_away = sa.func.coalesce(c.was_cat, -1) != sa.func.coalesce(c.cat, -1)
    changes = sa.union_all(
        sa.select(c.at, c.was_cat.label("cat"),
                  (0 - sa.case((sa.or_(c.open == 0, moved_away), c.was_open), else_=0)).label("d_open"),
                  (0 - sa.case((sa.or_(c.quiet == 0, moved_away), c.was_quiet), else_=0)).label("d_quiet"))
        .where(c.was_open == 1),
        sa.select(c.at, c.cat,
                  sa.case((sa.or_(c.was_open == 0, moved_away), c.open), else_=0),
                  sa.case((sa.or_(c.was_quiet == 0, moved_away), c.quiet), else_=0))
        .where(c.open == 1),
    ).subquery()
    bucket = _bucket(changes.c.at).label("bucket")
    return (sa.select(bucket, changes.c.cat, sa.func.sum(changes.c.d_open), sa.func.sum(changes.c.d_quiet))
            .group_by(sa.literal_column("bucket"), changes.c.cat))


def _escalation_steps():
    """SQL: (bucket, category, team, assignee, change of the open escalations)."""
    category = measures.category_at(Escalation.thread_id, Escalation.escalated_at)
    keys = (category.label("cat"), measures._ESCALATION_TEAM.label("team"), measures._ASSIGNEE.label("who"))
    base = sa.select().select_from(Escalation).join(Thread, Thread.id == Escalation.thread_id) \
        .where(measures.counted_thread(unindexed=True))
    steps = sa.union_all(
        base.add_columns(Escalation.escalated_at.label("at"), *keys, sa.literal(1).label("d")),
        base.add_columns(Escalation.resolved_at, *keys, sa.literal(-1))
        .where(Escalation.resolved_at.is_not(None)),
    ).subquery()
    return (sa.select(_bucket(steps.c.at).label("bucket"), steps.c.cat, steps.c.team, steps.c.who,
                      sa.func.sum(steps.c.d))
            .group_by(sa.literal_column("bucket"), steps.c.cat, steps.c.team, steps.c.who))


class _Series:
    """Running totals per key: the sum of the steps in the quarter-hours before a moment."""

    def __init__(self):
        self.steps = defaultdict(lambda: defaultdict(lambda: [0, 0]))

    def add(self, key, bucket: int, *values) -> None:
        total = self.steps[key][bucket]
        for index, value in enumerate(values):
            total[index] += int(value or 0)

    def at(self, bucket_limit: int) -> dict:
        """{key: totals of the buckets before `bucket_limit`}."""
        found = {}
        for key, steps in self.prefix.items():
            buckets, totals = steps
            index = bisect_left(buckets, bucket_limit)
            if index:
                found[key] = totals[index - 1]
        return found

    def freeze(self) -> "_Series":
        self.prefix = {}
        for key, by_bucket in self.steps.items():
            buckets = sorted(by_bucket)
            running, totals = [0, 0], []
            for bucket in buckets:
                running = [running[0] + by_bucket[bucket][0], running[1] + by_bucket[bucket][1]]
                totals.append(tuple(running))
            self.prefix[key] = (buckets, totals)
        return self


def backlogs(moments: list[datetime],
             splits=(ALL, CATEGORY, TEAM, STAFF)) -> list[dict[str, dict[int, dict]]]:
    """For each moment (a quarter-hour), {split: {key: backlog_open, backlog_unanswered,
    backlog_escalations}}, the keys where any is above 0, as measures.compute would give them."""
    if measures._dialect() == "postgresql":
        db.session.execute(sa.text("SET LOCAL jit = off"))
    teams = dict(db.session.execute(sa.select(CategoryTeam.category_id, CategoryTeam.team_id)).all())
    threads, escalations = _Series(), _Series()
    for bucket, category, opened, quiet in db.session.execute(_thread_steps()):
        threads.add(category, bucket, opened, quiet)
    for bucket, category, team, who, change in db.session.execute(_escalation_steps()):
        escalations.add((category, team, who), bucket, change)
    threads.freeze()
    escalations.freeze()
    found = []
    for moment in moments:
        if not aligned(moment):
            raise ValueError(f"the backlog sweep measures at quarter-hours, not at {moment}")
        limit = int(as_utc(moment).timestamp()) // BUCKET_S
        result = {split: defaultdict(lambda: {"backlog_open": 0, "backlog_unanswered": 0,
                                              "backlog_escalations": 0}) for split in splits}
        for category, (opened, quiet) in threads.at(limit).items():
            for split, key in ((ALL, 0), (CATEGORY, category), (TEAM, teams.get(category, 0))):
                if split in result and opened:
                    result[split][key]["backlog_open"] += opened
                    result[split][key]["backlog_unanswered"] += quiet
        for (category, team, who), (count, _) in escalations.at(limit).items():
            for split, key in ((ALL, 0), (CATEGORY, category), (TEAM, team), (STAFF, who)):
                if split in result and count:
                    result[split][key]["backlog_escalations"] += count
        found.append({split: dict(rows) for split, rows in result.items()})
    return found
