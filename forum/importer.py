"""Import a Stack Exchange data dump folder (Posts.xml; Users.xml and Comments.xml if present).

Questions become threads, answers posts, accepted answers solutions, with the
original authors, scores, tags and timestamps. Bodies are kept as sanitised
HTML, with a Markdown source derived from them for later edits. Every row
remembers where it came from, so a second run changes nothing.
"""

import re
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from defusedxml.ElementTree import iterparse
from markdownify import markdownify
from markupsafe import escape

from accounts.models import MEMBER, STAFF, User
from core import markup
from core.clock import as_utc
from core.errors import Invalid
from core.extensions import db
from forum import history, reputation
from forum.models import ANSWER, QUESTION, TAG_MAX, Category, Post, Tag, Thread
from forum.services import refresh_threads_stats

QUESTION_TYPE, ANSWER_TYPE = "1", "2"
_TAG_CLEAN = re.compile(r"[^a-z0-9+#.-]")


@dataclass
class ImportReport:
    """What one run added (zero everywhere on a second run)."""

    source: str
    users: int = 0
    threads: int = 0
    answers: int = 0
    accepted: int = 0
    closed: int = 0
    comments: int = 0
    tags: int = 0
    skipped: list[str] = field(default_factory=list)


def _rows(path: Path) -> Iterable[dict[str, str]]:
    for _event, element in iterparse(str(path), events=("end",)):
        if element.tag == "row":
            yield dict(element.attrib)
            element.clear()


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def parse_tags(raw: str | None) -> list[str]:
    """`<a><b>` (older dumps) or `|a|b|` (newer dumps) to clean tag names."""
    names = re.findall(r"<([^>]+)>", raw or "") or (raw or "").strip("|").split("|")
    cleaned = []
    for name in names:
        name = _TAG_CLEAN.sub("-", name.strip().lower()).strip("-.")[:TAG_MAX]
        if name and name not in cleaned:
            cleaned.append(name)
    return cleaned[:5]


def html_to_markdown(html: str) -> str:
    return markdownify(html or "", heading_style="ATX", bullets="-").strip() or "(empty)"


def import_stackexchange(folder: Path, *, staff_user_ids: Iterable[int] = (),
                         category_slug: str | None = None,
                         progress: Callable[[Iterable], Iterable] = lambda rows: rows) -> ImportReport:
    """Import one dump folder. Raises Invalid when Posts.xml is missing."""
    folder = Path(folder)
    posts_xml = folder / "Posts.xml"
    if not posts_xml.is_file():
        raise Invalid(f"No Posts.xml in {folder}: give the folder of one site's dump.")
    site = re.sub(r"[^a-z0-9]+", "-", folder.resolve().name.lower()).strip("-") or "site"
    source = f"stackexchange:{site}"[:40]
    report = ImportReport(source=source)
    staff_ids = {int(i) for i in staff_user_ids}
    rows = list(progress(list(_rows(posts_xml))))
    category = _category(category_slug or site)
    users = _users(folder, rows, site, staff_ids, report)
    comments = _comments(folder)
    tags = _tags(rows, report)

    existing_threads = dict(db.session.execute(
        sa.select(Thread.import_id, Thread.id).where(Thread.import_source == source)).all())
    existing_posts = dict(db.session.execute(
        sa.select(Post.import_id, Post.id).where(Post.import_source == source)).all())
    threads_by_se_id: dict[str, Thread] = {}
    closed_dates: dict[str, str | None] = {}
    touched: set[int] = set()

    for row in rows:
        if row.get("PostTypeId") != QUESTION_TYPE or row["Id"] in existing_threads:
            continue
        author = users[row.get("OwnerUserId") or "anonymous"]
        thread = Thread(
            category=category, author=author, title=(row.get("Title") or "(untitled)")[:200],
            created_at=_when(row["CreationDate"]),
            last_activity_at=_when(row.get("LastActivityDate") or row["CreationDate"]),
            view_count=int(row.get("ViewCount") or 0), import_source=source, import_id=row["Id"],
            tags=[tags[name] for name in parse_tags(row.get("Tags"))],
        )
        db.session.add(thread)
        db.session.add(_post(row, thread, author, QUESTION, source, comments))
        threads_by_se_id[row["Id"]] = thread
        closed_dates[row["Id"]] = row.get("ClosedDate")
        report.threads += 1
    db.session.flush()
    for se_id, thread in threads_by_se_id.items():
        history.record(thread, history.CREATED, thread.author, at=thread.created_at)
        closed = closed_dates.get(se_id)
        if closed:
            # Closed on Stack Exchange (as a duplicate, off-topic...): closed here too, by nobody
            # here, at the dump's time, so the backlog and "threads closed" count it as the site did.
            thread.closed_at, thread.close_reason = _when(closed), "other"
            thread.close_note = "Closed on Stack Exchange before the import."
            history.record(thread, history.CLOSED, None, reason="other", note=thread.close_note,
                           at=thread.closed_at)
            report.closed += 1

    for row in rows:
        if row.get("PostTypeId") != ANSWER_TYPE or row["Id"] in existing_posts:
            continue
        parent = row.get("ParentId")
        thread = threads_by_se_id.get(parent)
        if thread is None and parent in existing_threads:
            thread = db.session.get(Thread, existing_threads[parent])
        if thread is None:
            report.skipped.append(f"answer {row['Id']}: its question {parent} is not in the dump")
            continue
        author = users[row.get("OwnerUserId") or "anonymous"]
        db.session.add(_post(row, thread, author, ANSWER, source, comments))
        touched.add(thread.id)
        report.answers += 1
    db.session.flush()

    answer_ids = dict(db.session.execute(
        sa.select(Post.import_id, Post.id).where(Post.import_source == source, Post.kind == ANSWER)).all())
    for row in rows:
        if row.get("PostTypeId") != QUESTION_TYPE:
            continue
        accepted_id = answer_ids.get(row.get("AcceptedAnswerId") or "")
        thread = threads_by_se_id.get(row["Id"])
        if thread is None and row["Id"] in existing_threads:
            thread = db.session.get(Thread, existing_threads[row["Id"]])
        if thread is None or accepted_id is None or thread.accepted_post_id is not None:
            continue  # a later dump may add an acceptance; one already made stays
        answer = db.session.get(Post, accepted_id)
        # Dumps do not say when an answer was accepted; the answer's own time is the earliest it can be.
        thread.accepted_post_id, thread.accepted_by_id = answer.id, thread.author_id
        thread.solved_at = answer.created_at
        history.record(thread, history.ACCEPTED, thread.author, post_id=answer.id, at=answer.created_at)
        report.accepted += 1
        touched.add(thread.id)
    for thread in threads_by_se_id.values():
        touched.add(thread.id)
    refreshed = [db.session.get(Thread, thread_id) for thread_id in sorted(touched)]
    dump_activity = {thread.id: thread.last_activity_at for thread in refreshed}
    refresh_threads_stats(refreshed, backfill=True)
    for thread in refreshed:
        thread.last_activity_at = max(as_utc(dump_activity[thread.id]), as_utc(thread.last_activity_at))
    report.comments = sum(len(v) for v in comments.values()) if report.threads or report.answers else 0
    reputation.recompute()
    db.session.commit()
    return report


def _category(slug: str) -> Category:
    category = db.session.scalar(sa.select(Category).where(Category.slug == slug[:80]))
    if category is None:
        category = Category(slug=slug[:80], name=slug.replace("-", " ").title()[:80],
                            description="Imported from a Stack Exchange data dump.", position=100)
        db.session.add(category)
    return category


def _users(folder: Path, rows, site: str, staff_ids: set[int], report: ImportReport) -> dict[str, User]:
    known: dict[str, str] = {}
    users_xml = folder / "Users.xml"
    if users_xml.is_file():
        for row in _rows(users_xml):
            known[row["Id"]] = row.get("DisplayName") or ""
    names: dict[str, str] = {}
    for row in rows:
        if row.get("PostTypeId") not in (QUESTION_TYPE, ANSWER_TYPE):
            continue  # tag wikis and the like are not imported: their owners are not authors
        owner = row.get("OwnerUserId")
        if owner and owner not in names:
            names[owner] = known.get(owner) or row.get("OwnerDisplayName") or ""
        if not owner:
            names.setdefault("anonymous", "Anonymous")
    domain = f"{site}.import.invalid"
    emails = {se_id: f"se-{se_id}@{domain}" for se_id in names}
    found = {u.email: u for u in db.session.scalars(sa.select(User).where(User.email.in_(emails.values())))}
    users = {}
    for se_id, display in names.items():
        user = found.get(emails[se_id])
        if user is None:
            username = f"se_{se_id}" if se_id != "anonymous" else "se_anonymous"
            key = f"{site[:12]}_{username}"[:30].lower()
            role = STAFF if se_id.isdigit() and int(se_id) in staff_ids else MEMBER
            user = User(email=emails[se_id], username=key, username_key=key,
                        display_name=(" ".join(display.split()) or f"User {se_id}")[:60],
                        # Not a hash of anything: nobody can sign in as an imported author.
                        password_hash=f"!imported-{secrets.token_hex(8)}", role=role)
            db.session.add(user)
            report.users += 1
        users[se_id] = user
    db.session.flush()
    return users


def _comments(folder: Path) -> dict[str, list[dict]]:
    by_post = defaultdict(list)
    comments_xml = folder / "Comments.xml"
    if comments_xml.is_file():
        for row in _rows(comments_xml):
            by_post[row.get("PostId", "")].append(row)
    return by_post


def _tags(rows, report: ImportReport) -> dict[str, Tag]:
    wanted = sorted({name for row in rows for name in parse_tags(row.get("Tags"))})
    tags = {t.name: t for t in db.session.scalars(sa.select(Tag).where(Tag.name.in_(wanted)))}
    for name in wanted:
        if name not in tags:
            tags[name] = Tag(name=name)
            db.session.add(tags[name])
            report.tags += 1
    return tags


def _post(row, thread: Thread, author: User, kind: str, source: str, comments) -> Post:
    html = row.get("Body") or ""
    notes = comments.get(row["Id"], [])
    if notes:
        # Peerline has no comments: keep them, quoted under the post, not as replies.
        items = "".join(f"<li>{escape(c.get('Text', ''))}</li>" for c in notes)
        html += f"<aside><p>Comments on the original site:</p><ul>{items}</ul></aside>"
    return Post(
        thread=thread, author=author, author_role=author.role, kind=kind,
        body=html_to_markdown(html), body_html=str(markup.sanitize_html(html)),
        score=int(row.get("Score") or 0), created_at=_when(row["CreationDate"]),
        import_source=source, import_id=row["Id"],
    )
