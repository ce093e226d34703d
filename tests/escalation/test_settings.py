"""Admins set teams, people and response policies; bad input gets a clear message and changes nothing."""

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from accounts.models import AuditEntry
from core.errors import Invalid
from core.extensions import db
from escalation import settings
from escalation.models import CategoryTeam, DeskProfile, Policy, Team
from tests import factories


def test_admins_save_teams_people_and_policies_and_bad_input_changes_nothing(app, client, auth):
    auth.as_role("admin")
    staff = factories.make_user("staff", display_name="Sam Staff")
    advocate = factories.make_user("advocate")
    member = factories.make_user("member")
    billing = factories.make_category("Billing")
    api = factories.make_category("API")
    r = client.get("/admin/escalation")
    assert r.status_code == 200, r.text
    assert "Escalation settings" in r.text
    # team create
    r = client.post("/admin/escalation/teams", data=MultiDict([
        ("form", "team-new"), ("name", "Billing Team"), ("notify_email", "Billing@Example.com"),
        ("webhook_url", "https://hooks.example.com/x"), ("webhook_secret", "s" * 20), ("auto_assign", "on"),
        ("member_ids", str(staff.id)), ("category_ids", str(billing.id)), ("category_ids", str(api.id))]))
    assert r.status_code == 302, r.text
    team = db.session.scalar(sa.select(Team))
    assert team.slug == "billing-team" and team.notify_email == "billing@example.com"
    assert [m.id for m in team.members] == [staff.id]
    # second team takes API
    r = client.post("/admin/escalation/teams", data=MultiDict([
        ("name", "Integrations"), ("category_ids", str(api.id))]))
    assert r.status_code == 302, r.text
    db.session.expire_all()
    rows = dict(db.session.execute(sa.select(CategoryTeam.category_id, CategoryTeam.team_id)).all())
    t2 = db.session.scalar(sa.select(Team).where(Team.name == "Integrations"))
    assert rows == {billing.id: team.id, api.id: t2.id}
    # errors
    for data, needle in [
        ({"name": "billing team"}, "already a team"),
        ({"name": "Billing-Team!"}, "queue address"),
        ({"name": "Urgent"}, "built-in"),
        ({"name": "X", "webhook_url": "ftp://x"}, "must start with http:// or https://"),
        ({"name": "X", "webhook_url": "https://x.example"}, "secret"),
        ({"name": "X", "notify_email": "nope"}, "mailbox"),
        ({"name": "X", "member_ids": str(member.id)}, "is not staff"),
        ({"name": "X", "member_ids": str(advocate.id)}, "is not staff"),
        ({"name": ""}, "needs a name"),
    ]:
        data["form"] = "team-new"
        r = client.post("/admin/escalation/teams", data=data)
        assert r.status_code in (400, 409), (data, r.status_code)
        assert needle in r.text, (needle, r.text[:3000])
    # update keeps secret
    r = client.post("/admin/escalation/teams", data={"team_id": team.id, "name": "Money",
                    "webhook_url": "https://hooks.example.com/y", "member_ids": str(staff.id)})
    assert r.status_code == 302, r.text
    db.session.expire_all()
    team = db.session.get(Team, team.id)
    assert team.slug == "money" and team.webhook_secret == "s" * 20 and not team.auto_assign
    # person
    r = client.post("/admin/escalation/people",
                    data={"user_id": advocate.id, "cap": "5", "schedule": " Tue 14-16 "})
    assert r.status_code == 302, r.text
    p = db.session.get(DeskProfile, advocate.id)
    assert p.cap == 5 and p.available is False and p.schedule == "Tue 14-16"
    for cap in ["-1", "201", "abc", "1e3", ""]:
        r = client.post("/admin/escalation/people", data={"user_id": advocate.id, "cap": cap})
        assert r.status_code == 400 and "A cap is a whole number" in r.text
    r = client.post("/admin/escalation/people", data={"user_id": member.id, "cap": "3"})
    assert r.status_code == 400
    # policy
    base = {"peer_window_minutes": "120", "target_minutes": "60", "urgent_target_minutes": "15",
            "timezone": "europe/berlin", "opens": "09:00", "closes": "17:00", "holiday_country": "de",
            "holiday_subdivision": "by", "extra_holidays": "2025-12-24",
            "urgent_terms": "outage, down\nDOWN, data loss"}
    form = MultiDict(list(base.items()) + [("workdays", d) for d in ("0", "1", "2", "3", "4")])
    r = client.post("/admin/escalation/policies", data=form)
    assert r.status_code == 302, r.text
    pol = db.session.scalar(sa.select(Policy))
    assert pol.category_id is None and pol.target_s == 3600 and pol.calendar["timezone"] == "Europe/Berlin"
    assert pol.urgent_terms == "outage\ndown\ndata loss"
    assert pol.calendar["holiday_subdivision"] == "BY"
    for field, value, needle in [("target_minutes", "0", "response target"),
                                 ("target_minutes", "-5", "response target"),
                                 ("target_minutes", "99999999999999", "response target"),
                                 ("peer_window_minutes", "abc", "peer window"),
                                 ("urgent_target_minutes", "61", "cannot be longer"),
                                 ("unresolved_after_days", "366", "Answered"),
                                 ("timezone", "Mars/Base", "Unknown time zone"),
                                 ("urgent_terms", "x" * 61, "urgent term"),
                                 ("closes", "08:00", "must end after")]:
        bad = MultiDict(form)
        bad[field] = value
        r = client.post("/admin/escalation/policies", data=bad)
        assert r.status_code == 400, (field, r.status_code)
        assert needle in r.text, (field, needle)
    db.session.expire_all()
    assert db.session.scalar(sa.select(Policy)).target_s == 3600
    cat_form = MultiDict(form)
    cat_form["category_id"] = str(billing.id)
    cat_form["form"] = "policy-new"
    cat_form["around_the_clock"] = "on"
    r = client.post("/admin/escalation/policies", data=cat_form)
    assert r.status_code == 302, r.text
    r = client.get("/admin/escalation")
    assert r.status_code == 200
    assert "Around the clock (Europe/Berlin)" in r.text and "Mon–Fri 09:00–17:00" in r.text, r.text
    r = client.post("/admin/escalation/policies", data={"delete_policy": str(billing.id)})
    assert r.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Policy)) == 1
    # delete team
    t2_id = t2.id
    r = client.post("/admin/escalation/teams", data={"delete_team": str(t2_id)})
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(sa.select(Team).where(Team.id == t2_id)) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action.like("escalation-%"))) >= 6
    assert client.get("/admin/escalation").status_code == 200


def test_renaming_a_team_moves_its_queue_and_deleting_it_sends_escalations_to_general(app):
    from core.errors import Forbidden, NotFound
    from escalation import services
    from escalation.models import NEEDS_STAFF, Escalation

    admin = factories.make_user("admin")
    staff = factories.make_user("staff")
    cat = factories.make_category("Billing")
    team = settings.save_team(admin, MultiDict([("name", "Billing"), ("category_ids", str(cat.id))]))
    thread = factories.make_thread(category=cat)
    esc = services.escalate(thread, NEEDS_STAFF)
    db.session.commit()
    assert esc.queue == "billing"
    settings.save_team(admin, MultiDict([("team_id", str(team.id)), ("name", "Money matters"),
                                         ("category_ids", str(cat.id))]))
    db.session.expire_all()
    assert db.session.get(Escalation, esc.id).queue == "money-matters"
    other = settings.save_team(admin, MultiDict([("name", "Поддержка")]))
    assert other.slug == "team-1"
    other = settings.save_team(admin, MultiDict([("team_id", str(other.id)), ("name", "Служба")]))
    assert other.slug == "team-1"
    with pytest.raises(Forbidden):
        settings.save_team(staff, MultiDict([("name", "X")]))
    with pytest.raises(NotFound):
        settings.save_team(admin, MultiDict([("team_id", "999"), ("name", "X")]))
    with pytest.raises(Invalid) as caught:
        settings.save_team(admin, MultiDict([("name", "X"), ("webhook_url", "https://u:p@h.example/x"),
                                             ("webhook_secret", "a" * 16)]))
    assert caught.value.field == "webhook_url"
    with pytest.raises(Invalid) as caught:
        settings.save_team(admin, MultiDict([("name", "X"), ("webhook_url", "https://h.example:99999/x"),
                                             ("webhook_secret", "a" * 16)]))
    with pytest.raises(Invalid) as caught:
        settings.save_policy(admin, MultiDict([("category_id", "abc"), ("peer_window_minutes", "1")]))
    assert caught.value.field == "category_id"
    with pytest.raises(Invalid):
        settings.save_policy(admin, MultiDict([("delete_policy", "")]))
    with pytest.raises(NotFound):
        settings.save_policy(admin, MultiDict([("delete_policy", str(cat.id))]))
    team_id = team.id
    settings.save_team(admin, MultiDict([("delete_team", str(team_id))]))
    db.session.expire_all()
    e = db.session.get(Escalation, esc.id)
    assert e.queue == "general" and e.team_id is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CategoryTeam)) == 0
    ov = settings.overview()
    assert "form_data" not in ov and {"teams", "people", "categories", "category_team", "default_policy",
                                      "policies", "deliveries", "timezones_hint"} <= set(ov)
    assert "08:00" in settings.describe_calendar({"timezone": "UTC", "workdays": [0, 1, 2, 4, 5],
                                                  "opens": "08:00", "closes": "12:30"})


def test_a_team_lead_is_one_of_its_members_and_optional(app, client, auth):
    auth.as_role("admin")
    lead = factories.make_user("staff", display_name="Lena Lead")
    other = factories.make_user("staff", display_name="Otto Other")
    r = client.post("/admin/escalation/teams", data=MultiDict([
        ("form", "team-new"), ("name", "Billing"), ("member_ids", str(lead.id)), ("lead_id", str(lead.id))]))
    assert r.status_code == 302, r.text
    team = db.session.scalar(sa.select(Team))
    assert team.lead_id == lead.id
    page = client.get("/admin/escalation").text
    assert "Team lead" in page and f'<option value="{lead.id}" selected>' in page
    # Not a member: refused, nothing changes.
    r = client.post("/admin/escalation/teams", data=MultiDict([
        ("form", f"team-{team.id}"), ("team_id", str(team.id)), ("name", "Billing"),
        ("member_ids", str(lead.id)), ("lead_id", str(other.id))]))
    assert r.status_code == 400 and "must be one of the team" in r.text
    db.session.expire_all()
    assert db.session.get(Team, team.id).lead_id == lead.id
    # No lead.
    r = client.post("/admin/escalation/teams", data=MultiDict([
        ("team_id", str(team.id)), ("name", "Billing"), ("member_ids", str(lead.id)), ("lead_id", "")]))
    assert r.status_code == 302, r.text
    db.session.expire_all()
    assert db.session.get(Team, team.id).lead_id is None
    entry = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry.before["lead_id"] == lead.id and entry.after["lead_id"] is None
