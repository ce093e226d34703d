"""Staff escalation queues: teams, response policies in business hours, the rules and the sweep
that open escalations, queues and assignment, internal notes, private conversations, canned
replies, and the outbound notices of new escalations."""

from flask import Flask, url_for
from flask_login import current_user
from markupsafe import Markup

from forum.notices import NoticeKind, register_kind

SEND_UP_TEMPLATE = "escalation/_send_up.html"
CANNED_PICKER_TEMPLATE = "escalation/_canned_picker.html"


def _escalation_link(notice):
    key = notice.dedupe_key.rsplit(":", 1)[-1] if notice.dedupe_key else ""
    if key.startswith("e") and key[1:].isdigit():
        return "escalation.view", {"escalation_id": int(key[1:])}
    return None


NOTICE_KINDS = (
    NoticeKind("esc_new", summary="Needs staff: “{title}”", link_to_post=False, link=_escalation_link,
               label="A thread escalated to your team", required=True, staff_only=True,
               mail_text="A thread was escalated to your team:\n\n{link}"),
    NoticeKind("esc_warning", summary="Due soon: “{title}”", link_to_post=False, link=_escalation_link,
               label="An escalation due soon", required=True, staff_only=True,
               mail_text="An escalation is at 80% of its response target without a staff reply:\n\n{link}"),
    NoticeKind("esc_breach", summary="Overdue: “{title}”", link_to_post=False, link=_escalation_link,
               label="An escalation past its due time", required=True, staff_only=True,
               mail_text="An escalation is past its due time without a staff reply:\n\n{link}"),
    NoticeKind("note_mention", summary="A colleague mentioned you in a note on “{title}”",
               link_to_post=False, label="A colleague mentions you in an internal note", staff_only=True,
               mail_text="A colleague mentioned you in an internal note (staff only):\n\n{link}"),
    NoticeKind("peer_call", summary="Can you help with “{title}”?", link_to_post=False,
               label="Unanswered questions in topics you know", advocates_only=True,
               mail_text="Nobody has answered this question yet, and you know its topic well. "
                         "Staff will step in soon; if you can help first, please do:\n\n{link}"),
)


def has_desk():
    """forum.hooks.thread_figures["desk"]: whether the thread has an open escalation or a private
    conversation, read with the thread page's thread so that most pages need no query of ours."""
    import sqlalchemy as sa

    from core.extensions import constant
    from escalation.models import OPEN, Conversation, Escalation
    from forum.models import Thread

    return sa.or_(sa.exists().where(Escalation.thread_id == Thread.id, Escalation.state == constant(OPEN)),
                  sa.exists().where(Conversation.thread_id == Thread.id))


def thread_notices(thread) -> list[Markup]:
    """On an escalated thread (one query, none when the thread's figures say there is nothing): its
    asker sees that staff have it and by when they aim to answer, never who has it or the notes;
    staff see its queue and a link to work it. The asker and staff also get the link to the
    thread's private conversation."""
    if not current_user.is_authenticated or getattr(thread, "figures", {}).get("desk") is False:
        return []
    from accounts.permissions import is_staff
    from escalation import queries, views

    staff = is_staff(current_user)
    if not staff and current_user.id != thread.author_id:
        return []
    escalation, conversation_id = queries.thread_desk(thread.id)
    found = []
    if escalation is not None and staff:
        found.append(Markup('Escalated to the {} queue, due {}. <a href="{}">Work it</a>').format(
            escalation.queue, views.local_time(escalation.due_at, escalation),
            url_for("escalation.view", escalation_id=escalation.id)))
    elif escalation is not None and escalation.first_response_at is None:
        found.append(Markup("Our staff have this question and aim to answer by {}.").format(
            views.local_time(escalation.due_at, escalation)))
    elif escalation is not None:
        found.append(Markup("Our staff have this question and follow it until it is resolved."))
    if conversation_id is not None:
        link = url_for("escalation.conversation", conversation_id=conversation_id)
        found.append(Markup('Staff and {} have a <a href="{}">private conversation</a> about this thread.')
                     .format("the asker" if staff else "you", link))
    return found


def init_app(app: Flask) -> None:
    from escalation import rules, views
    from escalation.cli import escalation_cli
    from forum import hooks

    app.register_blueprint(views.bp)
    app.cli.add_command(escalation_cli)
    from core import markup
    from escalation.models import ConversationMessage, InternalNote

    markup.register_stored("internal_notes", InternalNote)
    markup.register_stored("conversation_messages", ConversationMessage)
    app.jinja_env.filters["local_time"] = views.local_time
    app.jinja_env.filters["business_duration"] = views.business_duration
    from forum import notices

    for kind in NOTICE_KINDS:
        if kind.name not in notices.KINDS:
            register_kind(kind)
    if thread_notices not in hooks.thread_notices:
        hooks.thread_notices.append(thread_notices)
    hooks.thread_figures["desk"] = has_desk
    if SEND_UP_TEMPLATE not in hooks.thread_tools:
        hooks.thread_tools.append(SEND_UP_TEMPLATE)
    if CANNED_PICKER_TEMPLATE not in hooks.reply_tools:
        hooks.reply_tools.append(CANNED_PICKER_TEMPLATE)
    from escalation import canned, services

    app.jinja_env.globals["canned_for"] = canned.for_thread
    app.jinja_env.globals["offers_send_up"] = services.offers_send_up
    rules.init_app()
    from escalation import demo
    from forum import demo as forum_demo

    if demo.load_with_community not in forum_demo.EXTENSIONS:
        forum_demo.EXTENSIONS.append(demo.load_with_community)
