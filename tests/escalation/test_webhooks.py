"""The signed webhook of a team: checked by a receiver on 127.0.0.1, retried after a failure."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from core import clock, jobs
from core.extensions import db
from escalation import services
from escalation.models import CategoryTeam, Escalation, Team, WebhookDelivery
from tests.factories import make_category, make_thread, make_user

SECRET = "shh-a-shared-secret"
NOTE = "Internal: the asker owes us two invoices"


class Receiver:
    """A help desk's endpoint on 127.0.0.1: records every request; answers 500 first, then 200."""

    def __init__(self):
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the name http.server calls
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    status = 500 if len(receiver.requests) == 1 else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/peerline"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


def delivery_row() -> WebhookDelivery:
    db.session.expire_all()
    return db.session.scalar(sa.select(WebhookDelivery))


def webhook_jobs() -> list[tuple[str, int]]:
    """(status, attempts) of the webhook jobs, read as columns: no outbox row is kept in the session."""
    return [tuple(row) for row in db.session.execute(
        sa.select(jobs.JobRecord.status, jobs.JobRecord.attempts)
        .where(jobs.JobRecord.func.endswith("deliver_webhook")))]


def test_a_new_escalation_is_posted_signed_to_the_team_webhook_and_retried_after_a_failure(app, receiver):
    category = make_category("Billing")
    team = Team(slug="billing", name="Billing", webhook_url=receiver.url, webhook_secret=SECRET)
    db.session.add(team)
    db.session.flush()
    db.session.add(CategoryTeam(category_id=category.id, team_id=team.id))
    db.session.commit()
    thread = make_thread(category=category, title="Charged twice this month", urgent=True,
                         urgent_reason="Two charges on my card")
    escalation = db.session.scalar(sa.select(Escalation).where(Escalation.thread_id == thread.id))
    assert escalation is not None and escalation.team_id == team.id
    services.add_note(make_user("staff"), thread, NOTE)  # staff-only: never in the payload

    jobs.wait_idle()  # the announcement, then its webhook job: the receiver answers 500

    assert len(receiver.requests) == 1
    delivery = delivery_row()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("failing", 1, 500)
    assert delivery.url == receiver.url and delivery.last_error == "HTTP 500"
    assert webhook_jobs() == [(jobs.FAILED, 1)]

    # Not retried before its back-off has passed...
    assert jobs.relay_outbox()["retried"] == 0
    jobs.wait_idle()
    assert len(receiver.requests) == 1
    # ...and retried once it has (the relay retries failed in-process jobs; RQ would itself).
    clock.advance(seconds=jobs.RQ_RETRY_INTERVALS[0] + 1)
    assert jobs.relay_outbox()["retried"] == 1
    jobs.wait_idle()

    delivery = delivery_row()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("sent", 2, 200)
    assert delivery.last_error == ""
    assert webhook_jobs() == [(jobs.DONE, 2)]
    # Nothing more is sent: the delivery is done, and a later relay has nothing to retry.
    clock.advance(seconds=jobs.RQ_RETRY_INTERVALS[-1] + 1)
    jobs.relay_outbox()
    jobs.wait_idle()
    assert len(receiver.requests) == 2

    for request in receiver.requests:
        headers = {name.lower(): value for name, value in request["headers"].items()}
        assert request["path"] == "/hooks/peerline"
        assert headers["content-type"] == "application/json"
        assert headers["x-peerline-event"] == "escalation.opened"
        timestamp = headers["x-peerline-timestamp"]
        assert timestamp.isdigit()
        expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + request["body"],
                            hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-peerline-signature"], f"sha256={expected}")
        # A receiver with another secret, or a changed body, would not match.
        other = hmac.new(b"another secret", timestamp.encode() + b"." + request["body"], hashlib.sha256)
        assert headers["x-peerline-signature"] != f"sha256={other.hexdigest()}"

        data = json.loads(request["body"])
        assert data["thread_id"] == thread.id and data["escalation_id"] == escalation.id
        assert data["reasons"] == ["urgent"] and data["queue"] == "urgent"
        assert data["due_at"] == clock.as_utc(escalation.due_at).isoformat()
        assert data["title"] == "Charged twice this month"
        assert data["url"].endswith(f"/{thread.id}") or str(thread.id) in data["url"]
        assert NOTE not in request["body"].decode() and "invoices" not in request["body"].decode()
        assert "note" not in json.dumps(data).lower() and "assignee" not in data
