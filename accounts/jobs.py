"""Account jobs: the password-reset mail, and the purge of old reset requests and sign-in sessions."""

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from accounts.models import PasswordResetToken, User, UserSession
from accounts.reset_links import reset_link_token
from core import clock, mail
from core.extensions import db, end_transaction


def send_password_reset(email: str, nonce: str) -> None:
    """Mail a reset link if an account has `email`. The nonce names this one request, so a
    second run finds the request it made the first time and mails nothing twice."""
    user = db.session.scalar(sa.select(User).where(User.email == email))
    if user is None or not user.is_active:
        return
    token = db.session.scalar(sa.select(PasswordResetToken).where(PasswordResetToken.nonce == nonce))
    if token is None:
        token = PasswordResetToken(user=user, nonce=nonce)
        db.session.add(token)
        db.session.commit()
    if token.mailed_at is not None or token.used_at is not None:
        return
    config = current_app.config
    token_id, to, name = token.id, user.email, user.display_name
    link = mail.external_url("accounts.reset_password", token=reset_link_token(token))
    # No transaction may stay open across the network call: on SQLite it would hold the write lock.
    end_transaction()
    minutes = config["PEERLINE_RESET_TOKEN_MAX_AGE"] // 60
    mail.send(
        to,
        f"Reset your {config['PEERLINE_SITE_NAME']} password",
        f"Hello {name},\n\n"
        f"Someone (we hope you) asked to reset the password of your account.\n"
        f"Open this link within {minutes} minutes to choose a new one:\n\n{link}\n\n"
        "The link works once. If you did not ask, ignore this message: "
        "your password stays as it is.\n",
        sensitive=True,
    )
    db.session.execute(sa.update(PasswordResetToken).where(PasswordResetToken.id == token_id)
                       .values(mailed_at=clock.now()))
    db.session.commit()


def purge_reset_tokens() -> None:
    """Delete reset requests older than a week: used or not, they no longer work."""
    cutoff = clock.now() - timedelta(days=7)
    db.session.execute(sa.delete(PasswordResetToken).where(PasswordResetToken.created_at < cutoff))
    db.session.commit()


def purge_sessions() -> None:
    """Delete sign-in sessions that ended or expired over a month ago (they sign nobody in)."""
    cutoff = clock.now() - timedelta(days=30)
    db.session.execute(sa.delete(UserSession).where(
        sa.or_(UserSession.ended_at < cutoff, UserSession.expires_at < cutoff)))
    db.session.commit()
