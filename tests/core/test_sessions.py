"""core.sessions: a remembered session cookie opens to the same data, and to nothing once it has
expired, been tampered with, or its data was changed by an earlier page."""

import time

import pytest

from core import sessions


def cookie_for(app, data: dict) -> str:
    return app.session_interface.get_signing_serializer(app).dumps(data)


def open_with(app, value: str):
    name = app.config["SESSION_COOKIE_NAME"]
    with app.test_request_context("/", headers={"Cookie": f"{name}={value}"}) as ctx:
        return app.session_interface.open_session(app, ctx.request)


def test_a_cookie_opens_to_its_data_each_time_and_changes_do_not_carry_over(app):
    assert isinstance(app.session_interface, sessions.RememberingSessionInterface)
    value = cookie_for(app, {"_user_id": "token-1", "_fresh": False, "csrf_token": "abc"})
    first = open_with(app, value)
    assert dict(first) == {"_user_id": "token-1", "_fresh": False, "csrf_token": "abc"}
    first["_user_id"] = "someone-else"
    first["extra"] = 1
    second = open_with(app, value)
    assert dict(second) == {"_user_id": "token-1", "_fresh": False, "csrf_token": "abc"}
    assert not second.modified


def test_a_tampered_or_foreign_cookie_opens_empty(app):
    value = cookie_for(app, {"_user_id": "token-1"})
    open_with(app, value)
    payload, _, signature = value.rpartition(".")
    assert dict(open_with(app, payload + "." + signature[::-1])) == {}
    assert dict(open_with(app, "not-a-cookie")) == {}
    assert dict(open_with(app, "x" * 5000)) == {}


def test_a_remembered_cookie_still_expires(app, monkeypatch):
    value = cookie_for(app, {"_user_id": "token-1"})
    assert dict(open_with(app, value)) == {"_user_id": "token-1"}
    later = time.time() + app.permanent_session_lifetime.total_seconds() + 60
    monkeypatch.setattr(time, "time", lambda: later)
    assert dict(open_with(app, value)) == {}


@pytest.mark.parametrize("flashes", [[["info", "Saved."]], [["error", "No."], ["info", "Yes."]]])
def test_a_cookie_holding_a_list_is_verified_and_copied_every_time(app, flashes):
    value = cookie_for(app, {"_flashes": flashes})
    first = open_with(app, value)
    first["_flashes"].clear()
    assert len(open_with(app, value)["_flashes"]) == len(flashes)
