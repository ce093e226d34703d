"""Walks the whole URL map: every endpoint declares a policy, and staff/admin ones refuse others."""

import re

import pytest

from accounts.permissions import ADMIN_ONLY, PUBLIC, SIGNED_IN, STAFF_ONLY, policy_of
from tests.factories import make_user

KNOWN_POLICIES = {PUBLIC, SIGNED_IN, STAFF_ONLY, ADMIN_ONLY}


def endpoints(app):
    """(rule, method, policy) for every route except static files."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method, policy_of(view)


def url_for_rule(rule) -> str:
    """A concrete URL for a rule, with placeholder values for its arguments."""
    def fill(match):
        converter = match.group(1) or "string"
        return "1" if converter in {"int", "float"} else "placeholder"

    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?\w+>", fill, rule.rule)


def test_every_endpoint_declares_a_policy(app):
    undeclared = [f"{rule.endpoint} ({rule.rule})" for rule, _method, policy in endpoints(app)
                  if policy not in KNOWN_POLICIES]
    assert undeclared == [], "endpoints without @public/@login_required/@staff_required/@admin_required"


def test_the_walk_covers_staff_and_admin_routes(app):
    policies = {policy for _rule, _method, policy in endpoints(app)}
    assert {STAFF_ONLY, ADMIN_ONLY} <= policies


def _request(client, method, url):
    return client.open(url, method=method, data={})


@pytest.mark.parametrize("who", ["anonymous", "member", "advocate", "staff"])
def test_staff_and_admin_routes_refuse_everyone_else(app, client, auth, who):
    if who != "anonymous":
        auth.as_role(who)
    checked = 0
    for rule, method, policy in endpoints(app):
        refused = (policy == ADMIN_ONLY and who != "admin") or (
            policy == STAFF_ONLY and who not in {"staff", "admin"})
        if not refused:
            continue
        response = _request(client, method, url_for_rule(rule))
        checked += 1
        if who == "anonymous":
            assert response.status_code == 302, (rule.rule, method, response.status_code)
            assert response.headers["Location"].startswith("/signin"), rule.rule
        else:
            assert response.status_code == 403, (rule.rule, method, response.status_code)
    assert checked > 0


def test_admin_routes_open_to_admins(app, client, auth):
    auth.as_role("admin")
    make_user()
    for rule, method, policy in endpoints(app):
        if policy in {STAFF_ONLY, ADMIN_ONLY} and method == "GET" and not rule.arguments:
            assert _request(client, method, url_for_rule(rule)).status_code == 200, rule.rule
