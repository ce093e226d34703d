"""Moderation pages: flagging a post, the staff review queue and its decisions, a member's standing
and the actions on it, the audit log, the admins' settings, and a member's own moderation page."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from accounts.permissions import admin_required, login_required, staff_required
from accounts.standing import restriction_text
from core import ratelimit
from core.errors import DomainError, NotFound
from core.forms import show_error
from core.paging import requested_page
from forum import services as forum_services
from moderation import queries, services, settings
from moderation.forms import FlagForm, RestrictForm, SettingsForm, WarnForm
from moderation.models import FLAG_KINDS, ITEM_KINDS, SILENCE

bp = Blueprint("moderation", __name__)


# --- flagging ------------------------------------------------------------------------------------------


@bp.route("/posts/<int:post_id>/flag", methods=["GET", "POST"])
@login_required
def flag_post(post_id):
    try:
        post = forum_services.get_post(current_user, post_id)
    except NotFound:
        abort(404)
    form = FlagForm()
    status = 200
    if form.validate_on_submit():
        try:
            with ratelimit.charge("flag", current_user.id):
                services.flag_post(current_user, post, form.kind.data, form.note.data)
        except DomainError as error:
            status = show_error(form, error)
        else:
            sent_up = form.kind.data == "needs_staff"
            flash("Thank you: the needs-staff flag sent the thread to staff." if sent_up
                  else "Thank you: moderators will look at it. You will hear what they decide.", "success")
            return redirect(url_for("forum.view_thread", thread_id=post.thread_id, _anchor=f"post-{post.id}"))
    elif form.is_submitted():
        status = 400
    return render_template("moderation/flag.html", form=form, post=post, kinds=FLAG_KINDS), status


# --- a member's own page -------------------------------------------------------------------------------


@bp.route("/my/moderation")
@login_required
def my_moderation():
    # `own`: the member is not shown which moderator acted, so that nobody is singled out for it.
    return render_template("moderation/mine.html", **queries.member_record(current_user, own=True),
                           restriction=restriction_text(current_user), own=True)


@bp.route("/warnings/<int:action_id>/dismiss", methods=["POST"])
@login_required
def dismiss_warning(action_id):
    try:
        services.dismiss_warning(current_user, action_id)
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for("moderation.my_moderation")), error.status_code
    flash("Warning dismissed.", "success")
    return redirect(_safe_back())


def _safe_back() -> str:
    target = request.form.get("next", "")
    return target if target.startswith("/") and not target.startswith("//") else url_for("forum.index")


# --- the review queue ---------------------------------------------------------------------------------


@bp.route("/staff/review")
@staff_required
def review_queue():
    kind = request.args.get("kind") or None
    if kind not in (None, *ITEM_KINDS):
        kind = None
    queue = queries.review_queue(kind=kind, page=requested_page())
    return render_template("moderation/queue.html", queue=queue, kind=kind, kinds=ITEM_KINDS,
                           counts=queries.pending_counts())


DONE = {
    "approve": "Approved: the post stays, and the flaggers are told.",
    "hide": "Hidden from members; the author and the flaggers are told.",
    "spam": "Removed as spam ({count} post{s}).",
    "spam_all": "Removed as spam ({count} post{s}).",
    "delete": "Deleted.",
}


@bp.route("/staff/review/<int:item_id>", methods=["POST"])
@staff_required
def decide(item_id):
    try:
        item = services.get_item(item_id)
    except NotFound:
        abort(404)
    decision = request.form.get("decision", "")
    try:
        count = services.decide(current_user, item, decision, request.form.get("reason", ""))
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for("moderation.review_queue", _anchor=f"item-{item.id}")), error.status_code
    message = DONE[decision].format(count=count, s="s" if count != 1 else "")
    flash(message, "success")
    return redirect(url_for("moderation.review_queue"))


# --- members ------------------------------------------------------------------------------------------


def _member_or_404(username):
    try:
        return services.get_member(username)
    except NotFound:
        abort(404)


def _render_member(member, warn_form=None, restrict_form=None, status=200):
    return render_template(
        "moderation/member.html", member=member, **queries.member_record(member, own=False),
        warn_form=warn_form or WarnForm(), restrict_form=restrict_form or RestrictForm(),
        restriction=restriction_text(member)), status


@bp.route("/staff/members/<username>")
@staff_required
def view_member(username):
    return _render_member(_member_or_404(username))


@bp.route("/staff/members/<username>/warn", methods=["POST"])
@staff_required
def warn_member(username):
    member = _member_or_404(username)
    form = WarnForm()
    if not form.validate_on_submit():
        return _render_member(member, warn_form=form, status=400)
    try:
        services.warn_member(current_user, member, form.reason.data, request.form.get("post_id"))
    except DomainError as error:
        return _render_member(member, warn_form=form, status=show_error(form, error))
    flash(f"{member.display_name} will see the warning until they dismiss it.", "success")
    return redirect(url_for("moderation.view_member", username=member.username))


@bp.route("/staff/members/<username>/restrict", methods=["POST"])
@staff_required
def restrict_member(username):
    member = _member_or_404(username)
    form = RestrictForm()
    if not form.validate_on_submit():
        return _render_member(member, restrict_form=form, status=400)
    try:
        services.restrict_member(current_user, member, form.kind.data, form.amount.data, form.unit.data,
                                 form.reason.data)
    except DomainError as error:
        return _render_member(member, restrict_form=form, status=show_error(form, error))
    what = "silenced" if form.kind.data == SILENCE else "suspended"
    flash(f"{member.display_name} is {what}; they can read but not post, vote or flag.", "success")
    return redirect(url_for("moderation.view_member", username=member.username))


def _member_action(username, call, done):
    """Run `call(member)` for the member's page; flash `done(member, result)` and go back to the page,
    or show the page with the refusal and its status."""
    member = _member_or_404(username)
    try:
        result = call(member)
    except DomainError as error:
        flash(error.message, "error")
        return _render_member(member, status=error.status_code)
    flash(done(member, result), "success")
    return redirect(url_for("moderation.view_member", username=member.username))


@bp.route("/staff/members/<username>/lift", methods=["POST"])
@staff_required
def lift_restriction(username):
    note = request.form.get("note", "")
    return _member_action(username, lambda member: services.lift_restriction(current_user, member, note),
                          lambda member, _result: f"{member.display_name} can post again.")


@bp.route("/staff/members/<username>/remove-spam", methods=["POST"])
@staff_required
def remove_member_spam(username):
    reason = request.form.get("reason", "") or "Spam"
    return _member_action(
        username, lambda member: services.remove_all_as_spam(current_user, member, reason),
        lambda member, count: f"Removed {count} post{'s' if count != 1 else ''} of {member.display_name} "
                              "as spam.")


# --- the audit log --------------------------------------------------------------------------------------


@bp.route("/staff/audit")
@staff_required
def audit_log():
    filters = {name: (request.args.get(name) or "").strip()[:60] for name in ("actor", "action", "member")}
    log = queries.audit_log(page=requested_page(), **filters)
    return render_template("moderation/audit.html", log=log, filters=filters, actions=queries.audit_actions())


# --- settings ----------------------------------------------------------------------------------------


@bp.route("/admin/moderation", methods=["GET", "POST"])
@admin_required
def edit_settings():
    current = settings.current()
    form = SettingsForm(data=None if request.method == "POST" else {
        **{name: getattr(current, name) for name in settings.LIMITS},
        "blocked_words": queries.blocked_words_text()})
    status = 200
    categories = queries.categories()
    # As typed when the form comes back with an error, so that nothing typed is lost.
    if request.method == "POST":
        thresholds = {c.id: request.form[f"threshold-{c.id}"] for c in categories
                      if f"threshold-{c.id}" in request.form}
    else:
        thresholds = settings.category_thresholds()
    if form.validate_on_submit():
        try:
            values = {name: getattr(form, name).data for name in settings.LIMITS}
            settings.update_settings(current_user, values, form.blocked_words.data, thresholds)
        except DomainError as error:
            status = show_error(form, error)
        else:
            flash("Moderation settings saved.", "success")
            return redirect(url_for("moderation.edit_settings"))
    elif form.is_submitted():
        status = 400
    return render_template("moderation/settings.html", form=form, limits=settings.LIMITS,
                           categories=categories, thresholds=thresholds,
                           site_threshold=current.flag_threshold), status

