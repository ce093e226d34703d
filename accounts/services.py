"""Account rules: sign-up, sign-in, password reset, profiles, identities and roles."""

import functools
import re
import unicodedata
from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_app_context
from itsdangerous import BadSignature
from werkzeug.security import check_password_hash, generate_password_hash

from accounts import audit
from accounts import jobs as account_jobs
from accounts.email_links import read_email_change_token
from accounts.models import (
    ADMIN,
    IDENTITY_KINDS,
    MEMBER,
    ROLE_LABELS,
    ROLES,
    AuditEntry,
    ExternalIdentity,
    PasswordResetToken,
    User,
    UserSession,
    new_session_token,
    session_token_hash,
)
from accounts.permissions import (
    can_change_role,
    can_edit_crm_id,
    can_edit_profile,
    can_see_private_identities,
)
from accounts.reset_links import new_reset_nonce, read_reset_link
from core import clock, jobs, signals
from core.clock import as_utc
from core.confusables import name_skeleton
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import db, end_transaction
from core.text import check_stacked_marks, clean_line, clean_text, has_visible

EMAIL_MAX = 254
USERNAME_MIN, USERNAME_MAX = 3, 30
DISPLAY_NAME_MAX = 60
BIO_MAX = 2000
IDENTITY_MAX = 200
PASSWORD_MIN, PASSWORD_MAX = 10, 128
REASON_MAX = 500
SIGN_IN_FAILED = "That email or username and password do not match an account."
LOOKALIKE_USERNAME = "That username is taken or looks too much like another one; choose another."
# Nobody signs up as these (nor shows as them, staff apart): they would pass for the site speaking.
# The site's own name (PEERLINE_SITE_NAME) is reserved too.
RESERVED_NAMES = ("admin", "administrator", "moderator", "staff", "support", "system", "root")

_USERNAME_RE = re.compile(r"^[\w.-]+$")
# The passwords every cracking list tries first; length alone does not stop them.
_COMMON_PASSWORDS = frozenset({
    "password", "password1", "password12", "password123", "password1234", "passw0rd",
    "123456", "1234567", "12345678", "123456789", "1234567890", "12345678910",
    "qwerty", "qwertyuiop", "qwerty123", "qwerty1234", "abc123", "abcdefghij",
    "iloveyou", "letmein", "letmein123", "welcome", "welcome123", "welcome1",
    "admin", "admin123", "administrator", "changeme", "changeme123", "trustno1",
    "monkey", "dragon", "football", "baseball", "sunshine", "princess", "superman",
    "1q2w3e4r5t", "zaq12wsx", "aaaaaaaaaa", "0000000000", "1111111111", "peerline",
    "peerline123", "community", "community1",
})
# A dummy hash so that an unknown login costs as much time as a wrong password.
_DUMMY_HASH = generate_password_hash("peerline-timing-equaliser")


# --- validation -----------------------------------------------------------------------------


def normalise_email(email: str | None) -> str:
    """The stored form of an email address. Raises Invalid."""
    email = (email or "").strip()
    if not email:
        raise Invalid("Enter your email address.", field="email")
    if len(email) > EMAIL_MAX:
        raise Invalid(f"An email address has at most {EMAIL_MAX} characters.", field="email")
    try:
        checked = validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise Invalid(f"That email address is not valid: {exc}", field="email") from exc
    return checked.normalized.lower()


def username_key(username: str) -> str:
    return unicodedata.normalize("NFKC", username).casefold()


def mention_targets(keys) -> dict[str, tuple[str, str]]:
    """For core.markup's @mentions: of these folded names, the active accounts that have them, as
    {key: (username, profile path)}; one query. Outside an app nothing is looked up."""
    if not keys or not has_app_context():
        return {}
    rows = db.session.execute(sa.select(User.username_key, User.username).where(
        User.username_key.in_(sorted(keys)), User.is_active_account.is_(True))).all()
    urls = current_app.url_map.bind("")
    return {key: (username, urls.build("accounts.view_profile", {"username": username}))
            for key, username in rows}


MENTION_SUGGESTIONS = 8


def suggest_people(text: str | None, limit: int = MENTION_SUGGESTIONS) -> list[dict]:
    """Active people whose username starts with `text` (as names are compared), shortest first, as
    `{"username", "display_name"}`, for the @mention picker; none for text no username could
    start with. One query."""
    key = username_key((text or "")[:USERNAME_MAX + 1].strip())
    if not key or len(key) > USERNAME_MAX or not _USERNAME_RE.fullmatch(key):
        return []
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = db.session.execute(
        sa.select(User.username, User.display_name)
        .where(User.username_key.like(f"{escaped}%", escape="\\"), User.is_active_account.is_(True))
        .order_by(sa.func.length(User.username_key), User.username_key).limit(limit)).all()
    return [{"username": username, "display_name": display_name or username}
            for username, display_name in rows]


def users_named(usernames) -> list[User]:
    """The active accounts with these usernames (as written in rendered mentions), in one query."""
    keys = {username_key(name) for name in usernames}
    if not keys:
        return []
    return list(db.session.scalars(sa.select(User).where(User.username_key.in_(sorted(keys)),
                                                         User.is_active_account.is_(True))))


def validate_username(username: str | None) -> str:
    """A username of 3-30 letters, digits, '.', '_' or '-' (any script). Raises Invalid."""
    username = unicodedata.normalize("NFKC", (username or "").strip())
    if not username:
        raise Invalid("Choose a username.", field="username")
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        raise Invalid(
            f"A username has {USERNAME_MIN} to {USERNAME_MAX} characters.", field="username"
        )
    if len(username_key(username)) > USERNAME_MAX:
        raise Invalid(f"A username has at most {USERNAME_MAX} characters.", field="username")
    if not _USERNAME_RE.fullmatch(username):
        raise Invalid(
            "A username may hold letters, digits, '.', '_' and '-' only, with no spaces.",
            field="username",
        )
    return username


def validate_display_name(name: str | None, fallback: str) -> str:
    """The name to show, or `fallback` when it shows nothing (only spaces or zero-width
    characters). Raises Invalid."""
    name = clean_line(name)
    if not has_visible(name):
        return fallback
    check_stacked_marks(name, field="display_name", noun="A display name")
    if len(name) > DISPLAY_NAME_MAX:
        raise Invalid(
            f"A display name has at most {DISPLAY_NAME_MAX} characters.", field="display_name"
        )
    return name


def check_display_name(display_name: str, username: str, *, staff: bool = False) -> None:
    """Refuse a display name that passes for someone else: raises Conflict when it looks like
    another account's username, Invalid when (unless `staff`) it looks like a reserved name.
    Looking like one's own `username` is fine."""
    skeleton = name_skeleton(display_name)
    if skeleton == name_skeleton(username):
        return
    if not staff and skeleton in _reserved_skeletons():
        raise Invalid("That display name is kept for the site and its staff; choose another.",
                      field="display_name")
    if _skeleton_taken(skeleton, except_key=username_key(username)):
        raise Conflict("That display name looks too much like another account's username; "
                       "choose another.", field="display_name")


def _reserved_skeletons() -> set[str]:
    site = current_app.config.get("PEERLINE_SITE_NAME") or ""
    return {name_skeleton(name) for name in (*RESERVED_NAMES, site, "".join(site.split())) if name}


def _skeleton_taken(skeleton: str, *, except_key: str | None = None) -> bool:
    query = sa.select(User.id).where(User.username_skeleton == skeleton)
    if except_key is not None:
        query = query.where(User.username_key != except_key)
    return db.session.scalar(query.limit(1)) is not None


def validate_password(password: str | None, *, email: str = "", username: str = "") -> str:
    """A password hard enough to guess. Raises Invalid saying what is wrong."""
    password = password or ""
    if len(password) < PASSWORD_MIN:
        raise Invalid(f"Use at least {PASSWORD_MIN} characters for your password.", field="password")
    if len(password) > PASSWORD_MAX:
        raise Invalid(f"A password has at most {PASSWORD_MAX} characters.", field="password")
    lowered = password.casefold()
    if lowered in _COMMON_PASSWORDS or len(set(password)) < 4:
        raise Invalid("That password is too common or too simple; choose another.", field="password")
    local_part = email.split("@")[0].casefold()
    if (username and username_key(username) in lowered) or (len(local_part) >= 4 and local_part in lowered):
        raise Invalid("Your password must not contain your username or email.", field="password")
    return password


# --- sign-up and sign-in --------------------------------------------------------------------------


def sign_up(email: str, username: str, password: str, display_name: str = "") -> User:
    """Create a member account. Raises Invalid (bad input) or Conflict (email or name taken)."""
    email = normalise_email(email)
    username = validate_username(username)
    display_name = validate_display_name(display_name, fallback=username)
    validate_password(password, email=email, username=username)
    return _create_user(email, username, display_name, password, MEMBER, sign_up=True)


def _create_user(email: str, username: str, display_name: str, password: str, role: str, *,
                 sign_up: bool = False) -> User:
    key = username_key(username)
    # Hash before the first query: on SQLite that query opens the write transaction.
    password_hash = generate_password_hash(password)
    if db.session.scalar(sa.select(User.id).where(User.email == email)):
        raise Conflict("An account with that email already exists. Sign in instead?", field="email")
    if db.session.scalar(sa.select(User.id).where(User.username_key == key)):
        raise Conflict("That username is taken; choose another.", field="username")
    # Look-alikes and reserved names are refused at sign-up only: `flask accounts ensure-admin`
    # names the first admin `admin`. Not race-free (the skeleton is not unique, see User): two
    # look-alikes signing up in the same instant both get through.
    if sign_up:
        skeleton = name_skeleton(username)
        if skeleton in _reserved_skeletons() or _skeleton_taken(skeleton):
            raise Conflict(LOOKALIKE_USERNAME, field="username")
        check_display_name(display_name, username)
    user = User(
        email=email,
        username=username,
        username_key=key,
        display_name=display_name,
        password_hash=password_hash,
        role=role,
    )
    db.session.add(user)
    try:
        db.session.flush()
        signals.user_signed_up.send(user, actor=user)  # before the commit, like every event
        db.session.commit()
    except sa.exc.IntegrityError as exc:  # lost a race with a simultaneous sign-up
        db.session.rollback()
        raise Conflict("That email or username was just taken; choose another.") from exc
    return user


def mailbox_of(email: str) -> str | None:
    """The stored form of an email address, or None when it is not one (no mail would go there)."""
    try:
        return normalise_email(email)
    except Invalid:
        return None


def login_key(login: str) -> str:
    """The normalised form of what someone typed as their email or username."""
    login = (login or "").strip()[:EMAIL_MAX]
    return login.lower() if "@" in login else username_key(login)


def find_by_login(login: str) -> User | None:
    """The user whose email or username is `login`, if any (none for text no account can have:
    too long, or with control characters such as NUL, which PostgreSQL refuses outright)."""
    login = (login or "").strip()
    if not login or len(login) > EMAIL_MAX or any(unicodedata.category(ch) == "Cc" for ch in login):
        return None
    column = User.email if "@" in login else User.username_key
    return db.session.scalar(sa.select(User).where(column == login_key(login)))


def authenticate(login: str, password: str) -> User:
    """The account matching these credentials. Raises Invalid, never saying which part was wrong."""
    user = find_by_login(login)
    stored_hash = user.password_hash if user is not None else _DUMMY_HASH
    end_transaction()
    # An unknown login is checked against a dummy hash: it takes as long as a wrong password.
    matches = check_password_hash(stored_hash, (password or "")[:PASSWORD_MAX + 1])
    if user is None or not matches or not user.is_active:
        raise Invalid(SIGN_IN_FAILED)
    return user


# --- password reset ---------------------------------------------------------------------------------


def request_password_reset(email: str) -> None:
    """Mail a reset link if an account has this email; say nothing either way.

    The look-up happens in the job, so the request takes the same time whether
    or not the account exists.
    """
    try:
        email = normalise_email(email)
    except Invalid:
        return
    jobs.enqueue(account_jobs.send_password_reset, email, new_reset_nonce(), queue="mail")
    db.session.commit()


_RESET_EXPIRED = "This reset link has expired or has already been used. Ask for a new one."


def reset_token_for(link_token: str) -> PasswordResetToken:
    """The live reset request behind a mailed link. Raises Invalid if expired, used or forged."""
    try:
        token_id, nonce = read_reset_link(link_token or "")
    except (BadSignature, ValueError, TypeError) as exc:
        raise Invalid(_RESET_EXPIRED) from exc
    token = db.session.get(PasswordResetToken, token_id) if isinstance(token_id, int) else None
    max_age = timedelta(seconds=current_app.config["PEERLINE_RESET_TOKEN_MAX_AGE"])
    if (
        token is None
        or token.nonce != nonce
        or token.used_at is not None
        or as_utc(token.created_at) < clock.now() - max_age
    ):
        raise Invalid(_RESET_EXPIRED)
    return token


def reset_password(link_token: str, new_password: str) -> User:
    """Set a new password from a mailed link; the link then stops working. Raises Invalid."""
    token = reset_token_for(link_token)
    user = token.user
    validate_password(new_password, email=user.email, username=user.username)
    end_transaction()
    new_hash = generate_password_hash(new_password)
    now = clock.now()
    # Single use: only the request that flips used_at from NULL may go on.
    claimed = db.session.execute(
        sa.update(PasswordResetToken)
        .where(PasswordResetToken.id == token.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
    ).rowcount
    if not claimed:
        db.session.rollback()
        raise Invalid(_RESET_EXPIRED)
    db.session.execute(
        sa.update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
    )
    user.password_hash = new_hash
    _end_sessions(user)  # whoever knew the old password is signed out everywhere
    audit.record(user, "password-reset", audit.USER, user.id)
    db.session.commit()
    return user


def change_password(user: User, current_password: str, new_password: str) -> User:
    """Set a new password, proving the current one; every other session of the account ends.
    Raises Invalid (a wrong current password, a weak new one)."""
    validate_password(new_password, email=user.email, username=user.username)
    stored_hash, keep = user.password_hash, user.session_token
    end_transaction()
    if not check_password_hash(stored_hash, (current_password or "")[:PASSWORD_MAX + 1]):
        raise Invalid("That is not your current password.", field="current_password")
    new_hash = generate_password_hash(new_password)
    user.password_hash = new_hash
    _end_sessions(user, keep=keep)
    audit.record(user, "password-change", audit.USER, user.id)
    db.session.commit()
    return user


# --- e-mail change -----------------------------------------------------------------------------------

EMAIL_TAKEN = "Another account uses that email address; choose another."
_EMAIL_LINK_DEAD = ("This confirmation link has expired, has been used, or is not valid. Ask for the "
                    "change again from your account settings.")


def request_email_change(user: User, current_password: str, new_email: str) -> str:
    """Mail a link confirming `new_email` to that address, proving the current password; the
    account keeps its address until the link is opened. Returns the new address as stored.
    Raises Invalid (a wrong password, an address that is not one or is the current one) or
    Conflict (another account has it)."""
    try:
        new_email = normalise_email(new_email)
    except Invalid as error:
        raise Invalid(error.message.replace("your email", "the new email"), field="new_email") from None
    if new_email == user.email:
        raise Invalid("That is your email address already.", field="new_email")
    stored_hash, user_id, old_email = user.password_hash, user.id, user.email
    end_transaction()
    # The password first: whether an address is taken is told only to the account's owner, whose
    # wrong guesses count as failed sign-ins.
    if not check_password_hash(stored_hash, (current_password or "")[:PASSWORD_MAX + 1]):
        raise Invalid("That is not your current password.", field="current_password")
    if db.session.scalar(sa.select(User.id).where(User.email == new_email, User.id != user_id)):
        raise Conflict(EMAIL_TAKEN, field="new_email")
    jobs.enqueue(account_jobs.send_email_change_link, user_id, old_email, new_email,
                 clock.now().isoformat(), queue="mail")
    db.session.commit()
    return new_email


def email_change_link(link_token: str, *, lock: bool = False) -> tuple[User, str]:
    """The account a mailed e-mail change link is for and the address it confirms, when the link
    still works (`lock`: the account's row locked, to change it). Raises Invalid: forged, expired,
    the account's address is no longer the one the link was made for (it was used, or another
    change happened), or the link was asked for before the account's latest change of address."""
    try:
        user_id, old_email, new_email, asked_at = read_email_change_token(link_token or "")
    except (BadSignature, ValueError, TypeError) as exc:
        raise Invalid(_EMAIL_LINK_DEAD) from exc
    max_age = timedelta(seconds=current_app.config["PEERLINE_EMAIL_CHANGE_MAX_AGE"])
    if asked_at < clock.now() - max_age:
        raise Invalid(_EMAIL_LINK_DEAD)
    query = sa.select(User).where(User.id == user_id)
    user = db.session.scalar(query.with_for_update() if lock else query)
    if user is None or not user.is_active or user.email != old_email:
        raise Invalid(_EMAIL_LINK_DEAD)
    # Dead even when the address is back to the one it was made for (A to B, then back to A: the
    # A-to-B link in B's mailbox must not take the account again).
    last_change = db.session.scalar(
        sa.select(sa.func.max(AuditEntry.created_at)).where(
            AuditEntry.action == "email-change", AuditEntry.subject_type == audit.USER,
            AuditEntry.subject_id == user.id))
    if last_change is not None and asked_at <= as_utc(last_change):
        raise Invalid(_EMAIL_LINK_DEAD)
    return user, new_email


def confirm_email_change(link_token: str) -> User:
    """Give the account the address a mailed link confirms, and tell the old address. Raises
    Invalid (a dead link: email_change_link) or Conflict (another account took the address)."""
    user, new_email = email_change_link(link_token, lock=True)
    old_email = user.email
    if db.session.scalar(sa.select(User.id).where(User.email == new_email, User.id != user.id)):
        raise Conflict(EMAIL_TAKEN)
    user.email = new_email
    # Reset links mailed to the old address stop working: the owner may be leaving that mailbox
    # because someone else reads it.
    db.session.execute(sa.update(PasswordResetToken).where(
        PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=clock.now()))
    audit.record(user, "email-change", audit.USER, user.id, before={"email": old_email},
                 after={"email": new_email})
    jobs.enqueue(account_jobs.send_email_changed_notice, user.id, old_email, new_email, queue="mail")
    try:
        db.session.commit()
    except sa.exc.IntegrityError as exc:  # lost a race with a sign-up or another change
        db.session.rollback()
        raise Conflict(EMAIL_TAKEN) from exc
    return user


# --- sign-in sessions --------------------------------------------------------------------------------


def start_session(user: User, *, remember: bool = False, user_agent: str = "") -> str:
    """Record a new signed-in browser for `user` and return its token (for Flask-Login's cookies).
    A remembered session lasts as long as the remember cookie, another one as long as a session."""
    config = current_app.config
    lifetime = config.get("REMEMBER_COOKIE_DURATION", timedelta(days=365)) if remember \
        else config["PERMANENT_SESSION_LIFETIME"]
    if not isinstance(lifetime, timedelta):
        lifetime = timedelta(seconds=lifetime)
    token, now = new_session_token(), clock.now()
    db.session.add(UserSession(user_id=user.id, token_hash=session_token_hash(token), created_at=now,
                               expires_at=now + lifetime,
                               user_agent=clean_line(user_agent)[:200]))
    user.last_sign_in_at = now
    db.session.commit()
    user.session_token = token
    return token


# Figures other packages show about the signed-in person on every page, read in the query that
# loads them: name -> a function building a scalar subquery correlated to User (the forum registers
# the unread notices for the header). Registered by init_app, before any request.
SESSION_FIGURES: dict[str, Callable[[], sa.ColumnElement]] = {}


def register_session_figure(name: str, build: Callable[[], sa.ColumnElement]) -> None:
    SESSION_FIGURES[name] = build
    _session_user_statement.cache_clear()


@functools.cache
def _session_user_statement():
    """Built once: building it is most of what loading the person costs on every signed-in page."""
    figures = [build().label(name) for name, build in SESSION_FIGURES.items()]
    return (sa.select(User, *figures).join(UserSession, UserSession.user_id == User.id)
            .where(UserSession.token_hash == sa.bindparam("token_hash"), UserSession.ended_at.is_(None),
                   UserSession.expires_at > sa.bindparam("now", type_=UserSession.expires_at.type)))


def user_for_session(token: str | None) -> User | None:
    """The active account of a live session token, with its SESSION_FIGURES (one query), or None:
    ended, expired, forged."""
    if not token or not isinstance(token, str) or len(token) > 100:
        return None
    statement = _session_user_statement()
    row = db.session.execute(statement, {"token_hash": session_token_hash(token), "now": clock.now()}).first()
    if row is None:
        return None
    user = row[0]
    user.session_token = token
    user.session_figures = dict(zip(SESSION_FIGURES, row[1:], strict=True))
    return user


def end_session(token: str | None) -> None:
    """Sign out one browser: its cookies stop working, copies of them too."""
    if token:
        db.session.execute(sa.update(UserSession)
                           .where(UserSession.token_hash == session_token_hash(token),
                                  UserSession.ended_at.is_(None))
                           .values(ended_at=clock.now()))
        db.session.commit()


def _end_sessions(user: User, keep: str | None = None) -> None:
    query = sa.update(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    if keep:
        query = query.where(UserSession.token_hash != session_token_hash(keep))
    db.session.execute(query.values(ended_at=clock.now()))


# --- profiles and identities -------------------------------------------------------------------------


def get_user_by_username(username: str) -> User:
    """Raises NotFound."""
    user = db.session.scalar(sa.select(User).where(User.username_key == username_key(username)))
    if user is None:
        raise NotFound("There is no one by that name here.")
    return user


def get_user(user_id: int) -> User:
    """Raises NotFound."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("There is no such account.")
    return user


def update_profile(actor: User, user: User, display_name: str, bio: str,
                   identities: dict[str, str] | None = None) -> User:
    """Change display name, bio and public handles. Raises Forbidden or Invalid."""
    if not can_edit_profile(actor, user):
        if getattr(actor, "id", None) == user.id:
            raise Forbidden("Your account is suspended: your profile cannot be changed until it ends.")
        raise Forbidden("You can only edit your own profile.")
    display_name = validate_display_name(display_name, fallback=user.username)
    if display_name != user.display_name:  # a name kept from before these checks is not refused
        check_display_name(display_name, user.username, staff=user.is_staff)
    bio = clean_text(bio)
    if len(bio) > BIO_MAX:
        raise Invalid(f"A bio has at most {BIO_MAX} characters.", field="bio")
    cleaned = {}
    for kind, value in (identities or {}).items():
        if kind == "crm" or kind not in IDENTITY_KINDS:
            raise Invalid(f"Unknown kind of identity: {kind}.", field=kind)
        cleaned[kind] = _clean_identity(kind, value)
    user.display_name = display_name
    user.bio = bio
    for kind, value in cleaned.items():
        _set_identity(user, kind, value)
    db.session.commit()
    return user


def _clean_identity(kind: str, value: str | None) -> str:
    value = clean_line(value)
    if len(value) > IDENTITY_MAX:
        raise Invalid(
            f"{IDENTITY_KINDS[kind]} has at most {IDENTITY_MAX} characters.", field=kind
        )
    if kind == "website" and value and not value.lower().startswith(("http://", "https://")):
        raise Invalid("A website starts with http:// or https://.", field=kind)
    return value


def _set_identity(user: User, kind: str, value: str) -> None:
    existing = next((i for i in user.identities if i.kind == kind), None)
    if not value:
        if existing is not None:
            user.identities.remove(existing)
        return
    if existing is None:
        user.identities.append(ExternalIdentity(kind=kind, value=value))
    else:
        existing.value = value


def set_crm_id(actor: User, user: User, value: str) -> User:
    """Link (or unlink, with an empty value) a customer to a CRM record. Raises Forbidden/Invalid."""
    if not can_edit_crm_id(actor):
        raise Forbidden("Only staff can set a CRM id.")
    value = _clean_identity("crm", value)
    old = next((i.value for i in user.identities if i.kind == "crm"), None)
    _set_identity(user, "crm", value)
    audit.record(actor, "crm-id", audit.USER, user.id, before={"crm": old}, after={"crm": value or None})
    db.session.commit()
    return user


def visible_identities(viewer, user: User) -> list[ExternalIdentity]:
    if can_see_private_identities(viewer, user):
        return list(user.identities)
    return [i for i in user.identities if i.is_public]


# --- roles ---------------------------------------------------------------------------------------------


def change_role(actor: User, user: User, new_role: str, reason: str = "") -> User:
    """Give `user` another role, with an audit entry. Raises Forbidden or Invalid."""
    if not can_change_role(actor, user):
        raise Forbidden("Only admins can change roles.")
    return _apply_role(actor, user, new_role, reason)


def change_role_from_shell(user: User, new_role: str, reason: str = "") -> User:
    """`flask accounts set-role`: the operator of the server acts as an admin. Raises Invalid."""
    return _apply_role(None, user, new_role, reason)


def _apply_role(actor: User | None, user: User, new_role: str, reason: str) -> User:
    if new_role not in ROLES:
        raise Invalid(f"Unknown role {new_role!r}; roles are {', '.join(ROLES)}.", field="role")
    reason = clean_text(reason)
    if len(reason) > REASON_MAX:
        raise Invalid(f"A reason has at most {REASON_MAX} characters.", field="reason")
    old_role = user.role
    if old_role == new_role:
        raise Invalid(f"{user.display_name} is already {ROLE_LABELS[new_role].lower()}.",
                      field="role")
    if old_role == ADMIN:
        # Lock the admins' rows: two admins demoting each other at once must not leave none.
        admins = len(db.session.scalars(
            sa.select(User.id).where(User.role == ADMIN).with_for_update()).all())
        if admins <= 1:
            raise Invalid("This is the last admin; make someone else admin first.", field="role")
    user.role = new_role
    audit.record(actor, "role", audit.USER, user.id, before={"role": old_role}, after={"role": new_role},
                 reason=reason)
    signals.user_role_changed.send(user, old_role=old_role, new_role=new_role, actor=actor)
    db.session.commit()
    return user


def audit_for(user: User, limit: int = 50) -> list[AuditEntry]:
    return audit.entries_for(audit.USER, user.id, limit)


def list_users(query: str = "", role: str | None = None, page: int = 1, per_page: int = 50):
    """Users matching `query` (name or email) and `role`, newest first, as a page."""
    statement = sa.select(User).order_by(User.created_at.desc(), User.id.desc())
    query = (query or "").strip()[:100]
    if query:
        like = f"%{query.lower()}%"
        statement = statement.where(sa.or_(
            User.email.like(like), User.username_key.like(like),
            sa.func.lower(User.display_name).like(like),
        ))
    if role in ROLES:
        statement = statement.where(User.role == role)
    return db.paginate(statement, page=page, per_page=per_page, error_out=False)


# --- the first admin -------------------------------------------------------------------------------------


def ensure_admin(email: str, username: str, password: str) -> User | None:
    """Create the first admin unless one exists; returns it, or None if there already was one.
    Raises Invalid or Conflict for bad credentials."""
    if db.session.scalar(sa.select(User.id).where(User.role == ADMIN).limit(1)):
        return None
    email = normalise_email(email)
    username = validate_username(username)
    validate_password(password, email=email, username=username)
    end_transaction()
    return _create_user(email, username, username, password, ADMIN)
