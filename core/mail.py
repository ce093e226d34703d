"""Outgoing mail: SMTP when MAIL_SERVER is set, otherwise .eml files in the outbox folder."""

import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid, parsedate_to_datetime
from pathlib import Path

from flask import Flask, current_app, request, url_for

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


FALLBACK_BASE_URL = "http://127.0.0.1:5000"
_SERVED = "peerline_served_url"
_WILDCARDS = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 - addresses compared with, not bound to


def base_url(app: Flask | None = None) -> str:
    """Where links in mail point: PEERLINE_BASE_URL; unset, the address this process serves on (as
    the first request it served found it), and before any request, http://127.0.0.1:5000."""
    app = app or current_app
    configured = app.config.get("PEERLINE_BASE_URL")
    return (configured or app.extensions.get(_SERVED) or FALLBACK_BASE_URL).rstrip("/")


def external_url(endpoint: str, **values) -> str:
    """An absolute link for mail, built outside any request from base_url()."""
    with current_app.test_request_context(base_url=base_url()):
        return url_for(endpoint, _external=True, **values)


def served_url(environ: dict) -> str:
    """The scheme, host, port and prefix a request was served on, from the server's own address
    (SERVER_NAME and SERVER_PORT: werkzeug and gunicorn give the socket they listen on, or what
    the proxies PEERLINE_PROXY_COUNT trusts forwarded), never from the Host header, which anyone
    sending a request chooses. An address listening everywhere (0.0.0.0) is shown as 127.0.0.1."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("SERVER_NAME", "")
    host = "127.0.0.1" if host in _WILDCARDS else host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = str(environ.get("SERVER_PORT", ""))
    if port and port != {"http": "80", "https": "443"}.get(scheme):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{environ.get('SCRIPT_NAME', '')}".rstrip("/")


def init_app(app: Flask) -> None:
    """Without PEERLINE_BASE_URL, remember the address the first request was served on, so that
    the mail jobs of this process (in-process jobs, as `make run` has them) link to it."""
    if app.config.get("PEERLINE_BASE_URL"):
        return

    @app.before_request
    def _remember_served_url():
        if _SERVED not in app.extensions:
            app.extensions[_SERVED] = served_url(request.environ)


SENSITIVE_HEADER = "X-Peerline-Sensitive"
_CID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")


def send(to: str, subject: str, body: str, *, unsubscribe_url: str | None = None,
         sensitive: bool = False, html: str | None = None,
         inline_images: dict[str, bytes] | None = None) -> str:
    """Send a plain-text message, or with `html` also an HTML alternative; returns its Message-ID.

    `inline_images` maps content ids to PNG images the HTML shows as <img src="cid:ID">: the
    message is then multipart/alternative, its HTML part multipart/related with the images.
    Raises ValueError for images without HTML or a content id that is not a plain token.

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
    if html is not None:
        _add_html(message, html, inline_images or {})
    elif inline_images:
        raise ValueError("inline images need an HTML part to show them")
    if config.get("MAIL_SERVER"):
        _send_smtp(message, config)
    else:
        _write_outbox(message, Path(config["MAIL_OUTBOX_DIR"]))
    return message["Message-ID"]


def _add_html(message: EmailMessage, html: str, images: dict[str, bytes]) -> None:
    for cid in images:
        if not _CID.fullmatch(cid):
            raise ValueError(f"content id {cid!r}: use letters, digits, dots, dashes and @ only")
    message.add_alternative(html, subtype="html")
    if not images:
        return
    html_part = message.get_payload()[-1]
    for cid, data in images.items():
        # add_related turns the HTML part into multipart/related, the HTML first, then the images.
        html_part.add_related(data, maintype="image", subtype="png", cid=f"<{cid}>",
                              disposition="inline", filename=f"{cid.split('@')[0]}.png")


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
