"""The weekly summary mail: a closed ISO week's headline figures, the week before beside them, and
trend charts of the last eight weeks, for admins and team leads."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app
from werkzeug.routing import BuildError

from accounts.models import ADMIN, STAFF_ROLES, User
from core import mail
from core.extensions import db
from escalation import services as escalation_services
from escalation.models import Team
from insights import charts, measures, rollup
from insights.cli import LABELS as REPORT_LABELS
from insights.cli import format_duration, format_value
from insights.models import ALL

TREND_WEEKS = 8
# The headline: what the mail opens with.
HEADLINE = ("peer_resolution_share", "staff_first_response_median_s", "staff_first_response_p90_s",
            "sla_attainment", "backlog_open", "deflection_rate", "threads_opened", "threads_solved")
# The week-over-week table: the headline, then the figures behind it.
TABLE = HEADLINE + ("self_resolution_share", "staff_resolution_share", "peer_answer_share",
                    "first_response_median_s", "time_to_resolution_median_s", "sla_breaches",
                    "backlog_unanswered", "backlog_escalations", "csat")
LABELS = {**REPORT_LABELS, "backlog_open": "Open backlog at the end of the week",
          "backlog_unanswered": "Unanswered backlog", "backlog_escalations": "Open escalations"}
# Image content ids in the HTML part.
CHART_IDS = ("opened-solved@peerline", "solved-by@peerline", "staff-response@peerline")
MINUS = "\u2212"


def week_figures(monday: date) -> dict:
    """The community-wide measures of the ISO week starting `monday`: its stored snapshot, or
    computed now when none is stored."""
    sunday = monday + timedelta(days=6)
    found = rollup.find(monday, sunday, ALL)
    if found and 0 in found:
        return found[0]
    return measures.compute(monday, sunday, ALL)[0]


def format_change(key: str, now, before) -> str:
    """The change from the previous week as a person reads it: "+3", "−2.5 pts", "+1h 05m"."""
    if now is None or before is None:
        return "–"
    change = now - before
    if key.endswith("_share") or key in ("sla_attainment", "csat", "deflection_rate"):
        points = round(change * 100, 1)
        return "no change" if points == 0 else f"{'+' if points > 0 else MINUS}{abs(points):.1f} pts"
    if key.endswith("_s"):
        if round(change) == 0:
            return "no change"
        return f"{'+' if change > 0 else MINUS}{format_duration(abs(change))}"
    if change == 0:
        return "no change"
    return f"{'+' if change > 0 else MINUS}{abs(change):g}"


def week_label(monday: date) -> str:
    return f"W{monday.isocalendar().week}"


def dashboard_url() -> str:
    """The dashboard's absolute address for mail (its route may not be registered in every build)."""
    try:
        return mail.external_url("insights.view_dashboard")
    except BuildError:
        return mail.base_url() + "/staff/insights"


def recipients() -> list[int]:
    """Who gets the summary: active admins, and team leads who are still active staff, each once
    (ids, in order), all with an e-mail address."""
    leads = sa.select(Team.lead_id).where(Team.lead_id.is_not(None))
    return list(db.session.scalars(
        sa.select(User.id).where(
            User.is_active_account.is_(True), User.email != "",
            sa.or_(User.role == ADMIN, sa.and_(User.role.in_(sorted(STAFF_ROLES)), User.id.in_(leads))))
        .order_by(User.id)))


def build_weekly_summary(monday: date) -> tuple[str, str, str, dict[str, bytes]]:
    """The mail of the ISO week starting `monday` (moved back to its Monday): subject, plain text,
    HTML, and the PNG charts by content id that the HTML shows."""
    monday = rollup.week_start(monday)
    sunday = monday + timedelta(days=6)
    mondays = [monday - timedelta(days=7 * n) for n in range(TREND_WEEKS - 1, -1, -1)]
    weeks = {start: week_figures(start) for start in mondays}
    this, before = weeks[monday], weeks[mondays[-2]]
    site = current_app.config.get("PEERLINE_SITE_NAME") or "Peerline"
    target_s = escalation_services.default_policy().target_s

    rows = [{"key": key, "label": LABELS[key], "now": format_value(key, this.get(key)),
             "before": format_value(key, before.get(key)),
             "change": format_change(key, this.get(key), before.get(key))} for key in TABLE]
    headline = [row for row in rows if row["key"] in HEADLINE]
    period = f"{monday:%a %d %b} to {sunday:%a %d %b %Y}"
    subject = f"{site} weekly summary: {week_label(monday)}, {monday:%d %b} to {sunday:%d %b %Y}"
    images = _charts(mondays, weeks, target_s)
    context = {
        "site": site, "period": period, "week": week_label(monday), "previous": week_label(mondays[-2]),
        "headline": headline, "rows": rows, "dashboard_url": dashboard_url(),
        "charts": [
            {"cid": CHART_IDS[0], "alt": "Threads opened and solved per week, last 8 weeks"},
            {"cid": CHART_IDS[1],
             "alt": "Threads solved by peers, the asker and staff per week, last 8 weeks"},
            {"cid": CHART_IDS[2], "alt": (f"Staff first response median per week, last 8 weeks, against the "
                                          f"target of {format_duration(target_s)}")},
        ],
        "zone": measures.site_zone().key,
    }
    env = current_app.jinja_env
    text = env.get_template("insights/weekly_summary_mail.txt").render(context)
    html = env.get_template("insights/weekly_summary_mail.html").render(context)
    return subject, text, html, images


def _charts(mondays: list[date], weeks: dict[date, dict], target_s: int) -> dict[str, bytes]:
    labels = [week_label(start) for start in mondays]

    def series(key: str) -> list:
        return [weeks[start].get(key) for start in mondays]

    return {
        CHART_IDS[0]: charts.bar_chart("Threads opened and solved", labels,
                                       [("Opened", series("threads_opened")),
                                        ("Solved", series("threads_solved"))], fmt="png"),
        CHART_IDS[1]: charts.bar_chart("Threads solved, by who solved them", labels,
                                       [("Peers", series("threads_solved_peer")),
                                        ("Asker", series("threads_solved_self")),
                                        ("Staff", series("threads_solved_staff"))], stacked=True, fmt="png"),
        CHART_IDS[2]: charts.line_chart("Staff first response, median", labels,
                                        [("Median", series("staff_first_response_median_s"))],
                                        target=target_s, target_label=f"Target ({format_duration(target_s)})",
                                        unit="s", fmt="png"),
    }
