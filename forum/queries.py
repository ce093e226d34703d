"""Read side of the forum: listings, thread pages, reputation and suggestions, each in a fixed
number of SQL queries whatever the number of rows.

The busiest pages (a thread, a list) read plain rows through statements built once with bind
parameters and run with `core.extensions.read`: building a statement and passing it through the
ORM cost more than the database did.
"""

import functools
import math
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from accounts.models import STAFF_ROLES, User
from core import pagecache
from core.errors import Invalid
from core.extensions import db, joined_strings, read
from forum import hooks, reputation, visibility
from forum.models import (
    ANSWER,
    QUESTION,
    TAG_MAX,
    VISIBLE,
    Category,
    Post,
    Reputation,
    Subscription,
    Tag,
    Thread,
    ThreadStates,
    TopicFollow,
    Vote,
    thread_tags,
)

THREADS_PER_PAGE = 30
POSTS_PER_PAGE = 20

LISTS = {
    "latest": "Latest",
    "unanswered": "Unanswered",
    "unsolved": "Unsolved",
    "solved": "Solved",
}


SORTS = {
    "activity": "Recent activity",
    "newest": "Newest",
    "oldest": "Oldest",
    "votes": "Most votes",
}
_FLAGS = ("urgent", "mine")


def default_sort(which: str) -> str:
    """A list's own order: the unanswered list puts the newest questions first (the ones nobody has
    seen), the others recent activity."""
    return "newest" if which == "unanswered" else "activity"


@dataclass(frozen=True)
class ListOptions:
    """How a list is sorted and narrowed, from its query string: `sort` (None: the list's default),
    `urgent` only threads marked urgent, `mine` only threads in the categories (with their
    sub-categories) and tags the viewer follows."""

    sort: str | None = None
    urgent: bool = False
    mine: bool = False

    @classmethod
    def from_args(cls, args) -> "ListOptions":
        """Read `sort`, `urgent` and `mine` from a query string. Raises Invalid for a value a link or
        the list's own form never sends, naming the ones that work."""
        sort = args.get("sort") or None
        if sort is not None and sort not in SORTS:
            raise Invalid(f"Lists sort by {', '.join(SORTS)}; “{sort[:40]}” is not one of them.")
        flags = {}
        for name in _FLAGS:
            value = args.get(name, "")
            if value not in ("", "0", "1"):
                raise Invalid(f"“{name}” is 1 (on) or left out, not “{value[:40]}”.")
            flags[name] = value == "1"
        return cls(sort=sort, **flags)

    def sort_for(self, which: str) -> str:
        return self.sort or default_sort(which)

    def as_args(self) -> dict:
        """The query-string arguments that give these options back (for tabs and page links)."""
        args = {}
        if self.sort:
            args["sort"] = self.sort
        if self.urgent:
            args["urgent"] = 1
        if self.mine:
            args["mine"] = 1
        return args


@dataclass
class Page:
    """One page of a list, with what the pagination links need."""

    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _filter(statement, which: str):
    if which == "unanswered":
        return statement.where(Thread.first_reply_at.is_(None), Thread.closed_at.is_(None))
    if which == "unsolved":
        return statement.where(Thread.solved_at.is_(None), Thread.closed_at.is_(None))
    if which == "solved":
        return statement.where(Thread.accepted_post_id.is_not(None))
    return statement


def category_ids(category: Category) -> list[int]:
    """The category and its direct sub-categories."""
    children = db.session.scalars(sa.select(Category.id).where(Category.parent_id == category.id))
    return [category.id, *children]


@dataclass(frozen=True, slots=True)
class CategoryRef:
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class AuthorRef:
    username: str
    display_name: str


@dataclass(frozen=True, slots=True)
class TagRef:
    name: str


@dataclass(slots=True)
class ThreadRow:
    """What a list shows of a thread: read as plain rows, because loading 30 threads with their
    authors, categories and tags as ORM objects was most of a list page's time."""

    id: int
    title: str
    reply_count: int
    view_count: int
    is_solved: bool
    is_urgent: bool
    is_closed: bool
    created_at: datetime
    last_activity_at: datetime
    category: CategoryRef
    author: AuthorRef
    tags: list[TagRef] = field(default_factory=list)
    is_pinned: bool = False  # pinned, and in a list that puts pinned threads first (see _pins_first)
    votes: int = 0  # the top answer's score (top_answer_score)


_TAG_SEPARATOR = " "  # tag names are lowercase letters, digits and + # . - (forum.services)


def _tag_names():
    """A thread's tag names in one string, as a subquery correlated to each Thread row."""
    return (sa.select(joined_strings(Tag.name, _TAG_SEPARATOR))
            .select_from(thread_tags).join(Tag, Tag.id == thread_tags.c.tag_id)
            .where(thread_tags.c.thread_id == Thread.id).scalar_subquery())


def top_answer_score():
    """A thread's votes, as lists and search results show and sort them: the score of its best
    visible answer (0 with none). Only answers take votes; a sum would rank a thread of many
    middling answers above one with a single excellent one. A subquery correlated to each Thread row."""
    best = (sa.select(sa.func.max(Post.score))
            .where(Post.thread_id == Thread.id, Post.kind == ANSWER, visibility.counted_posts())
            .correlate(Thread).scalar_subquery())
    return sa.func.coalesce(best, 0)


def _tag_refs(names: str | None) -> list[TagRef]:
    return [TagRef(name) for name in sorted(names.split(_TAG_SEPARATOR))] if names else []


def _paged(statement):
    """`statement` with its limit and offset as parameters (see _page_params), written into the SQL
    when it runs: PostgreSQL cannot know how many rows a prepared statement's `LIMIT $1` wants, so
    it planned every run of the list queries again rather than reuse a generic plan."""
    return statement.limit(sa.bindparam("limit", type_=sa.Integer, literal_execute=True)).offset(
        sa.bindparam("offset", type_=sa.Integer, literal_execute=True))


def _page_params(page: int, per_page: int) -> dict[str, int]:
    return {"limit": per_page, "offset": (page - 1) * per_page}


def _pins_first(which: str, by_tag: bool, by_author: bool, sort: str = "activity") -> bool:
    """Pinned threads come first in the latest lists, the site's and a category's, in their default
    order; every other list, and any other order someone chose, keeps its own order."""
    return which == "latest" and not by_tag and not by_author and sort == default_sort(which)


def _pinned_paged(statement):
    """_paged with its own parameters, for the pinned threads' part of a list (see _page_params)."""
    return statement.limit(sa.bindparam("pinned_limit", type_=sa.Integer, literal_execute=True)).offset(
        sa.bindparam("pinned_offset", type_=sa.Integer, literal_execute=True))


def _order(sort: str, votes):
    if sort == "newest":
        return (Thread.created_at.desc(), Thread.id.desc())
    if sort == "oldest":
        return (Thread.created_at.asc(), Thread.id.asc())
    if sort == "votes":
        return (votes.desc(), Thread.last_activity_at.desc(), Thread.id.desc())
    return (Thread.last_activity_at.desc(), Thread.id.desc())


@functools.cache
def _list_statement(which: str, by_category: bool, by_tag: bool, by_author: bool, sort: str = "activity",
                    urgent: bool = False, mine: bool = False):
    """The page query of one list shape; the scope's ids, limit and offset are bind parameters.

    Where pinned threads come first, the page is the pinned threads' part of it and the others'
    part, each read in its own order with its own limit and offset (one statement, UNION ALL): an
    ORDER BY that put the pinned ones first could use no index, and the database would sort every
    visible thread on each page view. The pinned part has an index of its own (partial, tiny)."""
    votes = top_answer_score()
    statement = (_filter(_scope(sa.select(
        Thread.id, Thread.title, Thread.reply_count, Thread.view_count, Thread.accepted_post_id,
        Thread.is_urgent, Thread.closed_at, Thread.created_at, Thread.last_activity_at, Category.slug,
        Category.name, User.username, User.display_name, _tag_names(), Thread.pinned_at, votes,
    ), by_category, by_tag, by_author, urgent, mine), which)
        .join(Category, Category.id == Thread.category_id)
        .join(User, User.id == Thread.author_id)
        .order_by(*_order(sort, votes)))
    if not _pins_first(which, by_tag, by_author, sort):
        return _paged(statement)
    pinned = _pinned_paged(statement.where(Thread.pinned_at.is_not(None)))
    others = _paged(statement.where(Thread.pinned_at.is_(None)))
    # A LIMIT needs its own SELECT.
    return sa.union_all(sa.select(pinned.subquery()), sa.select(others.subquery()))


def _list_page_params(pins_first: bool, pinned: int, page: int, per_page: int) -> dict[str, int]:
    """Limits and offsets of a page of a list; where pinned threads come first, of its two parts:
    the `pinned` ones, then the others."""
    params = _page_params(page, per_page)
    if not pins_first:
        return params
    start = params["offset"]
    pinned_limit = max(0, min(per_page, pinned - start))
    return {"pinned_limit": pinned_limit, "pinned_offset": min(start, pinned),
            "limit": per_page - pinned_limit, "offset": max(0, start - pinned)}


def _followed_by(follower_id):
    """Threads in a category someone follows (or a sub-category of one), or with a tag they follow."""
    followed_categories = sa.select(TopicFollow.category_id).where(
        TopicFollow.user_id == follower_id, TopicFollow.category_id.is_not(None))
    in_categories = sa.select(Category.id).where(sa.or_(
        Category.id.in_(followed_categories), Category.parent_id.in_(followed_categories)))
    followed_tags = sa.select(TopicFollow.tag_id).where(
        TopicFollow.user_id == follower_id, TopicFollow.tag_id.is_not(None))
    tagged = sa.select(thread_tags.c.thread_id).where(thread_tags.c.tag_id.in_(followed_tags))
    return sa.or_(Thread.category_id.in_(in_categories), Thread.id.in_(tagged))


def _scope(statement, by_category: bool, by_tag: bool, by_author: bool, urgent: bool = False,
           mine: bool = False):
    # A thread merged into another is found at the other one (forum.restructure).
    statement = statement.where(visibility.listed_threads())
    if urgent:
        statement = statement.where(Thread.is_urgent.is_(True))
    if mine:
        statement = statement.where(_followed_by(sa.bindparam("follower_id", type_=sa.Integer)))
    if by_category:
        statement = statement.where(Thread.category_id.in_(sa.bindparam("category_ids", expanding=True)))
    if by_tag:
        statement = statement.where(Thread.id.in_(
            sa.select(thread_tags.c.thread_id).where(thread_tags.c.tag_id == sa.bindparam("tag_id"))))
    if by_author:
        statement = statement.where(Thread.author_id == sa.bindparam("author_id"))
    return statement


def list_threads(which: str = "latest", *, category: Category | None = None, tag: Tag | None = None,
                 author: User | None = None, page: int = 1, per_page: int = THREADS_PER_PAGE,
                 options: ListOptions = ListOptions(), follower: User | None = None,
                 ) -> tuple[Page, dict[str, int]]:
    """A page of threads (as ThreadRow) for one list, sorted and narrowed by `options`, and the count
    of every list in the same scope. `options.mine` needs the `follower` whose topics it means (it is
    ignored without one). One query for the page, plus the counts (memoised, except for "mine":
    following a topic does not bump the content version)."""
    sort = options.sort_for(which)
    mine = options.mine and follower is not None
    shape = (category is not None, tag is not None, author is not None)
    filters = (options.urgent, mine)
    params = {}
    if mine:
        params["follower_id"] = follower.id
    if category is not None:
        params["category_ids"] = category_ids(category)
    if tag is not None:
        params["tag_id"] = tag.id
    if author is not None:
        params["author_id"] = author.id
    if mine:
        counts, pinned = list_counts(_scope(sa.select(Thread), *shape, *filters), params)
    else:
        scope_key = ("list-counts", category and category.id, tag and tag.id, author and author.id,
                     options.urgent)
        counts, pinned = pagecache.memoized(
            scope_key, lambda: list_counts(_scope(sa.select(Thread), *shape, *filters), params))
    total = counts.get(which, counts["latest"])
    page = min(max(page, 1), max(1, math.ceil(total / per_page)))
    pins_first = _pins_first(which, tag is not None, author is not None, sort)
    limits = _list_page_params(pins_first, pinned, page, per_page)
    rows = read(_list_statement(which, *shape, sort, *filters), {**params, **limits})
    items = [
        ThreadRow(id=r[0], title=r[1], reply_count=r[2], view_count=r[3], is_solved=r[4] is not None,
                  is_urgent=r[5], is_closed=r[6] is not None, created_at=r[7], last_activity_at=r[8],
                  category=CategoryRef(r[9], r[10]), author=AuthorRef(r[11], r[12]), tags=_tag_refs(r[13]),
                  is_pinned=pins_first and r[14] is not None, votes=r[15])
        for r in rows
    ]
    if pins_first:  # a union keeps no order: the pinned part first, each part in the list's order
        items.sort(key=lambda row: (row.last_activity_at, row.id), reverse=True)
        items.sort(key=lambda row: not row.is_pinned)
    return Page(items=items, page=page, per_page=per_page, total=total), counts


def list_counts(scope, params: dict | None = None) -> tuple[dict[str, int], int]:
    """How many threads each list holds, and how many of them are pinned, in one query; `params`
    fills the scope's bind parameters."""
    sub = scope.with_only_columns(
        Thread.first_reply_at, Thread.closed_at, Thread.solved_at, Thread.accepted_post_id, Thread.pinned_at
    ).subquery()
    one = sa.literal(1)
    row = db.session.execute(sa.select(
        sa.func.count(),
        sa.func.sum(sa.case((sa.and_(sub.c.first_reply_at.is_(None), sub.c.closed_at.is_(None)), one),
                            else_=0)),
        sa.func.sum(sa.case((sa.and_(sub.c.solved_at.is_(None), sub.c.closed_at.is_(None)), one),
                            else_=0)),
        sa.func.sum(sa.case((sub.c.accepted_post_id.is_not(None), one), else_=0)),
        sa.func.sum(sa.case((sub.c.pinned_at.is_not(None), one), else_=0)),
    ), params or {}).one()
    counts = {"latest": row[0] or 0, "unanswered": row[1] or 0, "unsolved": row[2] or 0,
              "solved": row[3] or 0}
    return counts, row[4] or 0


@dataclass(slots=True)
class ThreadView(ThreadStates):
    """What a thread page shows of its thread, read as one plain row (see ThreadRow for why). It
    answers the permission checks (`forum.permissions`) the way a Thread does."""

    id: int
    title: str
    author_id: int
    category_id: int
    category: CategoryRef
    is_urgent: bool
    urgent_reason: str
    reply_count: int
    view_count: int
    accepted_post_id: int | None
    closed_at: datetime | None
    is_locked: bool
    state: str
    deleted_at: datetime | None
    hidden_reason: str
    close_reason: str | None
    close_note: str
    closed_by: str | None  # the display name of whoever closed it; None for the system
    tags: list[TagRef]
    pinned_at: datetime | None
    merged_into_id: int | None
    merged_into_title: str | None  # the title of the thread it was merged into
    accepted_by_id: int | None
    accepted_by: str | None  # the display name of whoever accepted the answer
    accepted_by_staff: bool  # ...and whether they are staff
    viewer_follows: bool | None = None  # whether the signed-in viewer follows it; None: not asked
    figures: dict = field(default_factory=dict)  # forum.hooks.thread_figures, by name


_CLOSER = sa.orm.aliased(User)
_ACCEPTER = sa.orm.aliased(User)
_MERGED_INTO = sa.orm.aliased(Thread)
_THREAD_VIEW = (
    sa.select(
        Thread.id, Thread.title, Thread.author_id, Thread.category_id, Category.slug, Category.name,
        Thread.is_urgent, Thread.urgent_reason, Thread.reply_count, Thread.view_count,
        Thread.accepted_post_id, Thread.closed_at, Thread.is_locked, Thread.state, Thread.deleted_at,
        Thread.hidden_reason, Thread.close_reason, Thread.close_note, _CLOSER.display_name, _tag_names(),
        Thread.pinned_at, Thread.merged_into_id, _MERGED_INTO.title, Thread.accepted_by_id,
        _ACCEPTER.display_name, _ACCEPTER.role,
    )
    .join(Category, Category.id == Thread.category_id)
    .outerjoin(_CLOSER, _CLOSER.id == Thread.closed_by_id)
    .outerjoin(_ACCEPTER, _ACCEPTER.id == Thread.accepted_by_id)
    .outerjoin(_MERGED_INTO, _MERGED_INTO.id == Thread.merged_into_id)
    .where(Thread.id == sa.bindparam("thread_id"))
)


@functools.cache
def _thread_view_statement(followed: bool, figures: tuple[str, ...]):
    """_THREAD_VIEW with the registered thread figures and, when `followed`, whether the signed-in
    viewer (`viewer_id`) follows the thread. Built once per shape."""
    statement = _THREAD_VIEW.add_columns(*(hooks.thread_figures[name]().label(f"figure_{name}")
                                           for name in figures))
    if followed:
        statement = statement.add_columns(
            sa.select(Subscription.active).where(Subscription.thread_id == Thread.id,
                                                 Subscription.user_id == sa.bindparam("viewer_id"))
            .correlate(Thread).scalar_subquery())
    return statement


def thread_view(thread_id: int, viewer_id: int | None = None) -> ThreadView | None:
    """The thread with its category, tags and figures (forum.hooks.thread_figures) in one query (and,
    given a signed-in viewer's id, whether they follow it), or None. Threads of every state are
    returned: whether the viewer may see one is `forum.visibility.can_see_thread`."""
    names = tuple(hooks.thread_figures)
    statement = _thread_view_statement(viewer_id is not None, names)
    params = {"thread_id": thread_id}
    if viewer_id is not None:
        params["viewer_id"] = viewer_id
    r = read(statement, params).first()
    if r is None:
        return None
    figures = dict(zip(names, r[26:26 + len(names)], strict=True))
    return ThreadView(id=r[0], title=r[1], author_id=r[2], category_id=r[3], category=CategoryRef(r[4], r[5]),
                      is_urgent=r[6], urgent_reason=r[7], reply_count=r[8], view_count=r[9],
                      accepted_post_id=r[10], closed_at=r[11], is_locked=r[12], state=r[13],
                      deleted_at=r[14], hidden_reason=r[15], close_reason=r[16], close_note=r[17],
                      closed_by=r[18], tags=_tag_refs(r[19]), pinned_at=r[20], merged_into_id=r[21],
                      merged_into_title=r[22], accepted_by_id=r[23], accepted_by=r[24],
                      accepted_by_staff=r[25] in STAFF_ROLES,
                      viewer_follows=bool(r[-1]) if viewer_id is not None else None, figures=figures)


@dataclass(slots=True)
class PostRow:
    """What a thread page shows of a post, read as a plain row (see ThreadRow for why)."""

    id: int
    thread: "Thread | ThreadView"
    kind: str
    author_id: int
    author_role: str
    body_html: str
    score: int
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    state: str
    hidden_reason: str
    author: AuthorRef

    @property
    def thread_id(self) -> int:
        return self.thread.id

    @property
    def is_question(self) -> bool:
        return self.kind == QUESTION

    @property
    def is_visible(self) -> bool:
        return self.state == VISIBLE

    @property
    def badge(self) -> str | None:
        return visibility.badge(self.state)


_VIEWER_ID = sa.bindparam("viewer_id", type_=sa.Integer)


def _posts_select(signed_in: bool, total):
    """Posts with their authors, the authors' reputation (0 when none is recorded), the viewer's
    vote on each (`viewer_id`; 0 for none, and always 0 for a visitor) and `total`. The reputation
    and the vote are subqueries, looked up by key per post: as an outer join, PostgreSQL hashed the
    whole reputation table for a page of twenty."""
    points = (sa.select(Reputation.points).where(Reputation.user_id == Post.author_id)
              .correlate(Post).scalar_subquery())
    vote = sa.literal(0)
    if signed_in:
        mine = sa.select(Vote.value).where(Vote.post_id == Post.id, Vote.user_id == _VIEWER_ID)
        vote = sa.func.coalesce(mine.correlate(Post).scalar_subquery(), 0)
    return (
        sa.select(Post.id, Post.kind, Post.author_id, Post.author_role, Post.body_html, Post.score,
                  Post.created_at, Post.edited_at, Post.deleted_at, Post.state, Post.hidden_reason,
                  User.username, User.display_name, sa.func.coalesce(points, 0), vote, total)
        .join(User, User.id == Post.author_id)
    )


_ACCEPTED_ID = sa.bindparam("accepted_id", type_=sa.Integer)  # None when the thread is unsolved


@functools.cache
def _thread_posts_statements(audience: str):
    """For an audience (visibility.STAFF, MEMBER or ANONYMOUS; a signed-in viewer's id is the
    `viewer_id` parameter): (the question, the accepted answer and one page of the other answers,
    in one query; that page alone; how many other answers there are). The question is the
    thread's and shown whenever the thread is. Each answer of the page also carries how many
    other answers there are (counted regardless of the page's limit), so that a page with answers
    on it needs no count query."""
    shown = visibility.shown_posts_clause(audience, _VIEWER_ID)
    visible = [] if shown is None else [shown]
    signed_in = audience != visibility.ANONYMOUS
    firsts = _posts_select(signed_in, sa.null()).where(
        Post.thread_id == sa.bindparam("thread_id"),
        sa.or_(Post.kind == QUESTION, sa.and_(Post.id == _ACCEPTED_ID, *visible)))
    others = sa.and_(Post.thread_id == sa.bindparam("thread_id"), *visible, Post.kind == ANSWER,
                     Post.id != sa.func.coalesce(_ACCEPTED_ID, 0))
    count = sa.select(sa.func.count()).select_from(Post).where(others)
    # The count as a subquery of its own (run once), not a window over the page's query: a window
    # made SQLite copy every answer, bodies and all, into a temporary table and sort it there,
    # twice the time of reading the page in its index's order.
    answers = _paged(_posts_select(signed_in, count.correlate(None).scalar_subquery()).where(others)
                     .order_by(Post.created_at, Post.id))
    everything = sa.union_all(firsts, sa.select(answers.subquery()))  # a LIMIT needs its own SELECT
    return everything, answers, count


@dataclass
class ThreadPage:
    """Everything a thread page shows, loaded in a fixed number of queries."""

    thread: "Thread | ThreadView"
    question: PostRow
    accepted: PostRow | None
    answers: Page
    my_votes: dict[int, int] = field(default_factory=dict)
    reputation: dict[int, int] = field(default_factory=dict)
    viewer_id: int | None = None  # the signed-in viewer's id; None for a visitor


def thread_page(thread: "Thread | ThreadView", viewer, page: int = 1,
                per_page: int = POSTS_PER_PAGE) -> ThreadPage:
    """The question, the accepted answer (shown first) and one page of the other answers, as PostRows,
    with their authors' reputation and a signed-in viewer's own votes: one query (one more for a
    page past the end)."""
    audience = visibility.audience(viewer)
    everything_statement, answers_statement, count_statement = _thread_posts_statements(audience)
    params = {"thread_id": thread.id, "accepted_id": thread.accepted_post_id}
    if audience != visibility.ANONYMOUS:
        params["viewer_id"] = viewer.id
    reputation: dict[int, int] = {}
    my_votes: dict[int, int] = {}
    counted: list[int] = []  # how many other answers there are, as the page's answers carry it

    def rows(result) -> list[PostRow]:
        out = []
        for r in result:
            out.append(PostRow(id=r[0], thread=thread, kind=r[1], author_id=r[2], author_role=r[3],
                               body_html=r[4], score=r[5], created_at=r[6], edited_at=r[7], deleted_at=r[8],
                               state=r[9], hidden_reason=r[10], author=AuthorRef(r[11], r[12])))
            reputation[r[2]] = int(r[13])
            if r[14]:
                my_votes[r[0]] = int(r[14])
            if r[15] is not None:
                counted.append(int(r[15]))
        return out

    question = accepted = None
    answers = []
    for post in rows(read(everything_statement, {**params, **_page_params(page, per_page)})):
        if post.kind == QUESTION:
            question = post
        elif post.id == thread.accepted_post_id:
            accepted = post
        else:
            answers.append(post)
    answers.sort(key=lambda post: (post.created_at, post.id))  # a union keeps no order
    if counted:  # staff see removed answers and members their own held ones, which reply_count leaves out
        total = counted[0]
    elif page == 1:  # not one other answer this viewer may see
        total = 0
    elif audience == visibility.ANONYMOUS:  # reply_count is every visible answer, kept by the services
        total = max(0, thread.reply_count - (1 if accepted is not None else 0))
    else:
        total = read(count_statement, params).scalar_one()
    last_page = max(1, math.ceil(total / per_page))
    if page > last_page:  # past the end: show the last page
        page = last_page
        answers = rows(read(answers_statement, {**params, **_page_params(page, per_page)}))
    return ThreadPage(
        thread=thread, question=question, accepted=accepted,
        answers=Page(items=answers, page=page, per_page=per_page, total=total),
        my_votes=my_votes, reputation=reputation,
        viewer_id=viewer.id if getattr(viewer, "is_authenticated", False) else None,
    )


def answers_of(thread: "Thread | ThreadView") -> list[Post]:
    """Every answer of a thread, whatever its state, oldest first, with its author (the split page's
    list, for staff); one query."""
    return list(db.session.scalars(
        sa.select(Post).where(Post.thread_id == thread.id, Post.kind == ANSWER)
        .order_by(Post.created_at, Post.id).options(sa.orm.joinedload(Post.author))))


def reputation_for(user_ids) -> dict[int, int]:
    """Reputation per user id, as the services keep it; one query."""
    return reputation.for_users(user_ids)


@dataclass
class TagRecord:
    tag: str
    answers: int
    accepted: int

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.answers if self.answers else 0.0


def answer_record(user: User) -> tuple[int, int, list[TagRecord]]:
    """(answers, accepted answers, per-tag records) for a profile; answers to one's own
    questions are left out, as reputation leaves them out."""
    answered = (
        sa.select(Post.id.label("post_id"), Post.thread_id,
                  sa.case((Thread.accepted_post_id == Post.id, 1), else_=0).label("accepted"))
        .join(Thread, Thread.id == Post.thread_id)
        .where(Post.author_id == user.id, Post.kind == ANSWER, visibility.counted_posts(),
               visibility.counted_threads(), Thread.author_id != user.id)
        .subquery()
    )
    totals = db.session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(answered.c.accepted), 0))
    ).one()
    per_tag = db.session.execute(
        sa.select(Tag.name, sa.func.count(), sa.func.sum(answered.c.accepted))
        .select_from(answered)
        .join(thread_tags, thread_tags.c.thread_id == answered.c.thread_id)
        .join(Tag, Tag.id == thread_tags.c.tag_id)
        .group_by(Tag.name)
        .order_by(sa.func.sum(answered.c.accepted).desc(), sa.func.count().desc(), Tag.name)
        .limit(20)
    ).all()
    return int(totals[0]), int(totals[1]), [TagRecord(name, int(n), int(a or 0)) for name, n, a in per_tag]


def _as_tree(categories: list) -> list[tuple]:
    """Top-level categories in the given order, each with its children (anything with `id` and
    `parent_id`)."""
    children: dict[int, list] = {}
    for category in categories:
        if category.parent_id is not None:
            children.setdefault(category.parent_id, []).append(category)
    return [(c, children.get(c.id, [])) for c in categories if c.parent_id is None]


def categories_tree() -> list[tuple[Category, list[Category]]]:
    """Top-level categories in order, each with its children, in one query."""
    return _as_tree(list(db.session.scalars(_CATEGORIES_IN_ORDER)))


_CATEGORIES_IN_ORDER = sa.select(Category).order_by(Category.position, Category.name)


@dataclass(frozen=True, slots=True)
class CategoryLink:
    id: int
    slug: str
    name: str
    parent_id: int | None


_CATEGORY_LINKS = sa.select(Category.id, Category.slug, Category.name, Category.parent_id).order_by(
    Category.position, Category.name)


def category_links() -> list[tuple[CategoryLink, list[CategoryLink]]]:
    """categories_tree() as plain values for the lists' sidebar, kept under the content version
    (which every category change bumps)."""
    return pagecache.memoized("category-links", category_links_now)


def category_links_now() -> list[tuple[CategoryLink, list[CategoryLink]]]:
    """category_links() read now (for forms, whose choices must be the current ones); one query."""
    return _as_tree([CategoryLink(*row) for row in read(_CATEGORY_LINKS)])


def all_tags() -> list[Tag]:
    return list(db.session.scalars(sa.select(Tag).order_by(Tag.name)))


TAG_SUGGESTIONS = 8
_TAG_QUERY_MAX = 200


def suggest_tags(text: str | None, limit: int = TAG_SUGGESTIONS) -> list[dict]:
    """Existing tags for the tag being typed, as `{"name", "threads"}`: those beginning with `text`
    first, then those containing it, the most used first within each (threads everyone sees); the
    most used tags when `text` is empty. One query (memoised like the lists' counts), none for text no
    tag name could contain."""
    if len(text or "") > _TAG_QUERY_MAX:  # no tag is in there: not worth cleaning
        return []
    text = Tag.normalise(text)
    if len(text) > TAG_MAX or not set(text) <= Tag.CHARACTERS:
        return []
    threads = sa.func.count(Thread.id).label("threads")
    query = (sa.select(Tag.name, threads)
             .outerjoin(thread_tags, thread_tags.c.tag_id == Tag.id)
             .outerjoin(Thread, sa.and_(Thread.id == thread_tags.c.thread_id, visibility.listed_threads()))
             .group_by(Tag.id, Tag.name))
    if text:
        # The tag alphabet has no % or _, but escape anyway: a LIKE pattern is never built from raw input.
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        starts = Tag.name.like(f"{escaped}%", escape="\\")
        query = (query.where(Tag.name.like(f"%{escaped}%", escape="\\"))
                 .order_by(sa.case((starts, 0), else_=1), threads.desc(), Tag.name))
    else:
        query = query.order_by(threads.desc(), Tag.name)
    return pagecache.memoized(("tag-suggestions", text, limit), lambda: [
        {"name": name, "threads": count} for name, count in db.session.execute(query.limit(limit))])


PROFILE_PER_PAGE = 20
PROFILE_TABS = {"questions": "Questions", "answers": "Answers"}


@dataclass(frozen=True, slots=True)
class ProfilePost:
    """A question or an answer as a profile lists it: the thread's title, linking to the thread
    (to the post, for an answer), with the badges a viewer may see."""

    thread_id: int
    post_id: int | None
    title: str
    created_at: datetime
    reply_count: int
    score: int
    is_solved: bool
    is_accepted: bool
    badge: str | None


def profile_posts(user: User, viewer, which: str, page: int = 1,
                  per_page: int = PROFILE_PER_PAGE) -> Page:
    """One page of a person's questions or answers, newest first, of what `viewer` may see (a held
    post to its author, the others to staff, with their badge), in one query: the total comes with
    each row. A merged thread's question is found at the thread it went into."""
    audience, viewer_id = visibility.audience(viewer), getattr(viewer, "id", None)
    shown_threads = visibility.shown_posts_clause(audience, viewer_id, Thread)
    total = sa.func.count().over().label("total")
    if which == "questions":
        statement = (sa.select(Thread.id, sa.null(), Thread.title, Thread.created_at, Thread.reply_count,
                               sa.literal(0), Thread.accepted_post_id.is_not(None), sa.false(), Thread.state,
                               total)
                     .where(Thread.author_id == user.id, Thread.merged_into_id.is_(None))
                     .order_by(Thread.created_at.desc(), Thread.id.desc()))
    elif which == "answers":
        shown_posts = visibility.shown_posts_clause(audience, viewer_id, Post)
        statement = (sa.select(Thread.id, Post.id, Thread.title, Post.created_at, Thread.reply_count,
                               Post.score, Thread.accepted_post_id.is_not(None),
                               Thread.accepted_post_id == Post.id,
                               # the badge is the post's, or its thread's when only that is not visible
                               sa.case((Post.state != VISIBLE, Post.state), else_=Thread.state), total)
                     .join(Thread, Thread.id == Post.thread_id)
                     .where(Post.author_id == user.id, Post.kind == ANSWER)
                     .order_by(Post.created_at.desc(), Post.id.desc()))
        if shown_posts is not None:
            statement = statement.where(shown_posts)
    else:
        raise ValueError(f"a profile lists questions or answers, not {which!r}")
    if shown_threads is not None:
        statement = statement.where(shown_threads)
    rows = db.session.execute(statement.limit(per_page).offset((page - 1) * per_page)).all()
    items = [ProfilePost(thread_id, post_id, title, created_at, replies, score, bool(solved),
                         bool(accepted), visibility.badge(state))
             for thread_id, post_id, title, created_at, replies, score, solved, accepted, state, _t in rows]
    return Page(items, page, per_page, rows[0].total if rows else 0)
