"""The admins' moderation settings: new-member safeguards, spam checks, flag thresholds and the
blocked-words list, with their defaults, their checks, and a request-long cache."""

import re
from dataclasses import asdict, dataclass, fields

import sqlalchemy as sa
from flask import g, has_request_context

from accounts import audit
from accounts.models import User
from accounts.permissions import is_admin
from core import clock
from core.errors import Forbidden, Invalid
from core.extensions import db
from forum.categories import get_category
from moderation.models import CategoryModeration, ModerationSettings

BLOCKED_WORDS_MAX = 200  # patterns
PATTERN_MAX = 200  # characters each
# A group repeated inside a repetition, like (a+)+ or (\w*)*: Python's regular expressions can take
# exponential time on such a pattern, and every post would pay for it.
_NESTED_REPEAT = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)[+*{]")


@dataclass(frozen=True)
class Settings:
    """One value per setting; the defaults are what a new site runs with."""

    held_first_posts: int = 0  # a new member's first N posts wait for approval (0: off)
    new_member_posts_per_hour: int = 5
    new_member_links_per_post: int = 2
    link_heavy_first_post: int = 2  # links in a member's first post that make it a spam suspect
    duplicate_window_minutes: int = 30  # the same text again within this is a spam suspect
    signup_burst: int = 3  # sign-ups from one address in a day from which their posts are suspects
    flag_threshold: float = 3.0  # flag weight that holds a post until a moderator decides
    basic_trust_days: int = 2  # days since joining, with posts read, that earn basic trust
    basic_trust_posts_read: int = 30


# What each setting means to an admin, and its bounds (inclusive).
LIMITS = {
    "held_first_posts": ("First posts of a new member held for approval (0 turns it off)", 0, 50),
    "new_member_posts_per_hour": ("Posts per hour a new member may write", 1, 1000),
    "new_member_links_per_post": ("Links a new member may put in one post", 0, 100),
    "link_heavy_first_post": ("Links in a first post that make it a spam suspect (0: off)", 0, 100),
    "duplicate_window_minutes": ("Minutes in which the same text again is a spam suspect (0: off)", 0, 10080),
    "signup_burst": ("Sign-ups from one address in a day that make their posts spam suspects (0: off)",
                     0, 1000),
    "flag_threshold": ("Flag weight that holds a post for review", 0.5, 100),
    "basic_trust_days": ("Days since joining, for basic trust", 0, 365),
    "basic_trust_posts_read": ("Posts read, for basic trust", 0, 100_000),
}


def _row() -> ModerationSettings | None:
    return db.session.get(ModerationSettings, 1)


def current() -> Settings:
    """The settings in force (read once per request)."""
    if has_request_context() and "moderation_settings" in g:
        return g.moderation_settings
    row = _row()
    stored = row.values if row is not None else {}
    names = {f.name: f.type for f in fields(Settings)}
    value = Settings(**{k: (float(v) if names[k] in (float, "float") else int(v))
                        for k, v in (stored or {}).items() if k in names})
    if has_request_context():
        g.moderation_settings = value
    return value


def _forget() -> None:
    if has_request_context():
        g.pop("moderation_settings", None)
        g.pop("blocked_patterns", None)


def clean_value(name: str, raw) -> int | float:
    """A setting's value from a form, within its bounds. Raises Invalid."""
    label, low, high = LIMITS[name]
    kind = float if isinstance(low, float) or name == "flag_threshold" else int
    try:
        value = kind(str(raw).strip())
    except (TypeError, ValueError):
        raise Invalid(f"{label}: give a number.", field=name) from None
    if value != value or not low <= value <= high:  # NaN, or out of bounds
        raise Invalid(f"{label}: give a number from {low} to {high}.", field=name)
    return value


def clean_blocked_words(text: str | None) -> list[str]:
    """One pattern per line (a word, or a regular expression), blank lines dropped.
    Raises Invalid naming the first line that is not a valid pattern."""
    patterns = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if len(line) > PATTERN_MAX:
            raise Invalid(f"Line {number} is longer than {PATTERN_MAX} characters.", field="blocked_words")
        try:
            re.compile(line, re.IGNORECASE)
        except re.error as exc:
            raise Invalid(f"Line {number} (“{line[:40]}”) is not a valid pattern: {exc}.",
                          field="blocked_words") from None
        if _NESTED_REPEAT.search(line):
            raise Invalid(f"Line {number} (“{line[:40]}”) repeats a group that repeats itself, which can "
                          "make posting very slow; write it without the nested repetition.",
                          field="blocked_words")
        if re.fullmatch(line, "", re.IGNORECASE) is not None:
            raise Invalid(f"Line {number} (“{line[:40]}”) matches empty text, so it would block every post.",
                          field="blocked_words")
        patterns.append(line)
    if len(patterns) > BLOCKED_WORDS_MAX:
        raise Invalid(f"Keep the list under {BLOCKED_WORDS_MAX} patterns.", field="blocked_words")
    return patterns


def blocked_patterns() -> list[re.Pattern]:
    """The blocked-words list compiled (words match as whole words, any case)."""
    if has_request_context() and "blocked_patterns" in g:
        return g.blocked_patterns
    row = _row()
    compiled = []
    for line in (row.blocked_words if row is not None else "").splitlines():
        line = line.strip()
        if line:
            plain = re.fullmatch(r"[\w' -]+", line) is not None
            compiled.append(re.compile(rf"\b{re.escape(line)}\b" if plain else line, re.IGNORECASE))
    if has_request_context():
        g.blocked_patterns = compiled
    return compiled


def update_settings(actor: User, values: dict, blocked_words: str | None = None,
                    thresholds: dict | None = None) -> Settings:
    """Save the site's settings (any subset), the blocked-words list, and categories' own flag
    thresholds ({category id: value, "" for the site's}), audited, in one transaction. Everything is
    checked before anything is written. Raises Forbidden, Invalid or NotFound (nothing saved)."""
    if not is_admin(actor):
        raise Forbidden("Only admins change the moderation settings.")
    before = asdict(current())
    changed = {name: clean_value(name, raw) for name, raw in values.items() if name in LIMITS}
    patterns = clean_blocked_words(blocked_words) if blocked_words is not None else None
    own = {get_category(category_id).id: None if raw in (None, "") or not str(raw).strip()
           else clean_value("flag_threshold", raw) for category_id, raw in (thresholds or {}).items()}
    row = _row()
    if row is None:
        row = ModerationSettings(id=1, values={}, blocked_words="")
        db.session.add(row)
    row.values = {**(row.values or {}), **changed}
    row.updated_at = clock.now()
    after = {**before, **changed}
    if patterns is not None:
        before["blocked_words"], after["blocked_words"] = row.blocked_words, "\n".join(patterns)
        row.blocked_words = after["blocked_words"]
    differ = [k for k in after if before[k] != after[k]]
    if differ:
        audit.record(actor, "moderation-settings", "site", 0, before={k: before[k] for k in differ},
                     after={k: after[k] for k in differ})
    for category_id, value in own.items():
        _set_threshold(actor, category_id, value)
    db.session.commit()
    _forget()
    return current()


def _set_threshold(actor: User, category_id: int, value: float | None) -> None:
    row = db.session.get(CategoryModeration, category_id)
    previous = row.flag_threshold if row is not None else None
    if previous == value:
        return
    if value is None:
        db.session.delete(row)
    elif row is None:
        db.session.add(CategoryModeration(category_id=category_id, flag_threshold=value))
    else:
        row.flag_threshold = value
    audit.record(actor, "flag-threshold", "category", category_id, before={"threshold": previous},
                 after={"threshold": value})


def flag_threshold(category_id: int) -> float:
    """The flag weight that holds a post in this category: its own, else the site's."""
    own = db.session.scalar(sa.select(CategoryModeration.flag_threshold)
                            .where(CategoryModeration.category_id == category_id))
    return own if own is not None else current().flag_threshold


def category_thresholds() -> dict[int, float]:
    return {category_id: threshold for category_id, threshold in db.session.execute(
        sa.select(CategoryModeration.category_id, CategoryModeration.flag_threshold))}


def set_category_threshold(actor: User, category_id, threshold) -> None:
    """A category's own flag threshold ("" or None: back to the site's). Raises Forbidden, Invalid
    or NotFound."""
    update_settings(actor, {}, thresholds={category_id: threshold})
