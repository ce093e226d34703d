"""Factories that build saved rows for tests, through the same services users go through."""

import itertools
import threading
from contextlib import contextmanager

from werkzeug.security import generate_password_hash

from accounts import services
from accounts.models import MEMBER
from core.extensions import db

PASSWORD = "correct horse battery staple"
# Made once and given to every user the factories sign up with PASSWORD: scrypt at its real cost
# takes ~0.1 s a user. It is a scrypt hash with a small work factor, so signing in still checks it
# through werkzeug, quickly. Tests marked `password_hashing` (conftest sets `hash_passwords`) hash
# every password at its real cost.
PASSWORD_HASH = generate_password_hash(PASSWORD, method="scrypt:1024:8:1")
hash_passwords = False
_counter = itertools.count(1)
_hashing = threading.Lock()


@contextmanager
def _precomputed_hash():
    """Within it, services hash PASSWORD as PASSWORD_HASH (any other password as usual)."""
    if hash_passwords:
        yield
        return
    with _hashing:  # one swap at a time, so that concurrent factories restore the real function
        real = services.generate_password_hash

        def hashed(password, *args, **kwargs):
            return PASSWORD_HASH if password == PASSWORD else real(password, *args, **kwargs)

        services.generate_password_hash = hashed
        try:
            yield
        finally:
            services.generate_password_hash = real


def make_user(role: str = MEMBER, *, username: str | None = None, email: str | None = None,
              password: str = PASSWORD, display_name: str = "", trust_level: int = 1):
    """A saved user with the given role (set directly, as a fixture; no audit entry). Members have
    basic trust unless `trust_level=0` makes them new members, under moderation's safeguards."""
    n = next(_counter)
    username = username or f"{role}{n}"
    with _precomputed_hash():
        user = services.sign_up(email or f"{username}@example.com", username, password, display_name)
    if role != MEMBER or trust_level:
        user.role, user.trust_level = role, trust_level
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
