"""E-mail change links: the signed string a confirmation mail carries, made from the account, its
address when the change was asked for, the new address and when it was asked, and read back. No
secret is stored; the link dies when it expires, once the account's address is no longer the one it
was signed over, or once any change of address happened after it was asked for
(accounts.services.email_change_link)."""

from datetime import UTC, datetime

from flask import current_app
from itsdangerous import URLSafeSerializer


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="peerline-email-change")


def email_change_token(user_id: int, old_email: str, new_email: str, asked_at: datetime) -> str:
    """The opaque string mailed to the new address."""
    # In milliseconds: a link asked for just after a change must be later than that change.
    return _serializer().dumps([user_id, old_email, new_email, int(asked_at.timestamp() * 1000)])


def read_email_change_token(token: str) -> tuple[int, str, str, datetime]:
    """(account id, address then, new address, when asked). Raises itsdangerous.BadSignature for a
    forged or mangled link, ValueError or TypeError for a signed value of another shape."""
    user_id, old_email, new_email, asked = _serializer().loads(token)
    if not (isinstance(user_id, int) and isinstance(old_email, str) and isinstance(new_email, str)
            and isinstance(asked, int)):
        raise ValueError("not an e-mail change link")
    return user_id, old_email, new_email, datetime.fromtimestamp(asked / 1000, UTC)
