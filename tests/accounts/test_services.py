"""Account services on SQLite and PostgreSQL: sign-up rules, sign-in, reset tokens, roles."""

import json

import pytest
import sqlalchemy as sa

from accounts import reset_links, services
from accounts.models import AuditEntry, PasswordResetToken, User
from core import jobs
from core.errors import Conflict, Forbidden, Invalid
from core.extensions import db
from tests.conftest import outbox_messages
from tests.factories import PASSWORD, make_user

ZALGO = "Z" + "\u0301\u0302\u0303\u0308" * 48  # one letter under 192 combining marks


@pytest.mark.password_hashing
def test_sign_up_stores_a_member_with_a_hashed_password(app):
    user = services.sign_up("Ada@Example.COM", "ada", PASSWORD, "Ada Lovelace")
    saved = db.session.get(User, user.id)
    assert saved.email == "ada@example.com"
    assert saved.role == "member"
    assert saved.display_name == "Ada Lovelace"
    assert PASSWORD not in saved.password_hash
    assert saved.password_hash.startswith("scrypt:")


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@example.com", " ada@EXAMPLE.com "])
def test_duplicate_email_is_refused_whatever_its_case(app, email):
    services.sign_up("ada@example.com", "ada", PASSWORD)
    with pytest.raises(Conflict, match="email already exists"):
        services.sign_up(email, "someone_else", PASSWORD)


@pytest.mark.parametrize("name", ["ada", "ADA", "Ada", "ａｄａ"])  # the last is full-width
def test_duplicate_username_is_refused_even_when_it_only_looks_alike(app, name):
    services.sign_up("ada@example.com", "ada", PASSWORD)
    with pytest.raises(Conflict, match="username is taken"):
        services.sign_up("other@example.com", name, PASSWORD)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


@pytest.mark.password_hashing
@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1!", "at least 10 characters"),
        ("", "at least 10 characters"),
        ("password123", "too common"),
        ("aaaaaaaaaaaa", "too common or too simple"),
        ("x" * 129, "at most 128"),
        ("my-ada-password-1", "must not contain your username"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(app, password, message):
    with pytest.raises(Invalid, match=message) as caught:
        services.sign_up("ada@example.com", "ada", password)
    assert caught.value.field == "password"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


@pytest.mark.parametrize(
    ("email", "username", "display_name", "field"),
    [
        ("", "ada", "", "email"),
        ("not-an-email", "ada", "", "email"),
        ("a" * 250 + "@example.com", "ada", "", "email"),
        ("ada@example.com", "", "", "username"),
        ("ada@example.com", "ab", "", "username"),
        ("ada@example.com", "a" * 31, "", "username"),
        ("ada@example.com", "ada lovelace", "", "username"),
        ("ada@example.com", "<script>", "", "username"),
        ("ada@example.com", "ada", "D" * 61, "display_name"),
        ("ada@example.com", "ada", "Ada " + ZALGO, "display_name"),
    ],
)
def test_bad_sign_up_input_names_the_field(app, email, username, display_name, field):
    with pytest.raises(Invalid) as caught:
        services.sign_up(email, username, PASSWORD, display_name)
    assert caught.value.field == field


def test_unicode_names_are_welcome(app):
    user = services.sign_up("zoe@example.com", "Zoë_李", PASSWORD, "  Zoë   李 ✨ ")
    assert user.username == "Zoë_李"
    assert user.display_name == "Zoë 李 ✨"
    assert services.get_user_by_username("zoë_李").id == user.id


def test_control_characters_are_dropped_from_display_names(app):
    user = services.sign_up("ctl@example.com", "ctl", PASSWORD, "Bad\u202eName\x00")
    assert user.display_name == "BadName"


@pytest.mark.parametrize("invisible", ["\u200b", "\u200b\u200c\u200d\u2060\ufeff", "\u3164\u3164",
                                       "\u2062 \u034f"])
def test_a_display_name_that_shows_nothing_is_the_username(app, invisible):
    user = services.sign_up("ghost@example.com", "ghost", PASSWORD, invisible)
    assert user.display_name == "ghost"
    services.update_profile(user, user, "Casper", "")
    assert services.update_profile(user, user, invisible, "").display_name == "ghost"


def test_a_display_name_with_a_pile_of_marks_is_refused_and_the_old_one_kept(app):
    user = make_user(display_name="Zed")
    for name in ("Zed " + ZALGO, "Zed " + ZALGO[:20]):  # the second is within 60 characters
        with pytest.raises(Invalid, match="A display name has a letter with more than 6 accents") as caught:
            services.update_profile(user, user, name, "")
        assert caught.value.field == "display_name"
    db.session.rollback()
    db.session.refresh(user)
    assert user.display_name == "Zed"
    name = "Nguyễn Thị Ánh, नमस्ते"
    assert services.update_profile(user, user, name, "").display_name == name


@pytest.mark.password_hashing
def test_sign_in_failure_does_not_say_which_part_was_wrong(app):
    make_user(username="ada")
    with pytest.raises(Invalid) as unknown:
        services.authenticate("nobody", PASSWORD)
    with pytest.raises(Invalid) as wrong:
        services.authenticate("ada", "not the password at all")
    assert unknown.value.message == wrong.value.message == services.SIGN_IN_FAILED


@pytest.mark.password_hashing
def test_sign_in_by_email_or_username_any_case(app):
    user = make_user(username="Ada")
    assert services.authenticate("ada", PASSWORD).id == user.id
    assert services.authenticate("ADA@EXAMPLE.COM", PASSWORD).id == user.id
    token = services.start_session(services.authenticate("ada", PASSWORD))
    assert services.user_for_session(token).last_sign_in_at is not None


def test_reset_request_for_unknown_email_sends_nothing_and_says_nothing(app):
    assert services.request_password_reset("nobody@example.com") is None
    jobs.wait_idle()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PasswordResetToken)) == 0
    assert outbox_messages(app) == []


def test_reset_request_does_the_same_work_whether_or_not_the_account_exists(app):
    make_user(username="ada")
    services.request_password_reset("ada@example.com")
    services.request_password_reset("nobody@example.com")
    # Both requests leave one job each: the look-up happens in the job, not in the request.
    assert [r.func for r in db.session.scalars(sa.select(jobs.JobRecord))] == [
        "accounts.jobs:send_password_reset"] * 2


@pytest.mark.password_hashing
def test_a_reset_job_run_twice_mails_once(app):
    make_user(username="ada")
    services.request_password_reset("ada@example.com")
    jobs.wait_idle()
    record = db.session.scalar(sa.select(jobs.JobRecord))
    from accounts.jobs import send_password_reset

    send_password_reset(*json.loads(record.args))  # as if the worker died after sending
    assert len(outbox_messages(app)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PasswordResetToken)) == 1


def _reset_token_for(user) -> str:
    services.request_password_reset(user.email)
    jobs.wait_idle()
    token = db.session.scalar(
        sa.select(PasswordResetToken).where(PasswordResetToken.user_id == user.id)
        .order_by(PasswordResetToken.id.desc())
    )
    return reset_links.reset_link_token(token)


@pytest.mark.password_hashing
def test_reset_token_works_once(app):
    user = make_user()
    old_session = services.start_session(user)
    link = _reset_token_for(user)
    services.reset_password(link, "a brand new passphrase")
    assert services.authenticate(user.username, "a brand new passphrase").id == user.id
    assert services.user_for_session(old_session) is None  # other sessions are signed out
    with pytest.raises(Invalid, match="expired or has already been used"):
        services.reset_password(link, "yet another passphrase")


@pytest.mark.password_hashing
def test_reset_token_expires(app):
    user = make_user()
    link = _reset_token_for(user)
    db.session.execute(sa.update(PasswordResetToken).values(
        created_at=sa.func.now() - sa.text("INTERVAL '2 hours'")
        if app.config["PEERLINE_TEST_BACKEND"] == "postgresql"
        else sa.text("datetime('now', '-2 hours')")
    ))
    db.session.commit()
    with pytest.raises(Invalid, match="expired"):
        services.reset_password(link, "a brand new passphrase")
    assert services.authenticate(user.username, PASSWORD).id == user.id  # unchanged


@pytest.mark.password_hashing
@pytest.mark.parametrize("forged", ["", "abc", "W1sxLCJ4Il0.forged", "../../etc/passwd", "x" * 5000])
def test_forged_reset_tokens_are_refused(app, forged):
    with pytest.raises(Invalid):
        services.reset_password(forged, "a brand new passphrase")


@pytest.mark.password_hashing
def test_a_new_reset_voids_older_links_once_used(app):
    user = make_user()
    first = _reset_token_for(user)
    second = _reset_token_for(user)
    services.reset_password(second, "a brand new passphrase")
    with pytest.raises(Invalid):
        services.reset_password(first, "another new passphrase")


def test_only_admins_change_roles_and_each_change_is_audited(app):
    admin, staff, member = make_user("admin"), make_user("staff"), make_user()
    target = make_user()
    for actor in (staff, member):
        with pytest.raises(Forbidden):
            services.change_role(actor, target, "advocate")
    assert target.role == "member"
    services.change_role(admin, target, "advocate", "answers well in billing")
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.subject_type == "user",
                                                          AuditEntry.subject_id == target.id))
    assert (entry.actor_id, entry.actor_role, entry.action, entry.before, entry.after, entry.reason) == (
        admin.id, "admin", "role", {"role": "member"}, {"role": "advocate"}, "answers well in billing")


def test_unknown_role_is_invalid(app):
    admin, target = make_user("admin"), make_user()
    with pytest.raises(Invalid, match="Unknown role"):
        services.change_role(admin, target, "superuser")


def test_the_last_admin_cannot_step_down(app):
    admin = make_user("admin")
    with pytest.raises(Invalid, match="last admin"):
        services.change_role(admin, admin, "member")
    other = make_user("admin")
    services.change_role(other, admin, "member")
    assert admin.role == "member"


def test_crm_id_is_set_by_staff_only_and_seen_by_staff_only(app):
    staff, customer, peer = make_user("staff"), make_user(), make_user()
    with pytest.raises(Forbidden):
        services.set_crm_id(customer, customer, "CRM-1")
    services.update_profile(customer, customer, "Cust", "bio", {"github": "cust-gh"})
    services.set_crm_id(staff, customer, "CRM-42")
    assert {i.kind for i in services.visible_identities(staff, customer)} == {"github", "crm"}
    assert {i.kind for i in services.visible_identities(peer, customer)} == {"github"}
    with pytest.raises(Invalid):
        services.update_profile(customer, customer, "Cust", "", {"crm": "CRM-self"})


def test_profile_edits_are_limited_to_the_owner_and_staff(app):
    owner, other, staff = make_user(), make_user(), make_user("staff")
    with pytest.raises(Forbidden):
        services.update_profile(other, owner, "Hijacked", "")
    services.update_profile(staff, owner, "Renamed by staff", "")
    assert owner.display_name == "Renamed by staff"


def test_ensure_admin_creates_one_admin_only(app):
    first = services.ensure_admin("root@example.com", "root", "a long admin passphrase")
    assert first.role == "admin"
    assert services.ensure_admin("two@example.com", "two", "a long admin passphrase") is None


# --- look-alike and reserved names --------------------------------------------------------------------


def count_users() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(User))


@pytest.mark.parametrize("lookalike", [
    "\u0430dmin",  # Cyrillic а
    "adm\u0131n",  # dotless ı
    "adm\u0399n",  # Greek capital Iota
    "\uff41\uff44\uff4d\uff49\uff4e",  # full-width, folded to "admin" by NFKC
    "adrnin",
])
def test_a_username_that_looks_like_another_is_refused(app, lookalike):
    services.ensure_admin("owner@example.com", "admin", PASSWORD)
    with pytest.raises(Conflict) as caught:
        services.sign_up("mallory@example.com", lookalike, PASSWORD)
    assert caught.value.field == "username"
    assert caught.value.message in (services.LOOKALIKE_USERNAME, "That username is taken; choose another.")
    assert count_users() == 1


def test_look_alikes_of_any_account_are_refused_not_only_admins(app):
    make_user(username="paypal_fan")
    with pytest.raises(Conflict, match="looks too much like another one"):
        services.sign_up("m@example.com", "\u0440\u0430\u0443\u0440\u0430l_fan", PASSWORD)  # Cyrillic р а у
    assert services.sign_up("n@example.com", "paypal_fans", PASSWORD).username_skeleton == "paypal_fans"


@pytest.mark.parametrize("name", ["admin", "Administrator", "MODERATOR", "staff", "Support", "system",
                                  "root", "r00t", "\u0455upport", "peerline", "PeerLine"])
def test_reserved_names_are_refused_at_sign_up(app, name):
    with pytest.raises(Conflict, match="looks too much like another one") as caught:
        services.sign_up("x@example.com", name, PASSWORD)
    assert caught.value.field == "username" and count_users() == 0


def test_the_site_name_is_reserved_as_it_is_configured(app):
    app.config["PEERLINE_SITE_NAME"] = "Acme Help"
    for name in ("AcmeHelp", "acmehe1p"):
        with pytest.raises(Conflict):
            services.sign_up("x@example.com", name, PASSWORD)
    assert services.sign_up("p@example.com", "peerline", PASSWORD).username == "peerline"


def test_ensure_admin_may_use_a_reserved_name(app):
    admin = services.ensure_admin("owner@example.com", "admin", PASSWORD)
    assert (admin.username, admin.username_skeleton, admin.display_name) == ("admin", "adrnin", "admin")


@pytest.mark.parametrize("shown", ["admin", "Admin", "\u0430dmin", "ADM\u0399N", "ad\u200bmin"])
def test_nobody_may_show_as_another_accounts_username(app, shown):
    services.ensure_admin("owner@example.com", "admin", PASSWORD)
    with pytest.raises((Conflict, Invalid)) as at_sign_up:
        services.sign_up("m@example.com", "mallory", PASSWORD, shown)
    assert at_sign_up.value.field == "display_name" and count_users() == 1
    user = make_user(username="mallory", display_name="Mallory")
    with pytest.raises((Conflict, Invalid)) as on_profile:
        services.update_profile(user, user, shown, "")
    assert on_profile.value.field == "display_name"
    db.session.rollback()
    db.session.refresh(user)
    assert user.display_name == "Mallory"


@pytest.mark.parametrize("shown", ["paypal_fan", "PayPal_Fan", "\u0420\u0430\u0443\u0420\u0430l_fan"])
def test_a_display_name_that_looks_like_a_members_username_is_a_conflict(app, shown):
    make_user(username="paypal_fan")
    with pytest.raises(Conflict, match="looks too much like another account's username") as caught:
        services.sign_up("m@example.com", "mallory", PASSWORD, shown)
    assert caught.value.field == "display_name" and count_users() == 1


def test_a_display_name_may_look_like_your_own_username_only(app):
    make_user(username="ada")
    user = services.sign_up("z@example.com", "zoe", PASSWORD, "ZOE")
    lookalike = "Z\u043e\u0435"  # Cyrillic о е
    assert services.update_profile(user, user, lookalike, "").display_name == lookalike
    with pytest.raises(Conflict, match="looks too much like another account's username"):
        services.update_profile(user, user, "Ada", "")
    assert services.update_profile(user, user, "Ada Lovelace", "").display_name == "Ada Lovelace"


def test_reserved_display_names_are_for_staff(app):
    member, staff = make_user(), make_user("staff")
    with pytest.raises(Invalid, match="kept for the site and its staff"):
        services.update_profile(member, member, "Support", "")
    with pytest.raises(Invalid, match="kept for the site and its staff"):
        services.sign_up("m@example.com", "mallory", PASSWORD, "Moderator")
    assert services.update_profile(staff, staff, "Support", "").display_name == "Support"
    # A member whose name was saved before the rule may still edit the rest of the profile.
    member.display_name = "Support"
    db.session.commit()
    assert services.update_profile(member, member, "Support", "New bio").bio == "New bio"


def test_accounts_made_outside_the_services_get_a_skeleton_and_may_share_one(app):
    """The importer and the demo build User rows themselves; look-alikes among imported authors
    must not stop an import, so the skeleton's index is not unique."""
    for n, name in enumerate(("se_admin", "se_\u0430dmin")):
        db.session.add(User(email=f"se{n}@import.invalid", username=name, username_key=name,
                            display_name=name, password_hash="!", role="member"))
    db.session.commit()
    skeletons = db.session.scalars(sa.select(User.username_skeleton).order_by(User.id)).all()
    assert skeletons == ["se_adrnin", "se_adrnin"]


def test_usernames_whose_folded_form_is_too_long_are_refused(app):
    with pytest.raises(Invalid, match="at most 30"):
        services.sign_up("s@example.com", "ß" * 30, PASSWORD)  # folds to 60 characters


def test_emoji_sequences_survive_in_names(app):
    user = services.sign_up("fam@example.com", "fam", PASSWORD, "Family 👨‍👩‍👧 Ltd")
    assert user.display_name == "Family 👨‍👩‍👧 Ltd"


def test_two_admins_demoting_each_other_at_once_leave_one(make_app, backend):
    import threading

    app = make_app(backend)
    with app.app_context():
        first, second = make_user("admin").id, make_user("admin").id
    barrier = threading.Barrier(2, timeout=20)
    outcomes = []

    def demote(actor_id, target_id):
        with app.app_context():
            actor, target = db.session.get(User, actor_id), db.session.get(User, target_id)
            db.session.commit()  # hold no lock while waiting for the other thread
            try:
                barrier.wait()
                services.change_role(actor, target, "member")
                outcomes.append("done")
            except (Invalid, Forbidden) as error:
                outcomes.append(error.message)
            except Exception as error:  # noqa: BLE001 - reported by the assertion below
                outcomes.append(repr(error))

    threads = [threading.Thread(target=demote, args=pair) for pair in [(first, second), (second, first)]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with app.app_context():
        admins = db.session.scalar(sa.select(sa.func.count()).where(User.role == "admin"))
    assert admins == 1
    # One demotion lands; the other is refused, as the last admin or as no longer an admin.
    assert sorted(outcomes)[1] == "done"
    assert sorted(outcomes)[0] in {"This is the last admin; make someone else admin first.",
                                   "Only admins can change roles."}
