"""A member's standing as every package reads it: the trust level earned, and a silence or
suspension in force (set by moderation's services; this module only reads the user's columns, so a
check costs no query)."""

from datetime import datetime

from accounts.models import BASIC, MEMBER
from core import clock
from core.clock import as_utc
from core.errors import Forbidden

SILENCED, SUSPENDED = "silenced", "suspended"
RESTRICTION_LABELS = {SILENCED: "Silenced", SUSPENDED: "Suspended"}


def restriction_in_force(user, now: datetime | None = None) -> str | None:
    """"silenced" or "suspended" while one is in force for `user`, else None (it lapses by itself)."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "restriction", None):
        return None
    until = user.restricted_until
    if until is not None and as_utc(until) <= (now or clock.now()):
        return None
    return user.restriction


def participates(user) -> bool:
    """Signed in, active, and neither silenced nor suspended: may post, vote and flag."""
    return bool(getattr(user, "is_authenticated", False) and user.is_active
                and restriction_in_force(user) is None)


def restriction_text(user) -> str:
    """What a restricted member is told: what, until when, and why ("" when none is in force)."""
    restriction = restriction_in_force(user)
    if restriction is None:
        return ""
    until = user.restricted_until
    when = f" until {as_utc(until):%d %b %Y %H:%M} UTC" if until is not None else " until staff lift it"
    reason = f" Reason: {user.restriction_reason}" if user.restriction_reason else ""
    return f"Your account is {restriction}{when}: you can read, but not post, vote or flag.{reason}"


def check_can_participate(user) -> None:
    """Nothing for a member in good standing; raises Forbidden saying why and until when."""
    if getattr(user, "is_authenticated", False) and restriction_in_force(user) is not None:
        raise Forbidden(restriction_text(user))


def is_new_member(user) -> bool:
    """A member who has not yet earned basic trust: the new-member safeguards apply. Advocates and
    staff never are."""
    return getattr(user, "role", None) == MEMBER and (user.trust_level or 0) < BASIC
