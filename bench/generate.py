"""Generate a large Peerline community for benchmarks: people, categories, tags, threads, posts, votes.

    python bench/generate.py [--database-url URL] [--threads N] [--posts N] [--users N] [--seed N] [--force]
                             [--history]

The schema comes from the migrations (`flask db upgrade`), then rows are bulk-inserted with SQLAlchemy
Core executemany in batches, and the derived thread columns (reply count, first reply, first staff
reply, last activity) are filled in SQL the way forum.services.refresh_thread_stats computes them.
`posts` counts every post: one question per thread, the rest are answers. --history (what
bench/insights_rollup.py uses) adds what the metrics read: each thread's history (thread_events:
created, first reply, first staff reply, replies deleted, accepted with some unaccepted and
re-accepted, closed and some reopened, moved, hidden or deleted for a few), the desk's two teams with
escalations for about a tenth of the threads, ask flows and satisfaction ratings, over the year
ending where the day of generating began. On PostgreSQL the rows go in with COPY.

A database that already holds at least the requested number of threads is reused (later benchmarks
share it); --force regenerates. Only a database this script generated (or an empty one) is ever
wiped. SQLite (the default, under bench/.data/, gitignored) and PostgreSQL (created if missing) work.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import itertools
import json
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = f"sqlite:///{ROOT / 'bench' / '.data' / 'community.sqlite3'}"
BENCH_EMAIL_DOMAIN = "bench.peerline.invalid"
MIGRATIONS = ROOT / "migrations" / "versions"
# What the generator knows about the database it made; not part of the app's schema.
bench_meta = sa.Table("bench_meta", sa.MetaData(), sa.Column("key", sa.String(40), primary_key=True),
                      sa.Column("value", sa.String(200), nullable=False))
BATCH = 5_000

ROLE_SHARES = (("staff", 0.03), ("advocate", 0.07))  # the rest are members
UNANSWERED_SHARE, SOLVED_SHARE = 0.15, 0.40
URGENT_SHARE, DELETED_ANSWER_SHARE, ASKER_FOLLOW_UP_SHARE = 0.03, 0.01, 0.12
ASK_WEIGHT = {"member": 1.0, "advocate": 0.5, "staff": 0.05}
ANSWER_WEIGHT = {"member": 1.0, "advocate": 10.0, "staff": 5.0}
TEMPLATES = {"question": 200, "answer": 400, "follow_up": 40}


# --- database plumbing ----------------------------------------------------------------------------


def sqlalchemy_url(database_url: str) -> str:
    """The URL as the app's config would use it: psycopg 3 for PostgreSQL, absolute SQLite paths.

    (Flask-SQLAlchemy reads a relative SQLite path relative to the app's instance folder; here it
    means relative to the current directory.)
    """
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url.removeprefix("postgres://")
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("the benchmark needs an SQLite file, not an in-memory database")
        url = url.set(database=str(Path(url.database).expanduser().resolve()))
    elif url.get_backend_name() != "postgresql":
        raise ValueError(f"SQLite or PostgreSQL only, not {url.get_backend_name()}")
    return url.render_as_string(hide_password=False)


def shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _maintenance_engine(url: URL) -> sa.Engine:
    return sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT",
                            poolclass=sa.pool.NullPool)


def ensure_database(database_url: str) -> bool:
    """Create the SQLite folder, or the PostgreSQL database, if missing; True when it was created."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        return not path.exists()
    engine = _maintenance_engine(url)
    try:
        with engine.connect() as conn:
            exists = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                 {"name": url.database})
            if not exists:
                quoted = conn.dialect.identifier_preparer.quote(url.database)
                conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
    finally:
        engine.dispose()
    return not exists


def drop_database(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(url.database + suffix).unlink(missing_ok=True)
        return
    engine = _maintenance_engine(url)
    try:
        with engine.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(url.database)
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
    finally:
        engine.dispose()


def migrations_fingerprint() -> str:
    """A hash of the migration files: a database built from other migrations (one edited in place,
    say) may lack indexes the app now relies on, and must be generated again."""
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def make_app(database_url: str):
    """The Peerline app on `database_url`, without the ticker or Redis (nothing runs behind our back)."""
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, "PEERLINE_TICKER": False,
                       "REDIS_URL": None})


def _state(app) -> dict:
    """Upgrade the schema (as `flask db upgrade` does), then say what the database holds."""
    from flask_migrate import upgrade

    from accounts.models import User
    from core.extensions import db
    from forum.models import Thread

    with app.app_context():
        upgrade()
        state = {
            "threads": db.session.scalar(sa.select(sa.func.count()).select_from(Thread)),
            "users": db.session.scalar(sa.select(sa.func.count()).select_from(User)),
            "bench_users": db.session.scalar(sa.select(sa.func.count()).select_from(User).where(
                User.email.like(f"%@{BENCH_EMAIL_DOMAIN}"))),
            "counts": row_counts(),
            "meta": {},
        }
        if sa.inspect(db.session.connection()).has_table(bench_meta.name):
            state["meta"] = dict(db.session.execute(sa.select(bench_meta.c.key, bench_meta.c.value)).all())
        db.session.remove()
        db.engine.dispose()
    return state


# --- text -----------------------------------------------------------------------------------------

FIRST_NAMES = ("Ada Alex Amir Ana Ben Bea Cara Chen Dan Dee Eli Emma Finn Gia Hana Ian Iris Jo Kai Kim "
               "Lea Leo Lia Luca Mae Mia Nia Noor Oli Omar Pia Raj Rosa Sam Sara Tara Theo Uma Vik Zoe"
               ).split()
LAST_NAMES = ("Ahmed Baker Costa Dubois Evans Ferreira Garcia Hughes Ito Jensen Kowal Lopez Murphy "
              "Nakamura Okafor Petrov Quinn Rossi Silva Tanaka Unwin Vargas Walsh Xu Young Zhang").split()
BUSINESSES = ("bakery", "joinery", "design studio", "dental practice", "café", "bike shop", "law firm",
              "landscaping business", "yoga studio", "print shop", "recruitment agency", "brewery")

CATEGORIES = (
    ("Getting started", "getting-started", "Setting up a workspace, plans and billing, users and roles."),
    ("Invoicing & payments", "invoicing-payments", "Invoices, quotes, credit notes, reminders, Paywave."),
    ("Bank feeds & reconciliation", "bank-feeds", "Bank connections, imports, bank rules and matching."),
    ("Tax & reports", "tax-reports", "VAT and sales tax, returns, financial reports and year-end."),
    ("Integrations & API", "integrations-api", "Harbour CRM, the REST API, webhooks and single sign-on."),
    ("Mobile apps", "mobile-apps", "The iOS and Android apps, receipt scanning on the go."),
    ("Payroll & expenses", "payroll-expenses", "Pay runs, pensions, expense claims and mileage."),
    ("Accounts & security", "accounts-security", "Signing in, two-factor, permissions and the audit log."),
)
CATEGORY_WEIGHTS = (3, 6, 5, 4, 3, 2, 2, 2)

TAGS = """invoices recurring-invoices credit-notes quotes reminders paywave card-payments bank-feeds
reconciliation bank-rules csv-import vat sales-tax mtd reports profit-and-loss balance-sheet year-end api
webhooks sso saml oauth harbour-crm zapier ios android receipts expenses mileage payroll pensions
timesheets projects inventory multi-currency exchange-rates permissions 2fa sign-in billing subscription
export pdf email-templates branding contacts suppliers bills purchase-orders journals chart-of-accounts
opening-balances migration performance bug feature-request how-to accountant-access audit-log""".split()

FEATURES = (
    "Recurring invoices", "The bank feed", "Bank rules", "The VAT return", "The profit and loss report",
    "CSV import", "The Paywave payout", "The Harbour CRM sync", "Webhooks", "The REST API",
    "Receipt scanning", "The iOS app", "The Android app", "Credit notes", "Payment reminders",
    "Multi-currency invoicing", "The balance sheet", "The pay run", "Expense claims", "Single sign-on",
    "Two-factor sign-in", "The audit log", "Quote templates", "Invoice PDFs", "Opening balances",
)
SYMPTOMS = ("stops working", "shows the wrong total", "duplicates every line", "times out", "skips a month",
            "rounds the VAT differently", "ignores my exchange rate", "returns a 500 error",
            "misses half the transactions", "sends the email twice", "shows yesterday's balance",
            "asks me to sign in again", "uses the wrong date format", "never finishes loading",
            "posts to the wrong account")
EVENTS = ("the last update", "reconnecting my bank", "changing my plan", "switching invoice templates",
          "moving to a new phone", "enabling SSO", "adding a second currency", "the year-end close",
          "importing last year's data", "inviting my accountant")
TASKS = ("split one payment across two invoices", "give my accountant read-only access",
         "export a year of transactions", "invoice on the last day of every month", "undo a reconciliation",
         "change my invoice numbering", "merge two duplicate contacts", "connect a second bank account",
         "charge a late fee automatically", "record a refund from a supplier",
         "send statements to every customer at once", "add a logo to my quotes",
         "pay a bill in a foreign currency", "track mileage on the mobile app",
         "lock a VAT period after filing",
         "rotate an API key without downtime", "get webhooks for paid invoices only",
         "import opening balances from a spreadsheet")
OBSTACLES = ("losing the history", "breaking my invoice numbering", "sharing my password",
             "re-entering everything", "undoing the reconciliation", "paying for another seat")
SUBJECTS = ("customers in the EU", "zero-rated items", "invoices paid by card", "credit card accounts",
            "part payments", "old invoices", "supplier bills", "draft invoices")
WRONG = ("a negative balance", "the wrong currency symbol", "a blank page", "an old logo", "duplicate lines",
         "the wrong tax code")
AREAS = ("Invoices", "Bank accounts", "Tax", "Reports", "Integrations", "Users & roles", "Payroll",
         "Branding")
OPTIONS = ("Match by reference", "Round per line", "Send automatically", "Use payment date",
           "Group by contact", "Include drafts")

CONTEXT = (
    "We run a small {business} with {n} people and have used Tallybird for {years} years.",
    "I keep the books for a {business} and reconcile once a week, usually on Fridays.",
    "Our {business} moved to Tallybird from spreadsheets last spring.",
    "I am the only person doing admin at a {business}, so I have to get this right myself.",
)
PROBLEM = (
    "{feature} {symptom} since {event}.",
    "Since {event}, {feature_l} {symptom} for {subject}.",
    "{feature} shows {wrong} for {subject}, but only some of the time.",
)
DETAIL = (
    "It happens on about one in {n} records, and I cannot see a pattern.",
    "The activity log shows nothing unusual, and support suggested I ask here first.",
    "Refreshing the page does not help, and it looks the same in another browser.",
    "My accountant noticed it when she ran the monthly **{feature_l}** check.",
)
TRIED = (
    "I have already tried signing out and back in, and turning *{option}* off and on again.",
    "I tried recreating the rule from scratch and clearing the browser cache, but nothing changed.",
    "I checked **Settings › {area}** and everything there looks right to me.",
)
ASK = (
    "Is this expected, and how do I {task}?",
    "Has anyone seen this before? Ideally I would like to {task} without {obstacle}.",
    "What is the right way to {task}?",
)
OPENERS = (
    "This is a known quirk of {feature_l}, and there is a way round it.",
    "I had exactly the same problem last {month}.",
    "Short answer: yes, but not from the screen you would expect.",
    "It depends on whether the period is locked, but in most cases you can fix it yourself.",
)
STEPS = (
    "Open **Settings › {area}**.",
    "Choose *Edit rules* and untick `{option}`.",
    "Save, then run the import again for the affected dates only.",
    "Reconcile the duplicates from the **Unmatched** tab.",
    "Check the exchange rate on the invoice before you approve it.",
    "Ask an admin to grant the *Accountant* role instead of sharing a sign-in.",
    "Lock the period under **Tax › Periods** once the return is filed.",
)
EXPLAIN = (
    "The reason is that {feature_l} works from the payment date, not the invoice date, so anything "
    "paid across a month end lands in the next period.",
    "Behind the scenes each bank line is matched once; re-importing the same statement creates new lines "
    "instead of updating the old ones.",
    "Tallybird rounds VAT per line by default, while most spreadsheets round the total, which is where "
    "the penny or two comes from.",
    "The mobile apps cache the last sync for up to an hour, so a change on the web can take a while "
    "to show up there.",
)
CLOSERS = (
    "Hope that helps!",
    "If it still happens after that, open a ticket and mention the request id from the error page.",
    "There is more in the [help centre](https://help.tallybird.example/{slug}).",
    "Worked for us on three different workspaces.",
)
CODE = (
    ("bash", "curl -s https://api.tallybird.example/v2/invoices?status=paid \\\n"
             "  -H \"Authorization: Bearer $TALLYBIRD_TOKEN\" | jq '.data[].number'"),
    ("python", "import requests\n\nresp = requests.get(\n    \"https://api.tallybird.example/v2/bank-lines\",\n"
               "    params={\"account\": ACCOUNT_ID, \"unmatched\": True},\n    timeout=10,\n)\n"
               "for line in resp.json()[\"data\"]:\n    print(line[\"date\"], line[\"amount\"])"),
    ("json", "{\n  \"event\": \"invoice.paid\",\n"
             "  \"invoice\": {\"number\": \"INV-1042\", \"total\": \"240.00\"},\n"
             "  \"paid_at\": \"2026-03-04T09:12:00Z\"\n}"),
    ("", "Error 502: upstream timed out (request id 7f3c2a9e)\nRetry-After: 30"),
    ("", "Date,Description,Amount\n03/04/2026,PAYWAVE PAYOUT,1204.50\n03/04/2026,CARD FEE,-2.10"),
)
FOLLOW_UPS = (
    "Thanks, that did it.", "That worked, but only after I reloaded the page.",
    "Still seeing it on the Android app. Any ideas?", "Perfect, the numbers match my spreadsheet now.",
    "Quick update: support confirmed it is fixed in the next release.",
    "Thank you! I had no idea that setting existed.", "Tried that; the duplicates are gone.",
    "Is there a way to do this for last year too?",
)
MONTHS = ("January", "March", "June", "September", "November", "year")


def _words(rng: random.Random) -> dict:
    feature = rng.choice(FEATURES)
    return {
        "feature": feature, "feature_l": feature[0].lower() + feature[1:], "symptom": rng.choice(SYMPTOMS),
        "event": rng.choice(EVENTS), "task": rng.choice(TASKS), "obstacle": rng.choice(OBSTACLES),
        "subject": rng.choice(SUBJECTS), "wrong": rng.choice(WRONG), "area": rng.choice(AREAS),
        "option": rng.choice(OPTIONS), "business": rng.choice(BUSINESSES), "n": rng.randint(2, 40),
        "years": rng.randint(1, 9), "month": rng.choice(MONTHS), "slug": rng.choice(TAGS),
    }


def _code_block(rng: random.Random) -> str:
    language, code = rng.choice(CODE)
    return f"```{language}\n{code}\n```"


def title_text(rng: random.Random) -> str:
    w = _words(rng)
    pattern = rng.choice((
        "{feature} {symptom} after {event}", "How do I {task}?", "Can I {task} without {obstacle}?",
        "{feature} shows {wrong} for {subject}", "Is there a way to {task}?",
        "{feature} {symptom} for {subject}",
    ))
    return pattern.format(**w)[:200]


def question_text(rng: random.Random) -> str:
    w = _words(rng)
    paragraphs = [" ".join((rng.choice(CONTEXT), rng.choice(PROBLEM), rng.choice(DETAIL))).format(**w)]
    if rng.random() < 0.35:
        paragraphs.append(_code_block(rng))
    paragraphs.append(rng.choice(TRIED).format(**w))
    paragraphs.append(rng.choice(ASK).format(**w))
    return "\n\n".join(paragraphs)


def answer_text(rng: random.Random) -> str:
    w = _words(rng)
    paragraphs = [rng.choice(OPENERS).format(**w)]
    if rng.random() < 0.7:
        steps = rng.sample(STEPS, rng.randint(2, 4))
        paragraphs.append("\n".join(f"{i}. {step}" for i, step in enumerate(steps, 1)).format(**w))
    if rng.random() < 0.3:
        paragraphs.append(_code_block(rng))
    paragraphs.append(rng.choice(EXPLAIN).format(**w))
    paragraphs.append(rng.choice(CLOSERS).format(**w))
    return "\n\n".join(paragraphs)


def follow_up_text(rng: random.Random) -> str:
    text = rng.choice(FOLLOW_UPS)
    if rng.random() < 0.5:
        text += " " + rng.choice(FOLLOW_UPS)
    return text


# --- the community, in memory ---------------------------------------------------------------------


@dataclass
class PostRow:
    thread: int
    author: int
    role: str
    kind: str
    body: int  # template index
    created_at: datetime
    score: int = 0
    deleted: bool = False
    id: int = 0


@dataclass
class Community:
    users: list[dict] = field(default_factory=list)
    categories: list[dict] = field(default_factory=list)
    tags: list[dict] = field(default_factory=list)
    threads: list[dict] = field(default_factory=list)
    thread_tags: list[dict] = field(default_factory=list)
    posts: list[PostRow] = field(default_factory=list)
    votes: list[tuple[PostRow, int, int, datetime]] = field(default_factory=list)
    subscriptions: list[dict] = field(default_factory=list)
    accepted: list[tuple[int, PostRow, int, datetime]] = field(default_factory=list)
    bodies: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # With history=True (bench/insights_rollup.py): thread_events, the desk's teams and escalations,
    # ask flows and satisfaction ratings.
    events: list[dict] = field(default_factory=list)
    teams: list[dict] = field(default_factory=list)
    team_members: list[dict] = field(default_factory=list)
    category_teams: list[dict] = field(default_factory=list)
    escalations: list[dict] = field(default_factory=list)
    ask_flows: list[dict] = field(default_factory=list)
    ratings: list[dict] = field(default_factory=list)


class _Picker:
    """Weighted choice of user ids, fast enough for 100,000 draws."""

    def __init__(self, rng: random.Random, ids: list[int], weights: list[float]):
        self.rng, self.ids, self.cum = rng, ids, []
        total = 0.0
        for weight in weights:
            total += weight
            self.cum.append(total)
        self.total = total

    def pick(self, avoid: int | None = None) -> int:
        while True:
            user_id = self.ids[bisect.bisect_right(self.cum, self.rng.random() * self.total)]
            if user_id != avoid:
                return user_id


def _after(rng: random.Random, start: datetime, mean_hours: float, latest: datetime) -> datetime:
    return min(start + timedelta(hours=rng.expovariate(1 / mean_hours), seconds=1), latest)


def build(threads: int, posts: int, users: int, seed: int, now: datetime, *,
          history: bool = False) -> Community:
    """Every row, in memory, with ids assigned (threads and posts in chronological order); with
    `history`, also each thread's history, escalations, ask flows and ratings (add_history)."""
    from core import markup
    from core.confusables import name_skeleton

    rng = random.Random(seed)
    out = Community()
    latest = now - timedelta(seconds=30)
    year_ago = now - timedelta(days=365)

    for kind, count, make in (("question", TEMPLATES["question"], question_text),
                              ("answer", TEMPLATES["answer"], answer_text),
                              ("follow_up", TEMPLATES["follow_up"], follow_up_text)):
        texts = [make(rng) for _ in range(count)]
        out.bodies[kind] = [(text, str(markup.render(text))) for text in texts]

    # People: ~3% staff, ~7% advocates, the rest members.
    roles = ["member"] * users
    position = 0
    for role, share in ROLE_SHARES:
        for _ in range(max(1, round(users * share)) if users >= 10 else 0):
            roles[position] = role
            position += 1
    rng.shuffle(roles)
    for user_id, role in enumerate(roles, 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        username = f"{first.lower()}_{last.lower()}{user_id}"
        out.users.append({
            "id": user_id, "email": f"{username}@{BENCH_EMAIL_DOMAIN}", "username": username,
            "username_key": username.lower(), "username_skeleton": name_skeleton(username),
            "display_name": f"{first} {last}", "bio": "",
            "password_hash": "!bench", "role": role, "is_active_account": True,
            "trust_level": 1,  # a year-old community: its members are past the new-member safeguards
            "created_at": year_ago - timedelta(days=rng.uniform(1, 30)), "last_sign_in_at": None,
        })
    role_of = dict(enumerate(roles, 1))
    user_ids = list(role_of)
    staff_ids = [uid for uid, role in role_of.items() if role == "staff"] or user_ids
    askers = _Picker(rng, user_ids, [ASK_WEIGHT[role_of[u]] for u in user_ids])
    answerers = _Picker(rng, user_ids, [ANSWER_WEIGHT[role_of[u]] for u in user_ids])

    for position, (name, slug, description) in enumerate(CATEGORIES):
        out.categories.append({"id": position + 1, "name": name, "slug": slug, "description": description,
                               "position": position, "parent_id": None, "created_at": year_ago})
    out.tags = [{"id": i, "name": name} for i, name in enumerate(TAGS, 1)]
    tag_weights = [1 / (rank + 1) ** 0.8 for rank in range(len(TAGS))]

    # How many answers each thread gets: ~15% none, the rest skewed (a few long discussions).
    answers_total = max(0, posts - threads)
    order = list(range(threads))
    rng.shuffle(order)
    answered = order[round(threads * UNANSWERED_SHARE):][:answers_total]
    counts = dict.fromkeys(range(threads), 0)
    for index in answered:
        counts[index] = 1
    if answered:
        spread = [rng.gammavariate(1.5, 1.0) for _ in answered]
        for index in rng.choices(answered, weights=spread, k=answers_total - len(answered)):
            counts[index] += 1

    solved_left = round(threads * SOLVED_SHARE)
    solvable = set(rng.sample(answered, min(solved_left, len(answered))))
    created = sorted(now - timedelta(days=365 * rng.random() ** 1.2) for _ in range(threads))
    for index in range(threads):
        thread_id, asked = index + 1, min(created[index], latest)
        author = askers.pick()
        urgent = rng.random() < URGENT_SHARE
        out.threads.append({
            "id": thread_id, "category_id": rng.choices(range(1, len(CATEGORIES) + 1), CATEGORY_WEIGHTS)[0],
            "author_id": author, "title": title_text(rng), "is_urgent": urgent,
            "urgent_reason": "Invoices cannot go out and it is month end." if urgent else "",
            "created_at": asked, "last_activity_at": asked, "reply_count": 0,
            "view_count": 5 + int(rng.expovariate(1 / 60)) + 12 * counts[index],
            "first_reply_at": None, "first_reply_post_id": None, "first_staff_reply_at": None,
            "first_staff_reply_post_id": None,
            "accepted_post_id": None, "accepted_by_id": None, "solved_at": None, "closed_at": None,
            "close_reason": None, "close_note": "", "closed_by_id": None, "is_locked": False,
            "reminders_sent": 0, "state": "visible", "deleted_at": None, "deleted_by_id": None,
            "hidden_at": None, "hidden_by_id": None, "hidden_reason": "", "import_source": None,
            "import_id": None,
        })
        for tag_id in set(rng.choices(range(1, len(TAGS) + 1), tag_weights, k=rng.choice((1, 1, 2, 2, 3)))):
            out.thread_tags.append({"thread_id": thread_id, "tag_id": tag_id})

        thread_posts = [PostRow(thread_id, author, role_of[author], "question",
                                rng.randrange(TEMPLATES["question"]), asked)]
        # Answers come hours apart; a young thread's discussion is squeezed into the time it has had.
        offsets, total = [], 0.0
        for position in range(counts[index]):
            total += rng.expovariate(1 / (6 if position == 0 else 10)) + 0.001
            offsets.append(total)
        room = (latest - asked).total_seconds() / 3600
        squeeze = min(1.0, room * rng.uniform(0.5, 1.0) / total) if total else 1.0
        for position, offset in enumerate(offsets):
            when = min(asked + timedelta(hours=offset * squeeze), latest)
            if position > 0 and rng.random() < ASKER_FOLLOW_UP_SHARE:
                body = TEMPLATES["question"] + TEMPLATES["answer"] + rng.randrange(TEMPLATES["follow_up"])
                post = PostRow(thread_id, author, role_of[author], "answer", body, when)
            else:
                answerer = answerers.pick(avoid=author)
                post = PostRow(thread_id, answerer, role_of[answerer], "answer",
                               TEMPLATES["question"] + rng.randrange(TEMPLATES["answer"]), when)
            thread_posts.append(post)
        out.posts.extend(thread_posts)

        peer_answers = [p for p in thread_posts[1:] if p.author != author]
        accepted = None
        if index in solvable and peer_answers:
            accepted = rng.choices(peer_answers, [1 / (i + 1) for i in range(len(peer_answers))])[0]
            accepter = author if rng.random() < 0.9 else rng.choice(staff_ids)
            solved_at = _after(rng, accepted.created_at, 8, latest)
            out.accepted.append((thread_id, accepted, accepter, solved_at))
        for post in thread_posts[2:]:  # never the first answer: the unanswered share stays exact
            if post is not accepted and rng.random() < DELETED_ANSWER_SHARE:
                post.deleted = True

        for post in thread_posts[1:]:
            voters = 0 if rng.random() < 0.5 else min(12, 1 + int(rng.expovariate(1 / 2)))
            voters += rng.randint(1, 4) if post is accepted else 0
            chosen = {rng.choice(user_ids) for _ in range(voters)} - {post.author}
            for voter in chosen:
                value = 1 if rng.random() < 0.88 else -1
                post.score += value
                out.votes.append((post, voter, value, _after(rng, post.created_at, 24, latest)))

        following: dict[int, datetime] = {}
        for post in thread_posts:
            following.setdefault(post.author, post.created_at)
        out.subscriptions.extend({"thread_id": thread_id, "user_id": uid, "active": True, "created_at": at}
                                 for uid, at in following.items())

    # Post ids in the order the posts were written, as a live site would have them.
    out.posts.sort(key=lambda p: p.created_at)
    for post_id, post in enumerate(out.posts, 1):
        post.id = post_id
    if history:
        add_history(out, random.Random(seed + 1), latest, role_of, staff_ids)
    return out


# --- a year of history (bench/insights_rollup.py) ------------------------------------------------------

MOVED_SHARE, HIDDEN_SHARE, DELETED_THREAD_SHARE, UNHIDDEN_SHARE = 0.02, 0.005, 0.005, 0.3
CLOSED_UNSOLVED_SHARE, CLOSED_SOLVED_SHARE, REOPENED_SHARE = 0.10, 0.02, 0.15
UNACCEPTED_SHARE, REACCEPTED_SHARE = 0.015, 0.04  # of the solved threads
ESCALATED_SHARE = 0.10
FLOWS_PER_THREAD, FLOW_OPENED_SHARE, FLOW_POSTED_SHARE = 0.6, 0.7, 0.35
RATING_ASKED_SHARE, RATING_ANSWERED_SHARE = 0.5, 0.45
CLOSE_WEIGHTS = {"abandoned": 6, "duplicate": 2, "answered-elsewhere": 1, "off-topic": 1, "outdated": 1}
# The desk of bench/escalation_sweep.py: (slug, name, category slugs, target seconds).
DESK_TEAMS = (("billing", "Billing",
               ("getting-started", "invoicing-payments", "tax-reports", "payroll-expenses"), 3600),
              ("integrations", "Integrations", ("integrations-api", "bank-feeds"), 7200))
DEFAULT_TARGET_S = 3600


def add_history(out: Community, rng: random.Random, latest: datetime, role_of: dict[int, str],
                staff_ids: list[int]) -> None:
    """Each thread's history as the services would have written it (created, first reply, first
    staff reply, replies deleted, accepted with some unaccepted and re-accepted, closed and some
    reopened, moved, hidden or deleted for a few), the desk's two teams with escalations for about
    a tenth of the threads, ask flows (deflection) and satisfaction ratings. Changes the threads'
    columns (category, state, closed) and the acceptances to where their history ends."""
    staff_roles = {"staff", "admin"}
    seq = iter(range(1 << 62))
    events: list[tuple] = []
    year_ago = latest - timedelta(days=365)

    def event(thread_id, kind, at, actor=None, category=None, *, role=None, post=None, reason=None,
              note="", moved_from=None):
        events.append((at, next(seq), {
            "thread_id": thread_id, "kind": kind, "at": at, "actor_id": actor,
            "actor_role": role or (role_of[actor] if actor else None), "category_id": category,
            "from_category_id": moved_from, "post_id": post, "reason": reason, "note": note}))

    by_slug = {c["slug"]: c["id"] for c in out.categories}
    team_of, target_of = {}, {}
    half = len(staff_ids) // 2
    for team_id, (slug, name, slugs, target) in enumerate(DESK_TEAMS, 1):
        out.teams.append({"id": team_id, "slug": slug, "name": name, "auto_assign": team_id == 2,
                          "notify_email": "", "webhook_url": "", "webhook_secret": "",
                          "created_at": year_ago})
        members = staff_ids[:half] if team_id == 1 else staff_ids[half:]
        out.team_members.extend({"team_id": team_id, "user_id": uid} for uid in members)
        for category_slug in slugs:
            if category_slug in by_slug:
                out.category_teams.append({"category_id": by_slug[category_slug], "team_id": team_id})
                team_of[by_slug[category_slug]], target_of[by_slug[category_slug]] = team_id, target

    posts_of: dict[int, list[PostRow]] = {}
    for post in out.posts:  # chronological, ids in that order
        posts_of.setdefault(post.thread, []).append(post)
    accepted = {t: (post, by, at) for t, post, by, at in out.accepted}
    final_accepted: list[tuple[int, PostRow, int, datetime]] = []
    category_ids = [c["id"] for c in out.categories]
    flow_targets: list[dict] = []

    for thread in out.threads:
        tid, asker, created = thread["id"], thread["author_id"], thread["created_at"]
        original = thread["category_id"]
        moved_at = None
        if rng.random() < MOVED_SHARE and len(category_ids) > 1:
            moved_at = _after(rng, created, 12, latest)
            thread["category_id"] = rng.choice([c for c in category_ids if c != original])

        def category(at, _moved=moved_at, _new=thread["category_id"], _old=original):
            return _new if _moved is not None and at >= _moved else _old

        event(tid, "created", created, asker, original)
        if thread["is_urgent"]:
            event(tid, "urgent_raised", created, asker, original)
        if moved_at is not None:
            event(tid, "moved", moved_at, rng.choice(staff_ids), thread["category_id"], moved_from=original)
        thread_posts = posts_of.get(tid, [])
        replies = [p for p in thread_posts[1:] if not p.deleted and p.author != asker]
        first = replies[0] if replies else None
        first_staff = next((p for p in replies if p.role in staff_roles), None)
        for kind, post in (("first_reply", first), ("first_staff_reply", first_staff)):
            if post is not None:
                event(tid, kind, post.created_at, post.author, category(post.created_at), role=post.role,
                      post=post.id)
        for post in thread_posts[1:]:
            if post.deleted:
                at = post.created_at + timedelta(hours=1)
                event(tid, "reply_deleted", at, post.author, category(at), role=post.role, post=post.id)

        # Acceptances: a few taken back (and left so), a few taken back and given again.
        solved = None
        if tid in accepted:
            post, by, at = accepted[tid]
            draw = rng.random()
            if draw < UNACCEPTED_SHARE:
                event(tid, "accepted", at, by, category(at), post=post.id)
                back = _after(rng, at, 24, latest)
                event(tid, "unaccepted", back, by, category(back), post=post.id)
            elif draw < UNACCEPTED_SHARE + REACCEPTED_SHARE:
                earlier = rng.choice([p for p in replies if p.created_at <= at] or [post])
                event(tid, "accepted", at, by, category(at), post=earlier.id)
                back = _after(rng, at, 24, latest)
                event(tid, "unaccepted", back, by, category(back), post=earlier.id)
                again = _after(rng, back, 12, latest)
                event(tid, "accepted", again, by, category(again), post=post.id)
                solved = (post, by, again)
            else:
                event(tid, "accepted", at, by, category(at), post=post.id)
                solved = (post, by, at)
        if solved:
            final_accepted.append((tid, *solved))

        # Closed: mostly answered threads nobody solved (the abandoned-thread job), a few solved ones.
        closed_at = None
        last_post = thread_posts[-1].created_at if thread_posts else created
        if replies and rng.random() < (CLOSED_SOLVED_SHARE if solved else CLOSED_UNSOLVED_SHARE):
            at = _after(rng, max(last_post, solved[2]) if solved else last_post, 24 * 10, latest)
            if at < latest:
                reason = rng.choices(list(CLOSE_WEIGHTS), list(CLOSE_WEIGHTS.values()))[0]
                closer = None if reason == "abandoned" else rng.choice(staff_ids)
                event(tid, "closed", at, closer, category(at), reason=reason)
                closed_at = at
                thread.update(closed_at=at, closed_by_id=closer, close_reason=reason)
                if rng.random() < REOPENED_SHARE:
                    again = _after(rng, at, 48, latest)
                    if again < latest:
                        event(tid, "reopened", again, asker, category(again))
                        closed_at = None
                        thread.update(closed_at=None, closed_by_id=None, close_reason=None)

        # Hidden (some as spam, some brought back) or deleted, for a few.
        draw = rng.random()
        if draw < HIDDEN_SHARE:
            at, by = _after(rng, created, 3, latest), rng.choice(staff_ids)
            kind = "spam" if rng.random() < 0.3 else "hidden"
            reason = "Off-topic advertising" if kind == "spam" else "Rude"
            event(tid, kind, at, by, category(at), reason=reason)
            thread.update(state=kind, hidden_at=at, hidden_by_id=by, hidden_reason="Moderated")
            if rng.random() < UNHIDDEN_SHARE:
                back = _after(rng, at, 24, latest)
                event(tid, "unhidden", back, by, category(back))
                thread.update(state="visible", hidden_at=None, hidden_by_id=None, hidden_reason="")
        elif draw < HIDDEN_SHARE + DELETED_THREAD_SHARE:
            at = _after(rng, created, 24 * 5, latest)
            by = asker if rng.random() < 0.7 else rng.choice(staff_ids)
            event(tid, "deleted", at, by, category(at))
            thread.update(state="deleted", deleted_at=at, deleted_by_id=by)

        # Escalations: answered by the first staff reply when there is one, else waiting or handed back.
        if rng.random() < ESCALATED_SHARE:
            if first_staff is not None:
                at = max(created + timedelta(seconds=1),
                         first_staff.created_at - timedelta(hours=rng.expovariate(1 / 1.5)))
            else:
                at = _after(rng, created + timedelta(hours=2), 3, latest)
            if at < latest:
                _escalate(out, rng, event, tid, at, category(at), first_staff, team_of, target_of, staff_ids,
                          latest)

        # The asker's satisfaction question, once solved or closed; answered by some.
        if (solved or closed_at) and rng.random() < RATING_ASKED_SHARE:
            asked = solved[2] if solved else closed_at
            score, rated = None, None
            if rng.random() < RATING_ANSWERED_SHARE:
                score = rng.choices((1, 2, 3, 4, 5), (1, 1, 2, 4, 5))[0]
                rated = _after(rng, asked, 24, latest)
            resolver = "closed"
            if solved:
                post = solved[0]
                resolver = "self" if post.author == asker else "staff" if post.role in staff_roles else "peer"
            out.ratings.append({"id": len(out.ratings) + 1, "thread_id": tid, "asker_id": asker,
                                "resolver": resolver, "category_id": thread["category_id"], "asked_at": asked,
                                "score": score, "comment": "", "rated_at": rated})
        if thread["state"] == "visible":
            flow_targets.append(thread)

    out.accepted = final_accepted
    events.sort(key=lambda item: (item[0], item[1]))
    out.events = [dict(row, id=n) for n, (_at, _seq, row) in enumerate(events, 1)]
    _ask_flows(out, rng, flow_targets, latest, [u["id"] for u in out.users])


def _escalate(out, rng, event, thread_id, at, category_id, staff_post, team_of, target_of, staff_ids, latest):
    team_id = team_of.get(category_id)
    target = target_of.get(category_id, DEFAULT_TARGET_S)
    due, warn = at + timedelta(seconds=target), at + timedelta(seconds=target * 0.8)
    row = {"id": len(out.escalations) + 1, "thread_id": thread_id, "team_id": team_id,
           "queue": next((t["slug"] for t in out.teams if t["id"] == team_id), "general"), "priority": 2,
           "state": "open", "created_by_id": None, "created_by_rule": "unanswered", "escalated_at": at,
           "target_s": target, "calendar": {}, "due_at": due, "warn_at": warn, "warned_at": None,
           "breached_at": None, "assignee_id": None, "assigned_at": None, "acknowledged_at": None,
           "first_response_at": None, "first_response_post_id": None, "response_business_s": None,
           "resolved_at": None, "resolution": None, "resolved_by_id": None, "resolution_note": ""}
    event(thread_id, "escalated", at, None, category_id, reason="unanswered")
    answered = staff_post.created_at if staff_post is not None else None
    if answered is not None:
        row.update(first_response_at=answered, first_response_post_id=staff_post.id,
                   response_business_s=int((answered - at).total_seconds()))
        if rng.random() < 0.8:
            row.update(assignee_id=staff_post.author, assigned_at=at + (answered - at) / 2)
        ended, resolution, by = _after(rng, answered, 6, latest), "answered", staff_post.author
    else:
        if rng.random() < 0.5:
            row.update(assignee_id=rng.choice(staff_ids), assigned_at=_after(rng, at, 1, latest))
        ended = _after(rng, at, 48, latest) if rng.random() < 0.6 else latest
        resolution, by = "handed_back", row["assignee_id"] or rng.choice(staff_ids)
    if warn < latest and (answered is None or answered > warn):
        row["warned_at"] = warn
    if due < latest and (answered is None or answered > due):
        row["breached_at"] = due
        event(thread_id, "escalation_breached", due, None, category_id)
    if ended < latest:
        row.update(state="resolved", resolved_at=ended, resolution=resolution, resolved_by_id=by)
        event(thread_id, "escalation_resolved", ended, by, category_id, reason=resolution)
    out.escalations.append(row)


def _ask_flows(out, rng, threads, latest, user_ids) -> None:
    """Visits to the ask form over the year: most open a suggestion, a third of those then ask
    (the flow names the thread), the rest are deflections."""
    for n in range(1, round(len(out.threads) * FLOWS_PER_THREAD) + 1):
        opened = rng.random() < FLOW_OPENED_SHARE
        row = {"id": n, "token": f"{rng.getrandbits(128):032x}", "user_id": None, "category_id": None,
               "opened_count": 0, "last_opened_doc": None, "thread_id": None, "posted_at": None,
               "first_opened_at": None}
        if opened and threads and rng.random() < FLOW_POSTED_SHARE:
            thread = rng.choice(threads)
            posted = thread["created_at"]
            started = posted - timedelta(minutes=rng.uniform(1, 15))
            row.update(user_id=thread["author_id"], category_id=thread["category_id"], thread_id=thread["id"],
                       posted_at=posted, last_event_at=posted)
        else:
            started = latest - timedelta(days=365 * rng.random() ** 1.2)
            row.update(user_id=rng.choice(user_ids) if rng.random() < 0.7 else None,
                       category_id=rng.choice(out.categories)["id"] if rng.random() < 0.8 else None,
                       last_event_at=started)
        if opened:
            first_opened = min(started + timedelta(seconds=rng.uniform(5, 60)), latest)
            row.update(first_opened_at=first_opened, opened_count=rng.randint(1, 4),
                       last_opened_doc=f"article:{rng.randint(1, 300)}",
                       last_event_at=max(row["last_event_at"], first_opened))
        row["started_at"] = started
        out.ask_flows.append(row)


# --- writing --------------------------------------------------------------------------------------


def _batches(rows, size: int = BATCH):
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _insert(conn, table, rows) -> None:
    """Rows (dicts, any iterable) into `table`: executemany in batches, or COPY on PostgreSQL."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    rows = itertools.chain((first,), rows)
    if conn.dialect.name == "postgresql" and _copy(conn, table, first, rows):
        return
    while batch := list(itertools.islice(rows, BATCH)):
        conn.execute(table.insert(), batch)


def _copy(conn, table, first: dict, rows) -> bool:
    """COPY the rows, when every column they leave out may be left to the database; False if not."""
    columns = list(first)
    for column in table.columns:
        if column.name not in first and column.default is not None and column.server_default is None:
            if not column.default.is_scalar:
                return False
            columns.append(column.name)
    defaults = {c.name: c.default.arg for c in table.columns if c.name not in first and c.default is not None
                and c.default.is_scalar}
    json_columns = {c.name for c in table.columns if isinstance(c.type, sa.JSON)}
    quote = conn.dialect.identifier_preparer.quote
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {quote(table.name)} ({', '.join(quote(c) for c in columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([json.dumps(row[c]) if c in json_columns else row[c] if c in row else defaults[c]
                            for c in columns])
    return True


def write(conn, data: Community) -> None:
    from accounts.models import User
    from forum.models import Category, Post, Subscription, Tag, Thread, Vote, thread_tags

    bodies = data.bodies["question"] + data.bodies["answer"] + data.bodies["follow_up"]
    _insert(conn, User.__table__, data.users)
    _insert(conn, Category.__table__, data.categories)
    _insert(conn, Tag.__table__, data.tags)
    _insert(conn, Thread.__table__, data.threads)
    _insert(conn, thread_tags, data.thread_tags)
    post_rows = ({  # made as they are written: a million dicts at once would take gigabytes
        "id": p.id, "thread_id": p.thread, "author_id": p.author, "author_role": p.role, "kind": p.kind,
        "body": bodies[p.body][0], "body_html": bodies[p.body][1], "score": p.score,
        "created_at": p.created_at, "edited_at": None, "edited_by_id": None,
        "deleted_at": p.created_at + timedelta(hours=1) if p.deleted else None,
        "deleted_by_id": p.author if p.deleted else None, "hidden_at": None, "hidden_by_id": None,
        "hidden_reason": "", "state": "deleted" if p.deleted else "visible",
        "import_source": None, "import_id": None,
    } for p in data.posts)
    _insert(conn, Post.__table__, post_rows)
    _insert(conn, Vote.__table__, [
        {"id": i, "post_id": post.id, "user_id": voter, "value": value, "created_at": at}
        for i, (post, voter, value, at) in enumerate(data.votes, 1)])
    _insert(conn, Subscription.__table__, [dict(row, id=i) for i, row in enumerate(data.subscriptions, 1)])
    threads = Thread.__table__
    accept = (sa.update(threads).where(threads.c.id == sa.bindparam("tid"))
              .values(accepted_post_id=sa.bindparam("pid"), accepted_by_id=sa.bindparam("by"),
                      solved_at=sa.bindparam("at")))
    for batch in _batches([{"tid": t, "pid": post.id, "by": by, "at": at}
                           for t, post, by, at in data.accepted]):
        conn.execute(accept, batch)
    if data.events:
        write_history(conn, data)


def write_history(conn, data: Community) -> None:
    from escalation.models import CategoryTeam, Escalation, Team, team_members
    from forum.models import AskFlow, ThreadEvent
    from insights.models import SatisfactionRating

    for table, rows in ((ThreadEvent.__table__, data.events), (Team.__table__, data.teams),
                        (team_members, data.team_members), (CategoryTeam.__table__, data.category_teams),
                        (Escalation.__table__, data.escalations), (AskFlow.__table__, data.ask_flows),
                        (SatisfactionRating.__table__, data.ratings)):
        _insert(conn, table, rows)


def derive_thread_columns(conn) -> None:
    """forum.services.refresh_thread_stats for every thread at once, in SQL.

    A reply is a visible answer by someone other than the asker; reply_count counts every
    visible answer; last activity is the latest of the newest live post, the solution and the
    question itself.
    """
    from accounts.models import STAFF_ROLES
    from forum.models import ANSWER, VISIBLE, Post, Thread

    t, p = Thread.__table__, Post.__table__.alias("p")
    visible_answer = sa.and_(p.c.thread_id == t.c.id, p.c.kind == ANSWER, p.c.state == VISIBLE)
    reply = sa.and_(visible_answer, p.c.author_id != t.c.author_id)
    conn.execute(sa.update(t).values(
        reply_count=sa.select(sa.func.count()).select_from(p).where(visible_answer).scalar_subquery(),
        first_reply_post_id=sa.select(p.c.id).where(reply).order_by(p.c.created_at, p.c.id).limit(1)
        .scalar_subquery(),
        first_staff_reply_post_id=sa.select(p.c.id).where(reply, p.c.author_role.in_(sorted(STAFF_ROLES)))
        .order_by(p.c.created_at, p.c.id).limit(1).scalar_subquery(),
    ))
    fp = Post.__table__.alias("fp")
    latest = (sa.select(sa.func.max(p.c.created_at))
              .where(p.c.thread_id == t.c.id, p.c.state == VISIBLE).scalar_subquery())
    # SQLite's max(a, b, c) is PostgreSQL's greatest(); both get non-null arguments.
    greatest = sa.func.greatest if conn.dialect.name == "postgresql" else sa.func.max
    conn.execute(sa.update(t).values(
        first_reply_at=sa.select(fp.c.created_at).where(fp.c.id == t.c.first_reply_post_id)
        .scalar_subquery(),
        first_staff_reply_at=sa.select(fp.c.created_at).where(fp.c.id == t.c.first_staff_reply_post_id)
        .scalar_subquery(),
        last_activity_at=greatest(t.c.created_at, sa.func.coalesce(latest, t.c.created_at),
                                  sa.func.coalesce(t.c.solved_at, t.c.created_at)),
    ))


def _reset_sequences(conn) -> None:
    """Explicit ids leave PostgreSQL's sequences at 1: move them past the rows, so the app can insert."""
    for table in ("users", "categories", "tags", "threads", "posts", "votes", "subscriptions",
                  "thread_events", "escalation_teams", "escalations", "ask_flows", "insight_ratings"):
        conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"COALESCE((SELECT MAX(id) FROM {table}), 1), (SELECT COUNT(*) > 0 FROM {table}))")


def tidy_up(engine: sa.Engine) -> None:
    """PostgreSQL: VACUUM ANALYZE, as autovacuum soon would after a bulk load. SQLite: fold the WAL
    back into the database file (no ANALYZE: the app never runs it, so neither does its data)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        return
    raw = engine.raw_connection()  # outside SQLAlchemy's transaction: the app's listener begins one
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def check_against_services(sample: int = 50, seed: int = 1) -> int:
    """Recompute a sample of threads with forum.services.refresh_thread_stats and compare; rolled back."""
    from core.clock import as_utc
    from core.extensions import db
    from forum.models import Thread
    from forum.services import refresh_thread_stats

    columns = ("reply_count", "first_reply_post_id", "first_reply_at", "first_staff_reply_at",
               "last_activity_at")

    def snapshot(thread):
        return {c: as_utc(v) if isinstance(v, datetime) else v for c in columns
                for v in [getattr(thread, c)]}

    ids = list(db.session.scalars(sa.select(Thread.id)))
    mismatches = 0
    for thread_id in random.Random(seed).sample(ids, min(sample, len(ids))):
        thread = db.session.get(Thread, thread_id)
        stored = snapshot(thread)
        refresh_thread_stats(thread)
        if snapshot(thread) != stored:
            mismatches += 1
            print(f"  thread {thread_id}: stored {stored}, services say {snapshot(thread)}")
    db.session.rollback()
    return mismatches


def row_counts() -> dict[str, int]:
    from accounts.models import User
    from core.extensions import db
    from forum.models import ANSWER, QUESTION, Category, Post, Subscription, Tag, Thread, Vote, thread_tags

    def count(table, *where):
        return db.session.scalar(sa.select(sa.func.count()).select_from(table).where(*where))

    return {
        "users": count(User), "categories": count(Category), "tags": count(Tag),
        "threads": count(Thread), "thread_tags": count(thread_tags), "posts": count(Post),
        "questions": count(Post, Post.kind == QUESTION), "answers": count(Post, Post.kind == ANSWER),
        "votes": count(Vote), "subscriptions": count(Subscription),
        "unanswered threads": count(Thread, Thread.first_reply_at.is_(None)),
        "solved threads": count(Thread, Thread.accepted_post_id.is_not(None)),
        **history_counts(count),
    }


def history_counts(count) -> dict[str, int]:
    """What add_history wrote, when there is any."""
    from escalation.models import Escalation
    from forum.models import AskFlow, Thread, ThreadEvent
    from insights.models import SatisfactionRating

    events = count(ThreadEvent)
    if not events:
        return {}
    return {
        "thread events": events, "moved threads": count(ThreadEvent, ThreadEvent.kind == "moved"),
        "closed threads": count(Thread, Thread.closed_at.is_not(None)),
        "threads not visible": count(Thread, Thread.state != "visible"),
        "escalations": count(Escalation), "ask flows": count(AskFlow),
        "ratings": count(SatisfactionRating, SatisfactionRating.score.is_not(None)),
    }


def generate(database_url: str = DEFAULT_DATABASE_URL, threads: int = 10_000, posts: int = 100_000,
             users: int = 2_000, seed: int = 1, *, force: bool = False, history: bool = False) -> dict:
    """Make sure `database_url` holds a community of at least `threads` threads; returns what it holds.

    `history`: also a year of thread history, escalations, ask flows and ratings (add_history), the
    year ending at the start of the day it was generated (UTC), so that every day in it has ended;
    a database generated without them is generated again. Raises RuntimeError rather than wipe a
    database this script did not generate.
    """
    from core.extensions import db

    if threads < 1 or users < 2 or posts < threads:
        raise ValueError("need at least 1 thread, 2 users, and at least as many posts as threads")
    url = sqlalchemy_url(database_url)
    started = time.perf_counter()
    if ensure_database(url):
        say(f"Created the database {shown(url)}")
    state = _state(make_app(url))
    stale = bool(state["bench_users"]) and state["meta"].get("migrations") != migrations_fingerprint()
    if stale and not force and state["threads"] >= threads:
        say(f"{shown(url)} was generated from other migrations than the current ones; generating it again")
        force = True
    if history and state["threads"] >= threads and not force and state["meta"].get("history") != "1":
        say(f"{shown(url)} has no generated history; generating it again")
        force = True
    if state["threads"] >= threads and not force:
        print(f"Reusing {shown(url)}: it holds {state['threads']:,} threads (asked for {threads:,}); "
              "--force regenerates it.")
        return {"reused": True, "seconds": time.perf_counter() - started, "counts": state["counts"],
                "url": url, "meta": state["meta"]}
    if state["users"] or state["threads"]:
        if state["bench_users"] == 0:
            raise RuntimeError(f"{shown(url)} holds data this script did not generate; refusing to wipe it. "
                               "Point --database-url at a database of its own.")
        say(f"Wiping {shown(url)} ({state['threads']:,} threads) to generate {threads:,} threads")
        drop_database(url)
        ensure_database(url)
        _state(make_app(url))

    say(f"Generating {threads:,} threads, {posts:,} posts and {users:,} people into {shown(url)} ...")
    from core import clock

    now = clock.now()
    if history:  # the history ends where today begins: every day of it is over
        now = now.replace(hour=0, minute=0, second=0, microsecond=0)
    data = build(threads, posts, users, seed, now, history=history)
    built = time.perf_counter()
    app = make_app(url)
    with app.app_context():
        with db.engine.begin() as conn:
            write(conn, data)
            inserted = time.perf_counter()
            if conn.dialect.name == "postgresql":
                # Fresh tables have no statistics: without them the correlated updates below would
                # scan every post once per thread.
                conn.exec_driver_sql("ANALYZE threads, posts")
            derive_thread_columns(conn)
            if conn.dialect.name == "postgresql":
                _reset_sequences(conn)
            bench_meta.create(conn)
            conn.execute(bench_meta.insert(), [{"key": key, "value": str(value)} for key, value in {
                "migrations": migrations_fingerprint(), "seed": seed, "threads": threads, "posts": posts,
                "users": users, "generated_at": now.isoformat(timespec="seconds"),
                **({"history": 1} if history else {})}.items()])
        from forum import reputation

        reputation.recompute()
        db.session.commit()
        written = time.perf_counter()
        tidy_up(db.engine)
        mismatches = check_against_services()
        counts = row_counts()
        db.session.remove()
        db.engine.dispose()
    if mismatches:
        raise RuntimeError(f"{mismatches} sampled threads disagree with forum.services.refresh_thread_stats")
    seconds = time.perf_counter() - started
    print(f"Generated in {seconds:.1f} s (schema and rows prepared in {built - started:.1f} s, inserted in "
          f"{inserted - built:.1f} s, thread columns derived in {written - inserted:.1f} s); sampled threads "
          "match refresh_thread_stats.")
    meta = {"generated_at": now.isoformat(timespec="seconds"), **({"history": "1"} if history else {})}
    return {"reused": False, "seconds": seconds, "counts": counts, "url": url, "meta": meta}


def say(message: str) -> None:
    print(message, flush=True)  # before the app's log lines on stderr


def print_counts(counts: dict[str, int]) -> None:
    width = max(map(len, counts))
    for name, value in counts.items():
        print(f"  {name:<{width}}  {value:>9,}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="SQLite or PostgreSQL URL (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=10_000)
    parser.add_argument("--posts", type=int, default=100_000, help="questions and answers together")
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--force", action="store_true", help="regenerate even if the database is big enough")
    parser.add_argument("--history", action="store_true",
                        help="also a year of thread history, escalations, ask flows and ratings")
    args = parser.parse_args(argv)
    try:
        result = generate(args.database_url, threads=args.threads, posts=args.posts, users=args.users,
                          seed=args.seed, force=args.force, history=args.history)
    except (RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print_counts(result["counts"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
