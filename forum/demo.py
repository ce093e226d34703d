"""The demo community: a fictional product's support forum, so a newcomer sees a living site."""

import io
import json
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from accounts.models import User
from accounts.services import username_key
from core import clock, files, markup
from core.extensions import db
from core.storage import store
from forum import history, reputation, uploads
from forum.models import (
    ANSWER,
    HOLDER_POST,
    QUESTION,
    Category,
    Post,
    Subscription,
    Tag,
    Thread,
    Upload,
    Vote,
)
from forum.services import refresh_thread_stats

DATA = Path(__file__).parent / "demo_data" / "community.json"
DEMO_EMAIL_DOMAIN = "demo.peerline.invalid"

# Packages above the forum add their part of the demo here, from their init_app (the forum imports
# none of them). `flask demo load` calls each `extension(if_empty)` after the community is in place,
# also when --if-empty found the forum loaded already; it returns a line to print, and raises
# RuntimeError when it cannot load.
EXTENSIONS: list[Callable[[bool], str | None]] = []


def is_empty() -> bool:
    return db.session.scalar(sa.select(Thread.id).limit(1)) is None


def load(path: Path = DATA) -> dict[str, int]:
    """Write the demo community; refuses to run twice (its people would exist already)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if db.session.scalar(sa.select(User.id).where(User.email.like(f"%@{DEMO_EMAIL_DOMAIN}")).limit(1)):
        raise RuntimeError("the demo community is loaded already")
    now = clock.now()
    categories = _categories(data["categories"])
    people = _people(data["people"])
    tags: dict[str, Tag] = {t.name: t for t in db.session.scalars(sa.select(Tag))}
    counts = {"threads": 0, "answers": 0}
    for spec in data["threads"]:
        asked = now - timedelta(days=spec["days_ago"])
        author = people[spec["author"]]
        for name in spec["tags"]:
            tags.setdefault(name, Tag(name=name))
        thread = Thread(category=categories[spec["category"]], author=author, title=spec["title"],
                        is_urgent=spec["urgent"], urgent_reason=spec.get("urgent_reason", ""),
                        created_at=asked, last_activity_at=asked,
                        tags=[tags[name] for name in spec["tags"]],
                        view_count=7 + 3 * len(spec["answers"]) + int(spec["days_ago"]) * 2)
        db.session.add(thread)
        screenshot = _screenshot(spec["screenshot"], author, asked) if spec.get("screenshot") else None
        body = spec["body"] + (f"\n\n{spec['screenshot']['caption']}\n\n{uploads.markdown_for(screenshot)}"
                               if screenshot is not None else "")
        question = _post(thread, author, QUESTION, body, asked)
        db.session.add(question)
        db.session.flush()
        if screenshot is not None:
            uploads.claim(author, HOLDER_POST, question.id, question.body_html)
        history.record(thread, history.CREATED, author, at=asked)
        if thread.is_urgent:
            history.record(thread, history.URGENT_RAISED, author, at=asked)
        followers = {author.id}
        answers = []
        for answer in spec["answers"]:
            when = min(asked + timedelta(hours=answer["hours_after"]), now - timedelta(minutes=5))
            post = _post(thread, people[answer["author"]], ANSWER, answer["body"], when)
            db.session.add(post)
            db.session.flush()
            for voter, value in [(u, 1) for u in answer["up"]] + [(u, -1) for u in answer["down"]]:
                db.session.add(Vote(post_id=post.id, user_id=people[voter].id, value=value,
                                    created_at=when + timedelta(hours=1)))
                post.score += value
            followers.add(post.author_id)
            answers.append(post)
        db.session.flush()
        if spec.get("accepted") is not None:
            accepted = answers[spec["accepted"]]
            accepter = author if spec.get("accepted_by", "asker") == "asker" else next(
                p for p in people.values() if p.role == "staff")
            thread.accepted_post_id, thread.accepted_by_id = accepted.id, accepter.id
            thread.solved_at = min(accepted.created_at + timedelta(hours=2), now - timedelta(minutes=1))
        refresh_thread_stats(thread, backfill=True)
        if thread.accepted_post_id is not None:
            history.record(thread, history.ACCEPTED, accepter, post_id=thread.accepted_post_id,
                           at=thread.solved_at)
        db.session.add_all(Subscription(thread_id=thread.id, user_id=uid) for uid in followers)
        counts["threads"] += 1
        counts["answers"] += len(answers)
    reputation.recompute()
    db.session.commit()
    return counts


def _categories(specs) -> dict[str, Category]:
    existing = {c.slug: c for c in db.session.scalars(sa.select(Category))}
    for position, spec in enumerate(specs):
        if spec["slug"] not in existing:
            existing[spec["slug"]] = Category(name=spec["name"], slug=spec["slug"],
                                              description=spec["description"], position=position)
            db.session.add(existing[spec["slug"]])
    for spec in specs:
        if spec.get("parent"):
            existing[spec["slug"]].parent = existing[spec["parent"]]
    return existing


def _people(specs) -> dict[str, User]:
    people = {}
    for spec in specs:
        user = User(email=f"{spec['username'].lower()}@{DEMO_EMAIL_DOMAIN}", username=spec["username"],
                    username_key=username_key(spec["username"]), display_name=spec["display_name"],
                    bio=spec.get("bio", ""), role=spec["role"],
                    # Demo people cannot sign in: their password is no hash of anything.
                    password_hash=f"!demo-{secrets.token_hex(8)}")
        db.session.add(user)
        people[spec["username"]] = user
    db.session.flush()
    return people


def _screenshot(spec: dict, author: User, when) -> Upload:
    """A made-up screenshot of a browser showing an error page, attached as its author would:
    through core.files and the store, unposted until the question that shows it is saved."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = 1280, 720
    image = Image.new("RGB", (width, height), (246, 247, 249))
    draw = ImageDraw.Draw(image)
    font = {size: ImageFont.load_default(size=size) for size in (18, 22, 34)}
    draw.rectangle((0, 0, width, 76), fill=(222, 225, 230))
    for n, colour in enumerate([(237, 106, 94), (245, 191, 79), (98, 197, 84)]):
        draw.ellipse((20 + 26 * n, 14, 36 + 26 * n, 30), fill=colour)
    draw.rounded_rectangle((120, 36, width - 40, 68), radius=16, fill=(255, 255, 255))
    draw.text((140, 41), spec["address"], fill=(60, 64, 72), font=font[18])
    draw.rounded_rectangle((290, 170, width - 290, 560), radius=14, fill=(255, 255, 255),
                           outline=(214, 218, 224), width=2)
    draw.ellipse((width // 2 - 36, 210, width // 2 + 36, 282), fill=(200, 45, 45))
    draw.text((width // 2, 246), "!", fill=(255, 255, 255), font=font[34], anchor="mm")
    draw.text((width // 2, 330), spec["heading"], fill=(30, 32, 36), font=font[34], anchor="mm")
    draw.text((width // 2, 390), spec["text"], fill=(80, 84, 92), font=font[22], anchor="mm")
    draw.text((width // 2, 470), spec["code"], fill=(120, 124, 132), font=font[18], anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG")
    prepared = files.prepare(spec["name"], out.getvalue(), image_limit=8 * 1024 * 1024, text_limit=1024)
    row = Upload(key=secrets.token_urlsafe(16), owner_id=author.id, kind=prepared.kind,
                 filename=prepared.filename,
                 content_type=prepared.content_type, size=len(prepared.data), width=prepared.width,
                 height=prepared.height, has_thumbnail=prepared.thumbnail is not None, created_at=when)
    store().put(row.key, prepared.data, prepared.content_type)
    if prepared.thumbnail is not None:
        store().put(uploads.thumbnail_key(row.key), prepared.thumbnail, "image/webp")
    db.session.add(row)
    db.session.flush()
    return row


def _post(thread: Thread, author: User, kind: str, body: str, when) -> Post:
    return Post(thread=thread, author=author, author_role=author.role, kind=kind, body=body,
                body_html=str(markup.render(body)), created_at=when)
