"""Links in mail: PEERLINE_BASE_URL when it is set; otherwise the address actually served (`make run
PORT=5061` mailed links to port 5000), taken from the server's own socket, never from the Host
header a stranger chooses."""

import http.client
import threading
from contextlib import contextmanager
from urllib.parse import urlencode

from werkzeug.serving import make_server

from core import jobs, mail
from core.extensions import db
from forum.models import Thread
from tests.conftest import outbox_links
from tests.factories import make_answer, make_thread, make_user


@contextmanager
def serving(app):
    """The app behind a real threaded Werkzeug server on a free port of 127.0.0.1, as `flask run`."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="mail-links-server", daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def request(port: int, method: str, path: str, *, host: str, body: dict | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Host": host}
    data = None
    if body is not None:
        data = urlencode(body)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection.request(method, path, body=data, headers=headers)
    status = connection.getresponse().status
    connection.close()
    return status


def test_mail_links_follow_the_port_served_not_the_host_header(make_app, backend):
    app = make_app(backend, PEERLINE_BASE_URL="")
    with app.app_context():
        asker = make_user()
        thread = make_thread(asker, title="Which port do the links use?")
        email, thread_id = asker.email, thread.id
    with serving(app) as port:
        # A stranger's request comes first, naming their own site: it must not become the links'.
        assert request(port, "GET", "/", host="attacker.example:666") == 200
        assert request(port, "POST", "/password/reset", host="attacker.example",
                       body={"email": email}) in (200, 302)
        with app.app_context():
            make_answer(db.session.get(Thread, thread_id))  # the asker follows it: a notice, mailed by a job
            jobs.wait_idle()
            links = outbox_links(app)
            assert mail.base_url() == f"http://127.0.0.1:{port}"
    assert len(links) >= 3, links  # the reset link, the answer and its unsubscribe link
    assert all(link.startswith(f"http://127.0.0.1:{port}/") for link in links), links
    assert any("/password/reset/" in link for link in links)
    assert any(f"/t/{thread_id}" in link for link in links)


def test_a_configured_base_url_wins_and_nothing_served_falls_back(make_app):
    configured = make_app("sqlite", PEERLINE_BASE_URL="https://community.example.com/help/")
    with serving(configured) as port:
        assert request(port, "GET", "/", host=f"127.0.0.1:{port}") == 200
    with configured.test_request_context():
        assert mail.base_url() == "https://community.example.com/help"
        assert mail.external_url("forum.view_thread", thread_id=3) == "https://community.example.com/help/t/3"
    unset = make_app("sqlite", PEERLINE_BASE_URL="")
    with unset.app_context():
        assert mail.base_url() == mail.FALLBACK_BASE_URL  # no request served yet (a CLI command)


def test_the_served_address_is_the_servers_own():
    base = {"wsgi.url_scheme": "http", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "5061",
            "HTTP_HOST": "attacker.example"}
    assert mail.served_url(base) == "http://127.0.0.1:5061"
    assert mail.served_url({**base, "SERVER_NAME": "0.0.0.0"}) == "http://127.0.0.1:5061"  # noqa: S104
    assert mail.served_url({**base, "SERVER_NAME": "::1"}) == "http://[::1]:5061"
    assert mail.served_url({**base, "SERVER_PORT": "80"}) == "http://127.0.0.1"
    assert mail.served_url({**base, "wsgi.url_scheme": "https", "SERVER_NAME": "forum.example",
                            "SERVER_PORT": "443", "SCRIPT_NAME": "/community"}) == "https://forum.example/community"
