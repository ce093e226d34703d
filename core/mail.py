"""Outgoing mail: SMTP when MAIL_SERVER is set, otherwise .eml files in the outbox folder."""

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid, parsedate_to_datetime
from pathlib import Path

from flask import current_app, url_for

from core import clock


@dataclass(frozen=True)
class OutboxMail:
    """One message written to the outbox folder, as the staff page lists it."""

    name: str
    to: str
    subject: str
    sent_at: object
    body: str
    sensitive: bool


def external_url(endpoint: str, **values) -> str:
    """An absolute link for mail, built outside any request from PEERLINE_BASE_URL."""
    with current_app.test_request_context(base_url=current_app.config["PEERLINE_BASE_URL"]):
        return url_for(endpoint, _external=True, **values)


SENSITIVE_HEADER = "X-Peerline-Sensitive"


def send(to: str, subject: str, body: str, *, unsubscribe_url: str | None = None,
         sensitive: bool = False) -> str:
    """Send a plain-text message; returns its Message-ID.

    With `unsubscribe_url`, the List-Unsubscribe headers let mail clients offer
    one-click unsubscribe (RFC 8058). A `sensitive` message (a password-reset
    link, say) is never shown in the web outbox: whoever read it there could
    take over the account.
    """
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = clock.now()
    message["Message-ID"] = make_msgid(domain="peerline")
    if unsubscribe_url:
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if sensitive:
        message[SENSITIVE_HEADER] = "1"
    message.set_content(body)
    if config.get("MAIL_SERVER"):
        _send_smtp(message, config)
    else:
        _write_outbox(message, Path(config["MAIL_OUTBOX_DIR"]))
    return message["Message-ID"]


def _send_smtp(message: EmailMessage, config) -> None:
    host, port = config["MAIL_SERVER"], config["MAIL_PORT"]
    context = ssl.create_default_context()
    if config["MAIL_USE_SSL"]:
        smtp = smtplib.SMTP_SSL(host, port, context=context, timeout=30)
    else:
        smtp = smtplib.SMTP(host, port, timeout=30)
    with smtp:
        if config["MAIL_USE_TLS"] and not config["MAIL_USE_SSL"]:
            smtp.starttls(context=context)
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        smtp.send_message(message)


def _write_outbox(message: EmailMessage, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = clock.now().strftime("%Y%m%dT%H%M%S%f")
    token = message["Message-ID"].strip("<>").split("@")[0].replace(".", "-")
    path = folder / f"{stamp}-{token}.eml"
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(bytes(message))
    temporary.replace(path)  # readers never see half a message


def outbox(limit: int = 100) -> list[OutboxMail]:
    """The newest messages in the outbox folder, newest first."""
    from email import policy
    from email.parser import BytesParser

    folder = Path(current_app.config["MAIL_OUTBOX_DIR"])
    if not folder.is_dir():
        return []
    parser = BytesParser(policy=policy.default)
    mails = []
    for path in sorted(folder.glob("*.eml"), reverse=True)[:limit]:
        message = parser.parsebytes(path.read_bytes())
        body = message.get_body(preferencelist=("plain",))
        sensitive = message.get(SENSITIVE_HEADER) == "1"
        mails.append(
            OutboxMail(
                name=path.name,
                to=str(message["To"]),
                subject=str(message["Subject"]),
                sent_at=parsedate_to_datetime(str(message["Date"])),
                body="" if sensitive or body is None else body.get_content(),
                sensitive=sensitive,
            )
        )
    return mails
