"""Moderation's pages: flagging, the review queue and its decisions, a member's page and the actions
on it, the banner a warned or restricted member sees, the audit log, the settings; and a flood of
posts from one new member that leaves nothing beyond the limits anywhere."""

import pytest
import sqlalchemy as sa

import search
from core import jobs
from core.extensions import db
from forum.models import HIDDEN, VISIBLE, Notification, Post
from moderation import services, settings
from moderation.models import Flag, ReviewItem
from tests.conftest import outbox_messages
from tests.factories import make_answer, make_thread, make_user

pytestmark = pytest.mark.live_jobs


def test_a_member_flags_a_post_from_its_page_and_staff_decide_in_the_queue(app, client, auth):
    author = make_user(display_name="Rude Rita")
    thread = make_thread(title="Export to CSV drops accents")
    answer = make_answer(thread, author, "Read the manual, genius.")
    flagger = auth.as_role("member")
    page = client.get(f"/t/{thread.id}")
    assert f'href="/posts/{answer.id}/flag"' in page.text
    assert client.get(f"/posts/{answer.id}/flag").status_code == 200
    refused = client.post(f"/posts/{answer.id}/flag", data={"kind": "other", "note": ""})
    assert refused.status_code == 400 and "Say what is wrong" in refused.text
    sent = client.post(f"/posts/{answer.id}/flag", data={"kind": "abuse", "note": "Insulting the asker"},
                       follow_redirects=True)
    assert "moderators will look at it" in sent.text
    again = client.post(f"/posts/{answer.id}/flag", data={"kind": "spam"})
    assert again.status_code == 409
    assert client.get("/staff/review").status_code == 403
    auth.sign_out()
    auth.as_role("staff")
    queue = client.get("/staff/review")
    assert "Read the manual, genius." in queue.text and "Insulting the asker" in queue.text
    assert "Rude Rita" in queue.text and "Flagged by members" in queue.text
    item = db.session.scalar(sa.select(ReviewItem))
    assert client.post(f"/staff/review/{item.id}", data={"decision": "hide", "reason": ""}).status_code == 400
    done = client.post(f"/staff/review/{item.id}", data={"decision": "hide", "reason": "Be kind."},
                       follow_redirects=True)
    assert "Nothing waits for review" in done.text
    assert db.session.get(Post, answer.id).state == HIDDEN
    auth.sign_out()
    auth.sign_in(flagger.username)
    mine = client.get("/my/moderation")
    assert "moderators agreed and acted" in mine.text
    auth.sign_out()
    auth.sign_in(author.username)
    own = client.get("/my/moderation")
    assert "Be kind." in own.text and "hidden" in own.text
    assert client.post(f"/staff/review/{item.id}", data={"decision": "approve"}).status_code == 403


def test_you_cannot_flag_your_own_post_or_one_you_cannot_see(app, client, auth):
    member = auth.as_role("member")
    own = make_answer(make_thread(), member)
    assert f'href="/posts/{own.id}/flag"' not in client.get(f"/t/{own.thread_id}").text
    assert client.post(f"/posts/{own.id}/flag", data={"kind": "spam"}).status_code == 403
    assert client.post("/posts/999999/flag", data={"kind": "spam"}).status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Flag)) == 0


def test_a_warned_member_sees_it_on_every_page_until_they_dismiss_it(app, client, auth):
    member = auth.as_role("member")
    moderator = make_user("staff", display_name="Moderator Mona")
    services.warn_member(moderator, member, "Please stop posting the same link <b>everywhere</b>.")
    for path in ("/", "/tags"):
        page = client.get(path)
        assert "A warning from the moderators" in page.text
        assert "&lt;b&gt;everywhere&lt;/b&gt;" in page.text
    warning_id = services.pending_warnings(db.session.get(type(member), member.id))[0].id
    mine = client.get("/my/moderation").text
    assert "Please stop posting" in mine and "Moderator Mona" not in mine  # nobody is singled out
    client.post(f"/warnings/{warning_id}/dismiss", data={"next": "/tags"})
    assert "A warning from the moderators" not in client.get("/").text
    assert client.post(f"/warnings/{warning_id}/dismiss").status_code == 409


def test_staff_silence_from_the_members_page_and_the_member_sees_why_and_until_when(app, client, auth):
    member = make_user(username="loudlarry")
    auth.as_role("staff")
    bad = client.post("/staff/members/loudlarry/restrict",
                      data={"kind": "silence", "amount": "-2", "unit": "days", "reason": "Shouting"})
    assert bad.status_code == 400 and "at least one hour" in bad.text
    ok = client.post("/staff/members/loudlarry/restrict",
                     data={"kind": "silence", "amount": "2", "unit": "days", "reason": "Shouting at people"},
                     follow_redirects=True)
    assert "is silenced" in ok.text
    assert client.post("/staff/members/nobody-here/warn", data={"reason": "x"}).status_code == 404
    assert client.get("/staff/audit?action=silence&member=loudlarry").text.count("Shouting at people") == 1
    auth.sign_out()
    auth.sign_in(member.username)
    page = client.get("/")
    assert "Your account is silenced until" in page.text and "Shouting at people" in page.text
    thread = make_thread()
    refused = client.post(f"/t/{thread.id}/reply", data={"body": "LISTEN TO ME"})
    assert refused.status_code == 403
    written = sa.select(sa.func.count()).select_from(Post).where(Post.author_id == member.id)
    assert db.session.scalar(written) == 0


def test_staff_cannot_suspend_an_admin_or_themselves_through_the_page(app, client, auth):
    admin = make_user("admin", username="theadmin")
    staff = auth.as_role("staff")
    for username in ("theadmin", staff.username):
        response = client.post(f"/staff/members/{username}/restrict",
                               data={"kind": "suspension", "amount": "1", "unit": "days", "reason": "x"})
        assert response.status_code == 403
    db.session.refresh(admin)
    assert admin.restriction is None


def test_the_audit_log_filters_by_actor_action_and_member(app, client, auth):
    staff = make_user("staff", username="modmia")
    member = make_user(username="targettom")
    services.warn_member(staff, member, "First warning")
    answer = make_answer(make_thread(), member)
    from forum import states

    states.hide_post(staff, answer, "Off-topic rant")
    auth.as_role("admin")
    everything = client.get("/staff/audit")
    assert "First warning" in everything.text and "Off-topic rant" in everything.text
    by_member = client.get("/staff/audit?member=targettom")
    assert "First warning" in by_member.text and "Off-topic rant" in by_member.text
    by_action = client.get("/staff/audit?action=warn")
    assert "First warning" in by_action.text and "Off-topic rant" not in by_action.text
    assert "First warning" not in client.get("/staff/audit?actor=someoneelse").text


def test_admins_change_settings_and_a_bad_pattern_changes_nothing(app, client, auth):
    auth.as_role("admin")
    form = {name: str(getattr(settings.Settings(), name)) for name in settings.LIMITS}
    bad = client.post("/admin/moderation", data={**form, "held_first_posts": "3", "blocked_words": "([bad"})
    assert bad.status_code == 400 and "not a valid pattern" in bad.text
    assert settings.current().held_first_posts == 0
    good = client.post("/admin/moderation", data={**form, "held_first_posts": "3", "blocked_words": "casino"},
                       follow_redirects=True)
    assert "Moderation settings saved" in good.text
    db.session.expire_all()
    assert settings.current().held_first_posts == 3


# --- a flood from one new member ------------------------------------------------------------------------


def test_a_flood_from_one_new_member_leaves_nothing_beyond_the_limits_anywhere(app, client, auth):
    asker = make_user()
    thread = make_thread(asker, title="Payroll run stuck at pending approval")
    flooder = make_user(trust_level=0, username="flooder")
    auth.sign_in(flooder.username)
    allowed = settings.current().new_member_posts_per_hour
    statuses = [client.post(f"/t/{thread.id}/reply",
                            data={"body": f"Zorblax offer number {n} today"}).status_code for n in range(100)]
    assert statuses.count(302) == allowed
    assert set(statuses) == {302, 429}
    links = " ".join(f"https://spam{n}.example/buy" for n in range(100))
    refused = client.post(f"/t/{thread.id}/reply", data={"body": f"Links {links}"})
    assert refused.status_code in (400, 429)
    new_thread = client.post("/ask", data={"title": "Zorblax links galore", "body": links,
                                           "category_id": str(thread.category_id)})
    assert new_thread.status_code in (400, 429)
    db.session.commit()
    jobs.wait_idle()
    posts = list(db.session.scalars(sa.select(Post).where(Post.author_id == flooder.id)))
    assert len(posts) == allowed and all(p.state == VISIBLE for p in posts)
    auth.sign_out()
    page = client.get(f"/t/{thread.id}")
    assert page.text.count("Zorblax offer number") == allowed
    assert "spam0.example" not in page.text
    assert len(search.search("zorblax").hits) == 1  # the one thread, with only the allowed answers
    notices = db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                                .where(Notification.user_id == asker.id))
    assert notices == allowed
    mails = [m for m in outbox_messages(app)
             if "Zorblax" in m.get_body(preferencelist=("plain",)).get_content()]
    assert len(mails) <= allowed


def test_the_queue_and_the_audit_log_cost_the_same_queries_for_one_item_or_many(app, client, auth):
    from tests.forum.test_query_counts import counting_queries, describe

    staff = auth.as_role("staff")

    def flagged_posts(count: int) -> None:
        for n in range(count):
            answer = make_answer(make_thread(), body=f"Flag me {n}")
            services.flag_post(make_user(), answer, "spam")
            services.warn_member(staff, make_user(), f"Warning {n}")

    def cost() -> list[str]:
        costs = []
        for path in ("/staff/review", "/staff/audit"):
            with counting_queries() as statements:
                assert client.get(path).status_code == 200
            costs.append(statements)
        return costs

    flagged_posts(1)
    few = cost()
    flagged_posts(6)
    many = cost()
    for one, more in zip(few, many, strict=True):
        assert len(one) == len(more), describe(more)


def test_a_warning_about_a_post_that_does_not_exist_still_warns(app, client, auth):
    make_user(username="12345")
    auth.as_role("staff")
    response = client.post("/staff/members/12345/warn", data={"reason": "Mind the tone", "post_id": "987654"})
    assert response.status_code == 302
    assert "Mind the tone" in client.get("/staff/members/12345").text


@pytest.mark.parametrize("decision, state", [
    ("approve", VISIBLE), ("spam", "spam"), ("delete", "deleted"), ("hide", HIDDEN),
])
def test_each_queue_decision_through_its_route(app, client, auth, decision, state):
    answer = make_answer(make_thread(), body="Questionable answer")
    for _ in range(3):
        services.flag_post(make_user(), answer, "spam")
    item = db.session.scalar(sa.select(ReviewItem))
    auth.as_role("staff")
    response = client.post(f"/staff/review/{item.id}", data={"decision": decision, "reason": "Checked"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Post, answer.id).state == state
    assert db.session.get(ReviewItem, item.id).status != "pending"
    again = client.post(f"/staff/review/{item.id}", data={"decision": decision, "reason": "x"})
    assert again.status_code == 409
    assert client.post("/staff/review/424242", data={"decision": "approve"}).status_code == 404
    assert client.post(f"/staff/review/{item.id}", data={"decision": "shrug"}).status_code == 400


def test_removing_all_and_lifting_through_the_member_page(app, client, auth):
    spammer = make_user(username="spamsam")
    answers = [make_answer(make_thread(), spammer, f"Cheap stuff {n}") for n in range(3)]
    services.flag_post(make_user(), answers[0], "spam")
    auth.as_role("staff")
    item = db.session.scalar(sa.select(ReviewItem))
    client.post(f"/staff/review/{item.id}", data={"decision": "spam_all", "reason": "Spam"})
    db.session.expire_all()
    assert {db.session.get(Post, a.id).state for a in answers} == {"spam"}
    client.post("/staff/members/spamsam/restrict",
                data={"kind": "suspension", "amount": "3", "unit": "hours", "reason": "Spam run"})
    assert client.post("/staff/members/spamsam/lift", data={"note": "Appealed"}).status_code == 302
    assert client.post("/staff/members/spamsam/lift").status_code == 409
    page = client.get("/staff/members/spamsam").text
    assert "Spam run" in page and "lifted" in page
    assert client.post("/staff/members/spamsam/remove-spam").status_code == 302


def test_a_refused_settings_form_keeps_the_thresholds_typed(app, client, auth):
    from tests.factories import make_category

    category = make_category("Billing")
    auth.as_role("admin")
    form = {name: str(getattr(settings.Settings(), name)) for name in settings.LIMITS}
    page = client.post("/admin/moderation", data={**form, "blocked_words": "(a+)+$",
                                                  f"threshold-{category.id}": "2.5"})
    assert page.status_code == 400 and 'value="2.5"' in page.text
    assert settings.category_thresholds() == {}
