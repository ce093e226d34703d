"""Configuration from environment variables, with defaults that make `make run` work."""

import os
import secrets
from pathlib import Path


def _flag(value: str | None, default: bool = False) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be a whole number, not {raw!r}") from exc


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be a number of seconds, not {raw!r}") from exc
    if value <= 0:
        raise RuntimeError(f"{name} must be more than 0 seconds, not {raw!r}")
    return value


def _days(raw: str) -> tuple[int, ...]:
    try:
        days = tuple(sorted(int(part) for part in raw.split(",") if part.strip()))
    except ValueError as exc:
        raise RuntimeError(f"PEERLINE_REMINDER_DAYS must be days separated by commas, not {raw!r}") from exc
    return days


def secret_key(instance_path: Path) -> str:
    """SECRET_KEY from the environment, or one generated once into instance/secret_key."""
    from_env = os.environ.get("SECRET_KEY")
    if from_env:
        return from_env
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # O_EXCL: two processes starting at once must not write two different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def from_environment(instance_path: Path) -> dict:
    """Every setting Peerline reads, as Flask config keys."""
    env = os.environ.get
    database_url = env("DATABASE_URL") or f"sqlite:///{instance_path / 'peerline.sqlite3'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url.removeprefix("postgres://")
    if database_url.startswith("postgresql://"):
        # psycopg 3 is the driver the `postgres` extra installs.
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    redis_url = env("REDIS_URL") or None
    https = _flag(env("PEERLINE_HTTPS"))
    return {
        "SECRET_KEY": secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "SEARCH_INDEX_DIR": env("SEARCH_INDEX_DIR") or str(instance_path / "search-index"),
        # Attachments: files under UPLOADS_DIR, or in an S3-compatible bucket when UPLOADS_S3_BUCKET is
        # set (credentials as boto3 reads them: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...).
        "UPLOADS_DIR": env("UPLOADS_DIR") or str(instance_path / "uploads"),
        "UPLOADS_S3_BUCKET": env("UPLOADS_S3_BUCKET") or None,
        "UPLOADS_S3_ENDPOINT": env("UPLOADS_S3_ENDPOINT") or None,
        "UPLOADS_S3_REGION": env("UPLOADS_S3_REGION") or None,
        "UPLOADS_S3_PREFIX": env("UPLOADS_S3_PREFIX") or "uploads/",
        "MAIL_SERVER": env("MAIL_SERVER") or None,
        "MAIL_PORT": _int("MAIL_PORT", 587),
        "MAIL_USERNAME": env("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": _flag(env("MAIL_USE_TLS"), default=True),
        "MAIL_USE_SSL": _flag(env("MAIL_USE_SSL")),
        "MAIL_DEFAULT_SENDER": env("MAIL_DEFAULT_SENDER") or "Peerline <noreply@localhost>",
        "MAIL_OUTBOX_DIR": env("MAIL_OUTBOX_DIR") or str(instance_path / "mail-outbox"),
        "PEERLINE_TIMEZONE": env("PEERLINE_TIMEZONE") or "UTC",
        "PEERLINE_SITE_NAME": env("PEERLINE_SITE_NAME") or "Peerline",
        # Unset (""): links in mail follow the address served (core.mail.base_url).
        "PEERLINE_BASE_URL": (env("PEERLINE_BASE_URL") or "").strip().rstrip("/"),
        "PEERLINE_HTTPS": https,
        "PEERLINE_PROXY_COUNT": _int("PEERLINE_PROXY_COUNT", 0),
        "PEERLINE_RESET_TOKEN_MAX_AGE": _int("PEERLINE_RESET_TOKEN_MAX_AGE", 3600),
        "PEERLINE_EMAIL_CHANGE_MAX_AGE": _int("PEERLINE_EMAIL_CHANGE_MAX_AGE", 24 * 3600),
        # Rate limits (core.ratelimit), as "N per period;M per period".
        "PEERLINE_SIGNIN_LIMIT": env("PEERLINE_SIGNIN_LIMIT") or "10 per minute;50 per hour",
        "PEERLINE_SIGNIN_ACCOUNT_LIMIT": env("PEERLINE_SIGNIN_ACCOUNT_LIMIT") or "5 per 5 minutes",
        "PEERLINE_SIGNUP_LIMIT": env("PEERLINE_SIGNUP_LIMIT") or "5 per hour;20 per day",
        "PEERLINE_RESET_LIMIT": env("PEERLINE_RESET_LIMIT") or "10 per hour",
        "PEERLINE_RESET_EMAIL_LIMIT": env("PEERLINE_RESET_EMAIL_LIMIT") or "3 per hour",
        "PEERLINE_QUESTION_LIMIT": env("PEERLINE_QUESTION_LIMIT") or "3 per minute;30 per day",
        "PEERLINE_REPLY_LIMIT": env("PEERLINE_REPLY_LIMIT") or "10 per minute;200 per day",
        "PEERLINE_UPLOAD_LIMIT": env("PEERLINE_UPLOAD_LIMIT") or "20 per minute;200 per day",
        "PEERLINE_PREVIEW_LIMIT": env("PEERLINE_PREVIEW_LIMIT") or "30 per minute;600 per day",
        "PEERLINE_VOTE_LIMIT": env("PEERLINE_VOTE_LIMIT") or "30 per minute;300 per day",
        "PEERLINE_FLAG_LIMIT": env("PEERLINE_FLAG_LIMIT") or "10 per hour;30 per day",
        "PEERLINE_FEEDBACK_LIMIT": env("PEERLINE_FEEDBACK_LIMIT") or "5 per hour;20 per day",
        "PEERLINE_ASK_OPENED_LIMIT": env("PEERLINE_ASK_OPENED_LIMIT") or "120 per minute",
        "PEERLINE_TICKER": _flag(env("PEERLINE_TICKER"), default=True),
        "PEERLINE_JOB_HEARTBEAT_SECONDS": _seconds("PEERLINE_JOB_HEARTBEAT_SECONDS", 15),
        "PEERLINE_JOB_ABANDONED_AFTER": _seconds("PEERLINE_JOB_ABANDONED_AFTER", 90),
        "PEERLINE_REMINDER_DAYS": _days(env("PEERLINE_REMINDER_DAYS") or "3,7"),
        "PEERLINE_ABANDON_AFTER_DAYS": _int("PEERLINE_ABANDON_AFTER_DAYS", 30),
        "PEERLINE_PAGE_CACHE_SECONDS": _int("PEERLINE_PAGE_CACHE_SECONDS", 30),
        "PEERLINE_MEMO_SECONDS": _int("PEERLINE_MEMO_SECONDS", 30),
        "PEERLINE_FRAGMENT_CACHE_SIZE": _int("PEERLINE_FRAGMENT_CACHE_SIZE", 5000),
        # PostgreSQL: generic plans for the statements psycopg prepares (core.extensions).
        "PEERLINE_PG_GENERIC_PLANS": _flag(env("PEERLINE_PG_GENERIC_PLANS"), default=True),
        # Flask and extension settings that follow from the ones above.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": https,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": https,
        "PREFERRED_URL_SCHEME": "https" if https else "http",
        "PERMANENT_SESSION_LIFETIME": 60 * 60 * 24 * 14,
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        # Tokens expire: one that leaks (a screenshot, a log) stops working. Long enough for a long answer.
        "WTF_CSRF_TIME_LIMIT": _int("PEERLINE_CSRF_TOKEN_MAX_AGE", 12 * 3600),
    }
