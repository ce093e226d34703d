"""Who may do what in the knowledge base, as pure predicates.

Writers are staff, in every category, and advocates in the categories where an admin allowed
them (`KbCategorySetting.advocates_may_write`). The predicates take the set of those category
ids (`kb.services.advocate_category_ids`) instead of reading the database themselves.
"""

from accounts.models import ADVOCATE
from accounts.permissions import is_admin, is_staff
from kb.models import PUBLISHED


def _signed_in(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active)


def is_advocate(user) -> bool:
    return _signed_in(user) and user.role == ADVOCATE


def may_write_somewhere(user, advocate_category_ids) -> bool:
    """Staff, or an advocate with at least one category open to advocates."""
    return _signed_in(user) and (is_staff(user) or (is_advocate(user) and bool(advocate_category_ids)))


def can_write_in(user, category_id: int, advocate_category_ids) -> bool:
    """Write, edit, publish and archive articles of one category, and promote its threads."""
    if not _signed_in(user):
        return False
    return is_staff(user) or (is_advocate(user) and category_id in advocate_category_ids)


def can_see_article(user, article, advocate_category_ids) -> bool:
    """Published articles are for everyone; drafts and archived ones for their category's writers."""
    return article.status == PUBLISHED or can_write_in(user, article.category_id, advocate_category_ids)


def can_delete_article(user) -> bool:
    """Deleting loses the history: staff only (writers archive instead)."""
    return _signed_in(user) and is_staff(user)


def can_see_feedback(user) -> bool:
    """The helpful / not helpful counts and the comments."""
    return _signed_in(user) and is_staff(user)


def can_manage_settings(user) -> bool:
    """Which categories advocates may write in."""
    return _signed_in(user) and is_admin(user)
