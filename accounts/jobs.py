"""Account jobs: the password-reset mail and the purge of old reset requests."""

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from accounts.models import PasswordResetToken
from core import mail
from core.clock import utcnow
from core.extensions import db


def send_password_reset(token_id: int) -> None:
    """Mail the reset link for one reset request; a request already mailed or used is skipped."""
    from accounts.services import reset_link_token  # services enqueue this job

    token = db.session.get(PasswordResetToken, token_id)
    if token is None or token.mailed_at is not None or token.used_at is not None:
        return
    config = current_app.config
    link = mail.external_url("accounts.reset_password", token=reset_link_token(token))
    minutes = config["PEERLINE_RESET_TOKEN_MAX_AGE"] // 60
    mail.send(
        token.user.email,
        f"Reset your {config['PEERLINE_SITE_NAME']} password",
        f"Hello {token.user.display_name},\n\n"
        f"Someone (we hope you) asked to reset the password of your account.\n"
        f"Open this link within {minutes} minutes to choose a new one:\n\n{link}\n\n"
        "The link works once. If you did not ask, ignore this message: "
        "your password stays as it is.\n",
    )
    token.mailed_at = utcnow()
    db.session.commit()


def purge_reset_tokens() -> None:
    """Delete reset requests older than a week: used or not, they no longer work."""
    cutoff = utcnow() - timedelta(days=7)
    db.session.execute(sa.delete(PasswordResetToken).where(PasswordResetToken.created_at < cutoff))
    db.session.commit()
