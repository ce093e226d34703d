"""Password-reset links: the nonce that names one reset request, and the signed string a reset mail
carries, made from the request's id and nonce and read back. No secret is stored: the link is
signed with the app's secret key over the request row, which works once."""

import secrets

from flask import current_app
from itsdangerous import URLSafeSerializer

from accounts.models import PasswordResetToken


def new_reset_nonce() -> str:
    return secrets.token_urlsafe(24)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="peerline-password-reset")


def reset_link_token(token: PasswordResetToken) -> str:
    """The opaque string mailed to the user for this reset request."""
    return _serializer().dumps([token.id, token.nonce])


def read_reset_link(link_token: str) -> tuple:
    """The (request id, nonce) a mailed link was signed over. Raises itsdangerous.BadSignature for
    a forged or mangled link, ValueError or TypeError for a signed value that is not a pair."""
    token_id, nonce = _serializer().loads(link_token)
    return token_id, nonce
