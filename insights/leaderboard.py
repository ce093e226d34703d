"""The advocate leaderboard: per advocate and member, in a period, the answers they gave, the
accepted answers that solved threads, their acceptance rate and how fast they answer; and whether
the public may see it (an admin's choice)."""

import sqlalchemy as sa

from accounts.models import STAFF_ROLES, User
from core import pagecache
from core.extensions import db
from forum.models import Post, Thread
from insights import measures
from insights.models import PEER, InsightSetting

PUBLIC_LEADERBOARD = "public_leaderboard"
LIMIT = 50


def is_public() -> bool:
    """Whether an admin has opened the leaderboard to everyone (it is staff-only otherwise)."""
    setting = db.session.get(InsightSetting, PUBLIC_LEADERBOARD)
    return bool(setting and setting.value)


def set_public(actor, public: bool) -> None:
    """Open the leaderboard to everyone, or keep it for staff. Raises Forbidden for non-admins."""
    from accounts import audit
    from accounts.permissions import is_admin
    from core.errors import Forbidden

    if not is_admin(actor):
        raise Forbidden("Only admins choose who sees the leaderboard.")
    before = is_public()
    setting = db.session.get(InsightSetting, PUBLIC_LEADERBOARD) or InsightSetting(name=PUBLIC_LEADERBOARD)
    setting.value = bool(public)
    db.session.add(setting)
    audit.record(actor, "leaderboard_visibility", "setting", 0, before={"public": before},
                 after={"public": bool(public)})
    pagecache.bump_version()  # the lists' sidebar links to it, or stops linking
    db.session.commit()


def is_public_memoized() -> bool:
    """is_public(), kept as the page cache keeps list counts: every list page asks."""
    return pagecache.memoized(PUBLIC_LEADERBOARD, is_public)


def leaders(first, last, limit: int = LIMIT) -> list[dict]:
    """The members and advocates who answered or solved threads in the period, most accepted
    answers first: answers given, accepted answers (threads they solved in the period, as
    METRICS.md counts solved threads), the share of the answers they gave in the period that are
    accepted now, and the median time from a question to their first answer in it."""
    window = measures.Window(first, last)
    not_staff = ~Post.author_role.in_(sorted(STAFF_ROLES))
    answers = (
        sa.select(Post.author_id, Post.thread_id, sa.func.min(Post.created_at).label("first_at"),
                  sa.func.count().label("n"),
                  sa.func.count(sa.case((Thread.accepted_post_id == Post.id, 1))).label("accepted_now"),
                  sa.func.min(Thread.created_at).label("asked_at"))
        .join(Thread, Thread.id == Post.thread_id)
        .where(Post.kind == "answer", Post.state == "visible", Thread.state == "visible",
               Post.author_id != Thread.author_id, not_staff,
               Post.created_at >= window.start, Post.created_at < window.end)
        .group_by(Post.author_id, Post.thread_id)
        .subquery())
    given = {author: (int(n), int(accepted)) for author, n, accepted in db.session.execute(
        sa.select(answers.c.author_id, sa.func.sum(answers.c.n), sa.func.sum(answers.c.accepted_now))
        .group_by(answers.c.author_id))}
    seconds = measures.seconds_between(answers.c.asked_at, answers.c.first_at)
    speed = measures.percentiles_of(answers, answers.c.author_id, seconds)
    accepted = measures.acceptances(window)
    solved = dict(db.session.execute(
        sa.select(accepted.c.author_id, sa.func.count()).where(accepted.c.resolver == PEER)
        .group_by(accepted.c.author_id)).all())
    ids = set(given) | set(solved)
    if not ids:
        return []
    people = {user.id: user for user in db.session.scalars(
        sa.select(User).where(User.id.in_(ids), ~User.role.in_(sorted(STAFF_ROLES))))}
    rows = []
    for user_id, user in people.items():
        n, accepted_now = given.get(user_id, (0, 0))
        rows.append({"user": user, "answers": n, "accepted": solved.get(user_id, 0),
                     "acceptance_rate": accepted_now / n if n else None,
                     "first_answer_median_s": speed.get(user_id, (0, None, None))[1]})
    rows.sort(key=lambda row: (-row["accepted"], -row["answers"], row["user"].username))
    return rows[:limit]
