"""Domain events: lower packages send them, higher packages subscribe in init_app."""

from blinker import Namespace

_events = Namespace()

# accounts
user_signed_up = _events.signal("user-signed-up")
user_role_changed = _events.signal("user-role-changed")
