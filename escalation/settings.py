"""The admins' escalation settings: teams (members, categories, mailbox, webhook), people's desk
settings, and response policies with their business calendars."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from accounts import audit
from accounts.models import ADMIN, ADVOCATE, STAFF, STAFF_ROLES, User
from accounts.permissions import is_admin
from accounts.services import normalise_email
from core import clock, pagecache
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import db
from core.ids import possible_id
from core.text import check_stacked_marks, clean_line, has_visible, required_text
from escalation import hours, services
from escalation.models import (
    NAME_MAX,
    URGENT_QUEUE,
    URL_MAX,
    CategoryTeam,
    DeskProfile,
    Escalation,
    Policy,
    Team,
    WebhookDelivery,
)
from forum.categories import get_category
from forum.models import Category
from forum.queries import categories_tree

TEAM_SUBJECT, POLICY_SUBJECT = "escalation_team", "escalation_policy"  # the audit log's subject types

# Queue names of the desk itself: a team's slug names its queue, so it may not take one of these.
GENERAL_QUEUE = "general"
RESERVED_SLUGS = frozenset({URGENT_QUEUE, "mine", "all", GENERAL_QUEUE})

SECRET_MIN, SECRET_MAX = 16, 100
CAP_MAX, DEFAULT_CAP = 200, 10  # DEFAULT_CAP: DeskProfile's column default
SCHEDULE_MAX = 200
MINUTES_MAX = 43_200  # 30 days
UNRESOLVED_DAYS_MAX = 365
URGENT_TERMS_MAX, URGENT_TERM_MAX = 2000, 60
FAILING_SHOWN = 20
DAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_WHOLE = re.compile(r"[+-]?\d{1,12}")
_TRUE = frozenset({"on", "1", "true", "yes", "y"})
# Raw calendar inputs, refused before parsing so that a pasted novel costs nothing.
_CALENDAR_LIMITS = {"timezone": (64, "A time zone"), "opens": (8, "An opening time"),
                    "closes": (8, "A closing time"), "holiday_country": (10, "A holiday country"),
                    "holiday_subdivision": (100, "A holiday region"),
                    "extra_holidays": (4000, "The list of extra closed days")}


# --- what the page shows -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    """A staff member, admin or advocate with their desk settings (the defaults if none are saved)."""

    user: User
    available: bool
    cap: int
    schedule: str
    team_ids: list[int]
    open_escalations: int
    has_profile: bool


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """A policy for the table and its edit form: `category` None is the site default; `saved` False
    is the built-in default, not yet stored."""

    category: Category | None
    policy: Policy
    saved: bool
    calendar_text: str
    values: dict


def overview() -> dict:
    """Everything the admin page shows, as template variables (without `form_data`, which the view
    passes after an error)."""
    teams = list(db.session.scalars(
        sa.select(Team).order_by(Team.name).options(selectinload(Team.members))))
    categories = _all_categories()
    category_team = dict(db.session.execute(sa.select(CategoryTeam.category_id, CategoryTeam.team_id)).all())
    team_categories: dict[int, list[int]] = {team.id: [] for team in teams}
    for category in categories:  # in the categories' own order
        if category.id in category_team:
            team_categories.setdefault(category_team[category.id], []).append(category.id)
    stored = list(db.session.scalars(sa.select(Policy)))
    default = next((p for p in stored if p.category_id is None), None)
    policies = {p.category_id: p for p in stored if p.category_id is not None}
    people = _people(teams)
    return {
        "teams": teams,
        "teams_by_id": {team.id: team for team in teams},
        "team_categories": team_categories,
        "people": people,
        "staff": [p.user for p in people if p.user.role in STAFF_ROLES],
        "categories": categories,
        "categories_by_id": {c.id: c for c in categories},
        "category_team": category_team,
        "default_policy": default,
        "policies": policies,
        "policy_rows": _policy_rows(default, policies, categories),
        "new_policy_values": policy_values(default or services.default_policy(), None),
        "deliveries": list(db.session.scalars(
            sa.select(WebhookDelivery).where(WebhookDelivery.status == "failing")
            .order_by(sa.func.coalesce(WebhookDelivery.last_attempt_at, WebhookDelivery.created_at).desc(),
                      WebhookDelivery.id.desc())
            .limit(FAILING_SHOWN).options(joinedload(WebhookDelivery.team)))),
        "timezones_hint": (f"A time zone name such as Europe/Berlin, America/New_York or Asia/Tokyo "
                           f"(this site's is {_site_zone()})."),
        "day_labels": DAY_LABELS,
        "limits": {"name": NAME_MAX, "url": URL_MAX, "secret_min": SECRET_MIN, "secret_max": SECRET_MAX,
                   "cap": CAP_MAX, "schedule": SCHEDULE_MAX, "minutes": MINUTES_MAX,
                   "days": UNRESOLVED_DAYS_MAX, "terms": URGENT_TERMS_MAX, "term": URGENT_TERM_MAX},
    }


def _all_categories() -> list[Category]:
    """Every category, each top-level one followed by its children (one query)."""
    return [c for parent, children in categories_tree() for c in (parent, *children)]


def _people(teams: list[Team]) -> list[Person]:
    rank = sa.case((User.role == ADMIN, 0), (User.role == STAFF, 1), else_=2)
    rows = db.session.execute(
        sa.select(User, DeskProfile).outerjoin(DeskProfile, DeskProfile.user_id == User.id)
        .where(User.role.in_([ADMIN, STAFF, ADVOCATE]), User.is_active_account.is_(True))
        .order_by(rank, User.display_name, User.id)).all()
    team_ids: dict[int, list[int]] = {}
    for team in teams:
        for member in team.members:
            team_ids.setdefault(member.id, []).append(team.id)
    load = services.open_load([user.id for user, _profile in rows]) if rows else {}
    return [Person(user=user, available=profile.available if profile else True,
                   cap=profile.cap if profile else DEFAULT_CAP,
                   schedule=(profile.schedule or "") if profile else "",
                   team_ids=team_ids.get(user.id, []), open_escalations=load.get(user.id, 0),
                   has_profile=profile is not None)
            for user, profile in rows]


def _policy_rows(default: Policy | None, policies: dict[int, Policy],
                 categories: list[Category]) -> list[PolicyRow]:
    shown = default or services.default_policy()
    rows = [PolicyRow(None, shown, default is not None, describe_calendar(shown.calendar),
                      policy_values(shown, None))]
    for category in categories:
        policy = policies.get(category.id)
        if policy is not None:
            rows.append(PolicyRow(category, policy, True, describe_calendar(policy.calendar),
                                  policy_values(policy, category.id)))
    return rows


def policy_values(policy: Policy, category_id: int | None) -> dict:
    """A policy as the form's fields (strings, and lists of strings for the check boxes)."""
    calendar = _readable_calendar(policy.calendar)
    return {
        "category_id": "" if category_id is None else str(category_id),
        "peer_window_minutes": str(policy.peer_window_s // 60),
        "target_minutes": str(policy.target_s // 60),
        "urgent_target_minutes": str(policy.urgent_target_s // 60),
        "unresolved_after_days": "" if policy.unresolved_after_days is None
                                 else str(policy.unresolved_after_days),
        "urgent_terms": policy.urgent_terms or "",
        "around_the_clock": calendar.around_the_clock,
        "timezone": calendar.timezone,
        # Around the clock keeps no days or hours: offer the usual ones if the admin switches it off.
        "workdays": [str(day) for day in calendar.workdays],
        "opens": _clock(calendar.opens),
        "closes": _clock(calendar.closes),
        "holiday_country": calendar.holiday_country or "",
        "holiday_subdivision": calendar.holiday_subdivision or "",
        "extra_holidays": "\n".join(day.isoformat() for day in calendar.extra_holidays),
    }


def _readable_calendar(data: dict | None) -> hours.Calendar:
    try:
        return services.calendar_of(data)
    except Invalid:
        return hours.Calendar(timezone=_site_zone(), around_the_clock=True)


def describe_calendar(data: dict | None) -> str:
    """"Mon–Fri 09:00–17:00 (Europe/Berlin), closed on public holidays in DE-BY and 2 more days"."""
    if not data:
        return f"Around the clock ({_site_zone()}, the site's time zone)"
    try:
        calendar = hours.Calendar.from_json(data)
    except Invalid as error:
        return f"Unreadable calendar: {error.message}"
    if calendar.around_the_clock:
        return f"Around the clock ({calendar.timezone})"
    text = f"{_days_text(calendar.workdays)} {_clock(calendar.opens)}–{_clock(calendar.closes)} " \
           f"({calendar.timezone})"
    closed = []
    if calendar.holiday_country:
        region = calendar.holiday_country
        if calendar.holiday_subdivision:
            region += f"-{calendar.holiday_subdivision}"
        closed.append(f"public holidays in {region}")
    if calendar.extra_holidays:
        count = len(calendar.extra_holidays)
        closed.append(f"{count} more day{'s' if count != 1 else ''}")
    return text + (f", closed on {' and '.join(closed)}" if closed else "")


def _days_text(days: tuple[int, ...]) -> str:
    """"Mon–Fri", "Mon, Wed, Fri", "Mon–Wed, Sat"."""
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(DAY_LABELS[run[0]] if len(run) == 1
                     else f"{DAY_LABELS[run[0]]}{'–' if len(run) > 2 else ', '}{DAY_LABELS[run[-1]]}"
                     for run in runs)


def _clock(moment) -> str:
    """'09:00', or '09:00:30' when there are seconds (as hours.Calendar.to_json writes them)."""
    return moment.isoformat(timespec="minutes" if moment.second == 0 else "seconds")


def _site_zone() -> str:
    return current_app.config.get("PEERLINE_TIMEZONE") or "UTC"


# --- teams ----------------------------------------------------------------------------------------------


def save_team(actor: User, form) -> Team:
    """Create (no team_id) or update (team_id) a team from the admin form, or delete one
    (delete_team). Raises Forbidden, NotFound, Invalid or Conflict; nothing is saved then."""
    _require_admin(actor)
    if form.get("delete_team") is not None:
        return _delete_team(actor, form.get("delete_team"))
    team = None
    if (form.get("team_id") or "").strip():
        team = _team(form.get("team_id"))
    name = required_text(form.get("name"), limit=NAME_MAX, field="name", empty="A team needs a name.",
                         noun="A team name", one_line=True)
    others = [t for t in db.session.scalars(sa.select(Team)) if team is None or t.id != team.id]
    for other in others:
        if other.name.casefold() == name.casefold():
            raise Conflict(f"There is already a team called '{other.name}'.", field="name")
    slug = _team_slug(name, team, others)
    notify_email = _team_mailbox(form.get("notify_email"))
    webhook_url = _webhook_url(form.get("webhook_url"))
    webhook_secret = _webhook_secret(form.get("webhook_secret"), webhook_url, team)
    members = _members(form.getlist("member_ids"))
    lead = _lead(form.get("lead_id"), members)
    categories = _categories(form.getlist("category_ids"))

    before = _team_state(team) if team is not None else None
    old_slug = team.slug if team is not None else None
    if team is None:
        team = Team()
        db.session.add(team)
    team.name, team.slug, team.auto_assign = name, slug, _checked(form, "auto_assign")
    team.notify_email, team.webhook_url, team.webhook_secret = notify_email, webhook_url, webhook_secret
    team.members = members
    team.lead = lead
    _flush_unique()
    if old_slug is not None and old_slug != slug:
        # A team's queue is named by its slug: its escalations follow the new name.
        db.session.execute(sa.update(Escalation).where(Escalation.queue == old_slug).values(queue=slug))
    losers = _assign_categories(team, [c.id for c in categories])
    audit.record(actor, "escalation-team", TEAM_SUBJECT, team.id, before=before, after=_team_state(team))
    for other_id, (lost_before, lost_after) in losers.items():
        audit.record(actor, "escalation-team", TEAM_SUBJECT, other_id, before={"category_ids": lost_before},
                     after={"category_ids": lost_after},
                     reason=f"Categories moved to the team '{team.name}'.")
    pagecache.bump_version()  # the queue page's memoised teams
    _commit_unique()
    return team


def _delete_team(actor: User, team_id) -> Team:
    """Delete a team: its categories fall back to no team, and its escalations (open or resolved)
    move to the general queue."""
    team = _team(team_id, field="delete_team")
    before = _team_state(team)
    db.session.execute(sa.update(Escalation).where(Escalation.queue == team.slug).values(queue=GENERAL_QUEUE))
    db.session.execute(sa.update(Escalation).where(Escalation.team_id == team.id).values(team_id=None))
    db.session.execute(sa.delete(CategoryTeam).where(CategoryTeam.team_id == team.id))
    db.session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.team_id == team.id))
    audit.record(actor, "escalation-team-delete", TEAM_SUBJECT, team.id, before=before)
    db.session.delete(team)
    pagecache.bump_version()
    db.session.commit()
    return team


def _team(team_id, *, field: str = "team_id") -> Team:
    number = possible_id(team_id)
    team = db.session.get(Team, number) if number is not None else None
    if team is None:
        raise NotFound("No such team: it may have been deleted meanwhile.", field=field)
    return team


def _team_slug(name: str, team: Team | None, others: list[Team]) -> str:
    """The queue address made from a team's name: lowercase a-z, digits and dashes. A name without
    any of those (Поддержка) keeps its team's numbered slug, or takes the next free one."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:NAME_MAX].strip("-")
    taken = {other.slug: other for other in others}
    if not slug:
        if team is not None and re.fullmatch(r"team-\d+", team.slug):
            return team.slug
        number = 1
        while f"team-{number}" in taken:
            number += 1
        return f"team-{number}"
    if slug in RESERVED_SLUGS:
        raise Invalid(f"A team cannot be called '{name}': its queue would be '{slug}', the name of a "
                      f"built-in queue ({', '.join(sorted(RESERVED_SLUGS))}). Choose another name.",
                      field="name")
    if slug in taken:
        raise Conflict(f"A team called '{name}' would have the queue address '{slug}', which the team "
                       f"'{taken[slug].name}' has already. Choose a name that differs in more than "
                       "capitals, accents or punctuation.", field="name")
    return slug


def _team_mailbox(value: str | None) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    try:
        return normalise_email(value)
    except Invalid as error:
        raise Invalid(f"Team mailbox: {error.message}", field="notify_email") from None


def _webhook_url(value: str | None) -> str:
    """An http(s) URL with a host, or ''. Raises Invalid."""
    url = (value or "").strip()
    if not url:
        return ""
    if len(url) > URL_MAX:
        raise Invalid(f"A webhook URL has at most {URL_MAX} characters (this one has {len(url):,}).",
                      field="webhook_url")
    if any(ord(ch) > 126 or ord(ch) < 33 for ch in url):
        raise Invalid("A webhook URL cannot contain spaces or non-ASCII characters: percent-encode them, "
                      "and write international domain names in punycode (xn--…).", field="webhook_url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number from 0 to 65535)
    except ValueError:
        raise Invalid("That webhook URL is not valid: check its host and port.",
                      field="webhook_url") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise Invalid("A webhook URL must start with http:// or https:// and name a host, "
                      "like https://hooks.example.com/peerline.", field="webhook_url")
    if parts.username is not None or parts.password is not None:
        raise Invalid("A webhook URL cannot carry a user name or password: messages are signed with the "
                      "webhook secret instead.", field="webhook_url")
    return url


def _webhook_secret(value: str | None, webhook_url: str, team: Team | None) -> str:
    """The secret that signs the webhook's messages: required with a URL, kept when left blank on an
    update, and dropped with the URL. Raises Invalid."""
    secret = (value or "").strip()
    if not webhook_url:
        if secret:
            raise Invalid("A secret only signs webhook messages: give a webhook URL too, or leave the "
                          "secret empty.", field="webhook_secret")
        return ""
    if not secret:
        if team is not None and team.webhook_secret:
            return team.webhook_secret
        raise Invalid(f"A webhook needs a secret of {SECRET_MIN} to {SECRET_MAX} characters to sign its "
                      "messages.", field="webhook_secret")
    if not SECRET_MIN <= len(secret) <= SECRET_MAX:
        raise Invalid(f"A webhook secret has {SECRET_MIN} to {SECRET_MAX} characters (this one has "
                      f"{len(secret):,}).", field="webhook_secret")
    if any(ch.isspace() or not ch.isprintable() for ch in secret):
        raise Invalid("A webhook secret cannot contain spaces or invisible characters.",
                      field="webhook_secret")
    return secret


def _ids(values: list[str], *, field: str, message: str) -> list[int]:
    """Distinct ids from a form's list, in order; blanks skipped. Raises Invalid for anything else."""
    ids: list[int] = []
    for value in values:
        if not (value or "").strip():
            continue
        number = possible_id(value.strip())
        if number is None:
            raise Invalid(message, field=field)
        if number not in ids:
            ids.append(number)
    return ids


def _members(values: list[str]) -> list[User]:
    message = "Choose team members from the list of staff."
    ids = _ids(values, field="member_ids", message=message)
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))} if ids else {}
    members = []
    for user_id in ids:
        user = users.get(user_id)
        if user is None:
            raise Invalid(message, field="member_ids")
        if user.role not in STAFF_ROLES or not user.is_active_account:
            raise Invalid(f"{user.display_name} (@{user.username}) is not staff: team members are active "
                          "staff and admins.", field="member_ids")
        members.append(user)
    return members


def _lead(value: str | None, members: list[User]) -> User | None:
    """The team lead: one of the members chosen, or None. Raises Invalid."""
    if not (value or "").strip():
        return None
    number = possible_id(value.strip())
    lead = next((member for member in members if member.id == number), None)
    if lead is None:
        raise Invalid("The team lead must be one of the team's members: tick them under Members too, "
                      "or choose no lead.", field="lead_id")
    return lead


def _categories(values: list[str]) -> list[Category]:
    message = "Choose categories from the list: one of them no longer exists."
    ids = _ids(values, field="category_ids", message=message)
    found = {c.id: c for c in db.session.scalars(sa.select(Category).where(Category.id.in_(ids)))}
    if len(found) != len(ids):
        raise Invalid(message, field="category_ids")
    return [found[i] for i in ids]


def _assign_categories(team: Team, category_ids: list[int]) -> dict[int, tuple[list[int], list[int]]]:
    """Give the team exactly these categories, taking them from other teams (one team per category).
    Returns {other team id: (its categories before, after)} for the teams that lost some."""
    wanted = set(category_ids)
    rows = list(db.session.scalars(sa.select(CategoryTeam).where(
        sa.or_(CategoryTeam.team_id == team.id, CategoryTeam.category_id.in_(wanted)))))
    losing = {row.team_id for row in rows if row.team_id != team.id}
    before = {}
    if losing:
        for team_id, category_id in db.session.execute(
                sa.select(CategoryTeam.team_id, CategoryTeam.category_id)
                .where(CategoryTeam.team_id.in_(losing)).order_by(CategoryTeam.category_id)):
            before.setdefault(team_id, []).append(category_id)
    held = set()
    for row in rows:
        if row.category_id in wanted:
            row.team_id = team.id
            held.add(row.category_id)
        else:
            db.session.delete(row)
    for category_id in category_ids:
        if category_id not in held:
            db.session.add(CategoryTeam(category_id=category_id, team_id=team.id))
    return {team_id: (ids, [i for i in ids if i not in wanted]) for team_id, ids in before.items()}


def _team_state(team: Team) -> dict:
    """A team for the audit log. Never the secret: only whether there is one."""
    category_ids = sorted(db.session.scalars(
        sa.select(CategoryTeam.category_id).where(CategoryTeam.team_id == team.id))) if team.id else []
    return {"name": team.name, "slug": team.slug, "auto_assign": team.auto_assign,
            "notify_email": team.notify_email, "webhook_url": team.webhook_url,
            "webhook_secret_set": bool(team.webhook_secret),
            "member_ids": sorted(m.id for m in team.members), "lead_id": team.lead_id,
            "category_ids": category_ids}


# --- people ------------------------------------------------------------------------------------------


def save_person(actor: User, form) -> DeskProfile:
    """Save a staff member's, admin's or advocate's desk settings (available, cap, schedule),
    creating them on first use. Raises Forbidden or Invalid; nothing is saved then."""
    _require_admin(actor)
    number = possible_id((form.get("user_id") or "").strip())
    user = db.session.get(User, number) if number is not None else None
    if user is None or user.role not in (*STAFF_ROLES, ADVOCATE):
        raise Invalid("Desk settings are for staff, admins and advocates: choose one of them.",
                      field="user_id")
    cap = _whole(form, "cap", 0, CAP_MAX, f"A cap is a whole number from 0 to {CAP_MAX}.")
    schedule = clean_line(form.get("schedule"))
    if not has_visible(schedule):
        schedule = ""
    check_stacked_marks(schedule, field="schedule", noun="The schedule")
    if len(schedule) > SCHEDULE_MAX:
        raise Invalid(f"The schedule has at most {SCHEDULE_MAX} characters (this one has {len(schedule):,}).",
                      field="schedule")
    profile = db.session.get(DeskProfile, user.id)
    before = _person_state(profile) if profile is not None else None
    if profile is None:
        profile = DeskProfile(user_id=user.id)
        db.session.add(profile)
    profile.available, profile.cap, profile.schedule = _checked(form, "available"), cap, schedule
    db.session.flush()
    audit.record(actor, "escalation-person", audit.USER, user.id, before=before, after=_person_state(profile))
    db.session.commit()
    return profile


def _person_state(profile: DeskProfile) -> dict:
    return {"available": profile.available, "cap": profile.cap, "schedule": profile.schedule}


# --- policies ----------------------------------------------------------------------------------------


def save_policy(actor: User, form) -> Policy:
    """Create or update the response policy of a category (category_id empty: the site default), or
    remove a category's own policy (delete_policy). Raises Forbidden, NotFound, Invalid or Conflict;
    nothing is saved then."""
    _require_admin(actor)
    if form.get("delete_policy") is not None:
        return _delete_policy(actor, form.get("delete_policy"))
    category_id = None
    if (form.get("category_id") or "").strip():
        category_id = get_category(form.get("category_id").strip()).id
    limit = f"from 1 to {MINUTES_MAX:,} (30 days)"
    peer_window = _whole(form, "peer_window_minutes", 1, MINUTES_MAX,
                         f"The peer window is a whole number of minutes {limit}.")
    target = _whole(form, "target_minutes", 1, MINUTES_MAX,
                    f"The response target is a whole number of minutes {limit}.")
    urgent_target = _whole(form, "urgent_target_minutes", 1, MINUTES_MAX,
                           f"The urgent response target is a whole number of minutes {limit}.")
    if urgent_target > target:
        raise Invalid(f"The urgent response target ({urgent_target:,} min) cannot be longer than the "
                      f"response target ({target:,} min).", field="urgent_target_minutes")
    unresolved_after_days = None
    if (form.get("unresolved_after_days") or "").strip():
        unresolved_after_days = _whole(
            form, "unresolved_after_days", 1, UNRESOLVED_DAYS_MAX,
            f"“Answered, not solved” comes after a whole number of days from 1 to {UNRESOLVED_DAYS_MAX}; "
            "leave it empty to turn it off.")
    terms = _urgent_terms(form.get("urgent_terms"))
    calendar = _calendar(form)

    policy = db.session.scalar(sa.select(Policy).where(
        Policy.category_id.is_(None) if category_id is None else Policy.category_id == category_id))
    before = _policy_state(policy) if policy is not None else None
    if policy is None:
        policy = Policy(category_id=category_id)
        db.session.add(policy)
    policy.peer_window_s, policy.target_s = peer_window * 60, target * 60
    policy.urgent_target_s = urgent_target * 60
    policy.unresolved_after_days, policy.urgent_terms = unresolved_after_days, terms
    policy.calendar, policy.updated_at = calendar.to_json(), clock.now()
    _flush_unique()
    audit.record(actor, "escalation-policy", POLICY_SUBJECT, policy.id, before=before,
                 after=_policy_state(policy))
    _commit_unique()
    return policy


def _delete_policy(actor: User, category_id) -> Policy:
    """Remove a category's own policy: the category follows the site default again."""
    if not (category_id or "").strip():
        raise Invalid("The site default policy cannot be removed; change it instead.", field="delete_policy")
    number = possible_id(category_id.strip())
    policy = db.session.scalar(sa.select(Policy).where(Policy.category_id == number)) if number else None
    if policy is None:
        raise NotFound("That category has no policy of its own (it follows the site default).",
                       field="delete_policy")
    audit.record(actor, "escalation-policy-delete", POLICY_SUBJECT, policy.id, before=_policy_state(policy))
    db.session.delete(policy)
    db.session.commit()
    return policy


def _urgent_terms(value: str | None) -> str:
    """Terms separated by commas or new lines, one a line when stored; each at most 60 characters,
    2,000 in all. Raises Invalid."""
    raw = value or ""
    if len(raw) > 4 * URGENT_TERMS_MAX:
        raise Invalid(f"Urgent terms have at most {URGENT_TERMS_MAX:,} characters in all.",
                      field="urgent_terms")
    terms, seen = [], set()
    for piece in re.split(r"[,\n\r]+", raw):
        term = clean_line(piece)
        if not has_visible(term):
            continue
        check_stacked_marks(term, field="urgent_terms", noun="An urgent term")
        if len(term) > URGENT_TERM_MAX:
            raise Invalid(f"An urgent term has at most {URGENT_TERM_MAX} characters: "
                          f"'{term[:URGENT_TERM_MAX]}…' has {len(term)}.", field="urgent_terms")
        if term.casefold() not in seen:
            seen.add(term.casefold())
            terms.append(term)
    stored = "\n".join(terms)
    if len(stored) > URGENT_TERMS_MAX:
        raise Invalid(f"Urgent terms have at most {URGENT_TERMS_MAX:,} characters in all (these have "
                      f"{len(stored):,}).", field="urgent_terms")
    return stored


def _calendar(form) -> hours.Calendar:
    """The business calendar from the form, validated by hours.Calendar.build. Raises Invalid."""
    values = {}
    for name, (limit, noun) in _CALENDAR_LIMITS.items():
        values[name] = form.get(name) or ""
        if len(values[name]) > limit:
            raise Invalid(f"{noun} has at most {limit:,} characters.", field=name)
    workdays = [day for day in form.getlist("workdays") if len(day) <= 20][:50]
    if len(workdays) != len(form.getlist("workdays")):
        raise Invalid("Choose workdays from Monday to Sunday.", field="workdays")
    return hours.Calendar.build(
        timezone=values["timezone"], around_the_clock=_checked(form, "around_the_clock"),
        # One text field ("mon-fri" typed as "mon, tue, wed") is split by Calendar.build itself.
        workdays=workdays[0] if len(workdays) == 1 else workdays,
        opens=values["opens"].strip() or "09:00", closes=values["closes"].strip() or "17:00",
        holiday_country=values["holiday_country"], holiday_subdivision=values["holiday_subdivision"],
        extra_holidays=values["extra_holidays"])


def _policy_state(policy: Policy) -> dict:
    return {"category_id": policy.category_id, "peer_window_s": policy.peer_window_s,
            "target_s": policy.target_s, "urgent_target_s": policy.urgent_target_s,
            "unresolved_after_days": policy.unresolved_after_days,
            "urgent_terms": policy.urgent_terms, "calendar": policy.calendar}


# --- shared --------------------------------------------------------------------------------------------


def _require_admin(actor: User) -> None:
    if not is_admin(actor):
        raise Forbidden("Only admins change the escalation settings.")


def _checked(form, name: str) -> bool:
    """A check box: present with a true-ish value (browsers send 'on')."""
    return (form.get(name) or "").strip().lower() in _TRUE


def _whole(form, name: str, low: int, high: int, message: str) -> int:
    """A whole number from low to high from a form field; raises Invalid(message) for anything else
    (empty, decimals, words, huge numbers)."""
    text = (form.get(name) or "").strip()
    if not _WHOLE.fullmatch(text):
        raise Invalid(message, field=name)
    number = int(text)
    if not low <= number <= high:
        raise Invalid(message, field=name)
    return number


def _flush_unique() -> None:
    """Flush; a unique name or policy saved by someone else at the same moment is a Conflict."""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("Someone else saved the same thing at the same moment: reload the page and try "
                       "again.") from None


def _commit_unique() -> None:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("Someone else saved the same thing at the same moment: reload the page and try "
                       "again.") from None
