"""Who may do what with accounts, as predicates, and the view decorators built on them.

Every view declares a policy (public, signed-in, a role) through these
decorators; a test walks the URL map and refuses any endpoint without one.
"""

from functools import wraps

from flask import abort
from flask_login import current_user

from accounts.models import ADMIN, STAFF_ROLES
from accounts.standing import SUSPENDED, restriction_in_force
from core.extensions import login_manager

POLICY_ATTRIBUTE = "peerline_policy"
PUBLIC, SIGNED_IN, STAFF_ONLY, ADMIN_ONLY = "public", "signed-in", "staff", "admin"


def is_staff(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.role in STAFF_ROLES)


def is_admin(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.role == ADMIN)


def can_change_role(actor, target) -> bool:
    """Only admins change anyone's role (their own included)."""
    return is_admin(actor) and target is not None


def can_edit_profile(actor, user) -> bool:
    """People edit their own profile (not while suspended: a bio is a place to post too); staff
    edit anyone's."""
    if not getattr(actor, "is_authenticated", False):
        return False
    if is_staff(actor):
        return True
    return actor.id == user.id and restriction_in_force(actor) != SUSPENDED


def can_see_private_identities(viewer, user) -> bool:
    """Staff see every identity (the CRM id among them); others see public handles only."""
    return is_staff(viewer)


def can_edit_crm_id(actor) -> bool:
    """The CRM id links a customer to the company's records: staff set it, never the customer."""
    return is_staff(actor)


def _mark(view, policy: str):
    setattr(view, POLICY_ATTRIBUTE, policy)
    return view


def public(view):
    """Anyone, signed in or not."""
    return _mark(view, PUBLIC)


def login_required(view):
    """Signed-in users; others are sent to sign in and brought back."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return view(*args, **kwargs)

    return _mark(wrapped, SIGNED_IN)


def _role_required(policy: str, allowed):
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not allowed(current_user):
                abort(403)
            return view(*args, **kwargs)

        return _mark(wrapped, policy)

    return decorator


staff_required = _role_required(STAFF_ONLY, is_staff)
admin_required = _role_required(ADMIN_ONLY, is_admin)


def policy_of(view) -> str | None:
    return getattr(view, POLICY_ATTRIBUTE, None)
