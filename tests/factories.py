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
