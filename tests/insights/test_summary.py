"""The weekly summary mail: to admins and team leads only, once a week, with the headline figures,
the week-over-week table and inline PNG charts."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from core import clock, jobs
from core.extensions import db
from escalation.models import Team
from forum import services as forum_services
from insights import jobs as insights_jobs
from insights import rollup, summary
from insights.models import SummaryMail
from tests import factories
from tests.conftest import outbox_messages

WEEK = date(2025, 3, 3)  # ISO week 10: Monday 3 to Sunday 9 March 2025 (UTC, the default zone)
PREVIOUS = date(2025, 2, 24)  # week 9
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def summaries(app) -> list:
    return [m for m in outbox_messages(app) if "weekly summary" in str(m["Subject"])]


@pytest.fixture
def community(app):
    """Week 9: one thread opened, none solved. Week 10: two opened, one solved by a peer (answered
    an hour after it was asked). People: two admins (one also a team lead), a staff team lead, a
    staff member, an advocate, a member, an admin whose account is closed."""
    clock.set(at(PREVIOUS + timedelta(days=2)))
    people = {
        "admin": factories.make_user("admin"),
        "admin_lead": factories.make_user("admin"),
        "lead": factories.make_user("staff"),
        "staff": factories.make_user("staff"),
        "advocate": factories.make_user("advocate"),
        "member": factories.make_user(),
        "closed_admin": factories.make_user("admin"),
    }
    people["closed_admin"].is_active_account = False
    db.session.add_all([
        Team(name="Billing", slug="billing", members=[people["lead"], people["staff"]], lead=people["lead"]),
        Team(name="API", slug="api", members=[people["admin_lead"]], lead=people["admin_lead"]),
        Team(name="Setup", slug="setup", members=[people["staff"]]),
    ])
    db.session.commit()
    category = factories.make_category("Billing")
    factories.make_thread(people["member"], category=category)
    clock.set(at(WEEK + timedelta(days=1)))
    solved = factories.make_thread(people["member"], category=category)
    clock.set(at(WEEK + timedelta(days=1), 10))
    answer = factories.make_answer(solved, people["advocate"])
    clock.set(at(WEEK + timedelta(days=1), 11))
    forum_services.accept_answer(people["member"], answer)
    factories.make_thread(people["member"], category=category)
    clock.set(at(WEEK + timedelta(days=7), 8))  # Monday of week 11: week 10 has closed
    jobs.wait_idle()  # the forum's own jobs (notices, the index) out of the way
    return people


def test_the_summary_goes_to_admins_and_team_leads_once(app, community):
    insights_jobs.send_weekly_summary()
    jobs.wait_idle()
    mails = summaries(app)
    expected = sorted(community[name].email for name in ("admin", "admin_lead", "lead"))
    assert sorted(str(m["To"]) for m in mails) == expected
    assert all("W10" in str(m["Subject"]) for m in mails)

    # Run again (the hourly cron), and the same week asked for by hand: nothing more.
    insights_jobs.send_weekly_summary()
    insights_jobs.send_weekly_summary(WEEK.isoformat())
    jobs.wait_idle()
    assert len(summaries(app)) == 3
    rows = db.session.scalars(sa.select(SummaryMail)).all()
    assert len(rows) == 3 and all(row.mailed_at is not None for row in rows)

    # A mail job delivered twice sends once.
    insights_jobs.mail_weekly_summaries([row.id for row in rows])
    assert len(summaries(app)) == 3

    # Later in week 11 nothing is sent; a week that has not ended cannot be asked for.
    clock.set(at(WEEK + timedelta(days=10)))
    insights_jobs.send_weekly_summary()
    jobs.wait_idle()
    assert len(summaries(app)) == 3
    with pytest.raises(ValueError, match="has not ended"):
        insights_jobs.send_weekly_summary((WEEK + timedelta(days=7)).isoformat())

    # Once week 11 has closed, its summary goes out; a lead added meanwhile gets it too.
    team = db.session.scalar(sa.select(Team).where(Team.slug == "setup"))
    team.lead = community["staff"]
    db.session.commit()
    clock.set(at(WEEK + timedelta(days=14), 7))
    insights_jobs.send_weekly_summary()
    jobs.wait_idle()
    week11 = [m for m in summaries(app) if "W11" in str(m["Subject"])]
    assert sorted(str(m["To"]) for m in week11) == sorted(expected + [community["staff"].email])


def test_the_summary_has_the_headline_the_table_and_inline_charts(app, community):
    rollup.roll_up_week(WEEK)  # week 10 from its snapshot, the others computed
    insights_jobs.send_weekly_summary()
    jobs.wait_idle()
    message = next(m for m in summaries(app) if str(m["To"]) == community["admin"].email)
    assert message.get_content_type() == "multipart/alternative"

    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "W10" in text and "Week over week (W10 beside W9)" in text
    lines = {line.split(":")[0].strip(): line for line in text.splitlines() if ":" in line}
    assert lines["Solved by peers"].split()[-1] == "100.0%"
    assert lines["Threads opened"].split()[-1] == "2"
    assert lines["Threads solved"].split()[-1] == "1"
    for name in ("Staff first response, median", "Staff first response, p90", "SLA attainment",
                 "Open backlog at the end of the week", "Deflection"):
        assert name in text
    # The table: this week, the week before and the change.
    opened = next(line for line in text.splitlines() if line.strip().startswith("Threads opened") and
                  ":" not in line)
    assert opened.split()[-3:] == ["2", "1", "+1"]
    backlog = next(line for line in text.splitlines() if line.strip().startswith("Open backlog") and
                   ":" not in line)
    assert backlog.split()[-3:] == ["2", "1", "+1"]
    assert re.search(r"https?://\S+insights", text)

    html_part = message.get_body(preferencelist=("html",))
    html = html_part.get_content()
    assert "Week over week" in html and "Solved by peers" in html and "100.0%" in html
    assert re.search(r'<th scope="col"[^>]*>W9</th>', html)
    cids = re.findall(r'src="cid:([^"]+)"', html)
    assert len(cids) == 3
    images = {part["Content-ID"].strip("<>"): part for part in message.walk()
              if part.get_content_type() == "image/png"}
    assert sorted(images) == sorted(cids)
    assert all(part.get_content().startswith(PNG_SIGNATURE) for part in images.values())
    assert html_part.get_content_type() == "text/html"


def test_change_formatting():
    assert summary.format_change("threads_opened", 5, 3) == "+2"
    assert summary.format_change("threads_opened", 3, 5) == "\u22122"
    assert summary.format_change("backlog_open", 4, 4) == "no change"
    assert summary.format_change("peer_resolution_share", 0.5, 0.25) == "+25.0 pts"
    assert summary.format_change("staff_first_response_median_s", 3600, 7500) == "\u22121h 05m"
    assert summary.format_change("sla_attainment", None, 0.5) == "–"
