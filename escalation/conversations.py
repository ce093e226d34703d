"""Private conversations between a thread's asker and staff, for account details that do not
belong in public: their own tables, never indexed, never mailed with their text, seen by the asker
and staff only."""

import sqlalchemy as sa

from accounts.permissions import is_staff
from core import markup
from core.errors import Conflict, Forbidden, NotFound
from core.extensions import db
from core.text import required_text
from escalation.models import NOTE_MAX, Conversation, ConversationMessage
from forum.models import Thread


def may_see(user, conversation: Conversation) -> bool:
    return bool(user is not None and user.is_authenticated
                and (is_staff(user) or user.id == conversation.asker_id))


def get(user, conversation_id) -> Conversation:
    """The conversation, for the asker or staff; NotFound for everyone else (it is not theirs to know of)."""
    conversation = db.session.get(Conversation, conversation_id) if isinstance(conversation_id, int) else None
    if conversation is None or not may_see(user, conversation):
        raise NotFound("No such conversation.")
    return conversation


def for_thread(user, thread: Thread) -> Conversation | None:
    """The thread's private conversation, if there is one and `user` may see it."""
    if user is None or not user.is_authenticated or not (is_staff(user) or user.id == thread.author_id):
        return None
    return db.session.scalar(sa.select(Conversation).where(Conversation.thread_id == thread.id))


def start(actor, thread: Thread, body: str) -> Conversation:
    """Staff open the thread's private conversation with its asker, with a first message."""
    if not is_staff(actor):
        raise Forbidden("Only staff can start a private conversation.")
    body = _body(body)
    if db.session.scalar(sa.select(Conversation.id).where(Conversation.thread_id == thread.id)) is not None:
        raise Conflict("This thread has a private conversation already; write in it.")
    conversation = Conversation(thread_id=thread.id, asker_id=thread.author_id, started_by_id=actor.id)
    db.session.add(conversation)
    db.session.flush()
    _add(conversation, actor, body)
    db.session.commit()
    return conversation


def write(actor, conversation: Conversation, body: str) -> ConversationMessage:
    if not may_see(actor, conversation):
        raise NotFound("No such conversation.")
    message = _add(conversation, actor, _body(body))
    db.session.commit()
    return message


def _body(body: str) -> str:
    return required_text(body, limit=NOTE_MAX, field="body", empty="Write a message first.", noun="A message")


def _add(conversation: Conversation, actor, body: str) -> ConversationMessage:
    message = ConversationMessage(conversation_id=conversation.id, author_id=actor.id, author_role=actor.role,
                                  body=body, body_html=str(markup.render(body)))
    db.session.add(message)
    return message


def messages(conversation: Conversation) -> list[ConversationMessage]:
    return list(db.session.scalars(
        sa.select(ConversationMessage).where(ConversationMessage.conversation_id == conversation.id)
        .order_by(ConversationMessage.id).options(sa.orm.joinedload(ConversationMessage.author))))
