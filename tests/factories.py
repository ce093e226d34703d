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
