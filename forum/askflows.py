"""The ask flow: one visit to the ask form, which suggestions the asker opened, and whether they
then posted. A flow with a suggestion opened and no thread is a deflection (METRICS.md)."""

import hashlib
import hmac
import re
import secrets

import sqlalchemy as sa
from flask import current_app

from accounts.models import User
from core import clock
from core.errors import Forbidden, Invalid
from core.extensions import db
from forum import permissions as can
from forum.models import AskFlow, Thread

_FLOW_RE = re.compile(r"^[0-9a-f]{32}$")


_DOC_RE = re.compile(r"^[a-z]{1,20}:[0-9]{1,18}$")


def _flow_signature(user_id: int, nonce: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"ask-flow:{user_id}:{nonce}".encode(), hashlib.sha256).hexdigest()[:16]


def new_ask_flow(actor: User) -> str:
    """A token for one visit to the ask form (kept in the form, sent with opened suggestions):
    16 random hex digits and 16 of a signature over them and the person, so nobody can make up
    flows, or use someone else's."""
    nonce = secrets.token_hex(8)
    return nonce + _flow_signature(actor.id, nonce)


def ask_flow_is_theirs(actor: User, token) -> bool:
    """Whether `token` is a flow new_ask_flow issued to `actor`."""
    if not isinstance(token, str) or not _FLOW_RE.match(token) or not getattr(actor, "id", None):
        return False
    return hmac.compare_digest(token[16:], _flow_signature(actor.id, token[:16]))


def record_posted(actor: User, token: str, thread: Thread, now) -> None:
    """Mark the flow posted, creating it if nothing was opened; a row another request is creating
    at this very moment (a double click) is left to it, without failing the question."""
    try:
        with db.session.begin_nested():
            flow = db.session.scalar(sa.select(AskFlow).where(AskFlow.token == token))
            if flow is None:
                flow = AskFlow(token=token, user_id=actor.id, started_at=now, opened_count=0)
                db.session.add(flow)
            if flow.thread_id is None:
                flow.thread_id, flow.posted_at = thread.id, now
    except sa.exc.IntegrityError:
        pass


def record_suggestion_opened(actor: User, token: str, doc_id: str) -> AskFlow:
    """Someone on the ask form opened a suggested article or thread.
    Raises Forbidden, or Invalid (a token not issued to them, a malformed document id)."""
    if not can.can_ask(actor):
        raise Forbidden("Sign in to ask a question.")
    if not ask_flow_is_theirs(actor, token):
        raise Invalid("That ask form is not recognised; reload the page.", field="flow")
    if not isinstance(doc_id, str) or not _DOC_RE.match(doc_id):
        raise Invalid("That is not a suggestion we made.", field="doc")
    try:
        flow = _opened(actor, token, doc_id)
    except sa.exc.IntegrityError:  # two opens of a new flow at once: the other one created it
        db.session.rollback()
        flow = _opened(actor, token, doc_id)
    return flow


def _opened(actor: User, token: str, doc_id: str) -> AskFlow:
    flow = db.session.scalar(sa.select(AskFlow).where(AskFlow.token == token))
    now = clock.now()
    if flow is None:
        flow = AskFlow(token=token, user_id=actor.id, started_at=now, opened_count=0)
        db.session.add(flow)
        db.session.flush()
    flow.first_opened_at = flow.first_opened_at or now
    flow.last_opened_doc = doc_id
    db.session.execute(sa.update(AskFlow).where(AskFlow.id == flow.id)
                       .values(opened_count=AskFlow.opened_count + 1))
    db.session.commit()
    return flow
