"""The staff desk: queues, an escalation's page and its actions, canned replies, the admins' teams
and policies; advocates sending a thread to staff; private conversations for the asker and staff."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from accounts.models import STAFF_ROLES, User
from accounts.permissions import admin_required, login_required, staff_required
from core.clock import as_utc
from core.errors import DomainError, Invalid, NotFound
from core.extensions import db
from core.forms import show_error
from core.ids import possible_id
from escalation import canned, conversations, forms, queries, services
from escalation.models import ANSWERED, HANDED_BACK, NEEDS_STAFF, URGENT, Escalation
from forum import services as forum_services

bp = Blueprint("escalation", __name__)


# --- formatting ------------------------------------------------------------------------------------


def local_time(value: datetime | None, escalation: Escalation | None = None) -> str:
    """A moment in the escalation's calendar zone (the site's otherwise), as people read it."""
    if value is None:
        return ""
    zone = (escalation.calendar or {}).get("timezone") if escalation is not None else None
    try:
        tz = ZoneInfo(zone or "UTC")
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    local = as_utc(value).astimezone(tz)
    return f"{local:%a %d %b, %H:%M} ({tz.key})"


def business_duration(seconds: float | None) -> str:
    """"2 h 05 min left", "15 min overdue"."""
    if seconds is None:
        return ""
    left = seconds >= 0
    minutes = int(abs(seconds) // 60)
    hours_, minutes = divmod(minutes, 60)
    days, hours_ = divmod(hours_, 24)
    if days:
        text = f"{days} d {hours_} h"
    else:
        text = f"{hours_} h {minutes:02d} min" if hours_ else f"{minutes} min"
    return f"{text} left" if left else f"{text} overdue"


# --- queues ------------------------------------------------------------------------------------------


@bp.route("/staff/queues")
@staff_required
def queues_index():
    """The desk's front page: your own escalations when you hold any, else the urgent queue."""
    listed = queries.queues(current_user)
    mine = next(count for name, _title, count in listed if name == "mine")
    return _queue("mine" if mine else "urgent", listed)


@bp.route("/staff/queues/<name>")
@staff_required
def queue(name):
    return _queue(name, queries.queues(current_user))


def _queue(name: str, listed: list[tuple[str, str, int]]):
    state = request.args.get("state", "open")
    if state not in queries.STATES:
        state = "open"
    category_id = possible_id(request.args.get("category"))
    page = possible_id(request.args.get("page")) or 1
    try:
        found = queries.queue(current_user, name, category_id=category_id, state=state, page=page,
                              listed=listed)
    except NotFound:
        abort(404)
    return render_template("escalation/queue.html", queue=found, queues=listed,
                           state=state, states=queries.STATE_LABELS, category_id=category_id,
                           categories=queries.categories())


# --- one escalation ------------------------------------------------------------------------------------


def _escalation_or_404(escalation_id) -> Escalation:
    try:
        return services.get_escalation(escalation_id)
    except NotFound:
        abort(404)


def _render(escalation: Escalation, *, reply_form=None, note_form=None, status: int = 200):
    thread = escalation.thread
    canned_id = possible_id(request.args.get("canned"))
    if reply_form is None:
        reply_form = forms.ReplyForm()
        if canned_id is not None:
            try:
                reply_form.body.data = canned.fill(canned.get(canned_id), thread, current_user)
            except NotFound:
                pass
    staff = list(db.session.scalars(
        sa.select(User).where(User.role.in_(sorted(STAFF_ROLES)), User.is_active_account.is_(True))
        .order_by(User.display_name)))
    replies = canned.all_replies()
    return render_template(
        "escalation/escalation.html", escalation=escalation, thread=thread,
        question=forum_services.question_of(thread),
        posts=queries.recent_answers(thread.id),
        reasons=queries.reasons(escalation.id), assignments=queries.assignments(escalation.id),
        notes=services.notes_for(thread.id), context=queries.customer_context(escalation),
        conversation=conversations.for_thread(current_user, thread), staff=staff,
        canned_replies=replies, acknowledgements=[r for r in replies if r.is_acknowledgement] or replies,
        time_left=services.time_left(escalation), breached=services.is_breached(escalation),
        reply_form=reply_form, note_form=note_form or forms.NoteForm(),
        load=services.open_load(u.id for u in staff),
    ), status


@bp.route("/staff/escalations/<int:escalation_id>")
@staff_required
def view(escalation_id):
    return _render(_escalation_or_404(escalation_id))


def _act(escalation_id, action, success: str):
    escalation = _escalation_or_404(escalation_id)
    try:
        action(escalation)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _render(_escalation_or_404(escalation_id), status=error.status_code)
    flash(success, "success")
    return redirect(url_for("escalation.view", escalation_id=escalation_id))


@bp.route("/staff/escalations/<int:escalation_id>/claim", methods=["POST"])
@staff_required
def claim(escalation_id):
    return _act(escalation_id, lambda e: services.claim(current_user, e), "You have it now.")


@bp.route("/staff/escalations/<int:escalation_id>/assign", methods=["POST"])
@staff_required
def assign(escalation_id):
    assignee_id = possible_id(request.form.get("assignee_id"))
    note_text = request.form.get("note", "")
    return _act(escalation_id, lambda e: services.assign(current_user, e, assignee_id, note_text),
                "Assigned.")


@bp.route("/staff/escalations/<int:escalation_id>/release", methods=["POST"])
@staff_required
def release(escalation_id):
    return _act(escalation_id, lambda e: services.release(current_user, e, request.form.get("note", "")),
                "Released: it is back in its queue, unassigned.")


@bp.route("/staff/escalations/<int:escalation_id>/resolve", methods=["POST"])
@staff_required
def resolve(escalation_id):
    how = request.form.get("resolution", ANSWERED)
    message = ("Handed back to the community." if how == HANDED_BACK else "Resolved: it has left the queue.")
    return _act(escalation_id, lambda e: services.resolve(current_user, e, how, request.form.get("note", "")),
                message)


@bp.route("/staff/escalations/<int:escalation_id>/acknowledge", methods=["POST"])
@staff_required
def acknowledge(escalation_id):
    reply_id = possible_id(request.form.get("canned_id"))

    def acknowledge_with(escalation):
        try:
            chosen = canned.get(reply_id)
        except NotFound:
            raise Invalid("Choose one of the canned acknowledgements.") from None
        services.acknowledge(current_user, escalation, chosen)

    return _act(escalation_id, acknowledge_with,
                "Acknowledgement posted: the asker knows staff have it, and the clock has stopped.")


def _form_post(escalation_id, form, form_name: str, action, success: str, anchor: str | None = None):
    """A form posted from the escalation page: on a mistake, the page again with the text kept."""
    escalation = _escalation_or_404(escalation_id)
    if not form.validate_on_submit():
        return _render(escalation, status=400, **{form_name: form})
    try:
        action(escalation, form)
    except DomainError as error:
        db.session.rollback()
        status = show_error(form, error)
        return _render(_escalation_or_404(escalation_id), status=status, **{form_name: form})
    flash(success, "success")
    return redirect(url_for("escalation.view", escalation_id=escalation_id, _anchor=anchor))


@bp.route("/staff/escalations/<int:escalation_id>/reply", methods=["POST"])
@staff_required
def reply(escalation_id):
    def post(escalation, form):
        services.reply(current_user, escalation, form.body.data, canned_id=possible_id(form.canned_id.data))

    return _form_post(escalation_id, forms.ReplyForm(), "reply_form", post,
                      "Your reply is posted on the thread.")


@bp.route("/staff/escalations/<int:escalation_id>/note", methods=["POST"])
@staff_required
def note(escalation_id):
    return _form_post(escalation_id, forms.NoteForm(), "note_form",
                      lambda e, form: services.add_note(current_user, e.thread, form.body.data),
                      "Note added. Only staff see it.", anchor="notes")


@bp.route("/staff/escalations/<int:escalation_id>/conversation", methods=["POST"])
@staff_required
def start_conversation(escalation_id):
    escalation = _escalation_or_404(escalation_id)
    try:
        conversation = conversations.start(current_user, escalation.thread, request.form.get("body", ""))
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _render(_escalation_or_404(escalation_id), status=error.status_code)
    flash("Private conversation started; the asker is told on the thread.", "success")
    return redirect(url_for("escalation.conversation", conversation_id=conversation.id))


# --- advocates send threads up ---------------------------------------------------------------------------


@bp.route("/t/<int:thread_id>/send-to-staff", methods=["POST"])
@login_required
def send_up(thread_id):
    try:
        thread = forum_services.get_thread(current_user, thread_id)
    except NotFound:
        abort(404)
    reason = URGENT if request.form.get("reason") == URGENT else NEEDS_STAFF
    try:
        services.send_up(current_user, thread, reason, request.form.get("note", ""))
    except DomainError:
        # A redirect with an error status is followed by no browser: the error page says why, with
        # its status, as the forum's own thread actions do.
        db.session.rollback()
        raise
    flash("Sent to staff. They will see it in their queue.", "success")
    return redirect(url_for("forum.view_thread", thread_id=thread_id))


# --- private conversations -------------------------------------------------------------------------------


@bp.route("/conversations/<int:conversation_id>", methods=["GET", "POST"])
@login_required
def conversation(conversation_id):
    try:
        found = conversations.get(current_user, conversation_id)
    except NotFound:
        abort(404)
    status = 200
    if request.method == "POST":
        try:
            conversations.write(current_user, found, request.form.get("body", ""))
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
            status = error.status_code
        else:
            flash("Sent.", "success")
            return redirect(url_for("escalation.conversation", conversation_id=conversation_id))
        found = conversations.get(current_user, conversation_id)
    return render_template("escalation/conversation.html", conversation=found,
                           messages=conversations.messages(found),
                           draft=request.form.get("body", "") if status != 200 else ""), status


# --- canned replies ---------------------------------------------------------------------------------------


def _save_canned(form, save, template: str, **context):
    """Show or save a canned reply's form: saved, back to the list; refused, the form with the text kept."""
    status = 200
    if form.validate_on_submit():
        try:
            save(form.title.data, form.body.data, form.is_acknowledgement.data)
        except DomainError as error:
            db.session.rollback()
            status = show_error(form, error)
        else:
            flash("Canned reply saved.", "success")
            return redirect(url_for("escalation.canned_replies"))
    elif form.is_submitted():
        status = 400
    return render_template(template, form=form, placeholders=canned.PLACEHOLDERS, **context), status


@bp.route("/staff/canned-replies", methods=["GET", "POST"])
@staff_required
def canned_replies():
    return _save_canned(forms.CannedReplyForm(), lambda *fields: canned.create(current_user, *fields),
                        "escalation/canned.html", replies=canned.all_replies())


@bp.route("/staff/canned-replies/<int:reply_id>", methods=["GET", "POST"])
@staff_required
def edit_canned_reply(reply_id):
    try:
        found = canned.get(reply_id)
    except NotFound:
        abort(404)
    return _save_canned(forms.CannedReplyForm(obj=found),
                        lambda *fields: canned.update(current_user, found, *fields),
                        "escalation/canned_edit.html", reply=found)


@bp.route("/staff/canned-replies/<int:reply_id>/used", methods=["POST"])
@staff_required
def count_canned_use(reply_id):
    """A canned reply inserted into a reply box (the picker tells us, for the usage counts)."""
    try:
        canned.count_use(canned.get(reply_id))
    except NotFound:
        abort(404)
    db.session.commit()
    return "", 204


@bp.route("/staff/canned-replies/<int:reply_id>/delete", methods=["POST"])
@staff_required
def delete_canned_reply(reply_id):
    try:
        canned.delete(current_user, canned.get(reply_id))
    except NotFound:
        abort(404)
    flash("Canned reply deleted.", "success")
    return redirect(url_for("escalation.canned_replies"))


# --- admins: teams and policies ---------------------------------------------------------------------------


@bp.route("/admin/escalation", methods=["GET"])
@admin_required
def admin():
    from escalation import settings

    return render_template("escalation/admin.html", **settings.overview())


@bp.route("/admin/escalation/teams", methods=["POST"])
@admin_required
def save_team():
    from escalation import settings

    message = "Team deleted." if request.form.get("delete_team") else "Team saved."
    return _admin_action(lambda: settings.save_team(current_user, request.form), message)


@bp.route("/admin/escalation/people", methods=["POST"])
@admin_required
def save_person():
    from escalation import settings

    return _admin_action(lambda: settings.save_person(current_user, request.form), "Saved.")


@bp.route("/admin/escalation/policies", methods=["POST"])
@admin_required
def save_policy():
    from escalation import settings

    message = ("Policy removed: the category follows the site default." if request.form.get("delete_policy")
               else "Policy saved.")
    return _admin_action(lambda: settings.save_policy(current_user, request.form), message)


def _admin_action(action, success: str):
    from escalation import settings

    try:
        action()
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return render_template("escalation/admin.html", form_data=request.form, **settings.overview()), \
            error.status_code
    flash(success, "success")
    return redirect(url_for("escalation.admin"))
