"""Known devices: a signed cookie a browser keeps once someone has signed in on it.

The per-account limit on failed sign-ins stops guessing at one account from many addresses, but on
its own it lets anyone lock the owner out by failing five times. A browser that has signed in to
the account before is counted apart from the rest (its own failures only), so its owner still gets
in, and a sign-in from it lifts the account's lock (as a password reset does).
"""

import hashlib
import hmac
import secrets

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "peerline_device"
MAX_AGE = 365 * 24 * 3600


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="peerline-known-device")


def _password_mark(user) -> str:
    """Changes with the password: a device cookie from before a password change or reset is no
    longer a known device (whoever knew the old password signed in on those browsers)."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, user.password_hash.encode(), hashlib.sha256).hexdigest()[:16]


def device_of(cookie: str | None, user) -> str | None:
    """The device id in `cookie` if it was issued to a browser that signed in to `user` with its
    current password, else None."""
    if not cookie or user is None or len(cookie) > 400:
        return None
    try:
        user_id, device_id, mark = _serializer().loads(cookie, max_age=MAX_AGE)
    except (BadSignature, ValueError, TypeError):
        return None
    if user_id != user.id or not isinstance(device_id, str) or mark != _password_mark(user):
        return None
    return device_id


def cookie_for(user, device_id: str | None = None) -> str:
    """A cookie value naming this browser as one that signed in to `user` (a new device id unless
    it already had one for them)."""
    return _serializer().dumps([user.id, device_id or secrets.token_hex(16), _password_mark(user)])


def set_cookie(response, value: str) -> None:
    config = current_app.config
    response.set_cookie(COOKIE, value, max_age=MAX_AGE, httponly=True, samesite="Lax",
                        secure=bool(config.get("SESSION_COOKIE_SECURE")))
