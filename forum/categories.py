"""Categories: where threads live. Admins create, edit, nest and delete them."""

import re

import sqlalchemy as sa

from accounts import audit
from accounts.models import User
from core import signals
from core.errors import Conflict, Forbidden, Invalid
from core.extensions import db
from core.ids import possible_id
from core.text import clean_line
from forum import hooks
from forum import permissions as can
from forum.models import Category, Thread, ThreadEvent

_SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def get_category(category_id) -> Category:
    """Raises Invalid (not NotFound: it comes from a form) for an unknown category."""
    category_id = possible_id(category_id)
    category = db.session.get(Category, category_id) if category_id is not None else None
    if category is None:
        raise Invalid("Choose one of the categories.", field="category_id")
    return category


# Far more categories than any forum has, and well inside the integer column on every database.
POSITION_MIN, POSITION_MAX = -10_000, 10_000


def save_category(actor: User, category: Category | None, *, name: str, slug: str,
                  description: str = "", position: int = 0, parent_id=None) -> Category:
    """Create (category None) or update a category. Raises Forbidden, Invalid or Conflict."""
    if not can.can_manage_categories(actor):
        raise Forbidden("Only admins manage categories.")
    name = clean_line(name)
    slug = clean_line(slug).lower() or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    description = clean_line(description)
    if not name or len(name) > 80:
        raise Invalid("A category needs a name of at most 80 characters.", field="name")
    if not _SLUG_RE.fullmatch(slug) or len(slug) > 80:
        raise Invalid("A slug is lowercase letters, digits and single dashes.", field="slug")
    if len(description) > 500:
        raise Invalid("Keep the description under 500 characters.", field="description")
    try:
        position = int(position or 0)
    except (TypeError, ValueError, OverflowError):
        position = None
    if position is None or not POSITION_MIN <= position <= POSITION_MAX:
        raise Invalid(f"The order is a whole number from {POSITION_MIN:,} to {POSITION_MAX:,}.",
                      field="position")
    parent = get_category(parent_id) if parent_id not in (None, "", 0, "0") else None
    if parent is not None and category is not None and _is_within(parent, category):
        raise Invalid("A category cannot sit inside itself.", field="parent_id")
    clash = db.session.scalar(sa.select(Category.id).where(Category.slug == slug))
    if clash is not None and (category is None or clash != category.id):
        raise Conflict("Another category has that slug.", field="slug")
    if category is None:
        category = Category()
        db.session.add(category)
    before = _described(category) if category.id is not None else None
    category.name, category.slug, category.description = name, slug, description
    category.position, category.parent = position, parent
    db.session.flush()
    audit.record(actor, "category-save", "category", category.id, before=before, after=_described(category))
    signals.categories_changed.send(category, actor=actor)
    db.session.commit()
    return category


def _described(category: Category) -> dict:
    return {"name": category.name, "slug": category.slug, "parent_id": category.parent_id,
            "position": category.position}


def _is_within(candidate: Category, category: Category) -> bool:
    node, seen = candidate, set()
    while node is not None and node.id not in seen:
        if node.id == category.id:
            return True
        seen.add(node.id)
        node = node.parent
    return False


def delete_category(actor: User, category: Category) -> None:
    """Delete an empty category. Raises Forbidden or Conflict."""
    if not can.can_manage_categories(actor):
        raise Forbidden("Only admins manage categories.")
    in_use = db.session.scalar(sa.select(Thread.id).where(Thread.category_id == category.id).limit(1))
    if in_use is not None:
        raise Conflict("This category has threads; move them before deleting it.")
    children = db.session.scalar(sa.select(Category.id).where(Category.parent_id == category.id).limit(1))
    if children is not None:
        raise Conflict("This category has sub-categories; move or delete them first.")
    in_history = db.session.scalar(sa.select(ThreadEvent.id).where(
        sa.or_(ThreadEvent.category_id == category.id, ThreadEvent.from_category_id == category.id)).limit(1))
    if in_history is not None:
        raise Conflict("Threads were in this category once, and their history keeps it (the figures of "
                       "past weeks count them there). Rename it, or leave it empty, instead.")
    for in_use_by in hooks.category_uses:
        reason = in_use_by(category)
        if reason:
            raise Conflict(f"This category {reason}; move them before deleting it.")
    audit.record(actor, "category-delete", "category", category.id, before=_described(category))
    db.session.delete(category)
    signals.categories_changed.send(category, actor=actor)
    db.session.commit()
