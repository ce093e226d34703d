"""Account jobs: the password-reset mail, the e-mail change mails, and the purge of old reset
requests and sign-in sessions."""

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from accounts.email_links import email_change_token
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


def send_email_change_link(user_id: int, old_email: str, new_email: str, asked_at: str) -> None:
    """Mail the link that confirms an e-mail change to the new address; nothing if the account's
    address is no longer `old_email` (a later change won) or the account is gone."""
    user = db.session.get(User, user_id)
    if user is None or not user.is_active or user.email != old_email:
        return
    config = current_app.config
    moment = datetime.fromisoformat(asked_at)
    link = mail.external_url("accounts.confirm_email_change",
                             token=email_change_token(user.id, old_email, new_email, moment))
    name = user.display_name
    end_transaction()  # no transaction stays open across the network call
    hours = config["PEERLINE_EMAIL_CHANGE_MAX_AGE"] // 3600
    mail.send(
        new_email,
        f"Confirm your new {config['PEERLINE_SITE_NAME']} email address",
        f"Hello {name},\n\n"
        f"You asked to use this address for your {config['PEERLINE_SITE_NAME']} account.\n"
        f"Open this link within {hours} hours to confirm it; until then your account keeps its "
        f"old address:\n\n{link}\n\n"
        "If you did not ask, ignore this message: nothing changes.\n",
        sensitive=True,
    )


def send_email_changed_notice(user_id: int, old_email: str, new_email: str) -> None:
    """Tell the old address that the account's e-mail changed, so that its owner hears of a change
    they did not make."""
    user = db.session.get(User, user_id)
    if user is None:
        return
    config = current_app.config
    name = user.display_name
    reset = mail.external_url("accounts.request_password_reset")
    end_transaction()
    mail.send(
        old_email,
        f"Your {config['PEERLINE_SITE_NAME']} email address was changed",
        f"Hello {name},\n\n"
        f"The email address of your {config['PEERLINE_SITE_NAME']} account was changed from this one "
        f"to {new_email}. Mail from us goes there from now on.\n\n"
        "If you did not make this change, reset your password at once and tell our staff: "
        f"{reset}\n",
    )


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
