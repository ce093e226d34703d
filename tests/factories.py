"""Factories that build saved rows for tests, through the same services users go through."""

import itertools

from accounts import services
from accounts.models import MEMBER
from core.extensions import db

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


def make_user(role: str = MEMBER, *, username: str | None = None, email: str | None = None,
              password: str = PASSWORD, display_name: str = ""):
    """A saved user with the given role (set directly, as a fixture; no audit entry)."""
    n = next(_counter)
    username = username or f"{role}{n}"
    user = services.sign_up(email or f"{username}@example.com", username, password, display_name)
    if role != MEMBER:
        user.role = role
        db.session.commit()
    return user


def make_category(name: str = "General", slug: str | None = None):
    """A saved category (created directly: categories are admin set-up, not under test here)."""
    from forum.models import Category

    category = Category(name=name, slug=slug or name.lower().replace(" ", "-"))
    db.session.add(category)
    db.session.commit()
    return category


def make_thread(author=None, *, category=None, title: str | None = None,
                body: str = "It fails with an error when I try.", tags=(), **options):
    """A question asked through the forum service."""
    from forum import services as forum_services

    author = author or make_user()
    category = category or make_category(f"Category {next(_counter)}")
    title = title or f"How do I fix problem number {next(_counter)}?"
    return forum_services.create_thread(author, category.id, title, body, tags, **options)


def make_answer(thread, author=None, body: str = "Try turning it off and on again."):
    """An answer posted through the forum service."""
    from forum import services as forum_services

    return forum_services.create_post(author or make_user(), thread, body)


def make_article(author=None, *, category=None, title: str | None = None,
                 body: str = "Open **Settings** and follow the steps.", tags=(), status: str = "published",
                 slug: str = ""):
    """A knowledge-base article written through the kb service (by staff unless `author` is given)."""
    from kb import services as kb_services

    author = author or make_user("staff")
    category = category or make_category(f"Category {next(_counter)}")
    title = title or f"How to fix problem number {next(_counter)}"
    return kb_services.create_article(author, category.id, title, body, tags, slug, status=status)


def make_solved_thread(asker=None, *, category=None, title: str | None = None,
                       question: str = "The invoice total is off by a penny.",
                       answer: str = "Switch **rounding** to the invoice total.", tags=()):
    """A thread whose answer the asker accepted."""
    from forum import services as forum_services

    asker = asker or make_user()
    thread = make_thread(asker, category=category, title=title, body=question, tags=tags)
    post = make_answer(thread, make_user("advocate"), answer)
    forum_services.accept_answer(asker, post)
    return thread
