"""Attachments: screenshots and small text files dropped, pasted or picked into a post or article box.

The journey of a file:
1. `upload` checks that its author may write where the box is (a "place": the answer box of a
   thread, the ask form, the edit form of a post, or a place a package above registers in
   `hooks.upload_places`), checks the file (core.files: images verified and re-encoded, text files
   UTF-8), stores it (core.storage) and returns the row. The editor puts `![name](/uploads/<key>)`
   in the text.
2. Until a post or article that links it is saved, the file belongs to its author: nobody else can
   open it, or attach it. Saving the post `claim`s the author's unposted uploads it links.
3. From then on whoever may see that post (or article: `hooks.upload_holders`) may see the file,
   and nobody else: a hidden or deleted post hides its attachments.
4. `remove_unposted` (a periodic job) deletes files never posted, a day after they came.
"""

import re
import secrets
from dataclasses import asdict, dataclass, fields
from datetime import timedelta

import sqlalchemy as sa
from flask import g, has_request_context

from accounts import audit
from accounts.permissions import is_admin
from accounts.standing import check_can_participate
from core import clock, files, markup
from core.errors import Forbidden, Invalid, NotFound
from core.extensions import db
from core.storage import store
from forum import hooks, visibility
from forum.models import HOLDER_POST, Post, Upload, UploadSettings

UNPOSTED_KEPT = timedelta(days=1)
UNPOSTED_MAX = 30  # files one person may have waiting to be posted
_KEY = re.compile(r"^[A-Za-z0-9_-]{22}$")
_LINKED = re.compile(re.escape(markup.UPLOAD_PATH) + r"([A-Za-z0-9_-]{22})(?![\w-])")


@dataclass(frozen=True)
class Settings:
    """The admins' limits; the defaults are what a new site runs with."""

    image_kb: int = 4096  # largest image, in KB
    text_kb: int = 512  # largest text file, in KB
    per_post: int = 5  # files one post or article may carry (0: attachments off)


LIMITS = {
    "image_kb": ("Largest image, in KB", 16, 20 * 1024),
    "text_kb": ("Largest text file, in KB", 1, 2048),
    "per_post": ("Files one post or article may carry (0 turns attachments off)", 0, 20),
}


def current() -> Settings:
    """The limits in force (read once per request)."""
    if has_request_context() and "upload_settings" in g:
        return g.upload_settings
    row = db.session.get(UploadSettings, 1)
    names = {f.name for f in fields(Settings)}
    value = Settings(**{k: int(v) for k, v in ((row.values if row else None) or {}).items() if k in names})
    if has_request_context():
        g.upload_settings = value
    return value


def update_settings(actor, values: dict) -> Settings:
    """Save the limits (any subset), audited. Raises Forbidden or Invalid (nothing saved)."""
    if not is_admin(actor):
        raise Forbidden("Only admins change the attachment limits.")
    changed = {}
    for name, raw in values.items():
        if name not in LIMITS:
            continue
        label, low, high = LIMITS[name]
        try:
            changed[name] = int(str(raw).strip())
        except (TypeError, ValueError):
            raise Invalid(f"{label}: give a whole number.", field=name) from None
        if not low <= changed[name] <= high:
            raise Invalid(f"{label}: give a number from {low} to {high:,}.", field=name)
    before = asdict(current())
    row = db.session.get(UploadSettings, 1)
    if row is None:
        row = UploadSettings(id=1, values={})
        db.session.add(row)
    row.values = {**(row.values or {}), **changed}
    row.updated_at = clock.now()
    differ = {k: v for k, v in changed.items() if before[k] != v}
    if differ:
        audit.record(actor, "upload-settings", "site", 0, before={k: before[k] for k in differ}, after=differ)
    db.session.commit()
    if has_request_context():
        g.pop("upload_settings", None)
    return current()


# --- places a file may be attached in ----------------------------------------------------------------


def _in_thread(actor, target) -> None:
    from forum import services

    services.check_can_reply(actor, services.get_thread(actor, target))


def _in_new_question(actor, target) -> None:
    from forum import permissions

    if not permissions.can_ask(actor):
        raise Forbidden("Sign in to ask a question.")


def _in_post(actor, target) -> None:
    from forum import services

    services.check_can_edit_post(actor, services.get_post(actor, target))


hooks.upload_places.update(thread=_in_thread, ask=_in_new_question, post=_in_post)


def _post_shown(viewer, post_id: int) -> bool:
    post = db.session.get(Post, post_id)
    return post is not None and visibility.can_see_post(viewer, post)


hooks.upload_holders[HOLDER_POST] = _post_shown


def check_can_upload(actor, place: str | None, target) -> None:
    """Nothing if `actor` may attach a file in `place` (its `target`: a thread, a post...);
    raises Forbidden or NotFound saying why not."""
    if not getattr(actor, "is_authenticated", False):
        raise Forbidden("Sign in to attach files.")
    check_can_participate(actor)
    check = hooks.upload_places.get(place or "")
    if check is None:
        raise NotFound("Files can be attached only to a post or an article.")
    check(actor, target)
    if current().per_post == 0:
        raise Forbidden("Attachments are turned off on this site.")


def upload(actor, place: str | None, target, filename: str | None, data: bytes, *, have: int = 0) -> Upload:
    """Store one file for `actor` to post in `place`, in a text that links `have` files already.
    Raises Forbidden, NotFound, Invalid or TooLarge; nothing is stored then."""
    check_can_upload(actor, place, target)
    limit = current().per_post
    if have >= limit:
        raise Invalid(f"This post has {have} attachments already, the most one may carry ({limit}). Put "
                      "more in a follow-up post.", field="file")
    waiting = db.session.scalar(sa.select(sa.func.count()).select_from(Upload)
                                .where(Upload.owner_id == actor.id, Upload.holder.is_(None)))
    if waiting >= UNPOSTED_MAX:
        raise Forbidden(f"You have {waiting} files waiting to be posted. Post what you wrote, or try again "
                        "tomorrow: files never posted are removed after a day.")
    limits = current()
    prepared = files.prepare(filename, data, image_limit=limits.image_kb * 1024,
                             text_limit=limits.text_kb * 1024)
    key = secrets.token_urlsafe(16)
    row = Upload(key=key, owner_id=actor.id, kind=prepared.kind, filename=prepared.filename,
                 content_type=prepared.content_type, size=len(prepared.data), width=prepared.width,
                 height=prepared.height, has_thumbnail=prepared.thumbnail is not None, created_at=clock.now())
    files_store = store()
    files_store.put(key, prepared.data, prepared.content_type)
    if prepared.thumbnail is not None:
        files_store.put(thumbnail_key(key), prepared.thumbnail, "image/webp")
    db.session.add(row)
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        _remove_stored(row)
        raise
    return row


def thumbnail_key(key: str) -> str:
    return key + "-thumb"


def markdown_for(row: Upload) -> str:
    """What the editor puts in the text for an upload: an image, or a link to a text file."""
    label = re.sub(r"[\[\]\\]", "", row.filename)
    path = markup.UPLOAD_PATH + row.key
    return f"![{label}]({path})" if row.kind == "image" else f"[{label}]({path})"


# --- posting -----------------------------------------------------------------------------------------


def linked_keys(html: str | None) -> list[str]:
    """The upload keys a rendered text links, each once, in order."""
    return list(dict.fromkeys(_LINKED.findall(str(html or ""))))


def check_count(html: str, field: str = "body") -> None:
    """Raises Invalid when a rendered text links more files than a post may carry."""
    count, limit = len(linked_keys(html)), current().per_post
    if count > limit:
        raise Invalid(f"A post can carry at most {limit} attachments; this one has {count}. Remove some, or "
                      "put them in a follow-up post.", field=field)


def claim(actor, holder: str, holder_id: int, html: str) -> int:
    """Attach to `holder` the unposted files of `actor` that `html` links (others' files and files
    already posted elsewhere are left as they are). Part of the caller's transaction."""
    keys = linked_keys(html)
    if not keys or actor is None:
        return 0
    result = db.session.execute(
        sa.update(Upload).where(Upload.key.in_(keys), Upload.owner_id == actor.id, Upload.holder.is_(None))
        .values(holder=holder, holder_id=holder_id, attached_at=clock.now())
        .execution_options(synchronize_session=False))
    return result.rowcount


# --- reading -------------------------------------------------------------------------------------------


def get_for(viewer, key: str) -> Upload:
    """The upload if `viewer` may see it: its author before it is posted, afterwards whoever may see
    its post or article. Raises NotFound otherwise (the same answer as for no such file)."""
    row = db.session.scalar(sa.select(Upload).where(Upload.key == key)) if _KEY.match(key or "") else None
    if row is not None:
        if row.holder is None:
            viewer_id = viewer.id if getattr(viewer, "is_authenticated", False) else None
            if viewer_id is not None and viewer_id == row.owner_id:
                return row
        else:
            shown = hooks.upload_holders.get(row.holder)
            if shown is not None and shown(viewer, row.holder_id):
                return row
    raise NotFound("There is no such file. The post it was in may have been hidden or deleted.")


def read(row: Upload, thumbnail: bool = False) -> tuple[bytes, str]:
    """The stored bytes and their content type (the thumbnail when asked for and there is one).
    Raises NotFound when the store has lost them."""
    if thumbnail and row.has_thumbnail:
        data, content_type = store().get(thumbnail_key(row.key)), "image/webp"
    else:
        data, content_type = store().get(row.key), row.content_type
    if data is None:
        raise NotFound("This file is missing from the store.")
    return data, content_type


# --- clean-up --------------------------------------------------------------------------------------------


def _remove_stored(row) -> None:
    files_store = store()
    files_store.delete(row.key)
    if row.has_thumbnail:
        files_store.delete(thumbnail_key(row.key))


def remove_unposted(batch: int = 500) -> int:
    """Delete the files never posted, a day after they came: the rows first (a file claimed by a
    post meanwhile keeps its row, as the condition is checked again in the delete), then, once that
    is committed, their stored bytes. Returns how many were removed."""
    removed = 0
    cutoff = clock.now() - UNPOSTED_KEPT
    while True:
        ids = db.session.scalars(sa.select(Upload.id)
                                 .where(Upload.holder.is_(None), Upload.created_at < cutoff)
                                 .order_by(Upload.id).limit(batch)).all()
        if not ids:
            return removed
        gone = db.session.execute(sa.delete(Upload).where(Upload.id.in_(ids), Upload.holder.is_(None))
                                  .returning(Upload.key, Upload.has_thumbnail)).all()
        db.session.commit()
        for row in gone:
            _remove_stored(row)
        removed += len(gone)
