"""The demo knowledge base: Tallybird help articles, some promoted from the demo community's solved
threads, with their history and readers' feedback. `flask demo load` loads it after the community."""

import json
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from accounts.models import User
from core import clock, markup
from core.extensions import db
from forum.demo import DEMO_EMAIL_DOMAIN
from forum.models import Category, Tag, Thread
from kb import services
from kb.models import DRAFT, Article, ArticleFeedback, ArticleRevision, KbCategorySetting

DATA = Path(__file__).parent / "demo_data" / "articles.json"


def is_empty() -> bool:
    return db.session.scalar(sa.select(Article.id).limit(1)) is None


def _demo_people() -> dict[str, User]:
    return {u.username: u for u in db.session.scalars(
        sa.select(User).where(User.email.like(f"%@{DEMO_EMAIL_DOMAIN}")))}


def load_with_community(if_empty: bool) -> str:
    """The `flask demo load` extension: the articles, when the demo community is there and the
    knowledge base is empty. Raises RuntimeError when loaded already (unless `if_empty`)."""
    if not is_empty():
        if if_empty:
            return "The knowledge base has articles already; the demo articles are not loaded."
        raise RuntimeError("the demo knowledge base is loaded already")
    if not _demo_people():
        return "This forum is not the demo community, so the demo knowledge base is not loaded."
    counts = load()
    return (f"Loaded the demo knowledge base: {counts['articles']} articles, "
            f"{counts['promoted']} of them promoted from solved threads.")


def load(path: Path = DATA) -> dict[str, int]:
    """Write the demo articles. Raises RuntimeError without the demo community or when the
    knowledge base has articles already."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    people = _demo_people()
    if not people:
        raise RuntimeError("load the demo community first: the articles are written by its people")
    if not is_empty():
        raise RuntimeError("the demo knowledge base is loaded already")
    now = clock.now()
    categories = {c.slug: c for c in db.session.scalars(sa.select(Category))}
    tags = {t.name: t for t in db.session.scalars(sa.select(Tag))}
    threads = {t.title: t for t in db.session.scalars(
        sa.select(Thread).where(Thread.author_id.in_([p.id for p in people.values()])))}
    _open_to_advocates([categories[slug] for slug in data["advocate_categories"]])
    counts = {"articles": 0, "promoted": 0}
    for spec in data["articles"]:
        author = people[spec["author"]]
        thread = threads[spec["promoted_from"]] if spec.get("promoted_from") else None
        created = now - timedelta(days=spec["days_ago"])
        if "updated_days_ago" in spec:
            updated = now - timedelta(days=spec["updated_days_ago"])
        elif thread is not None and spec["body"] is not None:
            updated = created + timedelta(hours=3)  # promoted, then edited into shape the same day
        else:
            updated = created
        versions = []  # (title, body, editor, when, note)
        if thread is not None:
            draft = services.promotion_for(author, thread)
            versions.append((draft.title, draft.body, author, created, f"Promoted from thread #{thread.id}"))
        for earlier in spec.get("earlier", []):
            versions.append((earlier["title"], earlier["body"], people[earlier["editor"]],
                             now - timedelta(days=earlier["days_ago"]), ""))
        if spec["body"] is not None:
            versions.append((spec["title"], spec["body"], author, updated, ""))
        title, body = versions[-1][0], versions[-1][1]
        for name in spec["tags"]:
            tags.setdefault(name, Tag(name=name))
        published_at = None
        if spec["status"] != DRAFT:
            published_at = updated if thread is not None else created
        article = Article(
            title=title, slug=spec["slug"], body=body, body_html=str(markup.render(body)),
            category=categories[spec["category"]], status=spec["status"], author=author,
            created_at=created, updated_at=updated, published_at=published_at, view_count=spec["views"],
            tags=[tags[name] for name in spec["tags"]], source_thread_id=thread.id if thread else None,
        )
        db.session.add(article)
        db.session.flush()
        for number, (v_title, v_body, editor, when, note) in enumerate(versions, 1):
            db.session.add(ArticleRevision(article_id=article.id, number=number, title=v_title, body=v_body,
                                           editor_id=editor.id, note=note, created_at=when))
        for answer in spec["feedback"]:
            db.session.add(ArticleFeedback(
                article_id=article.id, user_id=people[answer["by"]].id if answer["by"] else None,
                helpful=answer["helpful"], comment=answer["comment"], created_at=updated, updated_at=updated))
        counts["articles"] += 1
        counts["promoted"] += thread is not None
    db.session.commit()
    return counts


def _open_to_advocates(categories: list[Category]) -> None:
    existing = {s.category_id: s for s in db.session.scalars(sa.select(KbCategorySetting))}
    for category in categories:
        setting = existing.get(category.id) or KbCategorySetting(category_id=category.id)
        setting.advocates_may_write = True
        db.session.add(setting)
    db.session.flush()
