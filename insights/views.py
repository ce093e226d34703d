"""Insights pages: the staff dashboard with its exports, the advocate leaderboard, and the askers'
satisfaction question."""

import csv
import hashlib
import io
import json

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from accounts.permissions import admin_required, is_staff, login_required, public, staff_required
from core.errors import DomainError, Invalid, NotFound
from core.extensions import db
from core.forms import show_error
from forum import services as forum_services
from insights import charts, dashboard, forms, leaderboard, measures, satisfaction
from insights.cli import format_value
from insights.models import CATEGORY, STAFF, TEAM

bp = Blueprint("insights", __name__)

SPLITS = {"category": CATEGORY, "team": TEAM, "staff": STAFF}
# The trend charts: a name, a title, how it is drawn, and its series (label, measure key).
CHARTS = {
    "activity": ("Threads opened and solved", "line", "",
                 (("Opened", "threads_opened"), ("Solved", "threads_solved"))),
    "resolvers": ("Threads solved by peers, askers and staff", "bar", "",
                  (("By peers", "threads_solved_peer"), ("By the asker", "threads_solved_self"),
                   ("By staff", "threads_solved_staff"))),
    "response": ("First response and staff first response (median)", "line", "s",
                 (("First response", "first_response_median_s"),
                  ("Staff first response", "staff_first_response_median_s"))),
    "backlog": ("Backlog at the end of each period", "line", "",
                (("Open", "backlog_open"), ("Unanswered", "backlog_unanswered"),
                 ("Open escalations", "backlog_escalations"))),
}
EXPORT_VIEWS = ("summary", "day", "week", "category", "team", "staff", "breaches")


def _period_or_error():
    """The period the request names, or (the default period, the error's message)."""
    try:
        return dashboard.parse_period(request.args), None
    except Invalid as error:
        return dashboard.parse_period({}), error.message


def _trend_by(period) -> str:
    by = request.args.get("by")
    if by not in ("day", "week"):
        by = "day" if period.days <= dashboard.MAX_DAILY_POINTS else "week"
    if by == "day" and period.days > 366:
        by = "week"
    return by


def _label(row, by: str) -> str:
    first = row["first"]
    return f"{first:%d %b}" if by == "day" else f"W{first.isocalendar()[1]} ({first:%d %b})"


def _series(rows, spec):
    return [(name, [row["values"].get(key) if row["values"] else None for row in rows]) for name, key in spec]


@bp.get("/staff/insights")
@staff_required
def view_dashboard():
    """The dashboard of a period: headline cards, trends, breakdowns, breached escalations."""
    period, error = _period_or_error()
    by = _trend_by(period)
    rows = dashboard.trend(period, by)
    tables = {}
    for name, (title, _kind, unit, spec) in CHARTS.items():
        keys = [key for _, key in spec]
        tables[name] = {"title": title, "unit": unit, "columns": [label for label, _ in spec],
                        "rows": [(_label(row, by), [(row["values"] or {}).get(key) for key in keys], keys)
                                 for row in rows]}
    return render_template(
        "insights/dashboard.html", period=period, error=error, presets=dashboard.PRESETS, by=by,
        headline=dashboard.headline(period), tables=tables,
        breakdowns={name: dashboard.breakdown(period, split) for name, split in SPLITS.items()},
        columns=dashboard.BREAKDOWN_COLUMNS, staff_columns=dashboard.STAFF_COLUMNS,
        breaches=dashboard.breached_escalations(period), fmt=format_value,
    ), 400 if error else 200


@bp.get("/staff/insights/charts/<name>.<fmt>")
@staff_required
def view_chart(name, fmt):
    """One trend chart of a period as SVG (the page) or PNG."""
    if name not in CHARTS or fmt not in ("svg", "png"):
        abort(404)
    period, error = _period_or_error()
    if error:
        abort(400)
    by = _trend_by(period)
    rows = dashboard.trend(period, by)
    title, kind, unit, spec = CHARTS[name]
    labels, series = [_label(row, by) for row in rows], _series(rows, spec)
    if kind == "line":
        target = dashboard.sla_target_s() if name == "response" else None
        image = charts.line_chart(title, labels, series, target=target,
                                  target_label="Staff response target" if target else "", unit=unit, fmt=fmt)
    else:
        image = charts.bar_chart(title, labels, series, stacked=True, unit=unit, fmt=fmt)
    response = Response(image, mimetype="image/svg+xml" if fmt == "svg" else "image/png")
    response.set_etag(hashlib.sha256(image).hexdigest()[:32])
    response.headers["Cache-Control"] = "private, max-age=300"
    return response.make_conditional(request)


BREACH_COLUMNS = ("escalation_id", "thread_id", "title", "team", "assignee", "escalated_at", "due_at",
                  "first_response_at")


def export_columns(view: str) -> list[str]:
    """The columns of a view's export, also when it has no rows."""
    if view == "breaches":
        return list(BREACH_COLUMNS)
    figures = list(measures.KEYS + measures.DETAIL_KEYS)
    return [view + "_id", view, *figures] if view in SPLITS else figures


def export_rows(period, view: str) -> list[dict]:
    """The rows of one dashboard view as flat objects with METRICS.md's names."""
    if view == "summary":
        return [dashboard.headline(period)["current"]]
    if view in ("day", "week"):
        return [row["values"] or measures.empty(row["first"], row["last"])
                for row in dashboard.trend(period, view)]
    if view in SPLITS:
        return [{view + "_id": row["id"], view: row["name"], **row["values"]}
                for row in dashboard.breakdown(period, SPLITS[view])]
    def moment(value):
        return measures.as_site_time(value).isoformat() if value else None

    return [dict(zip(BREACH_COLUMNS, (
        row["escalation"].id, row["escalation"].thread_id, row["title"], row["team"], row["assignee"],
        moment(row["escalation"].escalated_at), moment(row["escalation"].due_at),
        moment(row["escalation"].first_response_at)), strict=True))
        for row in dashboard.breached_escalations(period, limit=10_000)]


@bp.get("/staff/insights/export.<fmt>")
@staff_required
def export_dashboard(fmt):
    """A dashboard view as CSV or JSON (?view=summary|day|week|category|team|staff|breaches)."""
    if fmt not in ("csv", "json"):
        abort(404)
    try:
        period = dashboard.parse_period(request.args)
    except Invalid as error:
        return Response(json.dumps({"error": error.message}) if fmt == "json" else error.message + "\n",
                        status=400, mimetype="application/json" if fmt == "json" else "text/plain")
    view = request.args.get("view", "summary")
    if view not in EXPORT_VIEWS:
        message = f"Choose a view among {', '.join(EXPORT_VIEWS)}."
        return Response(json.dumps({"error": message}) if fmt == "json" else message + "\n", status=400,
                        mimetype="application/json" if fmt == "json" else "text/plain")
    rows = export_rows(period, view)
    name = f"peerline-{view}-{period.first}-{period.last}.{fmt}"
    if fmt == "json":
        body, mimetype = json.dumps(rows, indent=1), "application/json"
    else:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=export_columns(view))
        writer.writeheader()
        writer.writerows(rows)
        body, mimetype = out.getvalue(), "text/csv"
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- the advocate leaderboard -----------------------------------------------------------------------


@bp.get("/leaderboard")
@public
def view_leaderboard():
    """The advocate leaderboard of a period: staff always; everyone when an admin opened it."""
    public = leaderboard.is_public()
    if not is_staff(current_user) and not public:
        abort(404)
    period, error = _period_or_error()
    return render_template("insights/leaderboard.html", period=period, error=error,
                           presets=dashboard.PRESETS, rows=leaderboard.leaders(period.first, period.last),
                           public=public, fmt=format_value), 400 if error else 200


@bp.app_context_processor
def _leaderboard_link():
    """The lists' sidebar links to the leaderboard once an admin has opened it to everyone (staff
    reach it from the dashboard): `public_leaderboard_url()` is its address then, else None."""
    def public_leaderboard_url():
        return url_for("insights.view_leaderboard") if leaderboard.is_public_memoized() else None
    return {"public_leaderboard_url": public_leaderboard_url}


@bp.post("/staff/insights/leaderboard-visibility")
@admin_required
def set_leaderboard_visibility():
    """Open the leaderboard to everyone, or keep it for staff."""
    try:
        leaderboard.set_public(current_user, request.form.get("public") == "1")
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for("insights.view_leaderboard")), error.status_code
    flash("Everyone can see the leaderboard now." if leaderboard.is_public()
          else "Only staff can see the leaderboard now.", "success")
    return redirect(url_for("insights.view_leaderboard"))


# --- the askers' satisfaction question ---------------------------------------------------------------


@bp.route("/t/<int:thread_id>/satisfaction", methods=["GET", "POST"])
@login_required
def rate_thread(thread_id):
    """The asker's one question about their solved or closed thread: did this solve your problem?
    Anyone else gets 403 and a thread never asked about 404, each with the reason on the error page;
    once answered, the page shows the answer (and a second one is refused with 409)."""
    try:
        thread = forum_services.get_thread(current_user, thread_id)
    except NotFound:
        abort(404)
    rating = satisfaction.question_for(current_user, thread)
    form = forms.RatingForm()
    status = 200
    if form.is_submitted():
        status = 400
        if form.validate():
            try:
                satisfaction.rate(current_user, thread, form.score.data, form.comment.data)
            except DomainError as error:
                db.session.rollback()
                status = show_error(form, error)
                rating = satisfaction.question_for(current_user, thread)
            else:
                flash("Thank you for telling us.", "success")
                return redirect(url_for("forum.view_thread", thread_id=thread.id))
    return render_template("insights/rate.html", thread=thread, rating=rating, form=form,
                           scores=satisfaction.SCORES), status
