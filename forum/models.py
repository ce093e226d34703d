"""Forum rows: categories, tags, threads, posts and their revisions, votes, subscriptions,
notifications. Every metric is computed from what these store."""

import re
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import STAFF_ROLES, User
from core import clock
from core.extensions import db
from core.text import clean_line

TITLE_MAX = 200
BODY_MAX = 50_000
# A new question asked through the ask form says at least this much (core.text.visible_length), as
# on Stack Overflow: "x" and "help" tell nobody what the problem is. Imports, the demo and older
# posts may be shorter, so edits and other writers are not held to it.
TITLE_MIN = 15
BODY_MIN = 30
URGENT_REASON_MAX = 200
REVISION_SUMMARY_MAX = 200
TAG_MAX = 30
TAGS_PER_THREAD = 5

QUESTION, ANSWER = "question", "answer"

# The one moderation state of a thread or a post (who may see it: forum.visibility).
VISIBLE, HELD, HIDDEN, SPAM, DELETED = "visible", "held", "hidden", "spam", "deleted"
STATES = (VISIBLE, HELD, HIDDEN, SPAM, DELETED)
# The badge staff (and a held post's author) see on what is not visible.
STATE_BADGES = {HELD: "Waiting for review", HIDDEN: "Hidden", SPAM: "Spam", DELETED: "Deleted"}
STATE_MAX = 10
REASON_MAX = 500

# Why a thread was closed: the reason's code, and how the thread page says it.
CLOSED_ABANDONED = "abandoned"
CLOSE_REASONS = {
    "duplicate": "a duplicate of another question",
    "answered-elsewhere": "answered elsewhere",
    "off-topic": "off-topic here",
    "outdated": "no longer relevant",
    CLOSED_ABANDONED: "abandoned: answered, but no answer was accepted after several reminders",
    "other": "closed by staff",
}

thread_tags = sa.Table(
    "thread_tags",
    db.metadata,
    sa.Column("thread_id", sa.ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag_id", sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Category(db.Model):
    """A place threads live in, optionally inside a parent category."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    slug: Mapped[str] = mapped_column(sa.String(80), unique=True)
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    position: Mapped[int] = mapped_column(default=0)
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("categories.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)

    parent: Mapped["Category | None"] = relationship(remote_side=[id])


class Tag(db.Model):
    """A lowercase label shared by threads on one topic."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(TAG_MAX), unique=True)

    # What a tag's name is made of: it starts with a letter or digit.
    PATTERN = re.compile(r"^[a-z0-9][a-z0-9+#.-]*$")
    CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789+#.-")

    @staticmethod
    def normalise(name: str | None) -> str:
        """A name as typed, as tags are stored: one line, lowercase, spaces as dashes."""
        return clean_line(name).lower().replace(" ", "-")


class ThreadStates:
    """What a thread's stored times say about it; shared by Thread and the read side's plain rows
    (forum.queries.ThreadView), which have the same columns."""

    __slots__ = ()
    author_id: int
    accepted_post_id: int | None
    accepted_by_id: int | None
    closed_at: datetime | None
    close_reason: str | None
    state: str
    pinned_at: datetime | None
    merged_into_id: int | None

    @property
    def is_solved(self) -> bool:
        return self.accepted_post_id is not None

    @property
    def accepted_for_asker(self) -> bool:
        """Solved by someone other than the asker (staff, on the asker's behalf)."""
        return self.accepted_post_id is not None and self.accepted_by_id not in (None, self.author_id)

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    @property
    def is_deleted(self) -> bool:
        return self.state == DELETED

    @property
    def is_visible(self) -> bool:
        return self.state == VISIBLE

    @property
    def is_pinned(self) -> bool:
        return self.pinned_at is not None

    @property
    def is_merged(self) -> bool:
        return self.merged_into_id is not None

    @property
    def badge(self) -> str | None:
        return STATE_BADGES.get(self.state)

    @property
    def close_reason_text(self) -> str:
        return CLOSE_REASONS.get(self.close_reason or "", "closed")


class Thread(ThreadStates, db.Model):
    """A question and everything said under it.

    The reply, staff-reply and solution times are stored here when they happen
    (and recomputed when a reply is deleted), as the metric definitions need.
    """

    __tablename__ = "threads"

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("categories.id"), index=True)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    is_urgent: Mapped[bool] = mapped_column(default=False, index=True)
    urgent_reason: Mapped[str] = mapped_column(sa.String(URGENT_REASON_MAX), default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now, index=True)
    last_activity_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=clock.now, index=True
    )
    reply_count: Mapped[int] = mapped_column(default=0)
    view_count: Mapped[int] = mapped_column(default=0)
    first_reply_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), index=True)
    first_reply_post_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("posts.id", use_alter=True, ondelete="SET NULL"), index=True
    )
    first_staff_reply_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), index=True)
    first_staff_reply_post_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("posts.id", use_alter=True, ondelete="SET NULL"), index=True
    )
    accepted_post_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("posts.id", use_alter=True, ondelete="SET NULL"), index=True
    )
    accepted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    solved_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), index=True)
    close_reason: Mapped[str | None] = mapped_column(sa.String(20))  # a key of CLOSE_REASONS
    close_note: Mapped[str] = mapped_column(sa.String(REASON_MAX), default="", server_default="")
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    is_locked: Mapped[bool] = mapped_column(default=False)
    reminders_sent: Mapped[int] = mapped_column(default=0)
    state: Mapped[str] = mapped_column(sa.String(STATE_MAX), default=VISIBLE, server_default=VISIBLE)
    deleted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    deleted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # The last hold, hide or spam decision: kept while the thread is deleted, so a restore brings
    # back what was hidden as hidden. Cleared when it is unhidden.
    hidden_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    hidden_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    hidden_reason: Mapped[str] = mapped_column(sa.String(REASON_MAX), default="", server_default="")
    # Pinned by staff: first in the latest lists (the site's and its category's) until unpinned.
    pinned_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    pinned_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # The thread this one's answers were merged into (forum.restructure): its address leads there
    # for everyone but staff, and it leaves the lists and the search index.
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("threads.id", ondelete="SET NULL"))
    import_source: Mapped[str | None] = mapped_column(sa.String(40))
    import_id: Mapped[str | None] = mapped_column(sa.String(40))

    category: Mapped[Category] = relationship()
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    tags: Mapped[list[Tag]] = relationship(secondary=thread_tags, order_by=Tag.name)
    accepted_post: Mapped["Post | None"] = relationship(foreign_keys=[accepted_post_id], post_update=True)
    closer: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])
    accepter: Mapped[User | None] = relationship(foreign_keys=[accepted_by_id], viewonly=True)
    merged_into: Mapped["Thread | None"] = relationship(remote_side=[id], foreign_keys=[merged_into_id])

    @property
    def closed_by(self) -> str | None:
        """The display name of whoever closed the thread (None: the system), as on queries.ThreadView."""
        return self.closer.display_name if self.closer is not None else None

    @property
    def accepted_by(self) -> str | None:
        """The display name of whoever accepted the answer, as on queries.ThreadView."""
        return self.accepter.display_name if self.accepter is not None else None

    @property
    def accepted_by_staff(self) -> bool:
        """Whether whoever accepted the answer is staff now, as on queries.ThreadView."""
        return self.accepter is not None and self.accepter.is_staff

    @property
    def merged_into_title(self) -> str | None:
        """The title of the thread this one was merged into, as on queries.ThreadView."""
        return self.merged_into.title if self.merged_into is not None else None

    __table_args__ = (
        sa.UniqueConstraint("import_source", "import_id"),
        sa.Index("ix_threads_category_id_last_activity_at", "category_id", "last_activity_at"),
        # Lists keep visible threads and sort by activity (or age): one index serves both, where
        # an index on the state alone made SQLite sort every thread on each page view.
        sa.Index("ix_threads_state_last_activity_at", "state", "last_activity_at"),
        sa.Index("ix_threads_state_created_at", "state", "created_at"),
        # Partial, so that they serve only what they are for: the few pinned threads of a latest list,
        # and the threads merged into one. A plain index of a column that is nearly always empty could
        # lead SQLite, which has no statistics, to start a list from it instead of from the one above.
        sa.Index("ix_threads_pinned_state_last_activity_at", "state", "last_activity_at",
                 postgresql_where=sa.text("pinned_at IS NOT NULL"),
                 sqlite_where=sa.text("pinned_at IS NOT NULL")),
        sa.Index("ix_threads_merged_into_id", "merged_into_id",
                 postgresql_where=sa.text("merged_into_id IS NOT NULL"),
                 sqlite_where=sa.text("merged_into_id IS NOT NULL")),
    )


class Post(db.Model):
    """The question (the thread's first post) or an answer, with its rendered HTML."""

    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("threads.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # The author's role when the post was written: a later role change does not rewrite history.
    author_role: Mapped[str] = mapped_column(sa.String(10))
    kind: Mapped[str] = mapped_column(sa.String(10), default=ANSWER)
    body: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text)
    score: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now, index=True)
    edited_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    edited_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # No index of their own: nearly every post has both empty, and SQLite, without statistics, let
    # such an index drive queries that should start from the thread or the author.
    state: Mapped[str] = mapped_column(sa.String(STATE_MAX), default=VISIBLE, server_default=VISIBLE)
    deleted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    deleted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    hidden_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))  # as on Thread
    hidden_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    hidden_reason: Mapped[str] = mapped_column(sa.String(REASON_MAX), default="", server_default="")
    import_source: Mapped[str | None] = mapped_column(sa.String(40))
    import_id: Mapped[str | None] = mapped_column(sa.String(40))

    thread: Mapped[Thread] = relationship(foreign_keys=[thread_id])
    author: Mapped[User] = relationship(foreign_keys=[author_id])

    __table_args__ = (
        sa.UniqueConstraint("import_source", "import_id"),
        sa.Index("ix_posts_thread_id_created_at", "thread_id", "created_at"),
        # Every list shows each thread's best answer score (forum.queries.top_answer_score): from
        # this index alone, without reading twenty posts' bodies per thread.
        sa.Index("ix_posts_thread_id_kind_state_score", "thread_id", "kind", "state", "score"),
    )

    @property
    def is_question(self) -> bool:
        return self.kind == QUESTION

    @property
    def is_staff_post(self) -> bool:
        return self.author_role in STAFF_ROLES

    @property
    def is_visible(self) -> bool:
        """This post's own state; whether a reader may see it is forum.visibility's question."""
        return self.state == VISIBLE


class PostRevision(db.Model):
    """One saved version of a post (and of the thread title, for the question)."""

    __tablename__ = "post_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(sa.ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column()
    editor_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    title: Mapped[str | None] = mapped_column(sa.String(TITLE_MAX))
    body: Mapped[str] = mapped_column(sa.Text)
    # What the editor said they changed ("fixed the link"), shown in the history; "" when unsaid.
    summary: Mapped[str] = mapped_column(sa.String(REVISION_SUMMARY_MAX), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)

    editor: Mapped[User] = relationship()

    __table_args__ = (sa.UniqueConstraint("post_id", "number"),)


class ThreadEvent(db.Model):
    """One change of a thread's state, appended in the transaction of the change and never edited
    (forum.history). The metrics read periods from these; the thread's columns are the current-state
    cache. Packages above the forum add their own kinds (escalated, resolved) through the same table.
    """

    __tablename__ = "thread_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("threads.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(30))
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
    # Who did it (None: the system, e.g. the abandoned-thread job), and their role at that moment.
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor_role: Mapped[str | None] = mapped_column(sa.String(10))
    # The thread's category when it happened (for a move: the new one; from_category_id the old).
    # No ON DELETE: a category in anyone's history is not deleted (forum.categories), or the
    # database would rewrite closed periods' figures.
    category_id: Mapped[int | None] = mapped_column(sa.ForeignKey("categories.id"))
    from_category_id: Mapped[int | None] = mapped_column(sa.ForeignKey("categories.id"))
    post_id: Mapped[int | None] = mapped_column(sa.ForeignKey("posts.id", ondelete="SET NULL"))
    # The other thread of a merge or a split (forum.restructure): where the answers went or came from.
    other_thread_id: Mapped[int | None] = mapped_column(sa.ForeignKey("threads.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(sa.String(30))
    note: Mapped[str] = mapped_column(sa.String(REASON_MAX), default="", server_default="")

    actor: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.Index("ix_thread_events_thread_id_at", "thread_id", "at"),
        sa.Index("ix_thread_events_kind_at", "kind", "at"),
    )


class Vote(db.Model):
    """One person's up (+1) or down (-1) vote on an answer."""

    __tablename__ = "votes"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(sa.ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    value: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)

    __table_args__ = (
        sa.UniqueConstraint("post_id", "user_id"),
        sa.CheckConstraint("value IN (-1, 1)", name="value_is_one"),
    )


class AskFlow(db.Model):
    """One visit to the ask form: which suggestions were opened, and whether a question followed.
    A flow with a suggestion opened and no thread, and no event for an hour, is a deflection
    (METRICS.md). Visitors who are not signed in have flows too: `user_id` is then None, and
    nothing but the random token says whose it is."""

    __tablename__ = "ask_flows"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(sa.String(32), unique=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    category_id: Mapped[int | None] = mapped_column(sa.ForeignKey("categories.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
    # The latest open or the question: a flow with an event in the last hour is still in progress.
    last_event_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
    first_opened_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), index=True)
    opened_count: Mapped[int] = mapped_column(default=0)
    last_opened_doc: Mapped[str | None] = mapped_column(sa.String(80))
    thread_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("threads.id", ondelete="SET NULL"), index=True
    )
    posted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class Reputation(db.Model):
    """A person's reputation points, kept up to date by the vote, accept and delete services."""

    __tablename__ = "reputations"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    points: Mapped[int] = mapped_column(default=0)


class Subscription(db.Model):
    """Someone following a thread; `active` false once they unsubscribed (and it stays so)."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("threads.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)

    user: Mapped[User] = relationship()
    thread: Mapped[Thread] = relationship()

    __table_args__ = (sa.UniqueConstraint("thread_id", "user_id"),)


class TopicFollow(db.Model):
    """Someone following a category or a tag (exactly one of the two): the lists' "my topics"
    filter reads these. Following a topic subscribes to no thread and sends no notice by itself."""

    __tablename__ = "topic_follows"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    category_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("categories.id", ondelete="CASCADE"), index=True)
    tag_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tags.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)

    __table_args__ = (
        sa.CheckConstraint("(category_id IS NULL) != (tag_id IS NULL)", name="one_topic"),
        sa.UniqueConstraint("user_id", "category_id"),
        sa.UniqueConstraint("user_id", "tag_id"),
    )


class NotificationPreference(db.Model):
    """How one person wants the notices of one kind: listed in the app only (`app`), listed and
    mailed at once (`mail`), listed and gathered in a daily mail (`digest`), or not at all (`none`).
    No row: the kind's default (`mail` for a kind that is mailed, else `app`)."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    delivery: Mapped[str] = mapped_column(sa.String(10))


class Notification(db.Model):
    """An in-app notice of a registered kind (`forum.notices`): a new answer, an accepted answer,
    a reminder to accept, and the kinds of the packages above the forum. The thread is optional."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    thread_id: Mapped[int | None] = mapped_column(sa.ForeignKey("threads.id", ondelete="CASCADE"), index=True)
    post_id: Mapped[int | None] = mapped_column(sa.ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    # Which event this notice is of (kind, thread, post and the creator's key; forum.notices): never
    # NULL, because NULLs are distinct in a unique constraint and a notice with no post would
    # otherwise be made again by a job that runs twice.
    dedupe_key: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now, index=True)
    read_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    mailed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    thread: Mapped[Thread | None] = relationship()

    __table_args__ = (
        # One notice per person and event: a job that runs twice notifies once.
        sa.UniqueConstraint("user_id", "dedupe_key"),
    )


# What holds an attachment once posted: a forum post, or (registered by kb) an article.
HOLDER_POST = "post"
UPLOAD_KINDS = ("image", "text")


class Upload(db.Model):
    """A file someone attached (forum.uploads). Until its post or article is saved it belongs to its
    author alone (`holder` NULL); then whoever may see that post or article may see the file, and
    nobody else. Unposted uploads older than a day are removed by a periodic job. The bytes are in
    the store (core.storage) under `key` (and `key-thumb` for a large image's thumbnail)."""

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(40), unique=True)
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    filename: Mapped[str] = mapped_column(sa.String(120))
    content_type: Mapped[str] = mapped_column(sa.String(60))
    size: Mapped[int] = mapped_column()
    width: Mapped[int | None] = mapped_column()
    height: Mapped[int | None] = mapped_column()
    has_thumbnail: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
    holder: Mapped[str | None] = mapped_column(sa.String(10))
    holder_id: Mapped[int | None] = mapped_column()
    attached_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        sa.CheckConstraint("kind IN ('image', 'text')", name="kind_known"),
        sa.CheckConstraint("(holder IS NULL) = (holder_id IS NULL)", name="holder_whole"),
        sa.Index("ix_uploads_holder", "holder", "holder_id"),
        sa.Index("ix_uploads_unposted", "holder", "created_at"),
    )


class UploadSettings(db.Model):
    """The admins' attachment limits: one row (id 1) of values, read through forum.uploads."""

    __tablename__ = "upload_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    values: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=clock.now)
